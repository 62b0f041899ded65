//! `CbrClient`: typed calls to the CBR v3 API over reqwest.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

use super::auth::Auth;
use super::error::CbrError;
use super::wire::{
    AddResourcesResponse, BackupList, Checkpoint, CheckpointEnvelope, ErrorBody, Vault,
    VaultAddResourceReq, VaultBackupReq, VaultCreateReq, VaultEnvelope, VaultList,
};

/// A client for one endpoint and project.
#[derive(Debug, Clone)]
pub struct CbrClient {
    http: reqwest::Client,
    base: Url,
    project_id: String,
    auth: Arc<Auth>,
    timeout: Duration,
}

/// Filters of `list_vaults`.
#[derive(Debug, Clone, Default)]
pub struct VaultQuery {
    /// Exact vault name.
    pub name: Option<String>,
    /// Page size.
    pub limit: Option<u32>,
    /// Page offset.
    pub offset: Option<u32>,
}

/// Filters of `list_backups`.
#[derive(Debug, Clone, Default)]
pub struct BackupQuery {
    /// Only backups in this vault.
    pub vault_id: Option<String>,
    /// Only backups of this restore point.
    pub checkpoint_id: Option<String>,
    /// Only backups with this name.
    pub name: Option<String>,
    /// Page size.
    pub limit: Option<u32>,
    /// Page offset.
    pub offset: Option<u32>,
}

impl CbrClient {
    /// A client for `base` (e.g. `https://cbr.eu-de.otc.t-systems.com`) and `project_id`.
    pub fn new(
        http: reqwest::Client,
        base: Url,
        project_id: impl Into<String>,
        auth: Auth,
    ) -> Self {
        Self {
            http,
            base,
            project_id: project_id.into(),
            auth: Arc::new(auth),
            timeout: Duration::from_secs(60),
        }
    }

    /// The same client with a different per-request timeout.
    #[must_use]
    pub fn with_timeout(&self, timeout: Duration) -> Self {
        Self {
            timeout,
            ..self.clone()
        }
    }

    /// The endpoint.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// The project id.
    pub fn project_id(&self) -> &str {
        &self.project_id
    }

    /// `POST /v3/{project_id}/vaults`.
    pub async fn create_vault(&self, body: &VaultCreateReq) -> Result<Vault, CbrError> {
        let env: VaultEnvelope = self
            .call(Method::POST, &["vaults"], &[], Some(body), "create_vault")
            .await?;
        Ok(env.vault)
    }

    /// `GET /v3/{project_id}/vaults/{vault_id}`.
    pub async fn show_vault(&self, vault_id: &str) -> Result<Vault, CbrError> {
        let env: VaultEnvelope = self
            .call(
                Method::GET,
                &["vaults", vault_id],
                &[],
                None::<&()>,
                "show_vault",
            )
            .await?;
        Ok(env.vault)
    }

    /// `GET /v3/{project_id}/vaults` (one page).
    pub async fn list_vaults(&self, query: &VaultQuery) -> Result<VaultList, CbrError> {
        let mut q = Vec::new();
        push(&mut q, "name", query.name.as_deref());
        push_page(&mut q, query.limit, query.offset);
        self.call(Method::GET, &["vaults"], &q, None::<&()>, "list_vault")
            .await
    }

    /// `POST /v3/{project_id}/vaults/{vault_id}/addresources`.
    pub async fn add_resources(
        &self,
        vault_id: &str,
        body: &VaultAddResourceReq,
    ) -> Result<AddResourcesResponse, CbrError> {
        self.call(
            Method::POST,
            &["vaults", vault_id, "addresources"],
            &[],
            Some(body),
            "add_vault_resource",
        )
        .await
    }

    /// `POST /v3/{project_id}/checkpoints`.
    pub async fn create_checkpoint(&self, body: &VaultBackupReq) -> Result<Checkpoint, CbrError> {
        let env: CheckpointEnvelope = self
            .call(
                Method::POST,
                &["checkpoints"],
                &[],
                Some(body),
                "create_checkpoint",
            )
            .await?;
        Ok(env.checkpoint)
    }

    /// `GET /v3/{project_id}/checkpoints/{checkpoint_id}`.
    pub async fn show_checkpoint(&self, checkpoint_id: &str) -> Result<Checkpoint, CbrError> {
        let env: CheckpointEnvelope = self
            .call(
                Method::GET,
                &["checkpoints", checkpoint_id],
                &[],
                None::<&()>,
                "show_checkpoint",
            )
            .await?;
        Ok(env.checkpoint)
    }

    /// `GET /v3/{project_id}/backups` (one page).
    pub async fn list_backups(&self, query: &BackupQuery) -> Result<BackupList, CbrError> {
        let mut q = Vec::new();
        push(&mut q, "vault_id", query.vault_id.as_deref());
        push(&mut q, "checkpoint_id", query.checkpoint_id.as_deref());
        push(&mut q, "name", query.name.as_deref());
        push_page(&mut q, query.limit, query.offset);
        self.call(Method::GET, &["backups"], &q, None::<&()>, "list_backups")
            .await
    }

