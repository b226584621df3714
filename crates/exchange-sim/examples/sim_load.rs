//! Load: 100,000 mailboxes, 500 streaming connections of 200 subscriptions, then new mail.
//!
//! The simulator runs in a child process (this example started with `--serve`) so that its
//! memory is measured apart from the load driver's. The driver subscribes every mailbox over
//! HTTPS (impersonating it, with affinity to its group's anchor), opens one
//! `GetStreamingEvents` per group, asks the simulator to deliver mail at a fixed rate, and
//! counts the `NewMailEvent`s that arrive. It prints one JSON summary.
//!
//! ```text
//! cargo run --release -p exchange-sim --example sim_load -- [MAILBOXES] [MAILS] [MAILS_PER_SECOND]
//! ```

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ews_proto::operations::{
    GetStreamingEvents, GetStreamingEventsResponse, Subscribe, SubscribeResponse,
};
use ews_proto::soap::{ConnectingSid, ExchangeVersion, SoapHeader, read_envelope, write_envelope};
use ews_proto::{BaseFolderId, EnvelopeSplitter, EventType, SubscriptionId};
use futures_util::StreamExt;

const GROUP: usize = 200;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--serve") {
        serve(&args[2]);
        return;
    }
    let mailboxes: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let mails: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let rate: u64 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(drive(mailboxes, mails, rate));
}

/// The child: run the simulator on the scenario file and print its ports.
fn serve(scenario: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let scenario =
            exchange_sim::Scenario::from_file(std::path::Path::new(scenario)).expect("scenario");
        let sim = exchange_sim::Sim::builder()
            .scenario(scenario)
            .start()
            .await
            .expect("sim starts");
        println!("{} {}", sim.https_addr().port(), sim.http_addr().port());
        println!("{}", sim.ca_pem().replace('\n', "|"));
        std::io::stdout().flush().expect("stdout");
        // Run until the parent closes stdin.
        let _ =
            tokio::task::spawn_blocking(|| std::io::stdin().read_line(&mut String::new())).await;
    });
}

fn scenario_file(mailboxes: usize) -> std::path::PathBuf {
    let groups = mailboxes.div_ceil(GROUP);
    let mut toml = String::from("profile = \"exchange-2019\"\n[[domains]]\nname = \"load.test\"\n");
    for g in 0..groups {
        toml.push_str(&format!("[[servers]]\nname = \"g{g}\"\n"));
    }
    for i in 0..mailboxes {
        toml.push_str(&format!(
            "[[users]]\nsmtp = \"u{i}@load.test\"\nserver = \"g{}\"\n",
            i / GROUP
        ));
    }
    toml.push_str("[[service_accounts]]\nname = \"svc\"\nupn = \"svc@load.test\"\npassword = \"load\"\nrights = [\"ApplicationImpersonation\"]\n");
    let path = std::env::temp_dir().join(format!("sim-load-{}.toml", std::process::id()));
    std::fs::write(&path, toml).expect("scenario written");
    path
}

fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
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

