//! A tenant composed of stubs through the service's traits ([`TenantParts`] and
//! [`Service::compose`], the path `Service::start` takes too): a registration is located by
//! the stub locator and watched by the stub watcher; a new-mail event sent on the watcher's
//! channel becomes a push to the device through the real pipeline, store (SQLite in a
//! temporary directory) and courier, delivered by a stub push sender; unregistering unwatches
//! the mailbox and shutting down stops the watcher.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use autodiscover::{Discovery, MailboxLocator, Method};
use bems_service::cluster::Node;
use bems_service::courier::{Courier, PushRoutes};
use bems_service::metrics::Metrics;
use bems_service::pipeline::UnreadCounts;
use bems_service::service::{Service, TenantParts};
use bems_service::verify::{Caller, RegistrationVerifier, VerifyError};
use bems_settings::{DeviceSettings, ServiceSettings};
use bems_store::model::{NewDevice, Platform, TenantId};
use bems_store::{NodeId, SqliteStore, Store, StoreKey};
use ews_proto::{ChangedObject, Event, EventType, ItemId};
use exchange_auth::{AuthError, AuthMethod, AuthStatus, Authenticator, HttpRequest, HttpResponse};
use mailbox_watch::{
    Events, MailboxEvent, MailboxWatcher, WatchError, WatchEvent, WatchTarget, WatcherStatus,
};
use push_delivery::{Dispatcher, DispatcherConfig, Outcome, Push, PushSender};
use tokio::sync::mpsc;

const MARA: &str = "mara@contoso.com";
const EWS: &str = "https://ex1.contoso.com/EWS/Exchange.asmx";
const TOPIC: &str = "com.contoso.mail";
const TOKEN: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";

/// What the stub watcher was asked, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Call {
    Watch(WatchTarget),
    Unwatch(String),
    Stop,
}

/// Records its calls; its events are whatever the test sends on the channel.
#[derive(Debug, Default)]
struct StubWatcher {
    calls: Mutex<Vec<Call>>,
}

impl StubWatcher {
    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }
}

#[async_trait]
impl MailboxWatcher for StubWatcher {
    async fn watch(&self, target: WatchTarget) -> Result<(), WatchError> {
        self.calls.lock().unwrap().push(Call::Watch(target));
        Ok(())
    }

    async fn unwatch(&self, mailbox: &str) -> Result<bool, WatchError> {
        self.calls
            .lock()
            .unwrap()
            .push(Call::Unwatch(mailbox.to_owned()));
        Ok(true)
    }

    fn is_subscribed(&self, _mailbox: &str) -> bool {
        true
    }

    fn status(&self) -> WatcherStatus {
        let mut status = WatcherStatus::new("stub");
        status.mailboxes = self
            .calls()
            .iter()
            .filter(|c| matches!(c, Call::Watch(_)))
            .count();
        status
    }

    async fn stop(&self, _within: Duration) {
        self.calls.lock().unwrap().push(Call::Stop);
    }
}

/// Finds every mailbox at [`EWS`] in group `CONTOSO-1`, except that it fails once for each
/// address in `fail_once`; records what it was asked.
#[derive(Debug, Default)]
struct StubLocator {
    asked: Mutex<Vec<String>>,
    fail_once: Mutex<Vec<String>>,
}

#[async_trait]
impl MailboxLocator for StubLocator {
    async fn locate(&self, email: &str) -> Result<Discovery, autodiscover::Error> {
        self.asked.lock().unwrap().push(email.to_owned());
        let mut failing = self.fail_once.lock().unwrap();
        if let Some(at) = failing.iter().position(|m| m == email) {
            failing.remove(at);
            return Err(autodiscover::Error::NotFound {
                email: email.to_owned(),
                trace: Vec::new(),
            });
        }
        let url: url::Url = EWS.parse().unwrap();
        let mut found = Discovery::new(email, url.clone(), Method::Override, url);
        found.grouping_information = Some("CONTOSO-1".into());
        Ok(found)
    }

    fn invalidate(&self, _email: &str) {}
}

/// Every bearer token is its own address.
struct StubVerifier;

#[async_trait]
impl RegistrationVerifier for StubVerifier {
    async fn verify(&self, bearer: &str) -> Result<Caller, VerifyError> {
        Ok(Caller {
            address: bearer.to_owned(),
        })
    }
}

