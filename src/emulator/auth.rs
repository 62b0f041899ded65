//! Request authentication enforced by the emulator: AK/SK signature verification
//! (SDK-HMAC-SHA256, rebuilt from the headers named in `SignedHeaders`), IAM tokens, and the
//! emulated IAM endpoints of the password flow (`POST /v3/auth/tokens`, `GET /v3/projects`).
//!
//! Rejections look like the API gateway's (401, `APIGW.0301`, "Incorrect IAM authentication
//! information: …") and never echo a secret key, a token or the expected signature.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::cbr::sign::{self, Secret, VerifyError, X_SDK_DATE};

/// Largest difference between `X-Sdk-Date` and the emulator's clock that is accepted.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);
/// Lifetime of tokens issued by `POST /v3/auth/tokens` unless configured otherwise (IAM's is
/// 24 hours).
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);
/// Gateway error code for every authentication failure.
pub const AUTH_ERROR_CODE: &str = "APIGW.0301";

const X_AUTH_TOKEN: &str = "x-auth-token";
const X_SECURITY_TOKEN: &str = "x-security-token";
const X_SUBJECT_TOKEN: &str = "x-subject-token";

/// Which authentication the emulator requires.
#[derive(Debug, Clone, Default)]
pub enum AuthConfig {
    /// Accept every request. The IAM routes issue a token for any user and password.
    #[default]
    None,
    /// Require requests signed with this one access key (SDK-HMAC-SHA256).
    AkSk {
        /// Access key id.
        ak: String,
        /// Secret access key.
        sk: Secret,
    },
    /// Require `X-Auth-Token` with exactly this token.
    Token(Secret),
    /// Accounts of an emulated IAM: password users (who get tokens from `iam_routes`), access
    /// keys (permanent or temporary) and fixed tokens, in any combination.
    Iam(IamAccounts),
}

impl AuthConfig {
    /// The configuration for a set of accounts (e.g. from `cbrflow emulator` flags): nothing
    /// configured accepts everything, a single key or token needs exactly that, anything
    /// else (users, or a key and a token) becomes an emulated IAM holding all of them.
    pub fn from_accounts(
        access_key: Option<(String, Secret)>,
        token: Option<Secret>,
        users: Vec<IamUser>,
    ) -> Self {
        match (access_key, token, users.is_empty()) {
            (None, None, true) => Self::None,
            (Some((ak, sk)), None, true) => Self::AkSk { ak, sk },
            (None, Some(token), true) => Self::Token(token),
            (access_key, token, _) => {
                let mut accounts = IamAccounts {
                    users,
                    ..IamAccounts::default()
                };
                if let Some((ak, sk)) = access_key {
                    accounts = accounts.with_access_key(ak, sk);
                }
                if let Some(token) = token {
                    accounts = accounts.with_token(token);
                }
                Self::Iam(accounts)
            }
        }
    }
}

/// A user of the emulated IAM.
#[derive(Debug, Clone)]
pub struct IamUser {
    /// User name.
    pub name: String,
    /// Password.
    pub password: Secret,
    /// Domain (account) name the token request must name; `None` accepts any.
    pub domain: Option<String>,
}

impl FromStr for IamUser {
    type Err = String;

    /// Parses `NAME:PASSWORD` (the password may contain `:`).
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value.split_once(':') {
            Some((name, password)) if !name.is_empty() && !password.is_empty() => Ok(Self {
                name: name.to_owned(),
                password: Secret::new(password),
                domain: None,
            }),
            _ => Err("expected NAME:PASSWORD".to_owned()),
        }
    }
}

/// An access key of the emulated IAM.
#[derive(Debug, Clone)]
pub struct AccessKey {
    /// Access key id.
    pub ak: String,
    /// Secret access key.
    pub sk: Secret,
    /// For temporary credentials: the security token every request must carry (and sign) in
    /// `X-Security-Token`.
    pub security_token: Option<Secret>,
}