async fn drive(mailboxes: usize, mails: u64, rate: u64) {
    let started = Instant::now();
    let path = scenario_file(mailboxes);
    let exe = std::env::current_exe().expect("own path");
    let mut child = Command::new(exe)
        .arg("--serve")
        .arg(&path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("child starts");
    let pid = child.id();
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("ports");
    let mut ports = line
        .split_whitespace()
        .map(|p| p.parse::<u16>().expect("port"));
    let (https, http) = (ports.next().expect("https"), ports.next().expect("http"));
    let mut ca = String::new();
    out.read_line(&mut ca).expect("ca");
    let ca = ca.trim_end().replace('|', "\n");
    let _guard = ChildGuard(child);
    let boot = started.elapsed();
    let (rss_idle, _) = rss_kib(pid);
    eprintln!(
        "simulator up with {mailboxes} mailboxes in {boot:?}, RSS {} MiB",
        rss_idle / 1024
    );

    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca.as_bytes()).expect("ca")])
        .resolve("mail.load.test", ([127, 0, 0, 1], https).into())
        .http1_only()
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(120))
        .build()
        .expect("client");
    let url = format!("https://mail.load.test:{https}/EWS/Exchange.asmx");

    // Subscribe every mailbox, 64 at a time, impersonating it with affinity to its anchor.
    let subscribe_started = Instant::now();
    let request = Subscribe::streaming(vec![BaseFolderId::inbox()], vec![EventType::NewMail]);
    let ids: Vec<SubscriptionId> = futures_util::stream::iter(0..mailboxes)
        .map(|i| {
            let (client, url, request) = (client.clone(), url.clone(), request.clone());
            async move {
                let anchor = format!("u{}@load.test", i / GROUP * GROUP);
                let header = SoapHeader::request(ExchangeVersion::Exchange2013)
                    .impersonating(ConnectingSid::PrimarySmtpAddress(format!("u{i}@load.test")));
                let body = client
                    .post(&url)
                    .basic_auth("svc@load.test", Some("load"))
                    .header("X-AnchorMailbox", anchor)
                    .header("X-PreferServerAffinity", "true")
                    .body(write_envelope(&header, &request))
                    .send()
                    .await
                    .expect("subscribe answered")
                    .bytes()
                    .await
                    .expect("body");
                let message = read_envelope::<SubscribeResponse>(&body)
                    .expect("parses")
                    .body
                    .into_first()
                    .expect("message");
                message.subscription_id.expect("subscribed")
            }
        })
        .buffered(64)
        .collect()
        .await;
    let subscribe_time = subscribe_started.elapsed();
    let (rss_subscribed, _) = rss_kib(pid);
    eprintln!("{} subscriptions in {subscribe_time:?}", ids.len());

    // One stream per group of 200.
    let received = Arc::new(AtomicU64::new(0));
    let streams = ids.len().div_ceil(GROUP);
    let mut opened = Vec::new();
    for (g, chunk) in ids.chunks(GROUP).enumerate() {
        let anchor = format!("u{}@load.test", g * GROUP);
        let header = SoapHeader::request(ExchangeVersion::Exchange2013)
            .impersonating(ConnectingSid::PrimarySmtpAddress(anchor.clone()));
        let response = client
            .post(&url)
            .basic_auth("svc@load.test", Some("load"))
            .header("X-AnchorMailbox", anchor)
            .header("X-PreferServerAffinity", "true")
            .body(write_envelope(
                &header,
                &GetStreamingEvents::new(chunk.to_vec(), 30),
            ))
            .send()
            .await
            .expect("stream opens");
        let received = Arc::clone(&received);
        opened.push(tokio::spawn(async move {
            let mut response = response;
            let mut splitter = EnvelopeSplitter::new();
            while let Ok(Some(chunk)) = response.chunk().await {
                splitter.push(&chunk);
                while let Ok(Some(envelope)) = splitter.next_envelope() {
                    if let Ok(parsed) = read_envelope::<GetStreamingEventsResponse>(&envelope) {
                        let events: usize = parsed
                            .body
                            .messages
                            .iter()
                            .flat_map(|m| &m.notifications)
                            .map(|n| n.events.len())
                            .sum();
                        received.fetch_add(events as u64, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (rss_streaming, _) = rss_kib(pid);

    // Deliver mail at `rate` and count what arrives.
    let admin = reqwest::Client::new();
    admin
        .post(format!("http://127.0.0.1:{http}/_sim/load/deliver"))
        .json(&serde_json::json!({"count": mails, "per_second": rate}))
        .send()
        .await
        .expect("load started");
    let drive_started = Instant::now();
    let deadline = drive_started + Duration::from_secs(mails / rate.max(1) * 3 + 30);
    while received.load(Ordering::Relaxed) < mails && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let drive_time = drive_started.elapsed();
    let got = received.load(Ordering::Relaxed);
    let (rss_end, hwm) = rss_kib(pid);
    let summary = serde_json::json!({
        "mailboxes": mailboxes,
        "streaming_connections": streams,
        "subscribe_seconds": subscribe_time.as_secs_f64(),
        "subscribes_per_second": ids.len() as f64 / subscribe_time.as_secs_f64(),
        "mails": mails,
        "target_mails_per_second": rate,
        "events_received": got,
        "events_per_second": got as f64 / drive_time.as_secs_f64(),
        "sim_rss_mib": {
            "idle": rss_idle / 1024,
            "subscribed": rss_subscribed / 1024,
            "streaming": rss_streaming / 1024,
            "end": rss_end / 1024,
            "peak": hwm / 1024,
        },
    });
    println!("{summary}");
    let _ = std::fs::remove_file(path);
}