/// An authenticator the test never lets reach Exchange.
#[derive(Debug)]
struct StubAuth;

#[async_trait]
impl Authenticator for StubAuth {
    async fn send(&self, _request: HttpRequest) -> Result<HttpResponse, AuthError> {
        Err(AuthError::Config {
            setting: "stub",
            reason: "the stub sends nothing".into(),
        })
    }

    fn status(&self) -> AuthStatus {
        AuthStatus::new(AuthMethod::Basic, "svc-bems@contoso.com".into())
    }
}

/// Every inbox has 7 unread.
struct SevenUnread;

#[async_trait]
impl UnreadCounts for SevenUnread {
    async fn unread(&self, _mailbox: &str) -> Option<u32> {
        Some(7)
    }
}

/// Delivers every push, handing it to the test.
struct StubSender(mpsc::UnboundedSender<Push>);

#[async_trait]
impl PushSender for StubSender {
    async fn send(&self, push: &Push) -> Outcome {
        let _ = self.0.send(push.clone());
        Outcome::Delivered { id: None }
    }

    fn platform(&self) -> push_delivery::Platform {
        push_delivery::Platform::Apns
    }
}

fn tenant_settings() -> bems_settings::TenantSettings {
    let toml = r#"
        [[tenants]]
        id = "contoso"
        exchange = "on_premises"
        service_account_username = 'CONTOSO\svc-bems'

        [tenants.entitlement]
        mode = "all"
    "#;
    let mut settings = ServiceSettings::from_toml_str(toml).expect("settings");
    settings.tenants.remove(0)
}

/// Waits until `done` holds, or panics after 10 s.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A service of one tenant composed of stubs, on SQLite in a temporary directory.
struct Composed {
    service: Arc<Service>,
    store: Arc<dyn Store>,
    node: Arc<Node>,
    watcher: Arc<StubWatcher>,
    locator: Arc<StubLocator>,
    events: mpsc::Sender<WatchEvent>,
    pushes: mpsc::UnboundedReceiver<Push>,
    _dir: tempfile::TempDir,
}

async fn compose(locator: StubLocator) -> Composed {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(dir.path().join("bems.db"), StoreKey::generate().unwrap())
            .await
            .unwrap(),
    );
    let metrics = Arc::new(Metrics::default());
    let (pushed, pushes) = mpsc::unbounded_channel();
    let mut routes = PushRoutes::default();
    let dispatcher = Dispatcher::new(Arc::new(StubSender(pushed)), DispatcherConfig::default());
    routes.add(Platform::Apns, TOPIC, Arc::new(dispatcher));
    let node = Arc::new(Node::named(
        NodeId::new("bems-1").unwrap(),
        100,
        Duration::from_secs(30),
        None,
    ));
    let courier = Arc::new(Courier::new(
        Arc::clone(&store),
        Arc::new(routes),
        Arc::clone(&metrics),
        node.id().clone(),
        node.lease(),
    ));
    let watcher = Arc::new(StubWatcher::default());
    let locator = Arc::new(locator);
    let (events, events_rx) = mpsc::channel(16);
    let mut parts = TenantParts::new(
        tenant_settings(),
        Arc::clone(&locator) as Arc<dyn MailboxLocator>,
        Arc::new(StubAuth),
        Arc::clone(&watcher) as Arc<dyn MailboxWatcher>,
        Events::from_receiver(events_rx),
        Arc::new(StubVerifier),
    );
    parts.counts = Some(Arc::new(SevenUnread));
    let service = Service::compose(
        Arc::clone(&store),
        courier,
        metrics,
        Arc::clone(&node),
        vec![parts],
        DeviceSettings::default(),
    )
    .await
    .expect("composed");
    Composed {
        service,
        store,
        node,
        watcher,
        locator,
        events,
        pushes,
        _dir: dir,
    }
}

fn device(tenant: &TenantId) -> NewDevice {
    NewDevice {
        tenant: tenant.clone(),
        mailbox: MARA.into(),
        platform: Platform::Apns,
        token: TOKEN.into(),
        app_id: TOPIC.into(),
        locale: "en".into(),
        public_key: None,
    }
}

