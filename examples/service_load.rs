//! Load through the whole service: mailboxes with one phone each, mail delivered to
//! `exchange-sim` at a fixed rate, pushes counted where mock APNs receives them.
//!
//! ```text
//! cargo run --release --example service_load -- [MAILBOXES] [MAILS] [MAILS_PER_SECOND] [--graph]
//! ```
//!
//! Everything runs in this process on loopback: the simulator (Autodiscover, EWS streaming),
//! the service (registration API, watcher, pipeline, SQLite outbox, APNs sender) and mock
//! APNs. With `--graph` the tenant is a Microsoft 365 one on Microsoft Graph: the simulator's
//! Graph POSTs change notifications to the service's webhook over TLS. Each device registers through the HTTP API with its user's token. Latency is measured
//! from the moment a mail is delivered to the simulator to the moment mock APNs receives the
//! push that announces it. Progress goes to standard error; one JSON summary to standard
//! output.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use bems::settings::SubscriptionMode;
use bems_demo::{self as demo, TOPIC, World};

fn main() {
    let graph = std::env::args().any(|a| a == "--graph");
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let mailboxes = args.first().copied().unwrap_or(2_000) as usize;
    let mails = args.get(1).copied().unwrap_or(20_000) as usize;
    let rate = args.get(2).copied().unwrap_or(2_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(mailboxes, mails, rate, graph));
}

