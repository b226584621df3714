//! Load through the whole service: mailboxes with one phone each, mail delivered to
//! `exchange-sim` at a fixed rate, pushes counted where mock APNs receives them.
//!
//! ```text
//! cargo run --release --example service_load -- [MAILBOXES] [MAILS] [MAILS_PER_SECOND] [--graph] [--details]
//! cargo build --release -p bems-cli
//! cargo run --release --example service_load -- 100000 20000 1000 --process
//! ```
//!
//! Everything runs in this process on loopback: the simulator (Autodiscover, EWS streaming),
//! the service (registration API, watcher, pipeline, SQLite outbox, APNs sender) and mock
//! APNs. With `--graph` the tenant is a Microsoft 365 one on Microsoft Graph: the simulator's
//! Graph POSTs change notifications to the service's webhook over TLS. Each device registers
//! through the HTTP API with its user's token.
//!
//! With `--details` the tenant's alerts name the sender (`alerts.content = "sender"`), so the
//! service asks Exchange for the details of new mail (`GetItem` per mailbox and batch, or
//! Graph's message `GET`), with the tenant's budget at its highest (10,000 requests a second):
//! the summary's `details` says how many requests that took per mail, and the latency shows
//! what they cost; run once with and once without.
//!
//! With `--process` the service is the `bems` binary in a process of its own (`process.rs`),
//! its devices written to its store beforehand, and the summary gives its resident memory:
//! empty, while subscribing, steady with every mailbox watched, and per mailbox.
//!
//! Latency is measured from the moment a mail is delivered to the simulator to the moment mock
//! APNs receives the push that announces it. Progress goes to standard error; one JSON summary
//! to standard output.

mod measure;
mod process;
#[path = "../common/seed.rs"]
mod seed;

use std::time::{Duration, Instant};

use bems::settings::SubscriptionMode;
use bems_demo::{self as demo, TOPIC, World};

/// The allocator of the `bems` binary, so the service in this process runs as it does there
/// (and the simulator beside it with it).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    let graph = std::env::args().any(|a| a == "--graph");
    let details = std::env::args().any(|a| a == "--details");
    let own_process = std::env::args().any(|a| a == "--process");
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
    if own_process {
        runtime.block_on(process::run(mailboxes, mails, rate));
    } else {
        runtime.block_on(run(mailboxes, mails, rate, graph, details));
    }
}

async fn run(mailboxes: usize, mails: usize, rate: u64, graph: bool, details: bool) {
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
    if details {
        let alerts = &mut world.settings.tenants[0].alerts;
        alerts.content = bems::settings::AlertContent::Sender;
        alerts.details_per_second = 10_000;
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

    let measured = measure::drive(&world, &tokens, mails, rate, Duration::from_secs(90)).await;
    let metrics = &running.service.metrics;
    let peak = measure::proc_status_bytes("self", "VmHWM").unwrap_or(0);
    let mut summary = serde_json::json!({
            "through": if graph { "graph" } else { "ews-streaming" },
            "mailboxes": mailboxes,
            "registration_seconds": registration_time.as_secs_f64(),
            "subscribed_seconds": subscribed_after.as_secs_f64(),
            "event_to_push_ms_service": {
                "p50": metrics.event_to_push.quantile(0.5).map(|d| d.as_secs_f64() * 1e3),
                "p99": metrics.event_to_push.quantile(0.99).map(|d| d.as_secs_f64() * 1e3),
            },
            "peak_rss_mib": measure::mib(peak),
            "outbox_left": running.service.store.outbox_len().await.unwrap_or(0),
            "provider_answers": {
                "delivered": metrics.pushes_with("delivered"),
                "retry": metrics.pushes_with("retry"),
                "rejected": metrics.pushes_with("rejected"),
                "token_invalid": metrics.pushes_with("token_invalid"),
            },
            "graph_at_simulator": graph.then(|| world.sim.graph().stats()),
            "details": details.then(|| details_json(&running, &world, mails)),
            "graph_webhook": running
                .service
                .tenants()
                .find_map(|t| t.graph.as_ref().map(|g| g.watcher.counts())),
    });
    measure::merge(&mut summary, measured.json());
    println!("{summary}");
    running.stop().await;
}

/// What asking for the details of new mail took: the service's requests and how they ended,
/// and the reads the simulator answered, per mail.
fn details_json(
    running: &bems::service::server::Running,
    world: &World,
    mails: usize,
) -> serde_json::Value {
    use std::sync::atomic::Ordering::Relaxed;
    let sim = world.sim.stats();
    let graph = world.sim.graph().stats();
    let reads = sim.item_reads + graph.message_reads;
    let counts = running
        .service
        .tenants()
        .filter_map(|t| t.alerting.details().map(|d| &d.counts))
        .map(|c| {
            serde_json::json!({
                "requests": c.requests.load(Relaxed),
                "items": c.items.load(Relaxed),
                "failed": c.failed.load(Relaxed),
                "timed_out": c.timed_out.load(Relaxed),
                "over_budget": c.over_budget.load(Relaxed),
            })
        })
        .collect::<Vec<_>>();
    serde_json::json!({
        "service": counts,
        "ews_get_item_requests": sim.item_reads,
        "ews_items_read": sim.items_read,
        "graph_message_reads": graph.message_reads,
        "extra_requests_per_mail": reads as f64 / mails.max(1) as f64,
    })
}
