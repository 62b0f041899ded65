//! Credential and endpoint resolution with a fake environment and temporary clouds.yaml files:
//! the documented precedence, the messages for incomplete configuration, and that no secret
//! ever shows in `Debug` output or an error.

use std::collections::HashMap;
use std::path::PathBuf;

use cbrflow::cli::connection::{ConnectionArgs, ConnectionSettings, Credentials, settings};

struct Setup {
    args: ConnectionArgs,
    env: HashMap<String, String>,
    clouds_files: Vec<PathBuf>,
    _dir: tempfile::TempDir,
}

/// A resolution scenario: flags, variables, clouds.yaml files.
fn setup() -> Setup {
    Setup {
        args: ConnectionArgs::default(),
        env: HashMap::new(),
        clouds_files: Vec::new(),
        _dir: tempfile::tempdir().unwrap(),
    }
}

impl Setup {
    fn var(mut self, name: &str, value: &str) -> Self {
        self.env.insert(name.to_owned(), value.to_owned());
        self
    }

    fn args(mut self, edit: impl FnOnce(&mut ConnectionArgs)) -> Self {
        edit(&mut self.args);
        self
    }

    /// Adds a clouds.yaml to the search path (written only if `contents` is `Some`).
    fn clouds_yaml(mut self, name: &str, contents: Option<&str>) -> Self {
        let path = self._dir.path().join(name);
        if let Some(contents) = contents {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, contents).unwrap();
        }
        self.clouds_files.push(path);
        self
    }

    fn resolve(&self) -> anyhow::Result<Option<ConnectionSettings>> {
        let env = |name: &str| self.env.get(name).cloned();
        settings(&self.args, &env, &self.clouds_files)
    }

    fn settings(&self) -> ConnectionSettings {
        self.resolve().unwrap().expect("a remote connection")
    }

    fn error(&self) -> String {
        format!("{:#}", self.resolve().unwrap_err())
    }
}

const AK: &str = "HPUARESOLUTION000000";
const SK: &str = "resolution-secret-key";
const CLOUDS: &str = r"
clouds:
  otc:
    auth:
      auth_url: https://iam.eu-nl.otc.t-systems.com/v3
      username: bob
      password: clouds-yaml-password
      project_name: eu-nl_sub
      user_domain_name: OTC-EU-NL-0001
    region_name: eu-nl
  tokened:
    auth:
      token: clouds-yaml-token
      project_id: 1111
    region_name: eu-de
    verify: false
";

fn password_user(credentials: &Credentials) -> Option<(&str, &str, &str)> {
    match credentials {
        Credentials::Password {
            user_name,
            password,
            domain_name,
        } => Some((user_name, password.expose(), domain_name)),
        _ => None,
    }
}

fn token(credentials: &Credentials) -> Option<&str> {
    match credentials {
        Credentials::Token(token) => Some(token.expose()),
        _ => None,
    }
}

#[test]
fn nothing_configured_means_the_embedded_emulator() {
    let none = setup()
        .var("HOME", "/home/x")
        .var("PATH", "/bin")
        .var("OS_PROJECT_ID", "p")
        .var("CBRFLOW_ENDPOINT", "");
    assert!(none.resolve().unwrap().is_none());
}

#[test]
fn an_endpoint_without_credentials_needs_a_project_id() {
    let error = setup()
        .var("CBRFLOW_ENDPOINT", "http://127.0.0.1:8080")
        .error();
    assert!(
        error.contains("--project-id") && error.contains("CBRFLOW_PROJECT_ID"),
        "{error}"
    );

    let plain = setup()
        .args(|a| a.endpoint = Some("http://127.0.0.1:8080".into()))
        .var("CBRFLOW_PROJECT_ID", "p1")
        .settings();
    assert!(matches!(plain.credentials, Credentials::None));
    assert_eq!(plain.project_id.as_deref(), Some("p1"));
    assert_eq!(plain.endpoint.as_str(), "http://127.0.0.1:8080/");
    assert_eq!(plain.region, None);
}

