//! The IAM password flow and project lookup over real HTTP against the emulator's IAM routes:
//! a token is fetched once, shared by concurrent callers, renewed before it expires, and
//! accepted by the emulator's check; wrong passwords and keys fail without leaking them.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cbrflow::cbr::auth::{Auth, Secret};
use cbrflow::cbr::iam::{IamError, PasswordCredentials, ProjectScope, TokenSource};
use cbrflow::cli::connection::{ConnectionArgs, resolve_with};
use cbrflow::emulator::auth::{AuthConfig, IamAccounts, check, iam_routes, project_id_for};
use chrono::Utc;
use reqwest::Method;
use url::Url;

use super::{parts, serve};

const PASSWORD: &str = "correct horse battery staple";

fn http() -> reqwest::Client {
    cbrflow::cli::connection::http_client(None, false).unwrap()
}

fn alice(password: &str, scope: ProjectScope) -> PasswordCredentials {
    PasswordCredentials {
        user_name: "alice".to_owned(),
        password: Secret::new(password),
        domain_name: Some("alice-account".to_owned()),
        scope,
    }
}

fn accounts(lifetime: Duration) -> IamAccounts {
    IamAccounts::default()
        .with_user("alice", PASSWORD)
        .with_access_key("IAMTESTACCESSKEY0000", "iam-test-secret-key")
        .with_token_lifetime(lifetime)
}

/// Checks a request to `/v3/{project}/vaults` carrying `auth` against `config`.
async fn accepted(auth: &Auth, config: &AuthConfig) -> Result<(), String> {
    let url = Url::parse("http://127.0.0.1:1/v3/p/vaults").unwrap();
    let mut request = reqwest::Request::new(Method::GET, url);
    auth.apply(&mut request).await.map_err(|e| e.to_string())?;
    let (method, uri, headers, body) = parts(&request);
    check(config, &method, &uri, &headers, &body, Utc::now()).map_err(|r| r.error_msg)
}

#[tokio::test]
async fn password_tokens_are_cached_shared_and_renewed() {
    let accounts = accounts(Duration::from_secs(2));
    let config = AuthConfig::Iam(accounts.clone());
    let iam = serve(iam_routes(&config)).await;
    let source = Arc::new(
        TokenSource::new(
            http(),
            &iam,
            alice(PASSWORD, ProjectScope::Name("eu-de".into())),
        )
        .with_refresh_margin(Duration::from_millis(500)),
    );

    // Ten concurrent first callers share one token request.
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let source = Arc::clone(&source);
            tokio::spawn(async move { source.token().await.unwrap() })
        })
        .collect();
    let mut values = Vec::new();
    for task in tasks {
        values.push(task.await.unwrap().value.expose().to_owned());
    }
    assert_eq!(accounts.issued_tokens(), 1);
    assert!(values.iter().all(|value| *value == values[0]));

    let first = source.token().await.unwrap();
    assert_eq!(first.value.expose(), values[0]);
    assert_eq!(accounts.issued_tokens(), 1, "a cached token is reused");
    let project = first.project.clone().unwrap();
    assert_eq!(project.name, "eu-de");
    assert_eq!(project.id, project_id_for("eu-de"));

    let auth = Auth::Password(Arc::clone(&source));
    assert_eq!(accepted(&auth, &config).await, Ok(()));
    assert_eq!(accounts.issued_tokens(), 1);

    // 2 s lifetime, 0.5 s margin: renewed after 1.5 s, before IAM would refuse it.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let renewed = source.token().await.unwrap();
    assert_ne!(renewed.value.expose(), first.value.expose());
    assert_eq!(accounts.issued_tokens(), 2);
    assert_eq!(accepted(&auth, &config).await, Ok(()));

    // The emulator refuses the old token once it has expired.
    let mut old = reqwest::Request::new(Method::GET, Url::parse("http://h/v3/p/vaults").unwrap());
    Auth::Token(first.value.clone())
        .apply(&mut old)
        .await
        .unwrap();
    let (method, uri, headers, body) = parts(&old);
    let later = Utc::now() + chrono::Duration::seconds(3);
    let rejection = check(&config, &method, &uri, &headers, &body, later).unwrap_err();
    assert!(
        rejection.error_msg.contains("expired"),
        "{}",
        rejection.error_msg
    );
    assert!(!rejection.error_msg.contains(first.value.expose()));
}

#[tokio::test]
async fn invalidate_forces_a_new_token() {
    let accounts = accounts(Duration::from_secs(3600));
    let iam = serve(iam_routes(&AuthConfig::Iam(accounts.clone()))).await;
    let source = TokenSource::new(
        http(),
        &iam,
        alice(PASSWORD, ProjectScope::Id("p-1".into())),
    );
    let first = source.token().await.unwrap();
    assert_eq!(first.project.unwrap().id, "p-1");
    source.invalidate().await;
    source.token().await.unwrap();
    assert_eq!(accounts.issued_tokens(), 2);
}

#[tokio::test]
async fn a_wrong_password_fails_without_showing_it() {
    let config = AuthConfig::Iam(accounts(Duration::from_secs(60)));
    let iam = serve(iam_routes(&config)).await;
    let source = TokenSource::new(
        http(),
        &iam.join("/v3").unwrap(),
        alice("wrong password 42", ProjectScope::Name("eu-de".into())),
    );
    let error = source.token().await.unwrap_err();
    assert!(
        matches!(error, IamError::Rejected { status: 401, .. }),
        "{error:?}"
    );
    assert!(!error.is_retryable());
    let shown = format!("{error} {error:?} {source:?}");
    assert!(!shown.contains("wrong password 42"), "{shown}");
    assert!(!shown.contains(PASSWORD), "{shown}");

    let auth = Auth::Password(Arc::new(source));
    let error = accepted(&auth, &config).await.unwrap_err();
    assert!(error.contains("HTTP 401"), "{error}");
}

