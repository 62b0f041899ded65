//! How the client authenticates requests: none (emulator), AK/SK signing (permanent or
//! temporary keys), a token given directly, or IAM password tokens fetched and cached by a
//! [`TokenSource`].
//!
//! Secrets are held as [`Secret`] (their `Debug` output is `***`), header values carrying them
//! are marked sensitive, and no [`AuthError`] message contains one.

use std::sync::Arc;

use chrono::Utc;
use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};

use super::iam::{self, IamError, Project, TokenSource, X_AUTH_TOKEN};
use super::sign::{self, SignError, X_SDK_DATE};

pub use super::sign::Secret;

/// Header carrying the project id on AK/SK-signed requests.
pub const X_PROJECT_ID: &str = "x-project-id";
/// Header carrying the security token of temporary AK/SK credentials.
pub const X_SECURITY_TOKEN: &str = "x-security-token";

/// Authentication applied to every request the client sends.
#[derive(Debug, Clone, Default)]
pub enum Auth {
    /// Send requests unauthenticated (the embedded emulator).
    #[default]
    None,
    /// Sign every request with SDK-HMAC-SHA256, as the official SDK does with
    /// `BasicCredentials`.
    AkSk {
        /// Access key id.
        ak: String,
        /// Secret access key.
        sk: Secret,
        /// Security token of temporary credentials, sent (and signed) as `X-Security-Token`.
        security_token: Option<Secret>,
        /// Project id sent as `X-Project-Id` (when the request does not carry one already).
        project_id: Option<String>,
    },
    /// Send this token as `X-Auth-Token`.
    Token(Secret),
    /// Send an IAM password token as `X-Auth-Token`, fetched and renewed by the source.
    Password(Arc<TokenSource>),
}

/// Why a request could not be authenticated.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Obtaining or applying credentials failed.
    #[error("authentication failed: {0}")]
    Failed(String),
    /// The request could not be signed.
    #[error("could not sign the request: {0}")]
    Sign(#[from] SignError),
    /// AK/SK signing needs the body bytes; a streaming body has none to hash.
    #[error("cannot sign a request with a streaming body; AK/SK signing needs the body bytes")]
    StreamingBody,
    /// A credential holds characters that HTTP headers cannot carry.
    #[error("the {0} contains characters that are not allowed in an HTTP header")]
    InvalidHeaderValue(&'static str),
    /// IAM could not issue a token or list projects.
    #[error(transparent)]
    Iam(#[from] IamError),
}

impl AuthError {
    /// Whether trying again later may succeed (IAM unreachable, throttled or failing).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Iam(error) => error.is_retryable(),
            _ => false,
        }
    }
}

impl Auth {
    /// Adds authentication headers to `request` (signing it if needed). Called right before
    /// sending, so a signature carries a fresh `X-Sdk-Date` on every attempt.
    pub async fn apply(&self, request: &mut reqwest::Request) -> Result<(), AuthError> {
        match self {
            Self::None => Ok(()),
            Self::Token(token) => set_secret(request, X_AUTH_TOKEN, token, "token"),
            Self::Password(source) => {
                let token = source.token().await?;
                set_secret(request, X_AUTH_TOKEN, &token.value, "IAM token")
            }
            Self::AkSk {
                ak,
                sk,
                security_token,
                project_id,
            } => {
                let body = match request.body() {
                    None => Vec::new(),
                    Some(body) => body.as_bytes().ok_or(AuthError::StreamingBody)?.to_vec(),
                };
                if let Some(project_id) = project_id {
                    let headers = request.headers_mut();
                    if !headers.contains_key(X_PROJECT_ID) {
                        let value = HeaderValue::from_str(project_id)
                            .map_err(|_| AuthError::InvalidHeaderValue("project id"))?;
                        headers.insert(X_PROJECT_ID, value);
                    }
                }
                if let Some(security_token) = security_token {
                    set_secret(request, X_SECURITY_TOKEN, security_token, "security token")?;
                }
                let method = request.method().clone();
                let mut url = request.url().clone();
                let headers = request.headers_mut();
                headers.remove(X_SDK_DATE);
                headers.remove(AUTHORIZATION);
                sign::sign(&method, &mut url, headers, &body, ak, sk, Utc::now())?;
                *request.url_mut() = url;
                Ok(())
            }
        }
    }