/// The accounts of [`AuthConfig::Iam`] and the tokens issued so far. Clones share the issued
/// tokens, so the router and the checks see the same set.
#[derive(Clone)]
pub struct IamAccounts {
    /// Users that may get tokens with their password.
    pub users: Vec<IamUser>,
    /// Access keys accepted on signed requests.
    pub access_keys: Vec<AccessKey>,
    /// Tokens accepted without having been issued.
    pub tokens: Vec<Secret>,
    /// Lifetime of issued tokens.
    pub token_lifetime: Duration,
    issued: Arc<Mutex<HashMap<String, IssuedToken>>>,
}

#[derive(Debug, Clone)]
struct IssuedToken {
    expires_at: DateTime<Utc>,
}

impl Default for IamAccounts {
    fn default() -> Self {
        Self {
            users: Vec::new(),
            access_keys: Vec::new(),
            tokens: Vec::new(),
            token_lifetime: DEFAULT_TOKEN_LIFETIME,
            issued: Arc::default(),
        }
    }
}

impl fmt::Debug for IamAccounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IamAccounts")
            .field("users", &self.users)
            .field("access_keys", &self.access_keys)
            .field("tokens", &self.tokens)
            .field("token_lifetime", &self.token_lifetime)
            .field("issued", &self.issued_tokens())
            .finish()
    }
}

impl IamAccounts {
    /// Adds a password user.
    #[must_use]
    pub fn with_user(mut self, name: impl Into<String>, password: impl Into<Secret>) -> Self {
        self.users.push(IamUser {
            name: name.into(),
            password: password.into(),
            domain: None,
        });
        self
    }

    /// Adds a permanent access key.
    #[must_use]
    pub fn with_access_key(mut self, ak: impl Into<String>, sk: impl Into<Secret>) -> Self {
        self.access_keys.push(AccessKey {
            ak: ak.into(),
            sk: sk.into(),
            security_token: None,
        });
        self
    }

    /// Adds a temporary access key that needs `security_token` on every request.
    #[must_use]
    pub fn with_temporary_key(
        mut self,
        ak: impl Into<String>,
        sk: impl Into<Secret>,
        security_token: impl Into<Secret>,
    ) -> Self {
        self.access_keys.push(AccessKey {
            ak: ak.into(),
            sk: sk.into(),
            security_token: Some(security_token.into()),
        });
        self
    }

    /// Adds a token that is accepted without having been issued.
    #[must_use]
    pub fn with_token(mut self, token: impl Into<Secret>) -> Self {
        self.tokens.push(token.into());
        self
    }

    /// Sets the lifetime of issued tokens.
    #[must_use]
    pub fn with_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = lifetime;
        self
    }

    /// How many tokens `POST /v3/auth/tokens` has issued.
    pub fn issued_tokens(&self) -> usize {
        self.issued_map().len()
    }

    fn issued_map(&self) -> std::sync::MutexGuard<'_, HashMap<String, IssuedToken>> {
        self.issued.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn check_token(&self, token: &str, now: DateTime<Utc>) -> Result<(), AuthRejection> {
        if self.tokens.iter().any(|known| known.matches(token)) {
            return Ok(());
        }
        match self.issued_map().get(&token_key(token)) {
            Some(issued) if now < issued.expires_at => Ok(()),
            Some(_) => Err(AuthRejection::unauthorized("the token has expired")),
            None => Err(AuthRejection::unauthorized("invalid token")),
        }
    }
}

/// Issued tokens are stored by hash, so the set never holds a usable token.
fn token_key(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The emulator's project id for a project name: 32 hex digits, the same on every run.
pub fn project_id_for(name: &str) -> String {
    let digest = hex::encode(Sha256::digest(format!("cbrflow-emulator/project/{name}")));
    digest[..32].to_owned()
}

fn id_for(kind: &str, name: &str) -> String {
    let digest = hex::encode(Sha256::digest(format!("cbrflow-emulator/{kind}/{name}")));
    digest[..32].to_owned()
}

/// Why a request was refused; rendered as a CBR-style error body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRejection {
    /// HTTP status (401 for bad signatures, tokens or dates).
    pub status: StatusCode,
    /// Gateway error code, e.g. `APIGW.0301`.
    pub error_code: String,
    /// Message (never echoes a secret).
    pub error_msg: String,
}

