//! The executor end to end against the in-process emulator over loopback HTTP, and the
//! emulator's raw request rate for the same requests without the engine.
//!
//! The emulator runs in memory, or with a data file as `cbrflow run` starts it by default.
//! The engine is wired as `cli/run_cmd.rs` wires it: `CbrClient` without authentication, a
//! SQLite state store in a fresh directory, and a task draining the event channel.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use cbrflow::cbr::auth::Auth;
use cbrflow::cbr::wire::{
    BillingCreate, ResourceCreate, VaultAddResourceReq, VaultCreate, VaultCreateReq,
};
use cbrflow::cbr::{self, CbrClient};
use cbrflow::emulator::{self, EmulatorConfig, EmulatorHandle, Inventory, InventoryItem};
use cbrflow::engine::{Engine, RunOptions};
use cbrflow::state::{self, RunId, RunStatus};
use cbrflow::steps::Registry;
use tokio::sync::mpsc;

use crate::harness::{Bench, Options, Sample};
use crate::plan_check::check;
use crate::plans::{self, Shape};

/// The project id the embedded emulator is addressed with.
const PROJECT: &str = "0605767b5780d5762fc5c0118072a564";

/// Whether the emulator keeps a data file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Persist {
    /// In memory only.
    Memory,
    /// With a data file, as the embedded emulator of `cbrflow run` runs.
    File,
}

impl Persist {
    fn name(self) -> &'static str {
        match self {
            Self::Memory => "mem",
            Self::File => "file",
        }
    }
}

/// Runs the executor and raw-emulator benchmarks.
pub fn run(options: &Options) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let cases: &[(Shape, usize, usize)] = &[
        (Shape::Independent, 1_000, 16),
        (Shape::Independent, 1_000, 64),
        (Shape::Independent, 10_000, 16),
        (Shape::Independent, 10_000, 64),
        (Shape::Fleet, 1_000, 16),
        (Shape::Fleet, 10_000, 16),
        (Shape::Chain, 1_000, 16),
        (Shape::Chain, 10_000, 16),
    ];
    for persist in [Persist::Memory, Persist::File] {
        for &(shape, n, concurrency) in cases {
            if !options.size_enabled(n) {
                continue;
            }
            let name = format!(
                "engine/{}/{}/steps={n}/c={concurrency}",
                persist.name(),
                shape.name()
            );
            if !options.wants(&name) {
                continue;
            }
            let text = plans::plan(n, shape);
            let bench = Bench {
                name,
                unit: "step",
                units: n as u64,
                heavy: n >= 1_000,
            };
            bench.run(options, || {
                runtime.block_on(engine_run(&text, n, shape, concurrency, persist))
            });
        }
        for &(shape, n, concurrency) in cases {
            if shape == Shape::Chain || !options.size_enabled(n) {
                continue;
            }
            let name = format!(
                "emulator/{}/{}/requests={n}/c={concurrency}",
                persist.name(),
                shape.name()
            );
            let bench = Bench {
                name,
                unit: "req",
                units: n as u64,
                heavy: n >= 1_000,
            };
            bench.run(options, || {
                runtime.block_on(raw_run(n, shape, concurrency, persist))
            });
        }
    }
}

/// An emulator for `n` steps of `shape`, with a data file in `dir` when asked.
async fn start_emulator(
    dir: &std::path::Path,
    n: usize,
    shape: Shape,
    persist: Persist,
) -> EmulatorHandle {
    let mut config = EmulatorConfig {
        data_file: (persist == Persist::File).then(|| dir.join("emulator.json")),
        ..EmulatorConfig::default()
    };
    if shape == Shape::Fleet {
        config.inventory = fleet_inventory(n / 2);
    }
    let addr: SocketAddr = ([127, 0, 0, 1], 0).into();
    emulator::start(addr, config).await.expect("start emulator")
}

/// The built-in inventory plus `servers` generated servers.
fn fleet_inventory(servers: usize) -> Inventory {
    let mut items: Vec<InventoryItem> = Vec::with_capacity(servers);
    for i in 0..servers {
        items.push(InventoryItem {
            id: plans::server_id(i),
            name: format!("ecs-bench-{i}"),
            kind: "OS::Nova::Server".into(),
            size: 40,
            az: None,
        });
    }
    Inventory::new(items).expect("inventory")
}

fn client(emulator: &EmulatorHandle) -> CbrClient {
    let url = url::Url::parse(&emulator.url()).expect("emulator url");
    CbrClient::new(cbr::http_client(), url, PROJECT, Auth::None)
}

/// One run of the engine; times `Engine::start` only (plan checked, emulator up before).
async fn engine_run(
    text: &str,
    n: usize,
    shape: Shape,
    concurrency: usize,
    persist: Persist,
) -> Sample {
    let dir = tempfile::tempdir().expect("temp dir");
    let emulator = start_emulator(dir.path(), n, shape, persist).await;
    let registry = Arc::new(Registry::builtin());
    let plan = check(text, &registry);
    let store = state::open(&dir.path().join("state")).expect("state store");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let drain = tokio::spawn(async move {
        let mut events = 0usize;
        while rx.recv().await.is_some() {
            events += 1;
        }
        events
    });
    let options = RunOptions {
        concurrency,
        ..RunOptions::default()
    };
    let engine = Engine::new(plan, registry, client(&emulator), store, tx, options);
    let start = Instant::now();
    let report = engine
        .start(RunId::generate(), PathBuf::from("bench.yaml"), None)
        .await
        .expect("run");
    let elapsed = start.elapsed();
    assert_eq!(
        report.status,
        RunStatus::Succeeded,
        "bench run failed: {:?}",
        report.steps.iter().find(|s| s.error.is_some())
    );
    assert!(drain.await.expect("event drain") >= n);
    emulator.shutdown().await;
    Sample::of(elapsed)
}

/// `n` requests of the kind the engine sends for `shape`, straight from a client with
/// `concurrency` workers: the emulator's own ceiling.
async fn raw_run(n: usize, shape: Shape, concurrency: usize, persist: Persist) -> Sample {
    let dir = tempfile::tempdir().expect("temp dir");
    let emulator = start_emulator(dir.path(), n, shape, persist).await;
    let client = Arc::new(client(&emulator));
    let next = Arc::new(AtomicUsize::new(0));
    // Fleet: each unit of work is a vault and its attachment, two requests.
    let units = if shape == Shape::Fleet { n / 2 } else { n };
    let start = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (client, next) = (Arc::clone(&client), Arc::clone(&next));
        workers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= units {
                    break;
                }
                let vault = client
                    .create_vault(&vault_request(i))
                    .await
                    .expect("create vault");
                if shape == Shape::Fleet {
                    let body = VaultAddResourceReq {
                        resources: vec![ResourceCreate {
                            id: plans::server_id(i),
                            resource_type: "OS::Nova::Server".into(),
                            name: None,
                            extra_info: None,
                        }],
                    };
                    client
                        .add_resources(&vault.id, &body)
                        .await
                        .expect("add resources");
                }
            }
        });
    }
    while workers.join_next().await.is_some() {}
    let elapsed = start.elapsed();
    emulator.shutdown().await;
    Sample::of(elapsed)
}

fn vault_request(i: usize) -> VaultCreateReq {
    VaultCreateReq {
        vault: VaultCreate {
            name: format!("v{i}"),
            billing: BillingCreate {
                cloud_type: None,
                consistent_level: "crash_consistent".into(),
                object_type: "server".into(),
                protect_type: "backup".into(),
                size: 100,
                extra: serde_json::Map::new(),
            },
            resources: Vec::new(),
            extra: serde_json::Map::new(),
        },
    }
}
