//! The simulator, the real Autodiscover client (as the watcher's `Relocate`, the way
//! `bems-service` wires it) and Basic authentication that reach it, a push listener with its
//! own certificate, and time-scaled settings.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use autodiscover::{Autodiscover, Basic, Credentials, Discovery, Settings};
use ews_proto::operations::Request;
use ews_proto::soap::read_envelope;
use ews_subscriptions::{
    Mode, PullSettings, PushSettings, StreamingSettings, WatchSettings, Watcher,
};
use exchange_auth::{
    AuthError, AuthStatus, Authenticator, BasicAuth, HttpRequest, HttpResponse, SecretString,
    Target, TransportSettings,
};
use exchange_sim::{Scenario, Sim};
use mailbox_watch::{Events, Relocate, WatchError, WatchEvent, WatchTarget, WatermarkStore};

pub(crate) const MARA: &str = "mara@contoso.com";
pub(crate) const SADIE: &str = "sadie@contoso.com";
pub(crate) const TOM: &str = "tom@contoso.com";
pub(crate) const ALFRED: &str = "alfred@contoso.com";
const SVC: &str = "svc-bems@contoso.com";
const SVC_PASSWORD: &str = "Svc-Pa55w.rd";

/// Two servers of two back ends each (so that affinity matters); time runs 100 times faster
/// on the simulator: a 45 s heartbeat is 450 ms, a 1-minute `ConnectionTimeout` 600 ms.
const SCENARIO: &str = r#"
profile = "exchange-2019"
heartbeat_seconds = 45
time_scale = 100.0

[[domains]]
name = "contoso.com"

[[servers]]
name = "mbx1"
grouping_information = "CONTOSO-1"
backends = 2

[[servers]]
name = "mbx2"
grouping_information = "CONTOSO-2"
backends = 2

[[users]]
smtp = "mara@contoso.com"
server = "mbx1"

[[users]]
smtp = "sadie@contoso.com"
server = "mbx1"

[[users]]
smtp = "tom@contoso.com"
server = "mbx1"

[[users]]
smtp = "alfred@contoso.com"
server = "mbx2"

[[service_accounts]]
name = "svc-bems"
upn = "svc-bems@contoso.com"
password = "Svc-Pa55w.rd"
rights = ["ApplicationImpersonation"]
"#;

/// The time scale of [`SCENARIO`].
pub(crate) const SCALE: u32 = 100;

/// A push listener's certificate, made before the simulator that must trust it.
pub(crate) struct ListenerTls {
    pub(crate) pem: String,
    pub(crate) config: Arc<rustls::ServerConfig>,
}

impl ListenerTls {
    pub(crate) fn new() -> Self {
        let key =
            rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("certificate");
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![key.cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.signing_key.serialize_der().into()),
            )
            .expect("server config");
        Self {
            pem: key.cert.pem(),
            config: Arc::new(config),
        }
    }
}

/// Starts the simulator with its DNS server; `push_ca` is trusted for callbacks.
pub(crate) async fn sim(push_ca: Option<&str>) -> Sim {
    // `RUST_LOG=ews_subscriptions=debug` shows what a failing test did.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let mut builder = Sim::builder()
        .scenario(Scenario::from_toml(SCENARIO).expect("scenario"))
        .dns(true);
    if let Some(pem) = push_ca {
        builder = builder.push_trusted_ca(pem);
    }
    builder.start().await.expect("simulator starts")
}

/// Basic authentication as the service account, trusting the simulator.
pub(crate) fn auth(sim: &Sim) -> Arc<dyn Authenticator> {
    let mut transport = TransportSettings::default();
    transport.trusted_ca_pem = vec![sim.ca_pem().to_owned()];
    transport.trusted_ca_only = true;
    transport.connect_timeout = Duration::from_secs(5);
    for host in ["mail.contoso.com", "internal.mail.contoso.com"] {
        transport.resolve.push((host.to_owned(), sim.https_addr()));
    }
    Arc::new(
        BasicAuth::new(
            SVC,
            SecretString::from(SVC_PASSWORD),
            Target::OnPremises,
            &transport,
        )
        .expect("basic auth"),
    )
}

/// The real Autodiscover client, pointed at the simulator's DNS and ports.
pub(crate) fn locator(sim: &Sim) -> Arc<Autodiscover> {
    let mut settings = Settings::default();
    settings.dns_server = sim.dns_addr();
    settings.https_port = sim.https_addr().port();
    settings.http_port = sim.http_addr().port();
    settings.trusted_ca_pem = vec![sim.ca_pem().to_owned()];
    settings.trusted_ca_only = true;
    settings.timeouts.candidate = Duration::from_secs(5);
    settings.timeouts.overall = Duration::from_secs(20);
    let credentials: Arc<dyn Credentials> = Arc::new(Basic::new(SVC, SVC_PASSWORD));
    Arc::new(Autodiscover::new(settings, Some(credentials)).expect("autodiscover"))
}