    /// The URL of `/v3/{project_id}/<segments…>` with each segment percent-encoded and the
    /// query in the SDK's canonical form (sorted, RFC 3986 encoded).
    fn url(&self, segments: &[&str], query: &[(&str, String)]) -> String {
        let mut url = self.base.as_str().trim_end_matches('/').to_owned();
        url.push_str("/v3/");
        url.push_str(&encode(&self.project_id));
        for s in segments {
            url.push('/');
            url.push_str(&encode(s));
        }
        if !query.is_empty() {
            let mut sorted: Vec<&(&str, String)> = query.iter().collect();
            sorted.sort();
            let encoded: Vec<String> = sorted
                .iter()
                .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
                .collect();
            url.push('?');
            url.push_str(&encoded.join("&"));
        }
        url
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<&B>,
        operation: &'static str,
    ) -> Result<T, CbrError> {
        let url = self.url(segments, query);
        let url = Url::parse(&url).map_err(|e| CbrError::Transport {
            message: format!("invalid request URL {url}: {e}"),
            not_sent: true,
        })?;
        let mut request = reqwest::Request::new(method, url);
        *request.timeout_mut() = Some(self.timeout);
        let content_type = match body {
            Some(body) => {
                let bytes = serde_json::to_vec(body).map_err(|e| CbrError::Decode {
                    status: 0,
                    operation,
                    message: format!("cannot encode request: {e}"),
                })?;
                *request.body_mut() = Some(bytes.into());
                "application/json;charset=utf-8"
            }
            None => "application/json",
        };
        request
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        self.auth.apply(&mut request).await?;
        tracing::debug!(operation, method = %request.method(), path = request.url().path(), "cbr request");

        let response = self
            .http
            .execute(request)
            .await
            .map_err(|e| self.transport(&e))?;
        let status = response.status();
        let request_id = response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .and_then(|s| Duration::try_from_secs_f64(s).ok());
        let bytes = response.bytes().await.map_err(|e| self.transport(&e))?;
        tracing::debug!(
            operation,
            status = status.as_u16(),
            request_id,
            "cbr response"
        );
        if !status.is_success() {
            let parsed: Option<ErrorBody> = serde_json::from_slice(&bytes).ok();
            let (code, message) = match parsed {
                Some(ErrorBody {
                    error_code,
                    error_msg,
                }) => (error_code, error_msg.unwrap_or_else(|| status_text(status))),
                None => (None, status_text(status)),
            };
            return Err(CbrError::Api {
                status: status.as_u16(),
                code,
                message,
                request_id,
                retry_after,
            });
        }
        let bytes = if bytes.is_empty() {
            &b"null"[..]
        } else {
            &bytes[..]
        };
        serde_json::from_slice(bytes).map_err(|e| CbrError::Decode {
            status: status.as_u16(),
            operation,
            message: e.to_string(),
        })
    }

    fn transport(&self, err: &reqwest::Error) -> CbrError {
        if err.is_timeout() {
            return CbrError::Timeout {
                after: self.timeout,
            };
        }
        // reqwest's messages can include the URL, never credentials (they travel in headers).
        let mut message = err.to_string();
        let mut source = std::error::Error::source(err);
        while let Some(s) = source {
            message.push_str(": ");
            message.push_str(&s.to_string());
            source = s.source();
        }
        CbrError::Transport {
            message,
            not_sent: err.is_connect(),
        }
    }
}

fn push(query: &mut Vec<(&'static str, String)>, key: &'static str, value: Option<&str>) {
    if let Some(v) = value {
        query.push((key, v.to_owned()));
    }
}

/// Adds `limit` and `offset` of a page, when set.
fn push_page(query: &mut Vec<(&'static str, String)>, limit: Option<u32>, offset: Option<u32>) {
    push(query, "limit", limit.map(|v| v.to_string()).as_deref());
    push(query, "offset", offset.map(|v| v.to_string()).as_deref());
}

fn status_text(status: StatusCode) -> String {
    status.canonical_reason().unwrap_or("error").to_owned()
}

/// Percent-encodes with the RFC 3986 unreserved set kept, as the SDK does.
fn encode(s: &str) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    utf8_percent_encode(s, UNRESERVED).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_built_with_encoded_segments_and_sorted_query() {
        crate::cbr::install_crypto_provider();
        let client = CbrClient::new(
            reqwest::Client::new(),
            Url::parse("https://cbr.eu-de.otc.t-systems.com").unwrap(),
            "p1",
            Auth::None,
        );
        let url = client.url(
            &["vaults", "a b/c"],
            &[("offset", "0".into()), ("name", "my vault".into())],
        );
        assert_eq!(
            url,
            "https://cbr.eu-de.otc.t-systems.com/v3/p1/vaults/a%20b%2Fc?name=my%20vault&offset=0"
        );
    }
}
