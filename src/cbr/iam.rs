//! The slice of IAM (Identity and Access Management, Keystone v3) that cbrflow needs: project
//! scoped tokens from a user name and password (`POST /v3/auth/tokens`), cached and renewed
//! shortly before they expire, and project lookup by name (`GET /v3/projects?name=..`).
//!
//! Passwords and tokens are [`Secret`]s; no `Debug` output or error of this module shows one.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;
use url::Url;

use super::sign::Secret;

/// Header in which IAM returns a new token.
pub const X_SUBJECT_TOKEN: &str = "x-subject-token";
/// Header that carries a token on API requests.
pub const X_AUTH_TOKEN: &str = "x-auth-token";
/// How long one IAM request may take before it fails (as a retryable transport error).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long before expiry a cached token is renewed, unless the token lives shorter (then half
/// its lifetime is used).
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// Which project a password token is scoped to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectScope {
    /// A project id.
    Id(String),
    /// A project name; on Huawei Cloud and Open Telekom Cloud the region's default project is
    /// named after the region (`eu-de`).
    Name(String),
}

/// A user's name and password, and the project to scope the token to.
#[derive(Debug, Clone)]
pub struct PasswordCredentials {
    /// IAM user name.
    pub user_name: String,
    /// The user's password.
    pub password: Secret,
    /// The user's domain (account) name; IAM needs it to find the user by name.
    pub domain_name: Option<String>,
    /// The project the token is for.
    pub scope: ProjectScope,
}

/// A project as IAM lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Project {
    /// Project id (what CBR paths and `X-Project-Id` carry).
    pub id: String,
    /// Project name, e.g. `eu-de`.
    pub name: String,
}

/// A token issued by IAM.
#[derive(Debug, Clone)]
pub struct Token {
    /// The token, sent as `X-Auth-Token`.
    pub value: Secret,
    /// When IAM issued it (IAM's clock).
    pub issued_at: DateTime<Utc>,
    /// When it expires (IAM's clock).
    pub expires_at: DateTime<Utc>,
    /// The project it is scoped to, if any.
    pub project: Option<Project>,
}

/// Why talking to IAM failed. Messages never contain a password or a token.
#[derive(Debug, thiserror::Error)]
pub enum IamError {
    /// The request did not get an HTTP response.
    #[error("could not reach IAM: {0}")]
    Transport(#[source] reqwest::Error),
    /// IAM answered with an error status.
    #[error("IAM refused the {action} (HTTP {status}): {message}")]
    Rejected {
        /// What was asked, e.g. `token request`.
        action: &'static str,
        /// HTTP status code.
        status: u16,
        /// IAM's message.
        message: String,
    },
    /// A token response without the `X-Subject-Token` header.
    #[error("IAM answered the token request without an X-Subject-Token header")]
    MissingSubjectToken,
    /// A response body that is not what IAM sends.
    #[error("IAM sent an unreadable {what}: {detail}")]
    InvalidResponse {
        /// Which response.
        what: &'static str,
        /// What was wrong with it.
        detail: String,
    },
    /// No project of that name is visible to the credentials.
    #[error(
        "IAM has no project named `{0}` visible to these credentials; pass --project-id or check --region"
    )]
    NoSuchProject(String),
}

impl IamError {
    /// Whether trying again later may succeed (transport errors, throttling, server errors).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transport(_) => true,
            Self::Rejected { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }
}

/// The IAM base URL (`https://iam.eu-de.otc.t-systems.com`) from an endpoint or an OpenStack
/// auth URL: a trailing `/v3` (or `/v3/`) is dropped, so both forms work.
pub fn iam_base(url: &Url) -> Url {
    let mut base = url.clone();
    let path = base.path().trim_end_matches('/');
    let path = path.strip_suffix("/v3").unwrap_or(path).to_owned();
    base.set_path(&path);
    base.set_query(None);
    base.set_fragment(None);
    base
}

fn join(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let joined = format!("{}{path}", base.path().trim_end_matches('/'));
    url.set_path(&joined);
    url
}

/// The `GET {iam}/v3/projects?name={name}` request, not yet authenticated.
pub fn projects_request(iam_endpoint: &Url, name: &str) -> reqwest::Request {
    let mut url = join(&iam_base(iam_endpoint), "/v3/projects");
    url.query_pairs_mut().append_pair("name", name);
    let mut request = reqwest::Request::new(reqwest::Method::GET, url);
    *request.timeout_mut() = Some(REQUEST_TIMEOUT);
    request
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    request
}