#[tokio::test]
async fn an_unreachable_iam_is_a_retryable_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    drop(listener);
    let source = TokenSource::new(
        http(),
        &dead,
        alice(PASSWORD, ProjectScope::Name("x".into())),
    );
    let error = Auth::Password(Arc::new(source))
        .apply(&mut reqwest::Request::new(Method::GET, dead.clone()))
        .await
        .unwrap_err();
    assert!(error.is_retryable(), "{error}");
}

#[tokio::test]
async fn projects_are_looked_up_with_a_signature_or_a_token() {
    let config = AuthConfig::Iam(accounts(Duration::from_secs(60)).with_token("static-token"));
    let iam = serve(iam_routes(&config)).await;
    let http = http();

    let signed = Auth::AkSk {
        ak: "IAMTESTACCESSKEY0000".to_owned(),
        sk: Secret::new("iam-test-secret-key"),
        security_token: None,
        project_id: None,
    };
    let project = signed.find_project(&http, &iam, "eu-nl").await.unwrap();
    assert_eq!(project.id, project_id_for("eu-nl"));
    assert_eq!(project.name, "eu-nl");

    let token = Auth::Token(Secret::new("static-token"));
    let project = token.find_project(&http, &iam, "eu-de").await.unwrap();
    assert_eq!(project.id, project_id_for("eu-de"));

    let bad_key = Auth::AkSk {
        ak: "IAMTESTACCESSKEY0000".to_owned(),
        sk: Secret::new("wrong-secret"),
        security_token: None,
        project_id: None,
    };
    let error = bad_key
        .find_project(&http, &iam, "eu-de")
        .await
        .unwrap_err();
    let shown = error.to_string();
    assert!(shown.contains("HTTP 401"), "{shown}");
    assert!(shown.contains("verify aksk signature fail"), "{shown}");
    assert!(!shown.contains("wrong-secret"), "{shown}");
    assert!(!shown.contains("iam-test-secret-key"), "{shown}");
}

fn fake_env(vars: &[(&str, String)]) -> impl Fn(&str) -> Option<String> + use<> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    move |name| vars.get(name).cloned()
}

const NO_CLOUDS: &[PathBuf] = &[];

#[tokio::test]
async fn resolve_runs_the_password_flow_and_finds_the_project() {
    let accounts = IamAccounts::default().with_user("alice", PASSWORD);
    let config = AuthConfig::Iam(accounts.clone());
    let iam = serve(iam_routes(&config)).await;
    let env = fake_env(&[
        ("OS_AUTH_URL", format!("{iam}v3")),
        ("OS_USERNAME", "alice".into()),
        ("OS_PASSWORD", PASSWORD.into()),
        ("OS_USER_DOMAIN_NAME", "alice-account".into()),
        ("OS_REGION_NAME", "eu-de".into()),
        ("CBRFLOW_ENDPOINT", "http://127.0.0.1:9".into()),
    ]);
    let connection = resolve_with(&ConnectionArgs::default(), &env, NO_CLOUDS)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(connection.project_id, project_id_for("eu-de"));
    assert_eq!(connection.endpoint.as_str(), "http://127.0.0.1:9/");
    assert!(matches!(connection.auth, Auth::Password(_)));
    assert!(!format!("{connection:?}").contains(PASSWORD));
    // The token fetched while resolving is the one requests then carry.
    assert_eq!(accepted(&connection.auth, &config).await, Ok(()));
    assert_eq!(accounts.issued_tokens(), 1);

    let wrong = fake_env(&[
        ("OS_AUTH_URL", format!("{iam}v3")),
        ("OS_USERNAME", "alice".into()),
        ("OS_PASSWORD", "not it".into()),
        ("OS_USER_DOMAIN_NAME", "alice-account".into()),
        ("OS_REGION_NAME", "eu-de".into()),
    ]);
    let error = resolve_with(&ConnectionArgs::default(), &wrong, NO_CLOUDS)
        .await
        .unwrap_err();
    let shown = format!("{error:#}");
    assert!(
        shown.contains("user `alice`") && shown.contains("HTTP 401"),
        "{shown}"
    );
    assert!(!shown.contains("not it"), "{shown}");
}

#[tokio::test]
async fn resolve_signs_the_project_lookup_for_access_keys() {
    let config = AuthConfig::AkSk {
        ak: "RESOLVEACCESSKEY0000".to_owned(),
        sk: Secret::new("resolve-secret"),
    };
    let iam = serve(iam_routes(&config)).await;
    let env = fake_env(&[
        ("HUAWEICLOUD_SDK_AK", "RESOLVEACCESSKEY0000".into()),
        ("HUAWEICLOUD_SDK_SK", "resolve-secret".into()),
        ("HUAWEICLOUD_SDK_IAM_ENDPOINT", iam.to_string()),
        ("HUAWEICLOUD_SDK_REGION", "ap-southeast-1".into()),
    ]);
    let connection = resolve_with(&ConnectionArgs::default(), &env, NO_CLOUDS)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(connection.project_id, project_id_for("ap-southeast-1"));
    assert_eq!(
        connection.endpoint.as_str(),
        "https://cbr.ap-southeast-1.myhuaweicloud.com/"
    );
    match &connection.auth {
        Auth::AkSk { project_id, .. } => {
            assert_eq!(project_id.as_deref(), Some(connection.project_id.as_str()));
        }
        other => panic!("expected AK/SK, got {other:?}"),
    }
    assert_eq!(accepted(&connection.auth, &config).await, Ok(()));
}
