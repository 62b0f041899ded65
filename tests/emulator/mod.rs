//! The CBR emulator over real HTTP: wire formats of the seed's calls, the service's rules and
//! error codes, lists, lifecycles, persistence, fault injection and the administrative routes.
//! Every test starts its own emulator on `127.0.0.1:0` in-process and talks to it with reqwest.

mod admin;
mod cli;
mod faults;
mod lifecycle;
mod lists;
mod persistence;
mod rules;
mod seed;

use std::time::Duration;

use cbrflow::emulator::{self, EmulatorConfig, EmulatorHandle};
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

/// The seed's project id.
pub const PROJECT: &str = "0605767b5780d5762fc5c0118072a564";
/// The seed's server (`ecs-9f93-0002`, 40 GB) in the built-in inventory.
pub const SEED_SERVER: &str = "e8cc6bfd-d324-4b88-9109-9fb0ba70676f";
/// More built-in servers.
pub const SERVERS: [&str; 3] = [
    "1b2d3f4a-0001-4c5d-8e9f-000000000001",
    "1b2d3f4a-0002-4c5d-8e9f-000000000002",
    "1b2d3f4a-0003-4c5d-8e9f-000000000003",
];
/// Built-in disks.
pub const DISKS: [&str; 2] = [
    "7c6b5a49-0001-4d3e-9f8a-000000000001",
    "7c6b5a49-0002-4d3e-9f8a-000000000002",
];

/// Simulated durations short enough for tests.
pub fn fast_config() -> EmulatorConfig {
    EmulatorConfig {
        backup_seconds: 0.2,
        restore_seconds: 0.2,
        ..EmulatorConfig::default()
    }
}

/// A running emulator and a client for it.
pub struct Emu {
    pub handle: EmulatorHandle,
    pub http: reqwest::Client,
    pub base: String,
}

/// An HTTP answer: status, headers, the body as JSON (`null` if empty or not JSON) and text.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    /// Asserts a CBR-style error with `status` and `code`, and returns its message.
    #[track_caller]
    pub fn error(&self, status: u16, code: &str) -> String {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        assert_eq!(self.body["error_code"], json!(code), "body: {}", self.text);
        let msg = self.body["error_msg"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(!msg.is_empty(), "error without message: {}", self.text);
        assert!(
            self.headers.contains_key("x-request-id"),
            "no X-Request-Id on an error"
        );
        msg
    }

    /// Asserts `status` and returns the JSON body.
    #[track_caller]
    pub fn ok(&self, status: u16) -> &Value {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        assert!(self.headers.contains_key("x-request-id"), "no X-Request-Id");
        &self.body
    }
}

/// `/v3/{PROJECT}{rest}`.
pub fn cbr(rest: &str) -> String {
    format!("/v3/{PROJECT}{rest}")
}

impl Emu {
    /// An emulator with [`fast_config`].
    pub async fn start() -> Self {
        Self::with(fast_config()).await
    }

    /// An emulator with `config`.
    pub async fn with(config: EmulatorConfig) -> Self {
        cbrflow::cbr::install_crypto_provider();
        let handle = emulator::start("127.0.0.1:0".parse().unwrap(), config)
            .await
            .unwrap();
        let base = handle.url();
        Self {
            handle,
            http: reqwest::Client::new(),
            base,
        }
    }

    /// Sends a request; `body` is sent as JSON.
    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.try_send(method, path, body).await.unwrap()
    }

    /// Sends a request, returning transport errors.
    pub async fn try_send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Reply, reqwest::Error> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await?;
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Reply {
            status,
            headers,
            body,
            text,
        })
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.send(Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(Method::DELETE, path, None).await
    }

    /// Creates a vault (`object_type` server/disk/...) holding `resources`; returns it.
    pub async fn create_vault(&self, name: &str, object_type: &str, resources: Value) -> Value {
        let reply = self
            .post(&cbr("/vaults"), vault_body(name, object_type, resources))
            .await;
        reply.ok(200)["vault"].clone()
    }

    /// Creates a server vault holding the seed's server and a restore point of it; returns
    /// `(vault_id, checkpoint)`.
    pub async fn vault_with_checkpoint(&self, name: &str, server: &str) -> (String, Value) {
        let vault = self
            .create_vault(
                name,
                "server",
                json!([{"id": server, "type": "OS::Nova::Server"}]),
            )
            .await;
        let vault_id = vault["id"].as_str().unwrap().to_owned();
        let reply = self
            .post(
                &cbr("/checkpoints"),
                json!({"checkpoint": {"vault_id": vault_id, "parameters": {"name": "bk_test"}}}),
            )
            .await;
        (vault_id, reply.ok(200)["checkpoint"].clone())
    }

    /// `GET /_emulator/state` for the test project.
    pub async fn state(&self) -> Value {
        let reply = self
            .get(&format!("/_emulator/state?project_id={PROJECT}"))
            .await;
        let projects = &reply.ok(200)["projects"];
        projects
            .get(PROJECT)
            .cloned()
            .unwrap_or_else(|| json!({"vaults": [], "backups": []}))
    }

    /// Adds fault rules through the administrative route.
    pub async fn add_faults(&self, rules: Value) {
        self.post("/_emulator/faults", rules).await.ok(200);
    }

    /// The request log.
    pub async fn requests(&self) -> Vec<Value> {
        self.get("/_emulator/requests")
            .await
            .ok(200)
            .as_array()
            .unwrap()
            .clone()
    }

    pub async fn shutdown(self) {
        self.handle.shutdown().await;
    }
}

/// A create-vault body like the seed's.
pub fn vault_body(name: &str, object_type: &str, resources: Value) -> Value {
    json!({
        "vault": {
            "billing": {
                "cloud_type": "public",
                "consistent_level": "crash_consistent",
                "object_type": object_type,
                "protect_type": "backup",
                "size": 200
            },
            "name": name,
            "resources": resources
        }
    })
}

/// Polls `path` until `field` of the JSON body equals `want`, for at most `limit`.
pub async fn wait_for(emu: &Emu, path: &str, pointer: &str, want: &str, limit: Duration) -> Value {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let reply = emu.get(path).await;
        if reply.body.pointer(pointer) == Some(&json!(want)) {
            return reply.body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{path}: {pointer} never became {want}; last: {}",
            reply.text
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
