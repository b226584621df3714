//! `--process`: the service as a `bems serve` process of its own, so that its memory is its
//! own. The simulator and mock APNs stay in this process.
//!
//! 1. The binary starts once on an empty store: its resident set with nothing to watch.
//! 2. The devices and their mailboxes are written to the store (the API path of a registration
//!    is the other mode's subject), and the binary starts again: it finds every mailbox by
//!    Autodiscover and subscribes to it.
//! 3. Once every mailbox is subscribed, the resident set is sampled each second for a quiet
//!    while, then while mail arrives, then for a quiet while again. The steady figure is the
//!    largest quiet sample; memory per mailbox is what it adds to the empty start.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bems::store::SqliteStore;
use bems::store::model::Platform;
use bems_demo::{self as demo, ADMIN_TOKEN, STORE_KEY, TOPIC, World};

use crate::measure::{self, mib};
use crate::seed;

/// How long the resident set is sampled while nothing happens.
const QUIET: Duration = Duration::from_secs(15);

/// The `bems` binary: `BEMS_BIN`, else beside this example's directory
/// (`target/release/bems` for `target/release/examples/service_load`).
fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("BEMS_BIN") {
        return path.into();
    }
    let exe = std::env::current_exe().expect("this example's path");
    let beside = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("bems"))
        .filter(|path| path.exists());
    beside.unwrap_or_else(|| {
        panic!(
            "no bems binary beside {}: build it first (cargo build --release -p bems-cli) or set BEMS_BIN",
            exe.display()
        )
    })
}

/// A `bems serve` process on the world's settings file, sampled from `/proc`.
struct Serve {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Serve {
    fn start(config: &Path, capacity: usize, log: PathBuf) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let base = format!("http://127.0.0.1:{port}");
        let stderr = std::fs::File::create(&log).expect("the service's log");
        let child = Command::new(binary())
            .args(["serve", "--config"])
            .arg(config)
            .env("BEMS_SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .env("BEMS_SERVER__PUBLIC_URL", &base)
            .env("BEMS_STORE_KEY", STORE_KEY)
            .env("BEMS_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("BEMS_CLUSTER__CAPACITY", capacity.max(1).to_string())
            .env("BEMS_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("bems serve starts");
        Self { child, base, log }
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }

    fn rss(&self) -> u64 {
        measure::proc_status_bytes(&self.pid(), "VmRSS").unwrap_or(0)
    }

    fn peak(&self) -> u64 {
        measure::proc_status_bytes(&self.pid(), "VmHWM").unwrap_or(0)
    }

    /// Fails with the log's tail if the process has exited.
    fn alive(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(20)..];
            panic!("bems serve exited ({status}):\n{}", tail.join("\n"));
        }
    }

