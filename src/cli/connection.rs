//! Where a run sends its requests and how it authenticates: flags, environment and
//! `clouds.yaml`, resolved into a [`Connection`] — or `None` for the embedded emulator.
//!
//! Resolution has two stages. [`settings`] turns flags, environment variables (through a
//! lookup function, so tests never touch the process environment) and `clouds.yaml` into
//! [`ConnectionSettings`] without any network I/O. [`connect`] then builds the HTTP client
//! (TLS), and asks IAM for what is still missing: a password token, the project id.
//!
//! # Precedence
//!
//! Each setting takes the first source that has it; empty variables count as unset.
//! cbrflow's own flags and `CBRFLOW_*` variables come first, then the `clouds.yaml` entry
//! selected with `--cloud NAME` / `OS_CLOUD`, then the ecosystem's variables
//! (`HUAWEICLOUD_SDK_*`, `OS_*`).
//!
//! | setting | sources, highest first |
//! |---|---|
//! | endpoint | `--endpoint`, `CBRFLOW_ENDPOINT`, else derived from the region |
//! | region | `--region`, `CBRFLOW_REGION`, clouds.yaml `region_name`, `OS_REGION_NAME`, `HUAWEICLOUD_SDK_REGION`, else read from a `cbr.REGION.…` endpoint |
//! | project id | `--project-id`, `CBRFLOW_PROJECT_ID`, clouds.yaml `auth.project_id`, `HUAWEICLOUD_SDK_PROJECT_ID`, `OS_PROJECT_ID`, else looked up in IAM by project name (clouds.yaml `auth.project_name`, `OS_PROJECT_NAME`) or region name |
//! | IAM endpoint | `--iam-endpoint`, `CBRFLOW_IAM_ENDPOINT`, clouds.yaml `auth.auth_url`, `HUAWEICLOUD_SDK_IAM_ENDPOINT`, `OS_AUTH_URL`, else derived from the region |
//! | CA bundle | `--ca-bundle`, `CBRFLOW_CA_BUNDLE`, clouds.yaml `cacert`, `OS_CACERT` |
//! | no TLS verification | `--insecure`, `CBRFLOW_INSECURE=1`, clouds.yaml `verify: false` |
//!
//! Credentials: the first of these that is present is used, the others are ignored.
//!
//! 1. `CBRFLOW_AUTH_TOKEN`: a token, sent as `X-Auth-Token`.
//! 2. The selected clouds.yaml entry: `auth.token`, or `auth.username` + `auth.password` +
//!    `auth.user_domain_name` (or `auth.domain_name`) for the IAM password flow.
//! 3. `HUAWEICLOUD_SDK_AK` + `HUAWEICLOUD_SDK_SK` (+ `HUAWEICLOUD_SDK_SECURITY_TOKEN` for
//!    temporary keys): every request is signed (SDK-HMAC-SHA256).
//! 4. `OS_AUTH_TOKEN`: a token, sent as `X-Auth-Token`.
//! 5. `OS_USERNAME` + `OS_PASSWORD` + `OS_USER_DOMAIN_NAME` (or `OS_DOMAIN_NAME`): the IAM
//!    password flow; the token is cached and renewed before it expires.
//!
//! clouds.yaml is read from the first file that exists of `OS_CLIENT_CONFIG_FILE`,
//! `./clouds.yaml`, `$XDG_CONFIG_HOME/openstack/clouds.yaml` (default
//! `~/.config/openstack/clouds.yaml`) and `/etc/openstack/clouds.yaml`.
//!
//! With no endpoint, region, cloud or credentials at all, [`resolve`] returns `Ok(None)` and
//! the run uses the embedded emulator. An endpoint without credentials is allowed (requests go
//! unauthenticated, e.g. to a standalone emulator), but then the project id must be given.
//!
//! Regions map to endpoints as the official SDKs do: `eu-de` and `eu-nl` to
//! `https://cbr.REGION.otc.t-systems.com` (IAM `https://iam.REGION.otc.t-systems.com`),
//! `eu-ch2` to `https://cbr.eu-ch2.sc.otc.t-systems.com` (IAM
//! `https://iam-pub.eu-ch2.sc.otc.t-systems.com`), `eu-west-101` to `…myhuaweicloud.eu`, any
//! other region to `https://cbr.REGION.myhuaweicloud.com`.
//!
//! No error message contains a secret: variables are named, their values are not shown.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;
use url::Url;

