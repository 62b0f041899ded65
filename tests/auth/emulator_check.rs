//! What the client signs, the emulator accepts; what is wrong, it refuses with the gateway's
//! 401 `APIGW.0301` and without echoing a secret.

use cbrflow::cbr::auth::{Auth, Secret};
use cbrflow::emulator::auth::{AuthConfig, AuthRejection, IamAccounts, check};
use chrono::{Duration, Utc};
use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, HeaderValue};

use super::parts;

const AK: &str = "HPUAEMULATORTESTAK00";
const SK: &str = "emulator-test-secret-key-0123456789abcdef";
const PROJECT: &str = "0605767a3b00d5762f6bc0093b1b1234";

fn aksk(sk: &str, security_token: Option<&str>) -> Auth {
    Auth::AkSk {
        ak: AK.to_owned(),
        sk: Secret::new(sk),
        security_token: security_token.map(Secret::new),
        project_id: Some(PROJECT.to_owned()),
    }
}

fn emulator_config() -> AuthConfig {
    AuthConfig::AkSk {
        ak: AK.to_owned(),
        sk: Secret::new(SK),
    }
}

/// A request as the CBR client builds it, authenticated by `auth`.
async fn signed(auth: &Auth, method: Method, target: &str, body: Option<&str>) -> reqwest::Request {
    let url = url::Url::parse(&format!("http://127.0.0.1:8080{target}")).unwrap();
    let mut request = reqwest::Request::new(method, url);
    let content_type = if body.is_some() {
        "application/json;charset=utf-8"
    } else {
        "application/json"
    };
    request
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(body) = body {
        *request.body_mut() = Some(body.to_owned().into());
    }
    auth.apply(&mut request).await.unwrap();
    request
}

fn check_now(config: &AuthConfig, request: &reqwest::Request) -> Result<(), AuthRejection> {
    let (method, uri, headers, body) = parts(request);
    check(config, &method, &uri, &headers, &body, Utc::now())
}

fn assert_gateway_rejection(rejection: &AuthRejection) {
    assert_eq!(rejection.status, 401);
    assert_eq!(rejection.error_code, "APIGW.0301");
    assert!(
        rejection
            .error_msg
            .starts_with("Incorrect IAM authentication information"),
        "{}",
        rejection.error_msg
    );
    assert!(!rejection.error_msg.contains(SK), "{}", rejection.error_msg);
}

#[tokio::test]
async fn client_signed_requests_are_accepted() {
    let auth = aksk(SK, None);
    let config = emulator_config();
    let body = r#"{"vault": {"name": "my vault", "resources": []}}"#;
    let post = signed(
        &auth,
        Method::POST,
        &format!("/v3/{PROJECT}/vaults"),
        Some(body),
    )
    .await;
    assert_eq!(check_now(&config, &post), Ok(()));
    let query = format!("/v3/{PROJECT}/vaults?offset=0&name=my+vault&limit=10&id=b&id=a");
    let get = signed(&auth, Method::GET, &query, None).await;
    assert_eq!(
        get.url().query(),
        Some("id=a&id=b&limit=10&name=my%20vault&offset=0")
    );
    assert_eq!(check_now(&config, &get), Ok(()));
    let delete = signed(
        &auth,
        Method::DELETE,
        &format!("/v3/{PROJECT}/vaults/v%2F1"),
        None,
    )
    .await;
    assert_eq!(check_now(&config, &delete), Ok(()));
}

#[tokio::test]
async fn headers_added_after_signing_do_not_matter() {
    let mut request = signed(&aksk(SK, None), Method::GET, "/v3/p/vaults", None).await;
    let headers = request.headers_mut();
    headers.insert("accept", HeaderValue::from_static("*/*"));
    headers.insert("user-agent", HeaderValue::from_static("cbrflow/test"));
    headers.insert("content-length", HeaderValue::from_static("0"));
    assert_eq!(check_now(&emulator_config(), &request), Ok(()));
}

#[tokio::test]
async fn a_wrong_secret_key_is_rejected_without_echoing_the_expected_signature() {
    let good = signed(&aksk(SK, None), Method::GET, "/v3/p/vaults", None).await;
    let good_authorization = good.headers()["authorization"].to_str().unwrap().to_owned();
    let good_signature = good_authorization.rsplit("Signature=").next().unwrap();

    let bad = signed(
        &aksk("not-the-secret-key", None),
        Method::GET,
        "/v3/p/vaults",
        None,
    )
    .await;
    let rejection = check_now(&emulator_config(), &bad).unwrap_err();
    assert_gateway_rejection(&rejection);
    assert!(rejection.error_msg.contains("verify aksk signature fail"));
    assert!(!rejection.error_msg.contains(good_signature));
    assert!(!rejection.error_msg.contains("not-the-secret-key"));
}