/// `mailbox` where Autodiscover `found` it.
fn found_target(mailbox: &str, found: &Discovery) -> WatchTarget {
    let mut target = WatchTarget::new(mailbox, found.ews_url.clone());
    target.grouping_information = found.grouping_information.clone();
    target
}

/// Where Autodiscover says a mailbox is.
pub(crate) async fn target(locator: &Autodiscover, mailbox: &str) -> WatchTarget {
    let found = locator.discover(mailbox).await.expect("discovered");
    found_target(&found.mailbox, &found)
}

/// Autodiscover as the watcher's [`Relocate`], as `bems-service` implements it.
pub(crate) struct Rediscover(pub(crate) Arc<Autodiscover>);

#[async_trait]
impl Relocate for Rediscover {
    async fn locate(&self, mailbox: &str) -> Result<WatchTarget, WatchError> {
        let found = self
            .0
            .discover(mailbox)
            .await
            .map_err(|e| WatchError::locate(mailbox, e))?;
        Ok(found_target(mailbox, &found))
    }

    fn forget(&self, mailbox: &str) {
        self.0.invalidate(mailbox);
    }
}

/// The service account's authenticator, keeping a copy of every request it sends.
#[derive(Debug)]
pub(crate) struct Recording {
    pub(crate) inner: Arc<dyn Authenticator>,
    pub(crate) sent: Mutex<Vec<HttpRequest>>,
}

impl Recording {
    /// Records what goes through `inner`.
    pub(crate) fn new(inner: Arc<dyn Authenticator>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            sent: Mutex::new(Vec::new()),
        })
    }

    /// Every EWS request sent so far, read back.
    pub(crate) fn requests(&self) -> Vec<Request> {
        self.sent
            .lock()
            .expect("lock")
            .iter()
            .map(|r| {
                read_envelope::<Request>(&r.body)
                    .expect("an EWS request")
                    .body
            })
            .collect()
    }
}

#[async_trait]
impl Authenticator for Recording {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, AuthError> {
        self.sent.lock().expect("lock").push(request.clone());
        self.inner.send(request).await
    }

    fn status(&self) -> AuthStatus {
        self.inner.status()
    }
}

/// Settings for the simulator's clock: quick backoffs, a fast `Subscribe` rate.
pub(crate) fn settings(mode: Mode) -> WatchSettings {
    let mut settings = WatchSettings::new(mode);
    settings.limits.subscribes_per_second = 1000.0;
    settings.limits.backoff_initial = Duration::from_millis(50);
    settings.limits.backoff_max = Duration::from_secs(1);
    settings.limits.request_timeout = Duration::from_secs(10);
    settings
}

/// Streaming with the simulator's heartbeat and a 1-minute (scaled) connection lifetime.
pub(crate) fn streaming() -> WatchSettings {
    let mut streaming = StreamingSettings::default();
    streaming.connection_timeout_minutes = 1;
    streaming.heartbeat = Duration::from_secs(45) / SCALE;
    settings(Mode::Streaming(streaming))
}

/// Pulling every 100 ms.
pub(crate) fn pull() -> WatchSettings {
    let mut pull = PullSettings::default();
    pull.interval = Duration::from_millis(100);
    pull.timeout_minutes = 10;
    settings(Mode::Pull(pull))
}

/// Push to `url` with a 1-minute (scaled) `StatusFrequency`.
pub(crate) fn push(url: &str) -> WatchSettings {
    let mut push = PushSettings::new(url.parse().expect("callback URL"));
    push.status_frequency_minutes = 1;
    push.status_frequency = Duration::from_secs(60) / SCALE;
    push.grace = Duration::from_millis(500);
    settings(Mode::Push(push))
}

/// A started watcher and everything it has said so far.
pub(crate) struct Watch {
    pub(crate) watcher: Watcher,
    pub(crate) events: Events,
    pub(crate) seen: Vec<WatchEvent>,
}

impl Watch {
    /// Starts a watcher with `settings` and `store`, rediscovering through `locator`.
    pub(crate) fn start(
        sim: &Sim,
        settings: WatchSettings,
        store: Arc<dyn WatermarkStore>,
        locator: Arc<Autodiscover>,
    ) -> Self {
        Self::start_with(settings, auth(sim), store, locator)
    }