use crate::cbr::auth::{Auth, Secret};
use crate::cbr::iam::{PasswordCredentials, ProjectScope, TokenSource};

/// Command-line flags that choose the endpoint and credentials.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConnectionArgs {
    /// CBR endpoint, e.g. `https://cbr.eu-de.otc.t-systems.com`. Without an endpoint, region,
    /// cloud or credentials, runs go to the embedded emulator.
    #[arg(long, env = "CBRFLOW_ENDPOINT", value_name = "URL")]
    pub endpoint: Option<String>,
    /// Project id to work in; looked up in IAM by region when credentials allow it.
    #[arg(long, env = "CBRFLOW_PROJECT_ID", value_name = "ID")]
    pub project_id: Option<String>,
    /// Region, e.g. eu-de; derives the CBR and IAM endpoints [env: CBRFLOW_REGION,
    /// OS_REGION_NAME, HUAWEICLOUD_SDK_REGION].
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Entry of clouds.yaml to take the IAM credentials, region and project from [env:
    /// OS_CLOUD].
    #[arg(long, value_name = "NAME")]
    pub cloud: Option<String>,
    /// IAM endpoint for tokens and project lookup [env: CBRFLOW_IAM_ENDPOINT,
    /// HUAWEICLOUD_SDK_IAM_ENDPOINT, OS_AUTH_URL].
    #[arg(long, value_name = "URL")]
    pub iam_endpoint: Option<String>,
    /// PEM file with extra CA certificates to trust besides the system's [env:
    /// CBRFLOW_CA_BUNDLE, OS_CACERT].
    #[arg(long, value_name = "FILE")]
    pub ca_bundle: Option<PathBuf>,
    /// Do not verify TLS certificates (dangerous; for test setups only) [env:
    /// CBRFLOW_INSECURE=1].
    #[arg(long)]
    pub insecure: bool,
}

/// A resolved remote endpoint with credentials.
#[derive(Debug, Clone)]
pub struct Connection {
    /// Base URL of the CBR endpoint.
    pub endpoint: Url,
    /// Project id.
    pub project_id: String,
    /// How requests are authenticated.
    pub auth: Auth,
    /// The HTTP client to use (TLS settings applied).
    pub http: reqwest::Client,
}

/// Credentials found by [`settings`]. `Debug` shows no secret.
#[derive(Debug, Clone, Default)]
pub enum Credentials {
    /// None: requests go unauthenticated.
    #[default]
    None,
    /// Access key and secret key, with the security token of temporary keys.
    AkSk {
        /// Access key id.
        ak: String,
        /// Secret access key.
        sk: Secret,
        /// Security token (temporary keys only).
        security_token: Option<Secret>,
    },
    /// A token given directly.
    Token(Secret),
    /// An IAM user for the password flow.
    Password {
        /// User name.
        user_name: String,
        /// Password.
        password: Secret,
        /// The user's domain (account) name.
        domain_name: String,
    },
}

/// Everything [`settings`] resolved, before any network I/O.
#[derive(Debug, Clone)]
pub struct ConnectionSettings {
    /// CBR endpoint.
    pub endpoint: Url,
    /// Region, when known.
    pub region: Option<String>,
    /// Project id, when given; otherwise [`connect`] asks IAM.
    pub project_id: Option<String>,
    /// Project name for the IAM lookup and the password token's scope (default: the region).
    pub project_name: Option<String>,
    /// The credentials.
    pub credentials: Credentials,
    /// Where the credentials came from, e.g. `HUAWEICLOUD_SDK_AK` (for messages).
    pub credentials_source: String,
    /// IAM base endpoint, when known.
    pub iam_endpoint: Option<Url>,
    /// Extra CA certificates (PEM) to trust.
    pub ca_bundle: Option<PathBuf>,
    /// Whether TLS certificate verification is disabled.
    pub insecure: bool,
}