#[tokio::test]
async fn unknown_keys_missing_signatures_and_tampering_are_rejected() {
    let config = emulator_config();
    let other = Auth::AkSk {
        ak: "SOMEOTHERACCESSKEY00".to_owned(),
        sk: Secret::new(SK),
        security_token: None,
        project_id: None,
    };
    let unknown = signed(&other, Method::GET, "/v3/p/vaults", None).await;
    assert_gateway_rejection(&check_now(&config, &unknown).unwrap_err());

    let unsigned = signed(&Auth::None, Method::GET, "/v3/p/vaults", None).await;
    assert_gateway_rejection(&check_now(&config, &unsigned).unwrap_err());

    let token = signed(
        &Auth::Token(Secret::new("tok")),
        Method::GET,
        "/v3/p/vaults",
        None,
    )
    .await;
    assert_gateway_rejection(&check_now(&config, &token).unwrap_err());

    let request = signed(&aksk(SK, None), Method::POST, "/v3/p/vaults", Some("{}")).await;
    let (method, uri, headers, _) = parts(&request);
    let tampered_body = check(&config, &method, &uri, &headers, b"{\"x\":1}", Utc::now());
    assert_gateway_rejection(&tampered_body.unwrap_err());
    let other_path = "/v3/p/checkpoints".parse().unwrap();
    let tampered_path = check(&config, &method, &other_path, &headers, b"{}", Utc::now());
    assert_gateway_rejection(&tampered_path.unwrap_err());
    let tampered_method = check(&config, &Method::PUT, &uri, &headers, b"{}", Utc::now());
    assert_gateway_rejection(&tampered_method.unwrap_err());
}

#[tokio::test]
async fn a_date_more_than_fifteen_minutes_off_is_rejected() {
    let config = emulator_config();
    let request = signed(&aksk(SK, None), Method::GET, "/v3/p/vaults", None).await;
    let (method, uri, headers, body) = parts(&request);
    let at = |offset: Duration| check(&config, &method, &uri, &headers, &body, Utc::now() + offset);
    assert_eq!(at(Duration::minutes(14)), Ok(()));
    assert_eq!(at(Duration::minutes(-14)), Ok(()));
    for offset in [
        Duration::minutes(16),
        Duration::minutes(-16),
        Duration::days(400),
    ] {
        let rejection = at(offset).unwrap_err();
        assert_gateway_rejection(&rejection);
        assert!(
            rejection.error_msg.contains("15 minutes"),
            "{}",
            rejection.error_msg
        );
    }
}

#[tokio::test]
async fn temporary_credentials_need_their_signed_security_token() {
    let accounts = IamAccounts::default().with_temporary_key(AK, SK, "security-token-1");
    let config = AuthConfig::Iam(accounts);

    let with_token = signed(
        &aksk(SK, Some("security-token-1")),
        Method::GET,
        "/v3/p/vaults",
        None,
    )
    .await;
    let authorization = with_token.headers()["authorization"].to_str().unwrap();
    assert!(
        authorization.contains("x-security-token"),
        "{authorization}"
    );
    assert_eq!(check_now(&config, &with_token), Ok(()));

    let without = signed(&aksk(SK, None), Method::GET, "/v3/p/vaults", None).await;
    assert_gateway_rejection(&check_now(&config, &without).unwrap_err());

    let wrong = signed(
        &aksk(SK, Some("security-token-2")),
        Method::GET,
        "/v3/p/vaults",
        None,
    )
    .await;
    let rejection = check_now(&config, &wrong).unwrap_err();
    assert_gateway_rejection(&rejection);
    assert!(!rejection.error_msg.contains("security-token-"));

    // The token must be covered by the signature: swapping it afterwards breaks it.
    let mut swapped = with_token;
    swapped.headers_mut().insert(
        "x-security-token",
        HeaderValue::from_static("security-token-2"),
    );
    assert_gateway_rejection(&check_now(&config, &swapped).unwrap_err());
}

#[tokio::test]
async fn token_mode_accepts_only_its_token() {
    let config = AuthConfig::Token(Secret::new("the-token"));
    let good = signed(
        &Auth::Token(Secret::new("the-token")),
        Method::GET,
        "/v3/p/vaults",
        None,
    )
    .await;
    assert_eq!(check_now(&config, &good), Ok(()));
    let bad = signed(
        &Auth::Token(Secret::new("a-token")),
        Method::GET,
        "/v3/p/vaults",
        None,
    )
    .await;
    let rejection = check_now(&config, &bad).unwrap_err();
    assert_gateway_rejection(&rejection);
    assert!(!rejection.error_msg.contains("the-token"));
    let signed_instead = signed(&aksk(SK, None), Method::GET, "/v3/p/vaults", None).await;
    assert_gateway_rejection(&check_now(&config, &signed_instead).unwrap_err());
}

#[tokio::test]
async fn no_auth_config_accepts_everything() {
    let request = signed(&Auth::None, Method::GET, "/v3/p/vaults", None).await;
    assert_eq!(check_now(&AuthConfig::None, &request), Ok(()));
}