#[test]
fn the_region_derives_the_endpoints() {
    let otc = setup().args(|a| {
        a.region = Some("eu-de".into());
        a.project_id = Some("p".into());
    });
    let otc = otc.settings();
    assert_eq!(
        otc.endpoint.as_str(),
        "https://cbr.eu-de.otc.t-systems.com/"
    );
    assert_eq!(otc.region.as_deref(), Some("eu-de"));

    let huawei = setup()
        .var("HUAWEICLOUD_SDK_REGION", "ap-southeast-3")
        .var("HUAWEICLOUD_SDK_AK", AK)
        .var("HUAWEICLOUD_SDK_SK", SK)
        .settings();
    assert_eq!(
        huawei.endpoint.as_str(),
        "https://cbr.ap-southeast-3.myhuaweicloud.com/"
    );
    assert_eq!(
        huawei.iam_endpoint.unwrap().as_str(),
        "https://iam.ap-southeast-3.myhuaweicloud.com/"
    );
    assert_eq!(huawei.project_id, None, "looked up later by region");

    let swiss = setup()
        .var("OS_REGION_NAME", "eu-ch2")
        .var("CBRFLOW_PROJECT_ID", "p");
    assert_eq!(
        swiss.settings().endpoint.as_str(),
        "https://cbr.eu-ch2.sc.otc.t-systems.com/"
    );

    let bad = setup().args(|a| a.region = Some("eu de".into())).error();
    assert!(bad.contains("--region") && bad.contains("eu de"), "{bad}");
}

#[test]
fn the_region_is_read_back_from_a_cloud_endpoint() {
    let from_endpoint = setup()
        .var("CBRFLOW_ENDPOINT", "https://cbr.eu-nl.otc.t-systems.com")
        .var("OS_AUTH_TOKEN", "t")
        .settings();
    assert_eq!(from_endpoint.region.as_deref(), Some("eu-nl"));
    assert_eq!(
        from_endpoint.iam_endpoint.unwrap().as_str(),
        "https://iam.eu-nl.otc.t-systems.com/"
    );
}

#[test]
fn region_precedence_flag_cbrflow_cloud_os_huaweicloud() {
    let all = || {
        setup()
            .clouds_yaml("clouds.yaml", Some(CLOUDS))
            .var("OS_CLOUD", "otc")
            .var("CBRFLOW_REGION", "cn-north-4")
            .var("OS_REGION_NAME", "eu-de")
            .var("HUAWEICLOUD_SDK_REGION", "ap-southeast-1")
    };
    let region = |s: Setup| s.settings().region.unwrap();
    assert_eq!(
        region(all().args(|a| a.region = Some("la-south-2".into()))),
        "la-south-2"
    );
    assert_eq!(region(all()), "cn-north-4");
    let without_cbrflow = all().var("CBRFLOW_REGION", "");
    assert_eq!(
        region(without_cbrflow),
        "eu-nl",
        "the selected cloud's region_name"
    );
    let without_cloud = setup()
        .var("OS_REGION_NAME", "eu-de")
        .var("HUAWEICLOUD_SDK_REGION", "ap-southeast-1")
        .var("OS_AUTH_TOKEN", "t");
    assert_eq!(region(without_cloud), "eu-de");
    let only_sdk = setup()
        .var("HUAWEICLOUD_SDK_REGION", "ap-southeast-1")
        .var("OS_AUTH_TOKEN", "t");
    assert_eq!(region(only_sdk), "ap-southeast-1");
}

#[test]
fn credential_precedence() {
    let everything = || {
        setup()
            .clouds_yaml("clouds.yaml", Some(CLOUDS))
            .var("CBRFLOW_AUTH_TOKEN", "cbrflow-token")
            .var("OS_CLOUD", "otc")
            .var("HUAWEICLOUD_SDK_AK", AK)
            .var("HUAWEICLOUD_SDK_SK", SK)
            .var("OS_AUTH_TOKEN", "os-token")
            .var("OS_USERNAME", "carol")
            .var("OS_PASSWORD", "os-password")
            .var("OS_USER_DOMAIN_NAME", "carol-account")
            .var("OS_REGION_NAME", "eu-de")
    };
    // 1. CBRFLOW_AUTH_TOKEN
    let first = everything().settings();
    assert_eq!(token(&first.credentials), Some("cbrflow-token"));
    assert_eq!(first.credentials_source, "CBRFLOW_AUTH_TOKEN");
    // 2. the selected clouds.yaml entry
    let cloud = everything().var("CBRFLOW_AUTH_TOKEN", "").settings();
    assert_eq!(
        password_user(&cloud.credentials),
        Some(("bob", "clouds-yaml-password", "OTC-EU-NL-0001"))
    );
    assert!(
        cloud.credentials_source.contains("`otc`"),
        "{}",
        cloud.credentials_source
    );
    // 3. HUAWEICLOUD_SDK_AK/SK
    let aksk = everything()
        .var("CBRFLOW_AUTH_TOKEN", "")
        .var("OS_CLOUD", "")
        .settings();
    assert!(
        matches!(&aksk.credentials, Credentials::AkSk { ak, sk, security_token: None } if ak == AK && sk.expose() == SK)
    );
    // 4. OS_AUTH_TOKEN
    let os_token = everything()
        .var("CBRFLOW_AUTH_TOKEN", "")
        .var("OS_CLOUD", "")
        .var("HUAWEICLOUD_SDK_AK", "")
        .var("HUAWEICLOUD_SDK_SK", "")
        .settings();
    assert_eq!(token(&os_token.credentials), Some("os-token"));
    // 5. OS_USERNAME/OS_PASSWORD
    let os_password = everything()
        .var("CBRFLOW_AUTH_TOKEN", "")
        .var("OS_CLOUD", "")
        .var("HUAWEICLOUD_SDK_AK", "")
        .var("HUAWEICLOUD_SDK_SK", "")
        .var("OS_AUTH_TOKEN", "")
        .settings();
    assert_eq!(
        password_user(&os_password.credentials),
        Some(("carol", "os-password", "carol-account"))
    );
}

