//! Load on a cluster: N nodes on one PostgreSQL database share M mailboxes of the simulator
//! (streaming subscriptions, one Android phone each), mail arrives at a rate, then one node is
//! killed (its runtime dropped mid-flight: nothing drained, nothing released, as `kill -9`
//! leaves it) and one joins. Prints, as JSON: the time until every mailbox was watched at
//! start, the mails and pushes per second, the failover time (from the kill to every mailbox
//! watched again), the hand-over time when a node joins, and duplicates (a phone told of more
//! mail than it got, or a badge that did not rise).
//!
//! ```text
//! eval "$(scripts/postgres/start.sh)"
//! cargo run --release --example cluster_load -- [nodes=3] [mailboxes=30000] [mails=30000] [rate=1000]
//! ```
//!
//! Each node is a whole service (its own runtime, store pool, watchers, courier and API), as a
//! process of its own would be; the simulator and mock FCM run in the example's runtime. The
//! devices and mailboxes are written to the store before the nodes start (the API path of a
//! registration is `service_load`'s subject), so each node finds its share by Autodiscover.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bems::service::server::{self, Running};
use bems::settings::{ServiceSettings, SubscriptionMode};
use bems::store::PostgresStore;
use bems::store::model::Platform;
use bems_demo::{self as demo, World};

#[path = "common/seed.rs"]
mod seed;

/// The lease: how long a killed node's mailboxes wait for the others.
const LEASE_SECONDS: u32 = 6;

fn address(i: usize) -> String {
    demo::user_address(i)
}

fn token(i: usize) -> String {
    format!("fcm-load-token-{i:06}")
}

/// One node: a service in a runtime of its own.
struct Node {
    name: String,
    runtime: Option<tokio::runtime::Runtime>,
    running: Option<Running>,
}

impl Node {
    fn start(world: &World, database: &str, name: &str) -> Self {
        let mut settings: ServiceSettings = world.settings.clone();
        settings.server.listen = "127.0.0.1:0".parse().expect("address");
        settings.store.url = Some(database.into());
        settings.cluster.node = Some(name.to_owned());
        settings.cluster.capacity = 1_000_000;
        settings.cluster.lease_seconds = LEASE_SECONDS;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let running = runtime
            .block_on(server::start(&settings, &world.overrides))
            .expect("node starts");
        Self {
            name: name.to_owned(),
            runtime: Some(runtime),
            running: Some(running),
        }
    }

    /// Mailboxes subscribed here.
    fn subscribed(&self) -> usize {
        self.running.as_ref().map_or(0, |running| {
            running
                .service
                .tenants()
                .map(|t| t.watcher.status().subscribed)
                .sum()
        })
    }

    /// Mailboxes whose lease it holds.
    fn held(&self) -> usize {
        self.running
            .as_ref()
            .map_or(0, |running| running.service.node.held())
    }