impl AuthRejection {
    fn unauthorized(detail: &str) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            error_code: AUTH_ERROR_CODE.to_owned(),
            error_msg: format!("Incorrect IAM authentication information: {detail}"),
        }
    }

    fn signature(detail: &str) -> Self {
        Self::unauthorized(&format!("verify aksk signature fail, {detail}"))
    }

    fn from_verify(error: &VerifyError) -> Self {
        match error {
            VerifyError::MissingAuthorization => Self::unauthorized("Authorization not found"),
            // The gateway does not say why a signature differs; neither do we.
            VerifyError::SignatureMismatch => Self::unauthorized("verify aksk signature fail"),
            other => Self::signature(&other.to_string()),
        }
    }

    fn into_response(self) -> Response {
        (
            self.status,
            axum::Json(json!({
                "error_code": self.error_code,
                "error_msg": self.error_msg,
            })),
        )
            .into_response()
    }
}

/// Checks one CBR request against `config`. `uri` is the request URI as received (path and
/// raw query), `headers` all request headers, `body` the raw body bytes.
pub fn check(
    config: &AuthConfig,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), AuthRejection> {
    match config {
        AuthConfig::None => Ok(()),
        AuthConfig::AkSk { ak, sk } => {
            let key = AccessKey {
                ak: ak.clone(),
                sk: sk.clone(),
                security_token: None,
            };
            check_signature(std::slice::from_ref(&key), method, uri, headers, body, now)
        }
        AuthConfig::Token(expected) => match token_header(headers)? {
            Some(token) if expected.matches(token) => Ok(()),
            Some(_) => Err(AuthRejection::unauthorized("invalid token")),
            None => Err(AuthRejection::unauthorized("x-auth-token not found")),
        },
        AuthConfig::Iam(accounts) => {
            if headers.contains_key(header::AUTHORIZATION) {
                check_signature(&accounts.access_keys, method, uri, headers, body, now)
            } else if let Some(token) = token_header(headers)? {
                accounts.check_token(token, now)
            } else {
                Err(AuthRejection::unauthorized("x-auth-token not found"))
            }
        }
    }
}

fn token_header(headers: &HeaderMap) -> Result<Option<&str>, AuthRejection> {
    headers
        .get(X_AUTH_TOKEN)
        .map(|value| {
            value
                .to_str()
                .map_err(|_| AuthRejection::unauthorized("invalid token"))
        })
        .transpose()
}

fn check_signature(
    keys: &[AccessKey],
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), AuthRejection> {
    let mut key_used = None;
    let verified = sign::verify(method, uri.path(), uri.query(), headers, body, |ak| {
        let key = keys.iter().find(|key| key.ak == ak)?;
        key_used = Some(key);
        Some(&key.sk)
    })
    .map_err(|error| AuthRejection::from_verify(&error))?;

    let skew = (now - verified.date)
        .abs()
        .to_std()
        .unwrap_or(Duration::MAX);
    if skew > MAX_CLOCK_SKEW {
        return Err(AuthRejection::signature(&format!(
            "the {X_SDK_DATE} header is more than 15 minutes away from the server time"
        )));
    }

    if let Some(expected) = key_used.and_then(|key| key.security_token.as_ref()) {
        let signed = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| sign::Authorization::parse(value).ok())
            .is_some_and(|authorization| {
                authorization
                    .signed_header_names()
                    .any(|name| name == X_SECURITY_TOKEN)
            });
        let presented = headers
            .get(X_SECURITY_TOKEN)
            .and_then(|value| value.to_str().ok());
        match presented {
            Some(token) if signed && expected.matches(token) => {}
            Some(_) => return Err(AuthRejection::signature("invalid security token")),
            None => return Err(AuthRejection::signature("security token not found")),
        }
    }
    Ok(())
}

/// Routes of the emulated IAM service (`POST /v3/auth/tokens`, `GET /v3/projects`), merged
/// into the emulator's router. They are never subject to [`check`]; `GET /v3/projects` checks
/// its own credentials the same way.
pub fn iam_routes(config: &AuthConfig) -> axum::Router {
    axum::Router::new()
        .route("/v3/auth/tokens", post(issue_token))
        .route("/v3/projects", get(list_projects))
        .with_state(config.clone())
}