    /// Looks up the project named `name` at the IAM endpoint with these credentials
    /// (`GET /v3/projects?name=..`), as the SDK does for credentials without a project id.
    pub async fn find_project(
        &self,
        http: &reqwest::Client,
        iam_endpoint: &url::Url,
        name: &str,
    ) -> Result<Project, AuthError> {
        let mut request = iam::projects_request(iam_endpoint, name);
        self.apply(&mut request).await?;
        let response = http.execute(request).await.map_err(IamError::Transport)?;
        Ok(iam::read_project(response, name).await?)
    }
}

fn set_secret(
    request: &mut reqwest::Request,
    header: &'static str,
    secret: &Secret,
    what: &'static str,
) -> Result<(), AuthError> {
    let mut value =
        HeaderValue::from_str(secret.expose()).map_err(|_| AuthError::InvalidHeaderValue(what))?;
    value.set_sensitive(true);
    request
        .headers_mut()
        .insert(HeaderName::from_static(header), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::Method;

    fn request(url: &str) -> reqwest::Request {
        reqwest::Request::new(Method::GET, url::Url::parse(url).unwrap())
    }

    #[tokio::test]
    async fn token_is_sent_as_sensitive_x_auth_token() {
        let mut req = request("http://127.0.0.1:1/v3/p/vaults");
        Auth::Token(Secret::new("tok"))
            .apply(&mut req)
            .await
            .unwrap();
        assert_eq!(req.headers()[X_AUTH_TOKEN], "tok");
        assert!(req.headers()[X_AUTH_TOKEN].is_sensitive());
    }

    #[tokio::test]
    async fn aksk_adds_project_security_token_and_canonical_query() {
        let auth = Auth::AkSk {
            ak: "AK".into(),
            sk: Secret::new("SK"),
            security_token: Some(Secret::new("st")),
            project_id: Some("p1".into()),
        };
        let mut req = request("http://127.0.0.1:1/v3/p1/vaults?offset=0&limit=10");
        auth.apply(&mut req).await.unwrap();
        assert_eq!(req.url().query(), Some("limit=10&offset=0"));
        let headers = req.headers();
        assert_eq!(headers[X_PROJECT_ID], "p1");
        assert_eq!(headers[X_SECURITY_TOKEN], "st");
        assert!(headers[X_SECURITY_TOKEN].is_sensitive());
        let authorization = headers[AUTHORIZATION].to_str().unwrap();
        assert!(
            authorization.contains("SignedHeaders=host;x-project-id;x-sdk-date;x-security-token,"),
            "{authorization}"
        );
    }

    #[tokio::test]
    async fn aksk_resigns_with_a_fresh_date() {
        let auth = Auth::AkSk {
            ak: "AK".into(),
            sk: Secret::new("SK"),
            security_token: None,
            project_id: None,
        };
        let mut req = request("http://127.0.0.1:1/");
        req.headers_mut()
            .insert(X_SDK_DATE, HeaderValue::from_static("20000101T000000Z"));
        auth.apply(&mut req).await.unwrap();
        assert_ne!(req.headers()[X_SDK_DATE], "20000101T000000Z");
    }

    #[tokio::test]
    async fn a_token_with_a_newline_is_refused_without_echoing_it() {
        let mut req = request("http://127.0.0.1:1/");
        let error = Auth::Token(Secret::new("bad\ntoken"))
            .apply(&mut req)
            .await
            .unwrap_err();
        assert!(!error.to_string().contains("bad"), "{error}");
    }

    #[test]
    fn debug_hides_secrets() {
        let auth = Auth::AkSk {
            ak: "AKID".into(),
            sk: Secret::new("very-secret-key"),
            security_token: Some(Secret::new("very-secret-token")),
            project_id: None,
        };
        let debug = format!("{auth:?}");
        assert!(debug.contains("AKID"));
        assert!(!debug.contains("very-secret"), "{debug}");
    }
}