#[test]
fn the_cloud_flag_beats_os_cloud_and_supplies_auth_url_project_and_tls() {
    let chosen = setup()
        .clouds_yaml("clouds.yaml", Some(CLOUDS))
        .var("OS_CLOUD", "otc")
        .args(|a| a.cloud = Some("tokened".into()))
        .var("OS_AUTH_URL", "https://iam.example.com/v3")
        .settings();
    assert_eq!(token(&chosen.credentials), Some("clouds-yaml-token"));
    assert_eq!(chosen.project_id.as_deref(), Some("1111"));
    assert_eq!(chosen.region.as_deref(), Some("eu-de"));
    assert!(chosen.insecure, "verify: false");

    let otc = setup()
        .clouds_yaml("clouds.yaml", Some(CLOUDS))
        .var("OS_CLOUD", "otc")
        .var("OS_AUTH_URL", "https://iam.example.com/v3")
        .settings();
    assert_eq!(
        otc.iam_endpoint.unwrap().as_str(),
        "https://iam.eu-nl.otc.t-systems.com/v3",
        "the cloud's auth_url beats OS_AUTH_URL"
    );
    assert_eq!(otc.project_name.as_deref(), Some("eu-nl_sub"));
    assert_eq!(
        otc.endpoint.as_str(),
        "https://cbr.eu-nl.otc.t-systems.com/"
    );
}

#[test]
fn clouds_yaml_comes_from_the_first_file_that_exists() {
    let other = "clouds:\n  otc:\n    auth: {token: from-second-file}\n    region_name: eu-de\n";
    let chosen = setup()
        .clouds_yaml("missing/clouds.yaml", None)
        .clouds_yaml("first/clouds.yaml", Some(CLOUDS))
        .clouds_yaml("second/clouds.yaml", Some(other))
        .var("OS_CLOUD", "otc")
        .settings();
    assert_eq!(password_user(&chosen.credentials).unwrap().0, "bob");

    let explicit = setup()
        .clouds_yaml("first/clouds.yaml", Some(CLOUDS))
        .clouds_yaml("second/clouds.yaml", Some(other));
    let second = explicit.clouds_files[1].display().to_string();
    let explicit = explicit
        .var("OS_CLIENT_CONFIG_FILE", &second)
        .var("OS_CLOUD", "otc")
        .settings();
    assert_eq!(token(&explicit.credentials), Some("from-second-file"));
}

#[test]
fn clouds_yaml_problems_are_explained() {
    let missing_entry = setup()
        .clouds_yaml("clouds.yaml", Some(CLOUDS))
        .args(|a| a.cloud = Some("nope".into()))
        .error();
    assert!(
        missing_entry.contains("--cloud") && missing_entry.contains("`nope`"),
        "{missing_entry}"
    );
    assert!(missing_entry.contains("otc, tokened"), "{missing_entry}");

    let no_file = setup()
        .clouds_yaml("absent/clouds.yaml", None)
        .var("OS_CLOUD", "otc")
        .error();
    assert!(
        no_file.contains("OS_CLOUD") && no_file.contains("absent/clouds.yaml"),
        "{no_file}"
    );

    let broken = "clouds:\n  otc:\n    auth:\n      password: [leaky-password\n";
    let broken = setup()
        .clouds_yaml("clouds.yaml", Some(broken))
        .var("OS_CLOUD", "otc")
        .error();
    assert!(broken.contains("not a valid clouds.yaml"), "{broken}");
    assert!(!broken.contains("leaky-password"), "{broken}");

    let wrong_type = "clouds:\n  otc:\n    auth:\n      password: {nested: leaky-password}\n";
    let wrong_type = setup()
        .clouds_yaml("clouds.yaml", Some(wrong_type))
        .var("OS_CLOUD", "otc")
        .error();
    assert!(!wrong_type.contains("leaky-password"), "{wrong_type}");

    let no_domain = "clouds:\n  otc:\n    auth: {username: u, password: leaky-password}\n    region_name: eu-de\n";
    let no_domain = setup()
        .clouds_yaml("clouds.yaml", Some(no_domain))
        .var("OS_CLOUD", "otc")
        .error();
    assert!(no_domain.contains("user_domain_name"), "{no_domain}");
    assert!(!no_domain.contains("leaky-password"), "{no_domain}");
}