/// Reads a `GET /v3/projects` response and picks the project named `name`.
pub async fn read_project(response: reqwest::Response, name: &str) -> Result<Project, IamError> {
    #[derive(Deserialize)]
    struct Projects {
        projects: Vec<Project>,
    }
    let status = response.status();
    let body = response.bytes().await.map_err(IamError::Transport)?;
    if !status.is_success() {
        return Err(rejected("project lookup", status.as_u16(), &body, None));
    }
    let projects: Projects =
        serde_json::from_slice(&body).map_err(|error| IamError::InvalidResponse {
            what: "project list",
            detail: error.to_string(),
        })?;
    projects
        .projects
        .into_iter()
        .find(|project| project.name == name)
        .ok_or_else(|| IamError::NoSuchProject(name.to_owned()))
}

/// Builds [`IamError::Rejected`] from an error body (Keystone `{"error":{"message"}}` or
/// gateway `{"error_msg"}`), with `secret` scrubbed should the server echo it.
fn rejected(action: &'static str, status: u16, body: &[u8], secret: Option<&Secret>) -> IamError {
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let message = json
        .as_ref()
        .and_then(|json| {
            json.pointer("/error/message")
                .or_else(|| json.get("error_msg"))
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(body);
            text.chars().take(200).collect()
        });
    let message = match secret {
        Some(secret) if !secret.is_empty() => message.replace(secret.expose(), "***"),
        _ => message,
    };
    IamError::Rejected {
        action,
        status,
        message,
    }
}

/// Fetches password tokens and caches one until shortly before it expires. Concurrent callers
/// share a single refresh: the first one fetches while the others wait for its result.
pub struct TokenSource {
    http: reqwest::Client,
    endpoint: Url,
    credentials: PasswordCredentials,
    refresh_margin: Duration,
    cache: Mutex<Option<CachedToken>>,
}

struct CachedToken {
    token: Token,
    refresh_at: Instant,
    expires_at: Instant,
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSource")
            .field("endpoint", &self.endpoint.as_str())
            .field("user_name", &self.credentials.user_name)
            .field("domain_name", &self.credentials.domain_name)
            .field("scope", &self.credentials.scope)
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    /// A token source for `credentials` at the IAM `endpoint` (base URL or `…/v3` auth URL).
    pub fn new(http: reqwest::Client, endpoint: &Url, credentials: PasswordCredentials) -> Self {
        Self {
            http,
            endpoint: iam_base(endpoint),
            credentials,
            refresh_margin: DEFAULT_REFRESH_MARGIN,
            cache: Mutex::new(None),
        }
    }

    /// Renews tokens `margin` before they expire (default [`DEFAULT_REFRESH_MARGIN`]).
    #[must_use]
    pub fn with_refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin;
        self
    }

    /// The IAM base URL tokens come from.
    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    /// A valid token: the cached one, or a new one when it is due for renewal. If renewal
    /// fails while the cached token has not yet expired, the cached token is returned.
    pub async fn token(&self) -> Result<Token, IamError> {
        let mut cache = self.cache.lock().await;
        let now = Instant::now();
        if let Some(cached) = cache.as_ref().filter(|cached| now < cached.refresh_at) {
            return Ok(cached.token.clone());
        }
        match self.fetch().await {
            Ok(token) => {
                // Lifetimes come from IAM's own clock, so local clock skew does not matter.
                let lifetime = (token.expires_at - token.issued_at)
                    .to_std()
                    .unwrap_or_default();
                let margin = self.refresh_margin.min(lifetime / 2);
                *cache = Some(CachedToken {
                    token: token.clone(),
                    refresh_at: now + (lifetime - margin),
                    expires_at: now + lifetime,
                });
                Ok(token)
            }
            Err(error) => match cache.as_ref() {
                Some(cached) if Instant::now() < cached.expires_at => {
                    tracing::warn!(%error, "could not renew the IAM token; using the cached one until it expires");
                    Ok(cached.token.clone())
                }
                _ => {
                    *cache = None;
                    Err(error)
                }
            },
        }
    }

    /// Drops the cached token so that the next [`TokenSource::token`] fetches a new one (e.g.
    /// after the API answered 401).
    pub async fn invalidate(&self) {
        *self.cache.lock().await = None;
    }

    async fn fetch(&self) -> Result<Token, IamError> {
        let mut url = join(&self.endpoint, "/v3/auth/tokens");
        url.set_query(Some("nocatalog=true"));
        let credentials = &self.credentials;
        let mut user = serde_json::json!({
            "name": credentials.user_name,
            "password": credentials.password.expose(),
        });
        if let Some(domain) = &credentials.domain_name {
            user["domain"] = serde_json::json!({ "name": domain });
        }
        let project = match &credentials.scope {
            ProjectScope::Id(id) => serde_json::json!({ "id": id }),
            ProjectScope::Name(name) => serde_json::json!({ "name": name }),
        };
        let body = serde_json::json!({
            "auth": {
                "identity": { "methods": ["password"], "password": { "user": user } },
                "scope": { "project": project },
            }
        });
        let response = self
            .http
            .post(url)
            .timeout(REQUEST_TIMEOUT)
            .header(CONTENT_TYPE, "application/json;charset=utf-8")
            .body(body.to_string())
            .send()
            .await
            .map_err(IamError::Transport)?;
        let status = response.status();
        let subject_token = response
            .headers()
            .get(X_SUBJECT_TOKEN)
            .and_then(|value| value.to_str().ok())
            .map(Secret::new);
        let bytes = response.bytes().await.map_err(IamError::Transport)?;
        if !status.is_success() {
            return Err(rejected(
                "token request",
                status.as_u16(),
                &bytes,
                Some(&credentials.password),
            ));
        }
        let value = subject_token.ok_or(IamError::MissingSubjectToken)?;
        parse_token(value, &bytes)
    }
}