    /// Drops the runtime mid-flight: no unsubscribe, no lease released, nothing drained.
    fn kill(&mut self) {
        self.running = None;
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Waits until `check` holds (at most `limit`); how long it took, or None.
async fn until(limit: Duration, mut check: impl FnMut() -> bool) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if check() {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

fn seconds(d: Option<Duration>) -> serde_json::Value {
    d.map_or(serde_json::Value::Null, |d| {
        serde_json::json!((d.as_secs_f64() * 10.0).round() / 10.0)
    })
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let nodes = args.first().copied().unwrap_or(3).max(2);
    let mailboxes = args.get(1).copied().unwrap_or(30_000);
    let mails = args.get(2).copied().unwrap_or(30_000);
    let rate = args.get(3).copied().unwrap_or(1_000).max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (database, scratch) = runtime
        .block_on(bems::store::conformance::scratch::scratch("cluster_load"))
        .expect("BEMS_POSTGRES_URL names a PostgreSQL server (scripts/postgres/start.sh)");
    let world = runtime
        .block_on(World::with_scenario(
            demo::scenario_with_users(mailboxes).expect("scenario"),
            SubscriptionMode::Streaming,
            None,
            false,
        ))
        .expect("world");
    let started = Instant::now();
    let devices: Vec<(String, String)> = (0..mailboxes).map(|i| (address(i), token(i))).collect();
    runtime.block_on(async {
        let store = PostgresStore::connect(&database, seed::store_key(&world))
            .await
            .expect("store");
        seed::seed(Arc::new(store), &devices, Platform::Fcm, "com.contoso.mail").await;
    });
    eprintln!(
        "{mailboxes} devices and mailboxes stored in {:.1?}",
        started.elapsed()
    );

    let starting = Instant::now();
    let mut cluster: Vec<Node> = (0..nodes)
        .map(|i| Node::start(&world, &database, &format!("node-{i}")))
        .collect();
    let all_watched = runtime
        .block_on(until(Duration::from_secs(600), || {
            let subscribed: usize = cluster.iter().map(Node::subscribed).sum();
            subscribed == mailboxes
        }))
        .map(|_| starting.elapsed());
    let shares: Vec<usize> = cluster.iter().map(Node::held).collect();
    eprintln!("all watched after {all_watched:.1?}: {shares:?}");

    // Mail at `rate`, round robin.
    let driving = Instant::now();
    let before = world.fcm.received().len();
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let mut delivered = vec![0u64; mailboxes];
    runtime.block_on(async {
        for n in 0..mails {
            let due = driving + interval * u32::try_from(n).unwrap_or(u32::MAX);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                tokio::time::sleep(wait).await;
            }
            let i = n % mailboxes;
            world
                .sim
                .deliver_mail(&address(i), "load", "load@contoso.com")
                .expect("delivered");
            delivered[i] += 1;
        }
    });
    let announced = |world: &World| {
        demo::fcm_phones(&world.fcm)
            .values()
            .map(|p| p.mails)
            .sum::<u64>()
    };
    let all_announced = runtime.block_on(until(Duration::from_secs(300), || {
        announced(&world) >= mails as u64
    }));
    let steady = driving.elapsed();
    let pushes = world.fcm.received().len() - before;

    // Kill one node: the others take its mailboxes when its leases run out.
    let killed_held = cluster[0].held();
    let kill = Instant::now();
    cluster[0].kill();
    let failover = runtime.block_on(until(Duration::from_secs(600), || {
        cluster.iter().map(Node::subscribed).sum::<usize>() == mailboxes
    }));
    let after_kill: Vec<usize> = cluster.iter().map(Node::held).collect();
    eprintln!(
        "{} killed holding {killed_held}; all watched again {:.1?} after the kill: {after_kill:?}",
        cluster[0].name,
        kill.elapsed()
    );

    // Mail during the next phase reaches the survivors; then a node joins and takes its share.
    runtime.block_on(async {
        for (n, count) in delivered.iter_mut().enumerate().take(1000) {
            world
                .sim
                .deliver_mail(&address(n), "after failover", "load@contoso.com")
                .expect("delivered");
            *count += 1;
        }
    });
    let joining = Instant::now();
    cluster.push(Node::start(&world, &database, &format!("node-{nodes}")));
    let share = mailboxes.div_ceil(nodes);
    let handed_over = runtime.block_on(until(Duration::from_secs(600), || {
        let joined = cluster.last().map_or(0, Node::subscribed);
        let total: usize = cluster.iter().map(Node::subscribed).sum();
        joined + joined / 50 + 1 >= share && total == mailboxes
    }));
    let after_join: Vec<usize> = cluster.iter().map(Node::held).collect();
    eprintln!("joined: {after_join:?} after {:.1?}", joining.elapsed());
    let expected: u64 = delivered.iter().sum();
    let settled = runtime.block_on(until(Duration::from_secs(300), || {
        announced(&world) >= expected
    }));
    // Late duplicates would come within a lease of a claim running out.
    runtime.block_on(async {
        tokio::time::sleep(Duration::from_secs(u64::from(LEASE_SECONDS) + 2)).await;
    });
    let phones = demo::fcm_phones(&world.fcm);
    let duplicates = (0..mailboxes)
        .filter(|&i| {
            phones.get(&token(i)).is_some_and(|phone| {
                phone.mails > delivered[i] || phone.badges.windows(2).any(|w| w[0] >= w[1])
            })
        })
        .count();
    let missing = (0..mailboxes)
        .filter(|&i| phones.get(&token(i)).map_or(0, |p| p.mails) < delivered[i])
        .count();
    let rss = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:").map(|v| v.trim().to_owned()))
        .unwrap_or_default();
    println!(
        "{}",
        serde_json::json!({
            "nodes": nodes,
            "mailboxes": mailboxes,
            "lease_seconds": LEASE_SECONDS,
            "all_watched_at_start_s": seconds(all_watched),
            "shares_at_start": shares,
            "mails": mails,
            "mails_per_second_offered": rate,
            "mails_per_second_announced": all_announced
                .map(|_| (mails as f64 / steady.as_secs_f64()).round()),
            "pushes": pushes,
            "failover_s": seconds(failover),
            "killed_node_held": killed_held,
            "shares_after_kill": after_kill,
            "handover_on_join_s": seconds(handed_over),
            "shares_after_join": after_join,
            "all_announced_after_join_s": seconds(settled),
            "mails_total": expected,
            "phones_missing_mail": missing,
            "duplicates": duplicates,
            "peak_rss": rss,
        })
    );
    for node in &mut cluster {
        node.kill();
    }
    drop(scratch);
}
