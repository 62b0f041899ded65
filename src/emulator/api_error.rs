//! CBR-style error responses: `{"error_code": "BackupService.NNNN", "error_msg": "..."}` with the
//! HTTP status and message of the service's error-code table (reference/cbr-error-codes.md).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The service error codes the emulator returns, each with its status and message as the
/// real service sends them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorCode {
    /// 400 `BackupService.0001`: nothing to back up.
    NoResource,
    /// 400 `BackupService.2005`: restore of a backup that is not `available`.
    RestoreNotAllowed,
    /// 404 `BackupService.6000`.
    PolicyNotFound,
    /// 404 `BackupService.6002`.
    PolicyNotApplied,
    /// 400 `BackupService.6102`: resource type does not fit the vault's object type.
    UnsupportedVaultResourceType,
    /// 400 `BackupService.6103`: resource already associated with a vault.
    ResourceAlreadyInVault,
    /// 400 `BackupService.6104`: the same resource twice in one request.
    DuplicateResources,
    /// 404 `BackupService.6105`.
    VaultNotFound,
    /// 400 `BackupService.6127`: the policy cannot be applied to this vault.
    PolicyNotApplicable,
    /// 400 `BackupService.6135`: resource is not in the vault.
    ResourceNotInVault,
    /// 404 `BackupService.6200`.
    BackupNotFound,
    /// 400 `BackupService.6201`.
    BackupCannotBeDeleted,
    /// 404 `BackupService.6217`: the restore point (checkpoint) does not exist.
    CheckpointNotFound,
    /// 404 `BackupService.6302`: resource not in the inventory.
    ResourceNotFound,
    /// 404 `BackupService.7000`.
    DiskNotFound,
    /// 404 `BackupService.7100`.
    ServerNotFound,
    /// 400 `BackupService.9900`: parameter verification failed.
    InvalidParameter,
    /// 500 `BackupService.9910`: unknown (internal) error.
    Unknown,
}

impl ErrorCode {
    /// The `error_code` string.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Self::NoResource => "BackupService.0001",
            Self::RestoreNotAllowed => "BackupService.2005",
            Self::PolicyNotFound => "BackupService.6000",
            Self::PolicyNotApplied => "BackupService.6002",
            Self::UnsupportedVaultResourceType => "BackupService.6102",
            Self::ResourceAlreadyInVault => "BackupService.6103",
            Self::DuplicateResources => "BackupService.6104",
            Self::VaultNotFound => "BackupService.6105",
            Self::PolicyNotApplicable => "BackupService.6127",
            Self::ResourceNotInVault => "BackupService.6135",
            Self::BackupNotFound => "BackupService.6200",
            Self::BackupCannotBeDeleted => "BackupService.6201",
            Self::CheckpointNotFound => "BackupService.6217",
            Self::ResourceNotFound => "BackupService.6302",
            Self::DiskNotFound => "BackupService.7000",
            Self::ServerNotFound => "BackupService.7100",
            Self::InvalidParameter => "BackupService.9900",
            Self::Unknown => "BackupService.9910",
        }
    }

    /// The HTTP status the service answers with.
    pub(crate) fn status(self) -> StatusCode {
        match self {
            Self::PolicyNotFound
            | Self::PolicyNotApplied
            | Self::VaultNotFound
            | Self::BackupNotFound
            | Self::CheckpointNotFound
            | Self::ResourceNotFound
            | Self::DiskNotFound
            | Self::ServerNotFound => StatusCode::NOT_FOUND,
            Self::Unknown => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The `error_msg` the service returns.
    pub(crate) fn message(self) -> &'static str {
        match self {
            Self::NoResource => "No resource is available for backup.",
            Self::RestoreNotAllowed => "Restoration is not allowed in the current backup status.",
            Self::PolicyNotFound => "The policy does not exist.",
            Self::PolicyNotApplied => "The vault is not applied with the policy.",
            Self::UnsupportedVaultResourceType => "The vault does not support this resource type.",
            Self::ResourceAlreadyInVault => "The resource has been associated with a vault.",
            Self::DuplicateResources => "Duplicate vault resources.",
            Self::VaultNotFound => "The vault does not exist.",
            Self::PolicyNotApplicable => "This policy cannot be applied to this vault.",
            Self::ResourceNotInVault => "The resource does not exist in the vault.",
            Self::BackupNotFound => "The backup does not exist.",
            Self::BackupCannotBeDeleted => "The backup cannot be deleted.",
            Self::CheckpointNotFound => "The backup restore point does not exist.",
            Self::ResourceNotFound => "The resource does not exist.",
            Self::DiskNotFound => "The disk does not exist.",
            Self::ServerNotFound => "The server does not exist.",
            Self::InvalidParameter => "Parameter verification failed.",
            Self::Unknown => "Unknown error.",
        }
    }
}

