//! Three `bems serve` processes on one PostgreSQL database, killed with `kill -9` in turn
//! while mail keeps arriving in a few hundred mailboxes of the simulator: every mail is
//! announced, no push is sent twice, and each phone's last badge is its inbox's unread count.
//! Every other node killed comes back after a second, under its name (it takes back what its
//! last run held at once); the others stay down for longer than a lease, so the survivors take
//! their mailboxes when the leases run out (asserted: all watched again while it is down), and
//! the node is handed its share back when it returns.
//!
//! The simulator, mock FCM and the identity platform run in this test's process; the nodes
//! are the real `bems` binary with a settings file of its own (no test overrides: they find
//! the simulator by their settings alone, [`World::process_toml`]) and reach PostgreSQL over
//! TLS (`sslmode=require`, the test cluster's CA in `[store] ca_file`). The devices register
//! through the nodes' API, each with whichever node is next. Run with pull subscriptions, which
//! resume from their watermarks (a node that takes a dead node's mailbox replays what it
//! missed), and with streaming subscriptions, which cannot resume (the node that takes the
//! mailbox compares its unread count with the one saved with the last pushes, and announces
//! the difference).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bems_demo::{self as demo, ADMIN_TOKEN, STORE_KEY, World};
use bems_settings::SubscriptionMode;
use exchange_sim::Scenario;

const NODES: usize = 3;
const MAILBOXES: usize = 200;
/// How long mail is delivered and nodes are killed.
const RUN: Duration = Duration::from_secs(40);
/// A node is killed this long after the last one came back (each node in turn).
const KILL_EVERY: Duration = Duration::from_secs(4);
/// How long a node killed stays down: a short stay, and one past its leases.
const DOWN: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(9)];
/// Mails delivered per second, to mailboxes in turn.
const MAILS_PER_SECOND: u64 = 20;
/// The nodes' lease: how long a dead node's mailboxes wait for the others.
const LEASE_SECONDS: u32 = 3;
const APP: &str = "com.contoso.mail";

/// `MAILBOXES` users whose EWS hosts are `localhost`.
fn scenario() -> Scenario {
    let mut scenario = demo::scenario_with_users(MAILBOXES).expect("scenario");
    for domain in &mut scenario.domains {
        domain.external_ews_host = "localhost".into();
        domain.internal_ews_host = "localhost".into();
    }
    scenario
}

fn address(i: usize) -> String {
    demo::user_address(i)
}

fn token(i: usize) -> String {
    format!("fcm-registration-token-{i:04}-0123456789abcdefghijklmnopqrstuvwxyz")
}

/// The scratch database as the nodes reach it: over TLS, trusting the test cluster's CA
/// (`BEMS_POSTGRES_CA`, which scripts/postgres/start.sh prints).
struct Database {
    url: String,
    ca_file: String,
}

fn over_tls(url: &str) -> Database {
    let ca_file = std::env::var("BEMS_POSTGRES_CA").unwrap_or_else(|_| {
        panic!("BEMS_POSTGRES_CA names the test PostgreSQL's CA: run eval \"$(scripts/postgres/start.sh)\"")
    });
    let base = url.split_once('?').map_or(url, |(base, _)| base);
    Database {
        url: format!("{base}?sslmode=require"),
        ca_file,
    }
}

/// One `bems serve` process.
struct NodeProcess {
    name: String,
    port: u16,
    child: Option<Child>,
    log: PathBuf,
    starts: u32,
}