/// Resolves flags and environment into a connection; `Ok(None)` means "use the embedded
/// emulator". Reads the process environment and the default clouds.yaml locations.
pub async fn resolve(args: &ConnectionArgs) -> Result<Option<Connection>> {
    let env = |name: &str| std::env::var(name).ok();
    resolve_with(args, &env, &default_clouds_files(&env)).await
}

/// [`resolve`] with the environment given as a lookup function and the clouds.yaml search
/// path given explicitly.
pub async fn resolve_with(
    args: &ConnectionArgs,
    env: &dyn Fn(&str) -> Option<String>,
    clouds_files: &[PathBuf],
) -> Result<Option<Connection>> {
    match settings(args, env, clouds_files)? {
        Some(settings) => connect(&settings).await.map(Some),
        None => Ok(None),
    }
}

/// The default clouds.yaml search path (after `OS_CLIENT_CONFIG_FILE`, which [`settings`]
/// adds): `./clouds.yaml`, the user's config directory, `/etc/openstack/clouds.yaml`.
pub fn default_clouds_files(env: &dyn Fn(&str) -> Option<String>) -> Vec<PathBuf> {
    let get = |name: &str| env(name).filter(|value| !value.is_empty());
    let mut files = vec![PathBuf::from("clouds.yaml")];
    if let Some(config) = get("XDG_CONFIG_HOME") {
        files.push(Path::new(&config).join("openstack/clouds.yaml"));
    } else if let Some(home) = get("HOME") {
        files.push(Path::new(&home).join(".config/openstack/clouds.yaml"));
    }
    files.push(PathBuf::from("/etc/openstack/clouds.yaml"));
    files
}

/// A value and where it came from (a flag, a variable, a clouds.yaml field).
struct Sourced {
    value: String,
    source: String,
}

/// Environment lookups where an empty value counts as unset.
struct Env<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name).filter(|value| !value.is_empty())
    }

    fn first(&self, names: &[&str]) -> Option<Sourced> {
        names.iter().find_map(|name| {
            self.get(name).map(|value| Sourced {
                value,
                source: (*name).to_owned(),
            })
        })
    }
}

fn flag(value: Option<&String>, name: &str) -> Option<Sourced> {
    value
        .filter(|value| !value.is_empty())
        .map(|value| Sourced {
            value: value.clone(),
            source: name.to_owned(),
        })
}