/// An error answer of the emulated service or gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    /// HTTP status.
    pub(crate) status: StatusCode,
    /// `error_code` field.
    pub(crate) code: String,
    /// `error_msg` field.
    pub(crate) msg: String,
    /// Seconds for a `Retry-After` header.
    pub(crate) retry_after: Option<u64>,
}

impl ApiError {
    /// The service error `code` with its standard message.
    pub(crate) fn new(code: ErrorCode) -> Self {
        Self::raw(code.status(), code.code(), code.message())
    }

    /// The service error `code` with its standard message followed by `detail`.
    pub(crate) fn with_detail(code: ErrorCode, detail: impl std::fmt::Display) -> Self {
        Self::raw(
            code.status(),
            code.code(),
            format!("{} {detail}", code.message()),
        )
    }

    /// `BackupService.9900` naming the offending field.
    pub(crate) fn param(detail: impl std::fmt::Display) -> Self {
        Self::with_detail(ErrorCode::InvalidParameter, detail)
    }

    /// Any status, code and message.
    pub(crate) fn raw(status: StatusCode, code: impl Into<String>, msg: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            msg: msg.into(),
            retry_after: None,
        }
    }

    /// The error a gateway or service returns for a bare `status` (used by fault rules
    /// without an explicit code): 429 is the gateway's throttling answer, 5xx the service's
    /// unknown error.
    pub(crate) fn for_status(status: StatusCode) -> Self {
        match status.as_u16() {
            429 => Self::raw(
                status,
                "APIGW.0308",
                "The throttling threshold has been reached",
            ),
            401 => Self::raw(
                status,
                "APIGW.0301",
                "Incorrect IAM authentication information",
            ),
            403 => Self::raw(status, "BackupService.8600", "Not authenticated."),
            404 => Self::raw(
                status,
                "APIGW.0101",
                "The API does not exist or has not been published in the environment",
            ),
            s if s >= 500 => Self::raw(
                status,
                ErrorCode::Unknown.code(),
                ErrorCode::Unknown.message(),
            ),
            _ => Self::raw(
                status,
                ErrorCode::InvalidParameter.code(),
                ErrorCode::InvalidParameter.message(),
            ),
        }
    }
}

impl From<ErrorCode> for ApiError {
    fn from(code: ErrorCode) -> Self {
        Self::new(code)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error_code": self.code, "error_msg": self.msg });
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_carry_the_documented_status() {
        assert_eq!(ErrorCode::VaultNotFound.status(), StatusCode::NOT_FOUND);
        assert_eq!(ErrorCode::VaultNotFound.code(), "BackupService.6105");
        assert_eq!(
            ErrorCode::ResourceAlreadyInVault.status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            ErrorCode::Unknown.status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[test]
    fn bare_statuses_map_to_gateway_and_service_codes() {
        assert_eq!(
            ApiError::for_status(StatusCode::TOO_MANY_REQUESTS).code,
            "APIGW.0308"
        );
        assert_eq!(
            ApiError::for_status(StatusCode::SERVICE_UNAVAILABLE).code,
            "BackupService.9910"
        );
        assert_eq!(
            ApiError::for_status(StatusCode::CONFLICT).code,
            "BackupService.9900"
        );
    }

    #[test]
    fn param_errors_name_the_field() {
        let err = ApiError::param("vault.name is required");
        assert_eq!(
            err.msg,
            "Parameter verification failed. vault.name is required"
        );
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
    }
}
