//! `CbrError`: what can go wrong talking to CBR, and whether it is worth retrying.

use std::time::Duration;

use super::auth::AuthError;

/// A failed CBR call.
#[derive(Debug, thiserror::Error)]
pub enum CbrError {
    /// The service answered with an error status.
    #[error("{}", api_message(*status, code.as_deref(), message, request_id.as_deref()))]
    Api {
        /// HTTP status.
        status: u16,
        /// Error code from the body, e.g. `BackupService.6103`.
        code: Option<String>,
        /// Message from the body (or the status text).
        message: String,
        /// `X-Request-Id` of the response.
        request_id: Option<String>,
        /// `Retry-After` of the response.
        retry_after: Option<Duration>,
    },
    /// The request could not be sent or the response not received.
    #[error("{message}")]
    Transport {
        /// What happened (never contains credentials).
        message: String,
        /// True when the connection was never established, so the request had no effect.
        not_sent: bool,
    },
    /// No response within the attempt's timeout.
    #[error("no response within {}", crate::plan::duration::format_duration(*after))]
    Timeout {
        /// The timeout.
        after: Duration,
    },
    /// A success status with a body that is not what the API documents.
    #[error("unexpected response ({status}) from {operation}: {message}")]
    Decode {
        /// HTTP status.
        status: u16,
        /// Operation name.
        operation: &'static str,
        /// Parse error.
        message: String,
    },
    /// Credentials could not be obtained or applied.
    #[error(transparent)]
    Auth(#[from] AuthError),
}

fn api_message(status: u16, code: Option<&str>, message: &str, request_id: Option<&str>) -> String {
    let mut out = match code {
        Some(code) => format!("{code}: {message} (HTTP {status})"),
        None => format!("{message} (HTTP {status})"),
    };
    if let Some(id) = request_id {
        out.push_str(&format!(", request id {id}"));
    }
    out
}

impl CbrError {
    /// Transport errors, timeouts, 429, 5xx and gateway throttling (`APIGW.0308`) are worth
    /// retrying; 4xx validation errors are not.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transport { .. } | Self::Timeout { .. } => true,
            Self::Api { status, code, .. } => {
                *status == 429 || *status >= 500 || code.as_deref() == Some("APIGW.0308")
            }
            Self::Decode { .. } | Self::Auth(_) => false,
        }
    }

    /// True when a mutating request may have taken effect although no success response was
    /// seen (lost response, timeout, server error): reconcile before re-sending.
    pub fn may_have_applied(&self) -> bool {
        match self {
            Self::Transport { not_sent, .. } => !not_sent,
            Self::Timeout { .. } | Self::Decode { .. } => true,
            Self::Api { status, .. } => *status >= 500,
            Self::Auth(_) => false,
        }
    }

    /// The server's `Retry-After`, if it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Api { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The CBR error code, if any.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// The HTTP status, if a response was received.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } | Self::Decode { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The `X-Request-Id`, if any.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Self::Api { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, code: &str) -> CbrError {
        CbrError::Api {
            status,
            code: Some(code.to_owned()),
            message: "m".into(),
            request_id: None,
            retry_after: None,
        }
    }

    #[test]
    fn retry_classification() {
        assert!(api(503, "x").is_retryable());
        assert!(api(429, "APIGW.0308").is_retryable());
        assert!(api(400, "APIGW.0308").is_retryable());
        assert!(!api(400, "BackupService.6103").is_retryable());
        assert!(!api(404, "BackupService.6105").is_retryable());
        assert!(
            CbrError::Timeout {
                after: Duration::from_secs(1)
            }
            .is_retryable()
        );
    }

    #[test]
    fn ambiguity_classification() {
        assert!(api(500, "x").may_have_applied());
        assert!(!api(400, "x").may_have_applied());
        assert!(
            !CbrError::Transport {
                message: "refused".into(),
                not_sent: true
            }
            .may_have_applied()
        );
        assert!(
            CbrError::Transport {
                message: "reset".into(),
                not_sent: false
            }
            .may_have_applied()
        );
    }

    #[test]
    fn message_names_code_status_and_request_id() {
        let e = CbrError::Api {
            status: 400,
            code: Some("BackupService.0001".into()),
            message: "No resource is available for backup.".into(),
            request_id: Some("req-1".into()),
            retry_after: None,
        };
        assert_eq!(
            e.to_string(),
            "BackupService.0001: No resource is available for backup. (HTTP 400), request id req-1"
        );
    }
}