/// Resolves flags, environment and clouds.yaml into settings without network I/O;
/// `Ok(None)` when nothing at all is configured (the embedded emulator).
pub fn settings(
    args: &ConnectionArgs,
    env: &dyn Fn(&str) -> Option<String>,
    clouds_files: &[PathBuf],
) -> Result<Option<ConnectionSettings>> {
    let env = Env(env);
    let cloud_name = flag(args.cloud.as_ref(), "--cloud").or_else(|| env.first(&["OS_CLOUD"]));
    let cloud = match &cloud_name {
        Some(name) => {
            let mut files = Vec::new();
            if let Some(file) = env.get("OS_CLIENT_CONFIG_FILE") {
                files.push(PathBuf::from(file));
            }
            files.extend_from_slice(clouds_files);
            Some(load_cloud(&name.value, &name.source, &files)?)
        }
        None => None,
    };
    let from_cloud = |field: &str, value: Option<&String>| {
        let cloud = cloud.as_ref()?;
        flag(value, &format!("{} field `{field}`", cloud.describe()))
    };
    let cloud_entry = cloud.as_ref().map(|cloud| &cloud.entry);

    let (credentials, credentials_source) = credentials(&env, cloud.as_ref())?;

    let endpoint = flag(args.endpoint.as_ref(), "--endpoint")
        .or_else(|| env.first(&["CBRFLOW_ENDPOINT"]))
        .map(|endpoint| parse_url(&endpoint))
        .transpose()?;
    let mut region = flag(args.region.as_ref(), "--region")
        .or_else(|| env.first(&["CBRFLOW_REGION"]))
        .or_else(|| {
            from_cloud(
                "region_name",
                cloud_entry.and_then(|c| c.region_name.as_ref()),
            )
        })
        .or_else(|| env.first(&["OS_REGION_NAME", "HUAWEICLOUD_SDK_REGION"]));
    if let Some(region) = &region {
        check_region(region)?;
    }

    let configured = endpoint.is_some()
        || region.is_some()
        || cloud.is_some()
        || !matches!(credentials, Credentials::None);
    if !configured {
        return Ok(None);
    }

    let endpoint = match (endpoint, &region) {
        (Some(endpoint), _) => endpoint,
        (None, Some(region)) => cbr_endpoint(&region.value),
        (None, None) => bail!(
            "credentials were found ({credentials_source}) but no endpoint: pass --endpoint URL \
             or --region REGION (or set CBRFLOW_ENDPOINT or OS_REGION_NAME)"
        ),
    };
    if region.is_none() {
        region = region_of_endpoint(&endpoint).map(|value| Sourced {
            value,
            source: "the endpoint's host name".to_owned(),
        });
    }
    let region = region.map(|region| region.value);

    let project_id = flag(args.project_id.as_ref(), "--project-id")
        .or_else(|| env.first(&["CBRFLOW_PROJECT_ID"]))
        .or_else(|| {
            from_cloud(
                "auth.project_id",
                cloud_entry.and_then(|c| c.auth.project_id.as_ref()),
            )
        })
        .or_else(|| env.first(&["HUAWEICLOUD_SDK_PROJECT_ID", "OS_PROJECT_ID"]))
        .map(|project| project.value);
    let project_name = cloud_entry
        .and_then(|c| c.auth.project_name.clone())
        .filter(|name| !name.is_empty())
        .or_else(|| env.get("OS_PROJECT_NAME"));

    let iam_endpoint = flag(args.iam_endpoint.as_ref(), "--iam-endpoint")
        .or_else(|| env.first(&["CBRFLOW_IAM_ENDPOINT"]))
        .or_else(|| {
            from_cloud(
                "auth.auth_url",
                cloud_entry.and_then(|c| c.auth.auth_url.as_ref()),
            )
        })
        .or_else(|| env.first(&["HUAWEICLOUD_SDK_IAM_ENDPOINT", "OS_AUTH_URL"]))
        .map(|url| parse_url(&url))
        .transpose()?
        .or_else(|| region.as_deref().map(iam_endpoint));

    let ca_bundle = args
        .ca_bundle
        .clone()
        .or_else(|| env.get("CBRFLOW_CA_BUNDLE").map(PathBuf::from))
        .or_else(|| cloud_entry.and_then(|c| c.cacert.clone()))
        .or_else(|| env.get("OS_CACERT").map(PathBuf::from));
    let insecure = args.insecure
        || env
            .first(&["CBRFLOW_INSECURE"])
            .map(|value| truthy(&value))
            .transpose()?
            .unwrap_or(false)
        || cloud_entry.and_then(|c| c.verify) == Some(false);

    if project_id.is_none() || matches!(credentials, Credentials::Password { .. }) {
        let needs = if matches!(credentials, Credentials::Password { .. }) {
            "the IAM password flow needs"
        } else {
            "looking up the project id needs"
        };
        if matches!(credentials, Credentials::None) {
            bail!(
                "no project id: pass --project-id ID or set CBRFLOW_PROJECT_ID (without \
                 credentials it cannot be looked up in IAM)"
            );
        }
        if iam_endpoint.is_none() {
            bail!(
                "{needs} an IAM endpoint: pass --iam-endpoint URL or --region REGION (or set \
                 OS_AUTH_URL){}",
                if project_id.is_none() {
                    ", or pass --project-id ID"
                } else {
                    ""
                }
            );
        }
        if project_id.is_none() && project_name.is_none() && region.is_none() {
            bail!(
                "cannot tell which project to use: pass --project-id ID or --region REGION (or \
                 set OS_PROJECT_NAME)"
            );
        }
    }

    Ok(Some(ConnectionSettings {
        endpoint,
        region,
        project_id,
        project_name,
        credentials,
        credentials_source,
        iam_endpoint,
        ca_bundle,
        insecure,
    }))
}