async fn run(mailboxes: usize, mails: usize, rate: u64, graph: bool) {
    let started = Instant::now();
    let mut world = World::with_scenario(
        demo::scenario_with_users(mailboxes).expect("scenario"),
        SubscriptionMode::Streaming,
        None,
        false,
    )
    .await
    .expect("world");
    if graph {
        world.use_graph(true).expect("Microsoft 365 on Graph");
    }
    let running = bems::service::server::start(&world.settings, &world.overrides)
        .await
        .expect("service");
    let (base, http) = if graph {
        let base = format!("https://localhost:{}", running.addr.port());
        (base, world.https_client().expect("client"))
    } else {
        (format!("http://{}", running.addr), reqwest::Client::new())
    };
    eprintln!("world and service up in {:.1?}", started.elapsed());

    // Register one phone per mailbox through the API, 32 at a time.
    let registering = Instant::now();
    let tokens: Vec<(String, String)> = (0..mailboxes)
        .map(|i| (format!("u{i}@contoso.com"), format!("{:064x}", i + 1)))
        .collect();
    let bearers: Vec<String> = tokens
        .iter()
        .map(|(mailbox, _)| world.user_token(mailbox).expect("user token"))
        .collect();
    use futures_util::StreamExt as _;
    let failures = futures_util::stream::iter(tokens.iter().zip(&bearers))
        .map(|((mailbox, token), bearer)| {
            let (http, base) = (&http, &base);
            async move {
                demo::register(http, base, bearer, mailbox, "apns", token, TOPIC)
                    .await
                    .map(|(status, _)| status)
            }
        })
        .buffer_unordered(32)
        .filter(|status| std::future::ready(!matches!(status, Ok(201))))
        .count()
        .await;
    assert_eq!(failures, 0, "registrations failed");
    let registration_time = registering.elapsed();
    eprintln!("{mailboxes} devices registered in {registration_time:.1?}");
    loop {
        let status = running.service.status().await;
        let subscribed: usize = status
            .iter()
            .map(|t| t.subscriptions.subscribed + t.graph.as_ref().map_or(0, |g| g.subscribed))
            .sum();
        if subscribed == mailboxes {
            break;
        }
        eprintln!("  {subscribed} of {mailboxes} subscribed");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let subscribed_after = registering.elapsed();
    eprintln!("all subscribed {subscribed_after:.1?} after the first registration");

    // Deliver mail at `rate`, round-robin, remembering when each mailbox got each mail.
    let by_token: HashMap<String, usize> = tokens
        .iter()
        .enumerate()
        .map(|(i, (_, token))| (token.clone(), i))
        .collect();
    let mut delivered: Vec<VecDeque<Instant>> = vec![VecDeque::new(); mailboxes];
    let before = world.apns.received_len();
    let driving = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    for n in 0..mails {
        let due = driving + interval * n as u32;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
        let i = n % mailboxes;
        world
            .sim
            .deliver_mail(&tokens[i].0, "load", "load@contoso.com")
            .expect("delivered");
        delivered[i].push_back(Instant::now());
        if n % (rate as usize).max(1) == 0 && n > 0 {
            eprintln!(
                "  {n} mails delivered, {} pushes",
                world.apns.received_len() - before
            );
        }
    }
    let drive_time = driving.elapsed();
    // Wait for every mail to be announced.
    // (Each push is read once: copying every push received at each look would take the CPU
    // being measured.)
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut queues = delivered;
    let mut latencies = Vec::new();
    let mut announced = 0usize;
    let mut last = driving;
    let mut read = before;
    loop {
        let received = world.apns.received_since(read);
        read += received.len();
        for push in received.iter().filter(|p| p.status == 200) {
            last = last.max(push.at);
            let Some(&i) = by_token.get(&push.token) else {
                continue;
            };
            let body = push.payload["aps"]["alert"]["body"]
                .as_str()
                .unwrap_or_default();
            let count = body
                .split_whitespace()
                .find_map(|w| w.parse::<usize>().ok())
                .unwrap_or(1);
            for _ in 0..count {
                if let Some(at) = queues[i].pop_front() {
                    latencies.push(push.at.saturating_duration_since(at));
                    announced += 1;
                }
            }
        }
        if announced >= mails || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // From the first mail to the last push.
    let total = last.saturating_duration_since(driving);
    let mut sorted = latencies;
    sorted.sort();
    let pick = |q: f64| {
        sorted
            .get(((sorted.len() as f64 * q).ceil() as usize).saturating_sub(1))
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    let pushes = world.apns.received_len() - before;
    let metrics = &running.service.metrics;
    let rss = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:").map(|v| v.trim().to_owned()))
        .unwrap_or_default();
    println!(
        "{}",
        serde_json::json!({
            "through": if graph { "graph" } else { "ews-streaming" },
            "mailboxes": mailboxes,
            "registration_seconds": registration_time.as_secs_f64(),
            "subscribed_seconds": subscribed_after.as_secs_f64(),
            "mails": mails,
            "target_mails_per_second": rate,
            "drive_seconds": drive_time.as_secs_f64(),
            "mails_announced": announced,
            "pushes": pushes,
            "events_per_second": announced as f64 / total.as_secs_f64(),
            "mail_to_push_ms": {"p50": pick(0.50), "p99": pick(0.99), "max": pick(1.0)},
            "event_to_push_ms_service": {
                "p50": metrics.event_to_push.quantile(0.5).map(|d| d.as_secs_f64() * 1e3),
                "p99": metrics.event_to_push.quantile(0.99).map(|d| d.as_secs_f64() * 1e3),
            },
            "peak_rss": rss,
            "wait_after_driving_seconds": (driving.elapsed() - drive_time).as_secs_f64(),
            "outbox_left": running.service.store.outbox_len().await.unwrap_or(0),
            "provider_answers": {
                "delivered": metrics.pushes_with("delivered"),
                "retry": metrics.pushes_with("retry"),
                "rejected": metrics.pushes_with("rejected"),
                "token_invalid": metrics.pushes_with("token_invalid"),
            },
            "non_200_at_mock": world.apns.received_since(before).iter().filter(|p| p.status != 200).count(),
            "graph_at_simulator": graph.then(|| world.sim.graph().stats()),
            "graph_webhook": running
                .service
                .tenants()
                .find_map(|t| t.graph.as_ref().map(|g| g.watcher.counts())),
        })
    );
    running.stop().await;
}
