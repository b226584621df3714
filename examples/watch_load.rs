//! Load: a watcher keeps 100,000 mailboxes subscribed in 500 affinity groups (one streaming
//! connection each) against `exchange-sim`, then new mail is driven through them.
//!
//! ```text
//! cargo run --release --example watch_load -- [MAILBOXES] [MAILS] [MAILS_PER_SECOND] [--separate]
//! ```
//!
//! By default the simulator runs in this process and the RSS reported is both together. With
//! `--separate` the simulator runs in a child process, so that the watcher's own memory is
//! measured. Progress goes to standard error; the summary is one JSON line on standard output.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bems::ews_proto::EventType;
use bems::ews_subscriptions::{Mode, StreamingSettings, WatchSettings, Watcher};
use bems::exchange_auth::{Authenticator, BasicAuth, SecretString, Target, TransportSettings};
use bems::mailbox_watch::{WatchEvent, WatchTarget};

const GROUP: usize = 200;
const HOST: &str = "mail.load.test";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--serve") {
        serve(&args[2]);
        return;
    }
    let separate = args.iter().any(|a| a == "--separate");
    let numbers: Vec<u64> = args[1..].iter().filter_map(|a| a.parse().ok()).collect();
    let mailboxes = numbers.first().copied().unwrap_or(100_000) as usize;
    let mails = numbers.get(1).copied().unwrap_or(100_000);
    let rate = numbers.get(2).copied().unwrap_or(20_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(drive(mailboxes, mails, rate, separate));
}

/// The simulator's end of a run: where it listens and the CA to trust.
struct SimEnd {
    https: u16,
    http: u16,
    ca: String,
    /// The child process, with `--separate`.
    child: Option<ChildGuard>,
    /// The in-process simulator otherwise.
    _sim: Option<exchange_sim::Sim>,
}

fn scenario(mailboxes: usize) -> String {
    let groups = mailboxes.div_ceil(GROUP);
    let mut toml = String::from(
        "profile = \"exchange-2019\"\n[[domains]]\nname = \"load.test\"\nexternal_ews_host = \"mail.load.test\"\n",
    );
    for g in 0..groups {
        toml.push_str(&format!(
            "[[servers]]\nname = \"g{g}\"\ngrouping_information = \"G{g}\"\n"
        ));
    }
    for i in 0..mailboxes {
        toml.push_str(&format!(
            "[[users]]\nsmtp = \"u{i}@load.test\"\nserver = \"g{}\"\n",
            i / GROUP
        ));
    }
    toml.push_str("[[service_accounts]]\nname = \"svc\"\nupn = \"svc@load.test\"\npassword = \"load\"\nrights = [\"ApplicationImpersonation\"]\n");
    toml
}

/// The child with `--separate`: run the simulator and print its ports and CA.
fn serve(path: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let toml = std::fs::read_to_string(path).expect("scenario file");
        let sim = exchange_sim::Sim::builder()
            .scenario(exchange_sim::Scenario::from_toml(&toml).expect("scenario"))
            .start()
            .await
            .expect("sim starts");
        println!("{} {}", sim.https_addr().port(), sim.http_addr().port());
        println!("{}", sim.ca_pem().replace('\n', "|"));
        std::io::stdout().flush().expect("stdout");
        let _ =
            tokio::task::spawn_blocking(|| std::io::stdin().read_line(&mut String::new())).await;
    });
}