/// Picks the credentials by the documented precedence.
fn credentials(env: &Env<'_>, cloud: Option<&Cloud>) -> Result<(Credentials, String)> {
    if let Some(token) = env.get("CBRFLOW_AUTH_TOKEN") {
        return Ok((
            Credentials::Token(Secret::new(token)),
            "CBRFLOW_AUTH_TOKEN".into(),
        ));
    }
    if let Some(cloud) = cloud {
        return cloud
            .credentials()
            .map(|credentials| (credentials, cloud.describe()));
    }
    let ak = env.get("HUAWEICLOUD_SDK_AK");
    let sk = env.get("HUAWEICLOUD_SDK_SK");
    let security_token = env.get("HUAWEICLOUD_SDK_SECURITY_TOKEN");
    match (ak, sk) {
        (Some(ak), Some(sk)) => {
            let credentials = Credentials::AkSk {
                ak,
                sk: Secret::new(sk),
                security_token: security_token.map(Secret::new),
            };
            return Ok((credentials, "HUAWEICLOUD_SDK_AK/HUAWEICLOUD_SDK_SK".into()));
        }
        (Some(_), None) => {
            bail!("HUAWEICLOUD_SDK_AK is set but HUAWEICLOUD_SDK_SK is not: set both, or neither")
        }
        (None, Some(_)) => {
            bail!("HUAWEICLOUD_SDK_SK is set but HUAWEICLOUD_SDK_AK is not: set both, or neither")
        }
        (None, None) if security_token.is_some() => bail!(
            "HUAWEICLOUD_SDK_SECURITY_TOKEN is set without HUAWEICLOUD_SDK_AK and \
             HUAWEICLOUD_SDK_SK: temporary credentials need all three"
        ),
        (None, None) => {}
    }
    if let Some(token) = env.get("OS_AUTH_TOKEN") {
        return Ok((
            Credentials::Token(Secret::new(token)),
            "OS_AUTH_TOKEN".into(),
        ));
    }
    match (env.get("OS_USERNAME"), env.get("OS_PASSWORD")) {
        (Some(user_name), Some(password)) => {
            let domain_name = env
                .first(&["OS_USER_DOMAIN_NAME", "OS_DOMAIN_NAME"])
                .map(|domain| domain.value)
                .context(
                    "OS_USERNAME and OS_PASSWORD are set but the user's domain is not: set \
                     OS_USER_DOMAIN_NAME (or OS_DOMAIN_NAME) to the account name",
                )?;
            let credentials = Credentials::Password {
                user_name,
                password: Secret::new(password),
                domain_name,
            };
            Ok((credentials, "OS_USERNAME/OS_PASSWORD".into()))
        }
        (Some(_), None) => bail!("OS_USERNAME is set but OS_PASSWORD is not: set both, or neither"),
        (None, Some(_)) => bail!("OS_PASSWORD is set but OS_USERNAME is not: set both, or neither"),
        (None, None) => Ok((Credentials::None, "none".into())),
    }
}

/// The parts of a clouds.yaml file cbrflow reads. No `Debug`: it holds a password.
#[derive(Deserialize, Default)]
struct CloudsFile {
    #[serde(default)]
    clouds: BTreeMap<String, CloudEntry>,
}

#[derive(Deserialize, Default)]
struct CloudEntry {
    #[serde(default)]
    auth: CloudAuth,
    region_name: Option<String>,
    cacert: Option<PathBuf>,
    verify: Option<bool>,
}

