//! Load: as many APNs pushes as possible to an APNs-shaped HTTP/2 server, then a JSON summary
//! (pushes per second, connections, streams in flight, the sender's RSS).
//!
//! Against the mock APNs in its own process (see `push_mock`):
//!
//! ```text
//! cargo run --release -p push-delivery --example push_mock -- --out /tmp/apns-mock --port 8443 &
//! cargo run --release -p push-delivery --example push_load -- \
//!     --url https://127.0.0.1:8443 --ca /tmp/apns-mock/ca.pem --p8 /tmp/apns-mock/key.p8 --count 1000000
//! ```
//!
//! Against any other server (nghttpd): the same flags with its URL and CA; a server that does
//! not check tokens takes any `--p8` (one is generated when the flag is absent).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use push_delivery::{
    ApnsAuth, ApnsConfig, ApnsEndpoint, ApnsSender, DeviceToken, Notification, Outcome, Push,
    PushSender,
};

/// The allocator of the `bems` binary, so the sender is measured as the service runs it.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// APNs load generator.
#[derive(Debug, Parser)]
struct Args {
    /// The server's origin.
    #[arg(long)]
    url: String,
    /// A CA (PEM) to trust.
    #[arg(long)]
    ca: PathBuf,
    /// The .p8 key (generated when absent: for servers that do not check tokens).
    #[arg(long)]
    p8: Option<PathBuf>,
    /// Team id.
    #[arg(long, default_value = "TEAM123456")]
    team_id: String,
    /// Key id.
    #[arg(long, default_value = "KEY1234567")]
    key_id: String,
    /// Topic.
    #[arg(long, default_value = "com.example.mail")]
    topic: String,
    /// The device token every push goes to (64 hex digits).
    #[arg(
        long,
        default_value = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
    )]
    token: String,
    /// Pushes to send.
    #[arg(long, default_value_t = 1_000_000)]
    count: u64,
    /// Pushes in flight at once (tasks).
    #[arg(long, default_value_t = 2000)]
    concurrency: usize,
    /// HTTP/2 connections.
    #[arg(long, default_value_t = 2)]
    connections: usize,
    /// Streams per connection at most.
    #[arg(long, default_value_t = 1000)]
    streams: usize,
    /// Runtime worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// Pushes sent first and not measured.
    #[arg(long, default_value_t = 20_000)]
    warmup: u64,
}

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = args.threads {
        runtime.worker_threads(threads);
    }
    runtime.enable_all().build()?.block_on(run(args))
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let p8 = match &args.p8 {
        Some(path) => std::fs::read_to_string(path)?,
        None => rcgen::KeyPair::generate()?.serialize_pem(),
    };
    let mut config = ApnsConfig::new(
        ApnsAuth::token(&args.team_id, &args.key_id, p8),
        &args.topic,
    );
    config.endpoint = ApnsEndpoint::Url(args.url.clone());
    config.extra_ca_pem = vec![std::fs::read_to_string(&args.ca)?];
    config.trust_system_roots = false;
    config.connections = args.connections;
    config.max_streams_per_connection = args.streams;
    let sender = Arc::new(ApnsSender::new(config)?);
    let token = DeviceToken::apns(&args.token)?;
    let notification = Notification::alert("New mail", "From: Mara Whitley")
        .badge(1)
        .collapse_id("mailbox-1");

    let warm = blast(
        &sender,
        &token,
        &notification,
        args.warmup,
        args.concurrency,
    )
    .await;
    let rss_before = rss_kib("VmRSS:");
    let started = Instant::now();
    let counts = blast(&sender, &token, &notification, args.count, args.concurrency).await;
    let elapsed = started.elapsed();
    let stats = sender.stats();
    let summary = serde_json::json!({
        "url": args.url,
        "pushes": args.count,
        "seconds": elapsed.as_secs_f64(),
        "pushes_per_second": (args.count as f64 / elapsed.as_secs_f64()).round(),
        "outcomes": {
            "delivered": counts[0], "token_invalid": counts[1], "retry": counts[2], "rejected": counts[3],
        },
        "warmup_delivered": warm[0],
        "connections_open": stats.connections_open,
        "connections_opened": stats.connections_opened,
        "max_streams_in_flight": stats.max_streams_in_flight,
        "server_max_streams": stats.server_max_streams,
        "concurrency": args.concurrency,
        "rss_mib": rss_kib("VmRSS:") as f64 / 1024.0,
        "rss_before_mib": rss_before as f64 / 1024.0,
        "peak_rss_mib": rss_kib("VmHWM:") as f64 / 1024.0,
    });
    println!("{summary:#}");
    Ok(())
}

/// Sends `count` pushes with `concurrency` tasks; counts per outcome kind.
async fn blast(
    sender: &Arc<ApnsSender>,
    token: &DeviceToken,
    notification: &Notification,
    count: u64,
    concurrency: usize,
) -> [u64; 4] {
    let left = Arc::new(AtomicI64::new(count as i64));
    let counts: Arc<[AtomicU64; 4]> = Arc::new(Default::default());
    let mut tasks = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let sender = Arc::clone(sender);
        let token = token.clone();
        let notification = notification.clone();
        let left = Arc::clone(&left);
        let counts = Arc::clone(&counts);
        tasks.push(tokio::spawn(async move {
            while left.fetch_sub(1, Ordering::Relaxed) > 0 {
                let push = Push::new(token.clone(), notification.clone());
                let slot = match sender.send(&push).await {
                    Outcome::Delivered { .. } => 0,
                    Outcome::TokenInvalid { .. } => 1,
                    Outcome::Retry { reason, .. } => {
                        if counts[2].load(Ordering::Relaxed) == 0 {
                            eprintln!("retry: {reason}");
                        }
                        2
                    }
                    other => {
                        if counts[3].load(Ordering::Relaxed) == 0 {
                            eprintln!("rejected: {other:?}");
                        }
                        3
                    }
                };
                counts[slot].fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(600), task).await;
    }
    [0, 1, 2, 3].map(|i| counts[i].load(Ordering::Relaxed))
}