    /// Starts a watcher that sends its requests through `auth`.
    pub(crate) fn start_with(
        settings: WatchSettings,
        auth: Arc<dyn Authenticator>,
        store: Arc<dyn WatermarkStore>,
        locator: Arc<Autodiscover>,
    ) -> Self {
        let (watcher, events) = Watcher::builder(settings, auth)
            .store(store)
            .relocate(Arc::new(Rediscover(locator)))
            .start()
            .expect("watcher starts");
        Self {
            watcher,
            events,
            seen: Vec::new(),
        }
    }

    /// Reads events until `done` holds for what was seen, or panics after 20 s.
    pub(crate) async fn until(&mut self, what: &str, done: impl Fn(&[WatchEvent]) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while !done(&self.seen) {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(event)) => self.seen.push(event),
                Ok(None) => panic!("the watcher stopped while waiting for {what}"),
                Err(_) => panic!(
                    "timed out waiting for {what}; saw {:#?}; status {:#?}",
                    self.seen,
                    self.watcher.status()
                ),
            }
        }
    }

    /// Waits until every mailbox in `mailboxes` has been subscribed `times` times.
    pub(crate) async fn subscribed(&mut self, mailboxes: &[&str], times: usize) {
        let wanted: Vec<String> = mailboxes.iter().map(|m| m.to_string()).collect();
        self.until("subscriptions", |seen| {
            wanted.iter().all(|m| {
                count(
                    seen,
                    |e| matches!(e, WatchEvent::Subscribed { mailbox, .. } if &**mailbox == m),
                ) >= times
            })
        })
        .await;
    }

    /// Waits until `n` streaming connections are open (at most 20 s).
    pub(crate) async fn streams_open(&self, n: u64) {
        for _ in 0..400 {
            if self.watcher.status().streams_open == n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{n} streams never opened: {:#?}", self.watcher.status());
    }

    /// Waits until new mail with each of `items` has arrived.
    pub(crate) async fn mail(&mut self, items: &[String]) {
        let wanted: BTreeSet<String> = items.iter().cloned().collect();
        self.until("new mail", |seen| wanted.is_subset(&new_mail(seen)))
            .await;
    }
}

/// The item ids of every new-mail event seen.
pub(crate) fn new_mail(seen: &[WatchEvent]) -> BTreeSet<String> {
    seen.iter()
        .filter_map(|e| match e {
            WatchEvent::Mail(mail) if mail.is_new_mail() => {
                mail.event.item_id().map(|id| id.id.clone())
            }
            _ => None,
        })
        .collect()
}

/// The new-mail events seen, as (mailbox, item id), in order, duplicates kept.
pub(crate) fn new_mail_list(seen: &[WatchEvent]) -> Vec<(String, String)> {
    seen.iter()
        .filter_map(|e| match e {
            WatchEvent::Mail(mail) if mail.is_new_mail() => {
                Some((mail.mailbox.to_string(), mail.event.item_id()?.id.clone()))
            }
            _ => None,
        })
        .collect()
}

/// How many events satisfy `pred`.
pub(crate) fn count(seen: &[WatchEvent], pred: impl Fn(&WatchEvent) -> bool) -> usize {
    seen.iter().filter(|e| pred(e)).count()
}

/// Delivers a mail to each mailbox; the item ids.
pub(crate) fn deliver(sim: &Sim, mailboxes: &[&str], subject: &str) -> Vec<String> {
    mailboxes
        .iter()
        .map(|m| {
            sim.deliver_mail(m, subject, "sender@fabrikam.com")
                .expect("delivered")
        })
        .collect()
}

/// Binds a loopback listener; its address.
pub(crate) async fn bind() -> (tokio::net::TcpListener, SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("listener binds");
    let addr = listener.local_addr().expect("address");
    (listener, addr)
}

/// A watcher with `settings` (memory watermarks, rediscovery through the real Autodiscover)
/// watching `mailboxes`, each subscribed once.
pub(crate) async fn watching(sim: &Sim, settings: WatchSettings, mailboxes: &[&str]) -> Watch {
    let locator = locator(sim);
    let mut watch = Watch::start(
        sim,
        settings,
        Arc::new(mailbox_watch::MemoryWatermarks::new()),
        Arc::clone(&locator),
    );
    for mailbox in mailboxes {
        watch
            .watcher
            .watch(target(&locator, mailbox).await)
            .unwrap();
    }
    watch.subscribed(mailboxes, 1).await;
    watch
}