#[derive(Deserialize, Default)]
struct CloudAuth {
    auth_url: Option<String>,
    username: Option<String>,
    password: Option<String>,
    project_name: Option<String>,
    project_id: Option<String>,
    user_domain_name: Option<String>,
    domain_name: Option<String>,
    token: Option<String>,
}

/// One entry of a clouds.yaml file.
struct Cloud {
    name: String,
    file: PathBuf,
    entry: CloudEntry,
}

impl Cloud {
    fn describe(&self) -> String {
        format!(
            "clouds.yaml entry `{}` ({})",
            self.name,
            self.file.display()
        )
    }

    fn credentials(&self) -> Result<Credentials> {
        let auth = &self.entry.auth;
        let non_empty = |value: &Option<String>| value.clone().filter(|value| !value.is_empty());
        if let Some(token) = non_empty(&auth.token) {
            return Ok(Credentials::Token(Secret::new(token)));
        }
        match (non_empty(&auth.username), non_empty(&auth.password)) {
            (Some(user_name), Some(password)) => {
                let domain_name = non_empty(&auth.user_domain_name)
                    .or_else(|| non_empty(&auth.domain_name))
                    .with_context(|| {
                        format!(
                            "{} has no auth.user_domain_name (or auth.domain_name): add the \
                             account name the user belongs to",
                            self.describe()
                        )
                    })?;
                Ok(Credentials::Password {
                    user_name,
                    password: Secret::new(password),
                    domain_name,
                })
            }
            (Some(_), None) => bail!("{} has auth.username but no auth.password", self.describe()),
            (None, Some(_)) => bail!("{} has auth.password but no auth.username", self.describe()),
            (None, None) => bail!(
                "{} has no credentials: add auth.username and auth.password, or auth.token",
                self.describe()
            ),
        }
    }
}

/// Loads cloud `name` from the first of `files` that exists.
fn load_cloud(name: &str, source: &str, files: &[PathBuf]) -> Result<Cloud> {
    let Some(file) = files.iter().find(|file| file.is_file()) else {
        let searched = files
            .iter()
            .map(|file| file.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        bail!(
            "{source} selects cloud `{name}`, but no clouds.yaml was found (searched {searched})"
        );
    };
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    // The parser's message may quote the offending value, which could be the password: only
    // say where the problem is.
    let mut parsed: CloudsFile = serde_saphyr::from_str(&text).map_err(|error| {
        let place = error
            .location()
            .map(|at| format!(" at line {}, column {}", at.line(), at.column()))
            .unwrap_or_default();
        anyhow!("{} is not a valid clouds.yaml{place}", file.display())
    })?;
    let entry = parsed.clouds.remove(name).with_context(|| {
        let known = parsed.clouds.keys().map(String::as_str).collect::<Vec<_>>();
        format!(
            "{source} selects cloud `{name}`, but {} has no such entry (it has: {})",
            file.display(),
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        )
    })?;
    Ok(Cloud {
        name: name.to_owned(),
        file: file.clone(),
        entry,
    })
}

fn parse_url(value: &Sourced) -> Result<Url> {
    let url = Url::parse(&value.value)
        .with_context(|| format!("{} is not a valid URL: `{}`", value.source, value.value))?;
    if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
        bail!(
            "{} must be an http:// or https:// URL with a host, got `{}`",
            value.source,
            value.value
        );
    }
    Ok(url)
}

fn truthy(value: &Sourced) -> Result<bool> {
    match value.value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => bail!(
            "{} must be 1 or 0 (true or false), got `{}`",
            value.source,
            value.value
        ),
    }
}

fn check_region(region: &Sourced) -> Result<()> {
    let valid = region
        .value
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !valid {
        bail!(
            "{} is not a region name like `eu-de`: `{}`",
            region.source,
            region.value
        );
    }
    Ok(())
}

/// The domain under which a region's service endpoints live.
fn cloud_domain(region: &str) -> &'static str {
    match region {
        "eu-de" | "eu-nl" => "otc.t-systems.com",
        "eu-ch2" => "sc.otc.t-systems.com",
        "eu-west-101" => "myhuaweicloud.eu",
        _ => "myhuaweicloud.com",
    }
}