/// Reads the body of a token response (`{"token": {"expires_at", "issued_at", "project"}}`).
pub fn parse_token(value: Secret, body: &[u8]) -> Result<Token, IamError> {
    #[derive(Deserialize)]
    struct Body {
        token: TokenBody,
    }
    #[derive(Deserialize)]
    struct TokenBody {
        expires_at: DateTime<Utc>,
        issued_at: Option<DateTime<Utc>>,
        project: Option<Project>,
    }
    let body: Body = serde_json::from_slice(body).map_err(|error| IamError::InvalidResponse {
        what: "token",
        detail: error.to_string(),
    })?;
    Ok(Token {
        value,
        issued_at: body.token.issued_at.unwrap_or_else(Utc::now),
        expires_at: body.token.expires_at,
        project: body.token.project,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iam_base_drops_v3_and_trailing_slash() {
        for input in [
            "https://iam.eu-de.otc.t-systems.com/v3",
            "https://iam.eu-de.otc.t-systems.com/v3/",
            "https://iam.eu-de.otc.t-systems.com",
        ] {
            let base = iam_base(&Url::parse(input).unwrap());
            assert_eq!(
                join(&base, "/v3/auth/tokens").as_str(),
                "https://iam.eu-de.otc.t-systems.com/v3/auth/tokens",
                "{input}"
            );
        }
        let prefixed = iam_base(&Url::parse("http://127.0.0.1:9/iam/v3").unwrap());
        assert_eq!(
            join(&prefixed, "/v3/projects").as_str(),
            "http://127.0.0.1:9/iam/v3/projects"
        );
    }

    #[test]
    fn projects_request_encodes_the_name() {
        let request = projects_request(&Url::parse("https://iam.x/v3").unwrap(), "eu de");
        assert_eq!(
            request.url().as_str(),
            "https://iam.x/v3/projects?name=eu+de"
        );
    }

    #[test]
    fn parse_token_reads_times_and_project() {
        let body = br#"{"token":{"expires_at":"2020-01-04T09:05:22.701000Z","issued_at":"2020-01-03T09:05:22.701000Z","methods":["password"],"project":{"id":"p1","name":"eu-de","domain":{"id":"d"}},"catalog":[]}}"#;
        let token = parse_token(Secret::new("t"), body).unwrap();
        assert_eq!(token.project.unwrap().id, "p1");
        assert_eq!((token.expires_at - token.issued_at).num_hours(), 24);
    }

    #[test]
    fn rejected_message_scrubs_an_echoed_password() {
        let body =
            br#"{"error":{"code":401,"message":"bad password hunter2","title":"Unauthorized"}}"#;
        let error = rejected("token request", 401, body, Some(&Secret::new("hunter2")));
        assert_eq!(
            error.to_string(),
            "IAM refused the token request (HTTP 401): bad password ***"
        );
        assert!(!error.is_retryable());
        let throttled = rejected(
            "project lookup",
            429,
            b"{\"error_msg\":\"slow down\"}",
            None,
        );
        assert!(throttled.is_retryable());
        assert!(throttled.to_string().ends_with("slow down"));
    }
}