#[tokio::test]
async fn a_tenant_of_stubs_turns_a_watched_mailbox_event_into_a_push() {
    let Composed {
        service,
        store,
        node,
        watcher,
        locator,
        events: events_tx,
        mut pushes,
        _dir,
    } = compose(StubLocator::default()).await;
    let contoso = TenantId::new("contoso").unwrap();

    // Registering locates the mailbox and watches it where the locator found it.
    service
        .register(&contoso, MARA, device(&contoso))
        .await
        .expect("registered");
    until("the mailbox is watched", || !watcher.calls().is_empty()).await;
    let expected = WatchTarget::new(MARA, EWS.parse().unwrap()).grouping("CONTOSO-1");
    assert_eq!(watcher.calls(), [Call::Watch(expected)]);
    assert_eq!(*locator.asked.lock().unwrap(), [MARA]);
    let record = store
        .mailbox(&contoso, MARA)
        .await
        .unwrap()
        .expect("recorded");
    assert_eq!(record.ews_url.as_deref(), Some(EWS));
    assert_eq!(record.grouping.as_deref(), Some("CONTOSO-1"));
    // This node took the new mailbox's lease.
    assert!(node.holds(&contoso, MARA));
    assert_eq!(
        store.holder(&contoso, MARA).await.unwrap(),
        Some(node.id().clone())
    );
    let status = service.status().await;
    assert_eq!(status[0].subscriptions.mode, "stub");
    assert_eq!(status[0].subscriptions.mailboxes, 1);

    // A new mail from the watcher becomes a push to the device, badge from the counts.
    let mut mail = Event::new(EventType::NewMail);
    mail.object = Some(ChangedObject::Item(ItemId::new("AAMkAD-1")));
    events_tx
        .send(WatchEvent::Mail(MailboxEvent::new(Arc::from(MARA), mail)))
        .await
        .unwrap();
    let push = tokio::time::timeout(Duration::from_secs(10), pushes.recv())
        .await
        .expect("a push within 10 s")
        .expect("the sender is alive");
    assert_eq!(push.token.as_str(), TOKEN);
    assert_eq!(push.notification.badge, Some(7));
    assert_eq!(
        push.notification.data.get("mailbox").map(String::as_str),
        Some(MARA)
    );
    assert!(push.notification.title.is_some(), "a new-mail alert");
    // Delivered, the push leaves the outbox.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while store.outbox_len().await.unwrap() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the outbox keeps the delivered push"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // The last device gone, the mailbox is no longer watched; shutting down stops the watcher.
    assert!(
        service
            .unregister(&contoso, MARA, MARA, TOKEN)
            .await
            .unwrap()
    );
    assert_eq!(watcher.calls().last(), Some(&Call::Unwatch(MARA.into())));
    assert!(store.mailbox(&contoso, MARA).await.unwrap().is_none());
    assert!(!node.holds(&contoso, MARA));
    assert_eq!(store.nodes().await.unwrap().len(), 1, "the node beats");
    service.shutdown().await;
    assert_eq!(watcher.calls().last(), Some(&Call::Stop));
    assert!(
        store.nodes().await.unwrap().is_empty(),
        "a clean stop leaves the cluster"
    );
}

#[tokio::test]
async fn a_mailbox_autodiscover_cannot_find_is_given_back_and_located_at_the_next_round() {
    let locator = StubLocator::default();
    locator.fail_once.lock().unwrap().push(MARA.into());
    let composed = compose(locator).await;
    let (service, store, node) = (&composed.service, &composed.store, &composed.node);
    let contoso = TenantId::new("contoso").unwrap();
    service
        .register(&contoso, MARA, device(&contoso))
        .await
        .expect("registered: the device is kept whatever Autodiscover says");
    // Autodiscover fails: the lease is given back, nothing is watched.
    until("the lease is given back", || !node.holds(&contoso, MARA)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while store.holder(&contoso, MARA).await.unwrap().is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still held in the store"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(composed.watcher.calls().is_empty());
    assert_eq!(store.devices_for(&contoso, MARA).await.unwrap().len(), 1);
    // The next round takes it again and Autodiscover, asked again, finds it.
    service.lease_round().await.expect("a lease round");
    until("watched after the round", || {
        !composed.watcher.calls().is_empty()
    })
    .await;
    assert_eq!(*composed.locator.asked.lock().unwrap(), [MARA, MARA]);
    let expected = WatchTarget::new(MARA, EWS.parse().unwrap()).grouping("CONTOSO-1");
    assert_eq!(composed.watcher.calls(), [Call::Watch(expected)]);
    assert!(node.holds(&contoso, MARA));
    composed.service.shutdown().await;
}