const CLOUD_DOMAINS: [&str; 3] = ["otc.t-systems.com", "myhuaweicloud.eu", "myhuaweicloud.com"];

/// The CBR endpoint of a region, e.g. `https://cbr.eu-de.otc.t-systems.com`.
pub fn cbr_endpoint(region: &str) -> Url {
    Url::parse(&format!("https://cbr.{region}.{}", cloud_domain(region)))
        .expect("a checked region makes a valid URL")
}

/// The IAM endpoint of a region, e.g. `https://iam.eu-de.otc.t-systems.com`.
pub fn iam_endpoint(region: &str) -> Url {
    let host = if region == "eu-ch2" { "iam-pub" } else { "iam" };
    Url::parse(&format!("https://{host}.{region}.{}", cloud_domain(region)))
        .expect("a checked region makes a valid URL")
}

/// The region of a `https://cbr.REGION.<known cloud domain>` endpoint.
fn region_of_endpoint(endpoint: &Url) -> Option<String> {
    let host = endpoint.host_str()?.strip_prefix("cbr.")?;
    CLOUD_DOMAINS.iter().find_map(|domain| {
        let rest = host.strip_suffix(domain)?.strip_suffix('.')?;
        let region = rest.strip_suffix(".sc").unwrap_or(rest);
        (!region.is_empty() && !region.contains('.')).then(|| region.to_owned())
    })
}

/// Builds the HTTP client: rustls with the platform's trust store (rustls-platform-verifier),
/// plus the certificates of `ca_bundle`; `insecure` turns certificate verification off.
pub fn http_client(ca_bundle: Option<&Path>, insecure: bool) -> Result<reqwest::Client> {
    crate::cbr::install_crypto_provider();
    let mut builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("cbrflow/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = ca_bundle {
        let pem = std::fs::read(path)
            .with_context(|| format!("cannot read the CA bundle {}", path.display()))?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem)
            .with_context(|| format!("the CA bundle {} is not valid PEM", path.display()))?;
        if certificates.is_empty() {
            bail!("the CA bundle {} holds no PEM certificate", path.display());
        }
        builder = builder.tls_certs_merge(certificates);
    }
    if insecure {
        tracing::warn!(
            "TLS certificate verification is disabled (--insecure): anyone on the network path \
             can read and change requests, credentials included"
        );
        builder = builder.tls_danger_accept_invalid_certs(true);
    }
    builder.build().context("cannot set up the HTTP client")
}

/// Builds the HTTP client and the authentication for `settings`, asking IAM for a password
/// token and for the project id when they are needed.
pub async fn connect(settings: &ConnectionSettings) -> Result<Connection> {
    let http = http_client(settings.ca_bundle.as_deref(), settings.insecure)?;
    let lookup_name = settings
        .project_name
        .clone()
        .or_else(|| settings.region.clone());
    let iam = settings.iam_endpoint.as_ref();
    let missing = || anyhow!("internal error: settings lack the IAM endpoint or project name");

    let (auth, project_id) = match &settings.credentials {
        Credentials::None => {
            let project_id = settings.project_id.clone().ok_or_else(missing)?;
            (Auth::None, project_id)
        }
        Credentials::Token(token) => {
            let auth = Auth::Token(token.clone());
            let project_id = match &settings.project_id {
                Some(id) => id.clone(),
                None => find_project(&auth, &http, iam, lookup_name.as_deref()).await?,
            };
            (auth, project_id)
        }
        Credentials::AkSk {
            ak,
            sk,
            security_token,
        } => {
            let project_id = match &settings.project_id {
                Some(id) => id.clone(),
                None => {
                    let auth = Auth::AkSk {
                        ak: ak.clone(),
                        sk: sk.clone(),
                        security_token: security_token.clone(),
                        project_id: None,
                    };
                    find_project(&auth, &http, iam, lookup_name.as_deref()).await?
                }
            };
            let auth = Auth::AkSk {
                ak: ak.clone(),
                sk: sk.clone(),
                security_token: security_token.clone(),
                project_id: Some(project_id.clone()),
            };
            (auth, project_id)
        }
        Credentials::Password {
            user_name,
            password,
            domain_name,
        } => {
            let iam = iam.ok_or_else(missing)?;
            let scope = match (&settings.project_id, &lookup_name) {
                (Some(id), _) => ProjectScope::Id(id.clone()),
                (None, Some(name)) => ProjectScope::Name(name.clone()),
                (None, None) => return Err(missing()),
            };
            let credentials = PasswordCredentials {
                user_name: user_name.clone(),
                password: password.clone(),
                domain_name: Some(domain_name.clone()),
                scope,
            };
            let source = TokenSource::new(http.clone(), iam, credentials);
            let project_id = match &settings.project_id {
                Some(id) => id.clone(),
                None => {
                    let token = source.token().await.with_context(|| {
                        format!(
                            "could not get an IAM token for user `{user_name}` at {}",
                            source.endpoint()
                        )
                    })?;
                    token.project.map(|project| project.id).with_context(|| {
                        format!(
                            "IAM at {} issued a token without a project; pass --project-id ID",
                            source.endpoint()
                        )
                    })?
                }
            };
            (Auth::Password(Arc::new(source)), project_id)
        }
    };
    Ok(Connection {
        endpoint: settings.endpoint.clone(),
        project_id,
        auth,
        http,
    })
}