async fn start_sim(mailboxes: usize, separate: bool) -> SimEnd {
    let toml = scenario(mailboxes);
    if !separate {
        let sim = exchange_sim::Sim::builder()
            .scenario(exchange_sim::Scenario::from_toml(&toml).expect("scenario"))
            .start()
            .await
            .expect("sim starts");
        return SimEnd {
            https: sim.https_addr().port(),
            http: sim.http_addr().port(),
            ca: sim.ca_pem().to_owned(),
            child: None,
            _sim: Some(sim),
        };
    }
    let path = std::env::temp_dir().join(format!("watch-load-{}.toml", std::process::id()));
    std::fs::write(&path, toml).expect("scenario written");
    let mut child = Command::new(std::env::current_exe().expect("own path"))
        .arg("--serve")
        .arg(&path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("child starts");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("ports");
    let ports: Vec<u16> = line
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    let mut ca = String::new();
    out.read_line(&mut ca).expect("ca");
    let _ = std::fs::remove_file(&path);
    SimEnd {
        https: ports[0],
        http: ports[1],
        ca: ca.trim_end().replace('|', "\n"),
        child: Some(ChildGuard(child)),
        _sim: None,
    }
}

async fn drive(mailboxes: usize, mails: u64, rate: u64, separate: bool) {
    let started = Instant::now();
    let sim = start_sim(mailboxes, separate).await;
    let sim_pid = sim.child.as_ref().map(|c| c.0.id());
    eprintln!(
        "simulator up with {mailboxes} mailboxes in {:.1?}",
        started.elapsed()
    );

    let mut transport = TransportSettings::default();
    transport.trusted_ca_pem = vec![sim.ca.clone()];
    transport.trusted_ca_only = true;
    transport.resolve = vec![(HOST.to_owned(), ([127, 0, 0, 1], sim.https).into())];
    let auth: Arc<dyn Authenticator> = Arc::new(
        BasicAuth::new(
            "svc@load.test",
            SecretString::from("load"),
            Target::OnPremises,
            &transport,
        )
        .expect("auth"),
    );
    let mut settings = WatchSettings::new(Mode::Streaming(StreamingSettings::default()));
    settings.event_types = vec![EventType::NewMail];
    settings.limits.subscribes_per_second = 100_000.0;
    settings.limits.concurrent_requests = 64;
    settings.channel_capacity = 16_384;
    let (watcher, mut events) = Watcher::builder(settings, auth).start().expect("watcher");

    // Count what reaches the consumer.
    let new_mail = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&new_mail);
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            if matches!(&event, WatchEvent::Mail(mail) if mail.is_new_mail()) {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
    });

    let rss_before = rss_kib(None);
    let subscribe_started = Instant::now();
    let url: url::Url = format!("https://{HOST}:{}/EWS/Exchange.asmx", sim.https)
        .parse()
        .expect("URL");
    for i in 0..mailboxes {
        let target = WatchTarget::new(format!("u{i}@load.test"), url.clone())
            .grouping(format!("G{}", i / GROUP));
        watcher.watch(target).expect("watch");
    }
    let groups = mailboxes.div_ceil(GROUP) as u64;
    let mut last_report = Instant::now();
    loop {
        let status = watcher.status();
        if status.subscribed == mailboxes && status.streams_open == groups {
            break;
        }
        if last_report.elapsed() >= Duration::from_secs(1) {
            eprintln!(
                "  {:>6} subscribed, {:>3} streams open, {} throttled, {:.0?}",
                status.subscribed,
                status.streams_open,
                status.throttled,
                subscribe_started.elapsed()
            );
            last_report = Instant::now();
        }
        if subscribe_started.elapsed() > Duration::from_secs(600) {
            panic!("not everything subscribed in 10 minutes: {status:#?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let subscribe_time = subscribe_started.elapsed();
    let rss_subscribed = rss_kib(None);
    eprintln!(
        "{mailboxes} subscribed and {groups} streams open in {subscribe_time:.1?}; RSS {} MiB",
        rss_subscribed.0 / 1024
    );

    let admin = reqwest::Client::new();
    admin
        .post(format!("http://127.0.0.1:{}/_sim/load/deliver", sim.http))
        .json(&serde_json::json!({"count": mails, "per_second": rate}))
        .send()
        .await
        .expect("load started");
    let drive_started = Instant::now();
    let deadline = drive_started + Duration::from_secs(mails / rate.max(1) * 3 + 30);
    let mut last_report = Instant::now();
    while new_mail.load(Ordering::Relaxed) < mails && Instant::now() < deadline {
        if last_report.elapsed() >= Duration::from_secs(1) {
            eprintln!(
                "  {:>7} of {mails} new-mail events, {:.0?}",
                new_mail.load(Ordering::Relaxed),
                drive_started.elapsed()
            );
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let drive_time = drive_started.elapsed();
    let got = new_mail.load(Ordering::Relaxed);
    let (rss_end, rss_peak) = rss_kib(None);
    let status = watcher.status();
    let summary = serde_json::json!({
        "mailboxes": mailboxes,
        "groups": status.groups,
        "streams_open": status.streams_open,
        "simulator": if separate { "child process" } else { "in process" },
        "subscribe_seconds": subscribe_time.as_secs_f64(),
        "subscribes_per_second": mailboxes as f64 / subscribe_time.as_secs_f64(),
        "mails": mails,
        "target_mails_per_second": rate,
        "new_mail_events": got,
        "events_per_second": got as f64 / drive_time.as_secs_f64(),
        "losses": status.losses,
        "reconnects": status.reconnects,
        "throttled": status.throttled,
        "rss_mib": {
            "before_watching": rss_before.0 / 1024,
            "subscribed": rss_subscribed.0 / 1024,
            "end": rss_end / 1024,
            "peak": rss_peak / 1024,
        },
        "simulator_rss_mib": sim_pid.map(|pid| rss_kib(Some(pid)).0 / 1024),
    });
    println!("{summary}");
    watcher.shutdown();
}

/// (VmRSS, VmHWM) in KiB of this process or `pid`.
fn rss_kib(pid: Option<u32>) -> (u64, u64) {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/status"),
        None => "/proc/self/status".to_owned(),
    };
    let status = std::fs::read_to_string(path).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