#[test]
fn incomplete_credentials_name_what_is_missing_and_never_the_secret() {
    let only_ak = setup()
        .var("HUAWEICLOUD_SDK_AK", AK)
        .var("OS_REGION_NAME", "eu-de")
        .error();
    assert!(only_ak.contains("HUAWEICLOUD_SDK_SK"), "{only_ak}");

    let only_sk = setup()
        .var("HUAWEICLOUD_SDK_SK", SK)
        .var("OS_REGION_NAME", "eu-de")
        .error();
    assert!(only_sk.contains("HUAWEICLOUD_SDK_AK"), "{only_sk}");
    assert!(!only_sk.contains(SK), "{only_sk}");

    let only_token = setup()
        .var("HUAWEICLOUD_SDK_SECURITY_TOKEN", "leaky-token")
        .var("OS_REGION_NAME", "eu-de")
        .error();
    assert!(only_token.contains("HUAWEICLOUD_SDK_AK"), "{only_token}");
    assert!(!only_token.contains("leaky-token"), "{only_token}");

    let no_domain = setup()
        .var("OS_USERNAME", "u")
        .var("OS_PASSWORD", "leaky-password")
        .var("OS_REGION_NAME", "eu-de")
        .error();
    assert!(no_domain.contains("OS_USER_DOMAIN_NAME"), "{no_domain}");
    assert!(!no_domain.contains("leaky-password"), "{no_domain}");

    let no_password = setup()
        .var("OS_USERNAME", "u")
        .var("OS_REGION_NAME", "eu-de")
        .error();
    assert!(no_password.contains("OS_PASSWORD"), "{no_password}");

    let no_endpoint = setup()
        .var("HUAWEICLOUD_SDK_AK", AK)
        .var("HUAWEICLOUD_SDK_SK", SK)
        .error();
    assert!(
        no_endpoint.contains("--endpoint") && no_endpoint.contains("--region"),
        "{no_endpoint}"
    );
    assert!(!no_endpoint.contains(SK), "{no_endpoint}");

    let no_iam = setup()
        .var("CBRFLOW_ENDPOINT", "http://127.0.0.1:8080")
        .var("OS_AUTH_TOKEN", "leaky-token")
        .error();
    assert!(
        no_iam.contains("--iam-endpoint") && no_iam.contains("--project-id"),
        "{no_iam}"
    );
    assert!(!no_iam.contains("leaky-token"), "{no_iam}");
}

#[test]
fn temporary_keys_carry_their_security_token() {
    let temporary = setup()
        .var("HUAWEICLOUD_SDK_AK", AK)
        .var("HUAWEICLOUD_SDK_SK", SK)
        .var("HUAWEICLOUD_SDK_SECURITY_TOKEN", "temporary-security-token")
        .var("HUAWEICLOUD_SDK_PROJECT_ID", "p-sdk")
        .var("OS_PROJECT_ID", "p-os")
        .var("HUAWEICLOUD_SDK_REGION", "eu-de")
        .settings();
    match &temporary.credentials {
        Credentials::AkSk {
            security_token: Some(token),
            ..
        } => assert_eq!(token.expose(), "temporary-security-token"),
        other => panic!("expected temporary AK/SK, got {other:?}"),
    }
    assert_eq!(temporary.project_id.as_deref(), Some("p-sdk"));
}