async fn find_project(
    auth: &Auth,
    http: &reqwest::Client,
    iam: Option<&Url>,
    name: Option<&str>,
) -> Result<String> {
    let (Some(iam), Some(name)) = (iam, name) else {
        bail!("internal error: settings lack the IAM endpoint or project name");
    };
    let project = auth
        .find_project(http, iam, name)
        .await
        .with_context(|| format!("could not look up the id of project `{name}` at {iam}"))?;
    Ok(project.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_map_to_their_cloud() {
        assert_eq!(
            cbr_endpoint("eu-de").as_str(),
            "https://cbr.eu-de.otc.t-systems.com/"
        );
        assert_eq!(
            cbr_endpoint("eu-nl").as_str(),
            "https://cbr.eu-nl.otc.t-systems.com/"
        );
        assert_eq!(
            cbr_endpoint("eu-ch2").as_str(),
            "https://cbr.eu-ch2.sc.otc.t-systems.com/"
        );
        assert_eq!(
            cbr_endpoint("ap-southeast-1").as_str(),
            "https://cbr.ap-southeast-1.myhuaweicloud.com/"
        );
        assert_eq!(
            cbr_endpoint("eu-west-101").as_str(),
            "https://cbr.eu-west-101.myhuaweicloud.eu/"
        );
        assert_eq!(
            iam_endpoint("eu-de").as_str(),
            "https://iam.eu-de.otc.t-systems.com/"
        );
        assert_eq!(
            iam_endpoint("eu-ch2").as_str(),
            "https://iam-pub.eu-ch2.sc.otc.t-systems.com/"
        );
        assert_eq!(
            iam_endpoint("cn-north-4").as_str(),
            "https://iam.cn-north-4.myhuaweicloud.com/"
        );
    }

    #[test]
    fn region_is_read_back_from_known_endpoints() {
        for region in ["eu-de", "eu-ch2", "ap-southeast-1", "eu-west-101"] {
            assert_eq!(
                region_of_endpoint(&cbr_endpoint(region)).as_deref(),
                Some(region)
            );
        }
        let other = Url::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(region_of_endpoint(&other), None);
    }

    #[test]
    fn truthy_values() {
        let sourced = |value: &str| Sourced {
            value: value.to_owned(),
            source: "X".to_owned(),
        };
        assert!(truthy(&sourced("1")).unwrap());
        assert!(truthy(&sourced("TRUE")).unwrap());
        assert!(!truthy(&sourced("off")).unwrap());
        assert!(truthy(&sourced("maybe")).is_err());
    }
}
