//! Parallel probing changes how long discovery takes, never which answer wins (issue 14,
//! item 11): a higher-precedence candidate that answers *later* still wins, and a
//! lower-precedence one is used only when every higher one failed.
//!
//! "Later" is made certain, not hoped for: the slow candidate's host sits behind a [`Gate`],
//! a TCP front on its own loopback address that holds each connection until the simulator has
//! seen the faster candidate's request, then a little longer, before it forwards anything.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use autodiscover::{Discovery, Method, Outcome};
use exchange_sim::Sim;
use exchange_sim::scenario::{HostBehaviour, Scenario, SrvEntry};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use url::Url;

use crate::support::{self, hosts_asked, locator, settings};

const MARA: &str = "mara@contoso.com";
/// Priority 0: the host RFC 2782 says to use.
const FIRST: &str = "ad-primary.contoso.com";
/// Priority 10: the backup, of the same domain.
const BACKUP: &str = "ad-backup.contoso.com";
/// The address the slow candidate's name resolves to (its gate listens there).
const GATED_IP: [u8; 4] = [127, 0, 0, 5];
/// How long a gate waits, at most, for the other candidate's request.
const BOUND: Duration = Duration::from_secs(10);
/// How long a gate waits after it, so that the faster answer is surely in first.
const MARGIN: Duration = Duration::from_millis(300);

/// A TCP front that forwards connections to the simulator only after `after` was asked.
struct Gate {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Gate {
    /// Listens on `GATED_IP` at the simulator's HTTPS port; each connection waits until the
    /// simulator logged a request for host `after` (at most [`BOUND`]), then [`MARGIN`], and
    /// is then spliced to the simulator's main listener (which serves by `Host` name).
    async fn start(sim: &Arc<Sim>, after: &'static str) -> Self {
        let listen = SocketAddr::new(IpAddr::from(GATED_IP), sim.https_addr().port());
        let listener = TcpListener::bind(listen).await.expect("the gate binds");
        let upstream = sim.https_addr();
        let sim = Arc::clone(sim);
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((mut client, _)) = listener.accept().await {
                let sim = Arc::clone(&sim);
                connections.spawn(async move {
                    asked(&sim, after).await;
                    tokio::time::sleep(MARGIN).await;
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        Self { task }
    }
}

/// Waits until the simulator logged a request for `host` (at most [`BOUND`]).
async fn asked(sim: &Sim, host: &str) {
    let step = Duration::from_millis(10);
    for _ in 0..(BOUND.as_millis() / step.as_millis()) {
        if sim.autodiscover_log().iter().any(|r| r.host == host) {
            return;
        }
        tokio::time::sleep(step).await;
    }
}

fn srv(priority: u16, target: &str) -> SrvEntry {
    let mut srv = SrvEntry::default();
    srv.name = "_autodiscover._tcp.contoso.com".into();
    srv.priority = priority;
    srv.weight = 0;
    srv.port = 443;
    srv.target = target.into();
    srv
}

/// contoso.com and autodiscover.contoso.com refuse connections, so SRV decides; its
/// priority-0 target resolves to the gate's address (nothing else listens there) and its
/// priority-10 target is served at once.
fn srv_scenario() -> Scenario {
    let gated = IpAddr::from(GATED_IP).to_string();
    let mut scenario = support::scenario(&[
        ("contoso.com", "127.0.0.2", HostBehaviour::Refuse),
        (
            "autodiscover.contoso.com",
            "127.0.0.3",
            HostBehaviour::Refuse,
        ),
        (FIRST, gated.as_str(), HostBehaviour::Refuse),
        (BACKUP, "", HostBehaviour::Settings),
    ]);
    // The lower priority is listed last, so the answer's order helps nothing.
    scenario.srv.push(srv(10, BACKUP));
    scenario.srv.push(srv(0, FIRST));
    scenario
}

/// Whether the trace shows `host` answering with settings.
fn found_by(found: &Discovery, host: &str) -> bool {
    found.trace.iter().any(|e| {
        let target = Url::parse(&e.target).ok();
        e.outcome == Outcome::Found && target.as_ref().and_then(Url::host_str) == Some(host)
    })
}

#[tokio::test]
async fn the_lowest_srv_priority_wins_even_when_it_answers_last() {
    let sim = Arc::new(support::start(srv_scenario()).await);
    let _gate = Gate::start(&sim, BACKUP).await;
    let found = locator(settings(&sim))
        .discover(MARA)
        .await
        .unwrap_or_else(|e| panic!("found: {e}: {:#?}", e.trace()));
    assert_eq!(found.method, Method::Srv);
    assert_eq!(
        found.source.host_str(),
        Some(FIRST),
        "the priority-10 host's answer was used: {:#?}",
        found.trace
    );
    assert_eq!(found.ews_url.as_str(), sim.ews_url(MARA).unwrap());
    // Both were probed at once: the backup was asked (its answer was not used).
    assert!(
        hosts_asked(&sim).contains(BACKUP),
        "{:?}",
        hosts_asked(&sim)
    );
    assert!(found_by(&found, FIRST), "{:#?}", found.trace);
}

#[tokio::test]
async fn a_higher_srv_priority_is_used_when_the_lowest_fails() {
    // No gate: the priority-0 target's address refuses connections.
    let sim = support::start(srv_scenario()).await;
    let found = locator(settings(&sim))
        .discover(MARA)
        .await
        .unwrap_or_else(|e| panic!("found: {e}: {:#?}", e.trace()));
    assert_eq!(found.method, Method::Srv);
    assert_eq!(found.source.host_str(), Some(BACKUP));
    assert!(
        found
            .trace
            .iter()
            .any(|e| e.target.contains(FIRST) && matches!(e.outcome, Outcome::Failed { .. })),
        "{:#?}",
        found.trace
    );
}

#[tokio::test]
async fn autodiscover_dot_domain_wins_over_the_root_domain_even_when_it_answers_last() {
    let gated = IpAddr::from(GATED_IP).to_string();
    let sim = Arc::new(
        support::start(support::scenario(&[(
            "autodiscover.contoso.com",
            gated.as_str(),
            HostBehaviour::Refuse,
        )]))
        .await,
    );
    let _gate = Gate::start(&sim, "contoso.com").await;
    let mut settings = settings(&sim);
    settings.allow_redirect_and_srv = false;
    let found = locator(settings)
        .discover(MARA)
        .await
        .unwrap_or_else(|e| panic!("found: {e}: {:#?}", e.trace()));
    assert_eq!(
        found.source.host_str(),
        Some("autodiscover.contoso.com"),
        "the root domain's answer was used: {:#?}",
        found.trace
    );
    // SOAP is first at a host: its answer, with the grouping, is the one used.
    assert_eq!(found.method, Method::Soap);
    assert_eq!(found.grouping_information.as_deref(), Some("CONTOSO-1"));
    assert!(hosts_asked(&sim).contains("contoso.com"));
}

#[tokio::test]
async fn the_root_domain_is_used_when_autodiscover_dot_domain_fails() {
    let sim = support::start(support::scenario(&[(
        "autodiscover.contoso.com",
        "127.0.0.3",
        HostBehaviour::Refuse,
    )]))
    .await;
    let mut settings = settings(&sim);
    settings.allow_redirect_and_srv = false;
    let found = locator(settings)
        .discover(MARA)
        .await
        .unwrap_or_else(|e| panic!("found: {e}: {:#?}", e.trace()));
    assert_eq!(found.source.host_str(), Some("contoso.com"));
    assert_eq!(found.method, Method::Soap);
}