#[test]
fn project_id_and_iam_endpoint_precedence() {
    let all = || {
        setup()
            .clouds_yaml("clouds.yaml", Some(CLOUDS))
            .var("OS_CLOUD", "tokened")
            .var("CBRFLOW_PROJECT_ID", "p-cbrflow")
            .var("HUAWEICLOUD_SDK_PROJECT_ID", "p-sdk")
            .var("OS_PROJECT_ID", "p-os")
            .var("CBRFLOW_IAM_ENDPOINT", "https://iam.cbrflow.example")
            .var("HUAWEICLOUD_SDK_IAM_ENDPOINT", "https://iam.sdk.example")
            .var("OS_AUTH_URL", "https://iam.os.example/v3")
    };
    let project = |s: Setup| s.settings().project_id.unwrap();
    let iam = |s: Setup| s.settings().iam_endpoint.unwrap().to_string();
    assert_eq!(
        project(all().args(|a| a.project_id = Some("p-flag".into()))),
        "p-flag"
    );
    assert_eq!(project(all()), "p-cbrflow");
    assert_eq!(project(all().var("CBRFLOW_PROJECT_ID", "")), "1111");
    let no_cloud = || {
        all()
            .var("CBRFLOW_PROJECT_ID", "")
            .var("OS_CLOUD", "")
            .var("OS_AUTH_TOKEN", "t")
            .var("OS_REGION_NAME", "eu-de")
    };
    assert_eq!(project(no_cloud()), "p-sdk");
    assert_eq!(
        project(no_cloud().var("HUAWEICLOUD_SDK_PROJECT_ID", "")),
        "p-os"
    );

    assert_eq!(
        iam(all().args(|a| a.iam_endpoint = Some("https://iam.flag.example".into()))),
        "https://iam.flag.example/"
    );
    assert_eq!(iam(all()), "https://iam.cbrflow.example/");
    let no_cbrflow = || no_cloud().var("CBRFLOW_IAM_ENDPOINT", "");
    assert_eq!(iam(no_cbrflow()), "https://iam.sdk.example/");
    assert_eq!(
        iam(no_cbrflow().var("HUAWEICLOUD_SDK_IAM_ENDPOINT", "")),
        "https://iam.os.example/v3"
    );
    assert_eq!(
        iam(no_cbrflow()
            .var("HUAWEICLOUD_SDK_IAM_ENDPOINT", "")
            .var("OS_AUTH_URL", "")),
        "https://iam.eu-de.otc.t-systems.com/"
    );
}

#[test]
fn tls_settings() {
    let base = || {
        setup()
            .var("CBRFLOW_ENDPOINT", "https://cbr.example")
            .var("CBRFLOW_PROJECT_ID", "p")
    };
    let plain = base().settings();
    assert!(!plain.insecure);
    assert_eq!(plain.ca_bundle, None);
    assert!(base().args(|a| a.insecure = true).settings().insecure);
    assert!(base().var("CBRFLOW_INSECURE", "1").settings().insecure);
    assert!(!base().var("CBRFLOW_INSECURE", "false").settings().insecure);
    let bad = base().var("CBRFLOW_INSECURE", "sure").error();
    assert!(bad.contains("CBRFLOW_INSECURE"), "{bad}");

    let bundle = base()
        .var("OS_CACERT", "/os/ca.pem")
        .var("CBRFLOW_CA_BUNDLE", "/cbrflow/ca.pem");
    assert_eq!(
        bundle.settings().ca_bundle,
        Some(PathBuf::from("/cbrflow/ca.pem"))
    );
    let flag = base()
        .var("CBRFLOW_CA_BUNDLE", "/cbrflow/ca.pem")
        .args(|a| a.ca_bundle = Some("/flag/ca.pem".into()));
    assert_eq!(
        flag.settings().ca_bundle,
        Some(PathBuf::from("/flag/ca.pem"))
    );
    let os = base().var("OS_CACERT", "/os/ca.pem");
    assert_eq!(os.settings().ca_bundle, Some(PathBuf::from("/os/ca.pem")));

    let bad_url = setup()
        .args(|a| a.endpoint = Some("ftp://x".into()))
        .error();
    assert!(bad_url.contains("--endpoint"), "{bad_url}");
}

#[test]
fn debug_output_never_shows_a_secret() {
    let secrets = [
        "clouds-yaml-password",
        SK,
        "temporary-security-token",
        "the-token",
    ];
    let cases = [
        setup()
            .clouds_yaml("clouds.yaml", Some(CLOUDS))
            .var("OS_CLOUD", "otc")
            .settings(),
        setup()
            .var("HUAWEICLOUD_SDK_AK", AK)
            .var("HUAWEICLOUD_SDK_SK", SK)
            .var("HUAWEICLOUD_SDK_SECURITY_TOKEN", "temporary-security-token")
            .var("OS_REGION_NAME", "eu-de")
            .settings(),
        setup()
            .var("CBRFLOW_AUTH_TOKEN", "the-token")
            .var("OS_REGION_NAME", "eu-de")
            .settings(),
    ];
    for settings in cases {
        let debug = format!("{settings:?}");
        for secret in secrets {
            assert!(!debug.contains(secret), "{debug}");
        }
    }
}