    async fn ready(&mut self, http: &reqwest::Client) {
        let started = Instant::now();
        loop {
            self.alive();
            let answer = http.get(format!("{}/readyz", self.base)).send().await;
            if answer.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "bems serve not ready after 2 minutes (log: {})",
                self.log.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Mailboxes subscribed, from the admin API.
    async fn subscribed(&self, http: &reqwest::Client) -> Option<u64> {
        let url = format!("{}/admin/status", self.base);
        let response = http.get(url).bearer_auth(ADMIN_TOKEN).send().await.ok()?;
        let status: serde_json::Value = response.json().await.ok()?;
        status["tenants"][0]["subscriptions"]["subscribed"].as_u64()
    }

    /// Ctrl-C, as an operator stops it; then waits for it to end.
    fn stop(mut self) {
        let _ = Command::new("kill").args(["-INT", &self.pid()]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The resident set sampled each second in the background until dropped.
struct Sampler {
    samples: Arc<Mutex<Vec<u64>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Sampler {
    fn start(pid: String) -> Self {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let into = Arc::clone(&samples);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                if let Some(rss) = measure::proc_status_bytes(&pid, "VmRSS") {
                    into.lock().expect("samples").push(rss);
                }
            }
        });
        Self { samples, task }
    }

    /// The samples taken, in order.
    fn finish(self) -> Vec<u64> {
        self.task.abort();
        std::mem::take(&mut *self.samples.lock().expect("samples"))
    }
}

fn max_mib(samples: &[u64]) -> f64 {
    mib(samples.iter().copied().max().unwrap_or(0))
}

/// Every user's EWS host is `localhost`, which the simulator's certificate names: the process
/// finds the simulator by its settings alone.
fn scenario(mailboxes: usize) -> exchange_sim::Scenario {
    let mut scenario = demo::scenario_with_users(mailboxes).expect("scenario");
    for domain in &mut scenario.domains {
        domain.external_ews_host = "localhost".into();
        domain.internal_ews_host = "localhost".into();
    }
    scenario
}

pub(crate) async fn run(mailboxes: usize, mails: usize, rate: u64) {
    let started = Instant::now();
    let world = World::with_scenario(
        scenario(mailboxes),
        bems::settings::SubscriptionMode::Streaming,
        None,
        false,
    )
    .await
    .expect("world");
    let config = world.dir.path().join("bems.toml");
    std::fs::write(&config, world.process_toml().expect("settings")).expect("settings file");
    let http = reqwest::Client::new();
    eprintln!(
        "world up in {:.1?}; binary {}",
        started.elapsed(),
        binary().display()
    );

    // 1. Nothing to watch.
    let mut empty = Serve::start(&config, mailboxes, world.dir.path().join("empty.log"));
    empty.ready(&http).await;
    let sampler = Sampler::start(empty.pid());
    tokio::time::sleep(Duration::from_secs(5)).await;
    let empty_samples = sampler.finish();
    empty.stop();
    let empty_rss = empty_samples.iter().copied().max().unwrap_or(0);
    eprintln!("empty store: {} MiB resident", mib(empty_rss));

    // 2. Every mailbox stored, then found and subscribed by the process.
    let users: Vec<(String, String)> = (0..mailboxes)
        .map(|i| (demo::user_address(i), format!("{:064x}", i + 1)))
        .collect();
    let seeding = Instant::now();
    let store = SqliteStore::open(&world.settings.store.path, seed::store_key(&world))
        .await
        .expect("store");
    seed::seed(Arc::new(store), &users, Platform::Apns, TOPIC).await;
    eprintln!("{mailboxes} devices stored in {:.1?}", seeding.elapsed());
    let mut serve = Serve::start(&config, mailboxes, world.dir.path().join("bems.log"));
    let starting = Instant::now();
    serve.ready(&http).await;
    let sampler = Sampler::start(serve.pid());
    loop {
        serve.alive();
        let subscribed = serve.subscribed(&http).await.unwrap_or(0) as usize;
        if subscribed >= mailboxes {
            break;
        }
        eprintln!(
            "  {subscribed} of {mailboxes} subscribed, {} MiB resident",
            mib(serve.rss())
        );
        assert!(
            starting.elapsed() < Duration::from_secs(1200),
            "not all subscribed after 20 minutes (log: {})",
            serve.log.display()
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let all_watched = starting.elapsed();
    let watching_samples = sampler.finish();
    eprintln!("all {mailboxes} subscribed after {all_watched:.1?}");

    // 3. Quiet, mail, quiet.
    let sampler = Sampler::start(serve.pid());
    tokio::time::sleep(QUIET).await;
    let quiet_before = sampler.finish();
    eprintln!("quiet: {} MiB resident at most", max_mib(&quiet_before));
    let sampler = Sampler::start(serve.pid());
    let measured = measure::drive(&world, &users, mails, rate, Duration::from_secs(120)).await;
    let under_mail = sampler.finish();
    let sampler = Sampler::start(serve.pid());
    tokio::time::sleep(QUIET).await;
    let quiet_after = sampler.finish();
    let peak = serve.peak();
    serve.alive();
    let steady = quiet_before
        .iter()
        .chain(&quiet_after)
        .copied()
        .max()
        .unwrap_or(0);
    let mut summary = serde_json::json!({
        "through": "ews-streaming, bems serve in its own process",
        "mailboxes": mailboxes,
        "all_subscribed_seconds": all_watched.as_secs_f64(),
        "rss_mib": {
            "empty_store": mib(empty_rss),
            "while_subscribing_max": max_mib(&watching_samples),
            "quiet_before_mail_max": max_mib(&quiet_before),
            "under_mail_max": max_mib(&under_mail),
            "quiet_after_mail_max": max_mib(&quiet_after),
            "steady": mib(steady),
            "peak_vmhwm": mib(peak),
        },
        "bytes_per_mailbox": steady.saturating_sub(empty_rss) / mailboxes.max(1) as u64,
    });
    measure::merge(&mut summary, measured.json());
    serve.stop();
    println!("{summary}");
    assert!(measured.complete(), "not every mail was announced");
}