/// A Keystone-style IAM error (`{"error": {"code", "title", "message"}}`).
fn iam_error(status: StatusCode, message: &str) -> Response {
    let body = json!({
        "error": {
            "code": status.as_u16(),
            "title": status.canonical_reason().unwrap_or("Error"),
            "message": message,
        }
    });
    (status, axum::Json(body)).into_response()
}

struct TokenRequest {
    user: String,
    password: String,
    domain: Option<String>,
    project_id: Option<String>,
    project_name: Option<String>,
}

fn parse_token_request(body: &[u8]) -> Result<TokenRequest, String> {
    let json: Value =
        serde_json::from_slice(body).map_err(|_| "the request body is not valid JSON")?;
    let identity = json
        .pointer("/auth/identity")
        .ok_or("auth.identity is required")?;
    let password_method = identity
        .get("methods")
        .and_then(Value::as_array)
        .is_some_and(|methods| methods.iter().any(|m| m == "password"));
    if !password_method {
        return Err("only the password method is supported".to_owned());
    }
    let user = identity
        .pointer("/password/user")
        .ok_or("auth.identity.password.user is required")?;
    let text = |value: &Value, pointer: &str| {
        value
            .pointer(pointer)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    Ok(TokenRequest {
        user: text(user, "/name").ok_or("the user name is required")?,
        password: text(user, "/password").ok_or("the password is required")?,
        domain: text(user, "/domain/name"),
        project_id: text(&json, "/auth/scope/project/id"),
        project_name: text(&json, "/auth/scope/project/name"),
    })
}

async fn issue_token(State(config): State<AuthConfig>, body: Bytes) -> Response {
    let request = match parse_token_request(&body) {
        Ok(request) => request,
        Err(message) => return iam_error(StatusCode::BAD_REQUEST, &message),
    };
    let accounts = match &config {
        AuthConfig::None => None,
        AuthConfig::Iam(accounts) => {
            let known = accounts.users.iter().any(|user| {
                user.name == request.user
                    && user.password.matches(&request.password)
                    && user
                        .domain
                        .as_ref()
                        .is_none_or(|domain| request.domain.as_ref() == Some(domain))
            });
            if !known {
                return iam_error(
                    StatusCode::UNAUTHORIZED,
                    "The username or password is wrong.",
                );
            }
            Some(accounts)
        }
        AuthConfig::AkSk { .. } | AuthConfig::Token(_) => {
            return iam_error(
                StatusCode::UNAUTHORIZED,
                "The username or password is wrong.",
            );
        }
    };

    let issued_at = Utc::now();
    let lifetime = accounts.map_or(DEFAULT_TOKEN_LIFETIME, |a| a.token_lifetime);
    let expires_at = issued_at
        + chrono::Duration::from_std(lifetime).unwrap_or_else(|_| chrono::Duration::days(1));
    let token = format!(
        "MIIemu{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    if let Some(accounts) = accounts {
        let mut issued = accounts.issued_map();
        issued.retain(|_, token| token.expires_at > issued_at);
        issued.insert(token_key(&token), IssuedToken { expires_at });
    }

    let domain_name = request
        .domain
        .clone()
        .unwrap_or_else(|| "emulator".to_owned());
    let domain = json!({ "id": id_for("domain", &domain_name), "name": domain_name });
    let project = match (&request.project_id, &request.project_name) {
        (Some(id), _) => json!({ "id": id, "name": id, "domain": domain }),
        (None, Some(name)) => json!({ "id": project_id_for(name), "name": name, "domain": domain }),
        (None, None) => Value::Null,
    };
    let time = |at: DateTime<Utc>| at.to_rfc3339_opts(SecondsFormat::Micros, true);
    let mut body = json!({
        "token": {
            "expires_at": time(expires_at),
            "issued_at": time(issued_at),
            "methods": ["password"],
            "user": {
                "id": id_for("user", &request.user),
                "name": request.user,
                "domain": domain,
                "password_expires_at": "",
            },
            "roles": [{ "id": id_for("role", "te_admin"), "name": "te_admin" }],
            "catalog": [],
        }
    });
    if !project.is_null() {
        body["token"]["project"] = project;
    }
    let mut response = (StatusCode::CREATED, axum::Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&token) {
        response.headers_mut().insert(X_SUBJECT_TOKEN, value);
    }
    response
}

async fn list_projects(
    State(config): State<AuthConfig>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(rejection) = check(&config, &method, &uri, &headers, &body, Utc::now()) {
        return rejection.into_response();
    }
    let name = uri.query().and_then(|query| {
        sign::parse_query(query)
            .into_iter()
            .find(|(key, _)| key == "name")
            .map(|(_, value)| value)
    });
    let projects: Vec<Value> = name
        .into_iter()
        .map(|name| {
            json!({
                "id": project_id_for(&name),
                "name": name,
                "domain_id": id_for("domain", "emulator"),
                "parent_id": id_for("domain", "emulator"),
                "is_domain": false,
                "enabled": true,
                "description": "",
            })
        })
        .collect();
    axum::Json(json!({ "projects": projects, "links": { "self": uri.to_string() } }))
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iam_user_parses_name_and_password_without_echoing_it() {
        let user: IamUser = "alice:pa:ss".parse().unwrap();
        assert_eq!(user.name, "alice");
        assert!(user.password.matches("pa:ss"));
        assert!(!format!("{user:?}").contains("pa:ss"));
        let error = "alice-secret".parse::<IamUser>().unwrap_err();
        assert!(!error.contains("secret"));
        assert!("alice:".parse::<IamUser>().is_err());
    }

    #[test]
    fn from_accounts_picks_the_simplest_config() {
        let key = || Some(("AK".to_owned(), Secret::new("SK")));
        let token = || Some(Secret::new("T"));
        let alice = || vec!["alice:pw".parse::<IamUser>().unwrap()];
        assert!(matches!(
            AuthConfig::from_accounts(None, None, vec![]),
            AuthConfig::None
        ));
        assert!(matches!(
            AuthConfig::from_accounts(key(), None, vec![]),
            AuthConfig::AkSk { .. }
        ));
        assert!(matches!(
            AuthConfig::from_accounts(None, token(), vec![]),
            AuthConfig::Token(_)
        ));
        let AuthConfig::Iam(all) = AuthConfig::from_accounts(key(), token(), alice()) else {
            panic!("expected IAM accounts");
        };
        assert_eq!(
            (all.users.len(), all.access_keys.len(), all.tokens.len()),
            (1, 1, 1)
        );
        let AuthConfig::Iam(users) = AuthConfig::from_accounts(None, None, alice()) else {
            panic!("expected IAM accounts");
        };
        assert_eq!(users.users[0].name, "alice");
    }

    #[test]
    fn project_ids_are_stable_and_distinct() {
        assert_eq!(project_id_for("eu-de"), project_id_for("eu-de"));
        assert_ne!(project_id_for("eu-de"), project_id_for("eu-nl"));
        assert_eq!(project_id_for("eu-de").len(), 32);
    }

    #[test]
    fn token_mode_requires_the_exact_token() {
        let config = AuthConfig::Token(Secret::new("t0k"));
        let uri: Uri = "/v3/p/vaults".parse().unwrap();
        let mut headers = HeaderMap::new();
        let missing = check(&config, &Method::GET, &uri, &headers, b"", Utc::now()).unwrap_err();
        assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
        assert_eq!(missing.error_code, AUTH_ERROR_CODE);
        headers.insert(X_AUTH_TOKEN, HeaderValue::from_static("nope"));
        assert!(check(&config, &Method::GET, &uri, &headers, b"", Utc::now()).is_err());
        headers.insert(X_AUTH_TOKEN, HeaderValue::from_static("t0k"));
        assert!(check(&config, &Method::GET, &uri, &headers, b"", Utc::now()).is_ok());
    }

    #[test]
    fn debug_hides_secrets() {
        let config = AuthConfig::Iam(
            IamAccounts::default()
                .with_user("alice", "user-secret")
                .with_temporary_key("AK", "key-secret", "token-secret")
                .with_token("static-secret"),
        );
        let debug = format!("{config:?}");
        assert!(!debug.contains("secret"), "{debug}");
        assert!(debug.contains("alice"));
    }
}