impl NodeProcess {
    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self, config: &Path, database: &Database) {
        self.starts += 1;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("node log");
        let child = Command::new(env!("CARGO_BIN_EXE_bems"))
            .args(["serve", "--config"])
            .arg(config)
            .env("BEMS_SERVER__LISTEN", format!("127.0.0.1:{}", self.port))
            .env("BEMS_SERVER__PUBLIC_URL", self.base())
            .env("BEMS_STORE__URL", &database.url)
            .env("BEMS_STORE__CA_FILE", &database.ca_file)
            .env("BEMS_STORE_KEY", STORE_KEY)
            .env("BEMS_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("BEMS_CLUSTER__NODE", &self.name)
            .env("BEMS_CLUSTER__LEASE_SECONDS", LEASE_SECONDS.to_string())
            .env("BEMS_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("bems serve starts");
        self.child = Some(child);
    }

    /// `kill -9`: nothing drained, nothing released.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

async fn admin_json(http: &reqwest::Client, url: String) -> Option<serde_json::Value> {
    let response = http.get(url).bearer_auth(ADMIN_TOKEN).send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.json().await.ok()
}

/// Waits (at most `limit`) until `check` holds; how long it took, or what was awaited and
/// the state last seen.
async fn until<F, Fut>(what: &str, limit: Duration, mut check: F) -> Result<Duration, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let started = Instant::now();
    loop {
        match check().await {
            Ok(()) => return Ok(started.elapsed()),
            Err(state) if started.elapsed() > limit => {
                return Err(format!("{what}: not within {limit:?}: {state}"));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Panics with `failure` and the end of every node's log.
fn fail(failure: &str, nodes: &[NodeProcess]) -> ! {
    for node in nodes {
        eprintln!(
            "--- {} (started {} times) ---\n{}",
            node.name,
            node.starts,
            node.tail()
        );
    }
    panic!("{failure}");
}

/// Mailboxes subscribed on every node that answers, by node.
async fn subscribed(http: &reqwest::Client, nodes: &[NodeProcess]) -> Vec<u64> {
    let mut out = Vec::new();
    for node in nodes {
        let status = admin_json(http, format!("{}/admin/status", node.base())).await;
        out.push(status.map_or(0, |s| {
            s["tenants"][0]["subscriptions"]["subscribed"]
                .as_u64()
                .unwrap_or(0)
        }));
    }
    out
}

#[test]
fn three_nodes_killed_in_turn_announce_every_mail_once_on_pull_subscriptions() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(cluster(SubscriptionMode::Pull));
}

#[test]
fn three_nodes_killed_in_turn_announce_every_mail_once_on_streaming_subscriptions() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(cluster(SubscriptionMode::Streaming));
}

async fn cluster(mode: SubscriptionMode) {
    let Some((url, _scratch)) = bems_store::conformance::scratch::scratch("cluster").await else {
        return;
    };
    let database = over_tls(&url);
    let world = World::with_scenario(scenario(), mode, None, false)
        .await
        .expect("the simulator and the mocks");
    let config = world.dir.path().join("bems.toml");
    std::fs::write(&config, world.process_toml().expect("settings")).expect("settings file");
    let mut nodes: Vec<NodeProcess> = (0..NODES)
        .map(|i| NodeProcess {
            name: format!("node-{i}"),
            port: free_port(),
            child: None,
            log: world.dir.path().join(format!("node-{i}.log")),
            starts: 0,
        })
        .collect();
    for node in &mut nodes {
        node.spawn(&config, &database);
    }
    let http = reqwest::Client::new();
    for node in &nodes {
        let ready = format!("{}/readyz", node.base());
        until(
            &format!("{} ready", node.name),
            Duration::from_secs(60),
            || {
                let (http, ready) = (&http, ready.clone());
                async move {
                    match http.get(ready).send().await {
                        Ok(r) if r.status().is_success() => Ok(()),
                        other => Err(format!("{other:?}")),
                    }
                }
            },
        )
        .await
        .unwrap_or_else(|failure| fail(&failure, &nodes));
    }

    // Every phone registers with the next node: any node takes a registration.
    for i in 0..MAILBOXES {
        let bearer = world.user_token(&address(i)).expect("user token");
        let base = nodes[i % NODES].base();
        let (status, body) =
            demo::register(&http, &base, &bearer, &address(i), "fcm", &token(i), APP)
                .await
                .expect("the API answers");
        assert_eq!(status, 201, "registration {i} on {base}: {body}");
    }
    let shared = until("every mailbox watched", Duration::from_secs(60), || {
        let (http, nodes) = (&http, &nodes);
        async move {
            let counts = subscribed(http, nodes).await;
            let all = counts.iter().sum::<u64>() as usize == MAILBOXES;
            let each = counts.iter().all(|&n| n > 0);
            if all && each {
                Ok(())
            } else {
                Err(format!("{counts:?}"))
            }
        }
    })
    .await
    .unwrap_or_else(|failure| fail(&failure, &nodes));
    eprintln!("{MAILBOXES} mailboxes watched by {NODES} nodes after {shared:.1?}");

    // Mail arrives throughout; a node is killed every few seconds and comes back later.
    let mut delivered = vec![0u64; MAILBOXES];
    let started = Instant::now();
    let mut next_kill = started + KILL_EVERY;
    let mut next_look = started;
    // The node down, when it was killed, for how long, and when the others watched all.
    let mut killed: Option<(usize, Instant, Duration, Option<Duration>)> = None;
    let mut takeovers = Vec::new();
    let mut events: Vec<String> = Vec::new();
    let mut kill_times: Vec<Duration> = Vec::new();
    let mut kills = 0;
    let mut n = 0usize;
    let gap = Duration::from_millis(1000 / MAILS_PER_SECOND);
    while started.elapsed() < RUN {
        let i = n % MAILBOXES;
        world
            .sim
            .deliver_mail(&address(i), &format!("mail {n}"), "x@contoso.com")
            .expect("delivered");
        delivered[i] += 1;
        n += 1;
        let now = Instant::now();
        if let Some((index, at, down, ref mut all_watched)) = killed {
            if down > DOWN[0] && all_watched.is_none() && now >= next_look {
                next_look = now + Duration::from_millis(250);
                if subscribed(&http, &nodes).await.iter().sum::<u64>() as usize == MAILBOXES {
                    *all_watched = Some(at.elapsed());
                }
            }
            if now >= at + down {
                if down > DOWN[0] {
                    takeovers.push((nodes[index].name.clone(), *all_watched));
                }
                nodes[index].spawn(&config, &database);
                events.push(format!(
                    "{:.1?} {} started",
                    started.elapsed(),
                    nodes[index].name
                ));
                killed = None;
                next_kill = now + KILL_EVERY;
            }
        } else if now >= next_kill {
            let index = kills % NODES;
            nodes[index].kill();
            kill_times.push(started.elapsed());
            events.push(format!(
                "{:.1?} {} killed",
                started.elapsed(),
                nodes[index].name
            ));
            killed = Some((index, now, DOWN[kills % 2], None));
            kills += 1;
        }
        tokio::time::sleep(gap).await;
    }
    if let Some((index, ..)) = killed {
        nodes[index].spawn(&config, &database);
    }
    eprintln!(
        "{n} mails to {MAILBOXES} mailboxes in {RUN:?}, {kills} nodes killed; \
         the survivors watched every mailbox again after (from the kill): {takeovers:?}"
    );
    assert!(!takeovers.is_empty(), "a node stayed down past its leases");
    for (node, all_watched) in &takeovers {
        if all_watched.is_none() {
            fail(
                &format!(
                    "{node} stayed down {:?}, past its {LEASE_SECONDS} s leases, and the others did not take all of its mailboxes",
                    DOWN[1]
                ),
                &nodes,
            );
        }
    }

    let settled = until("every mail announced", Duration::from_secs(90), || {
        let world = &world;
        let delivered = &delivered;
        async move {
            let phones = demo::fcm_phones(&world.fcm);
            let short: Vec<String> = (0..MAILBOXES)
                .filter(|&i| phones.get(&token(i)).map_or(0, |p| p.mails) < delivered[i])
                .map(address)
                .collect();
            if short.is_empty() {
                Ok(())
            } else {
                Err(format!("{} short: {short:?}", short.len()))
            }
        }
    })
    .await
    .unwrap_or_else(|failure| fail(&failure, &nodes));
    eprintln!("every mail announced {settled:.1?} after the last one");
    // Late duplicates would come within a lease of a claim running out.
    tokio::time::sleep(Duration::from_secs(u64::from(LEASE_SECONDS) + 2)).await;

    // Every node sees the cluster: three alive, holding every mailbox between them.
    let view = admin_json(&http, format!("{}/admin/cluster", nodes[0].base()))
        .await
        .unwrap_or_else(|| fail("no cluster view", &nodes));
    let alive: Vec<&serde_json::Value> = view["nodes"]
        .as_array()
        .map(|all| all.iter().filter(|n| n["alive"] == true).collect())
        .unwrap_or_default();
    let held: u64 = alive.iter().filter_map(|n| n["mailboxes"].as_u64()).sum();
    if alive.len() != NODES || held != MAILBOXES as u64 || view["mailboxes"] != MAILBOXES {
        fail(&format!("the cluster view: {view:#}"), &nodes);
    }

    let phones = demo::fcm_phones(&world.fcm);
    // A repeat: a push whose badge did not rise (the phone shows one notification: they share
    // a collapse id). A badge that fell back never passes.
    // - Pull subscriptions resume exactly: the only repeat is a push the provider accepted
    //   just before its node was killed, which the node could not mark sent (no provider
    //   takes an idempotency key: at least once is the best there is). Each repeat's first
    //   copy must have arrived within a second before a kill.
    // - A streaming subscription made afresh is reconciled by the unread count, which also
    //   counts a mail arriving between the subscription and the count: its event announces it
    //   again. Counted and reported.
    let mut repeats = Vec::new();
    for i in 0..MAILBOXES {
        let phone = &phones[&token(i)];
        let unread = world.sim.unread_count(&address(i)).expect("unread") as u64;
        assert_eq!(
            phone.badges.last().copied(),
            Some(unread),
            "{}: the last badge is the unread count",
            address(i)
        );
        if phone.badges.windows(2).any(|w| w[0] > w[1]) {
            fail(
                &format!("{}: a badge fell back: {:?}", address(i), phone.badges),
                &nodes,
            );
        }
        let repeated = phone.badges.windows(2).filter(|w| w[0] == w[1]).count() as u64;
        if repeated > 0 || phone.mails != delivered[i] + repeated {
            repeats.push((
                address(i),
                delivered[i],
                phone.mails,
                phone.badges.clone(),
                phone
                    .at
                    .iter()
                    .map(|at| at.saturating_duration_since(started))
                    .collect::<Vec<_>>(),
            ));
        }
    }
    let restarts: u32 = nodes.iter().map(|n| n.starts - 1).sum();
    eprintln!(
        "{mode:?}: {} pushes for {n} mails; {} mailboxes with a repeated push; {restarts} restarts; kills: {events:?}",
        world.fcm.received().len(),
        repeats.len()
    );
    let unexplained: Vec<_> = repeats
        .iter()
        .filter(|(_, _, _, badges, at)| {
            (1..badges.len()).any(|k| {
                badges[k] == badges[k - 1]
                    && !kill_times.iter().any(|kill| {
                        at[k - 1] <= *kill && *kill <= at[k - 1] + Duration::from_secs(1)
                    })
            })
        })
        .collect();
    if mode != SubscriptionMode::Streaming && !unexplained.is_empty() {
        fail(
            &format!(
                "pushes sent twice, not in flight at a kill (mailbox, delivered, announced, \
                 badges, arrivals): {unexplained:?}\nkills: {events:?}"
            ),
            &nodes,
        );
    }
}
