//! Two watchers behind one notification URL: a notification that reaches the node that does
//! not watch its mailbox is checked against the holder's published digest, handed on, and
//! delivered by the holder; a forged one is refused there too, and nothing is handed on.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use graph_subscriptions::{Forwarded, GraphError, PeerSubscription, Peers, SpoolRecord};

use crate::support::{Harness, MARA, Options, SADIE, eventually, has_new_mail, new_mail, sim};

/// What the nodes share, in memory: published subscriptions, and records handed on, each for
/// the node that published its mailbox's subscription last (that node holds the mailbox).
#[derive(Debug, Default)]
struct Shared {
    subscriptions: HashMap<String, (PeerSubscription, &'static str)>,
    records: Vec<(i64, SpoolRecord)>,
    next: i64,
}

/// One node's view of [`Shared`].
#[derive(Debug, Clone)]
struct Node {
    name: &'static str,
    shared: Arc<Mutex<Shared>>,
}

impl Node {
    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().expect("lock")
    }
}

#[async_trait]
impl Peers for Node {
    async fn publish(&self, subscription: &PeerSubscription) -> Result<(), GraphError> {
        self.lock()
            .subscriptions
            .insert(subscription.id.clone(), (subscription.clone(), self.name));
        Ok(())
    }

    async fn withdraw(&self, id: &str) -> Result<(), GraphError> {
        self.lock().subscriptions.remove(id);
        Ok(())
    }

    async fn find(&self, ids: &[String]) -> Result<Vec<PeerSubscription>, GraphError> {
        let shared = self.lock();
        Ok(ids
            .iter()
            .filter_map(|id| shared.subscriptions.get(id).map(|(s, _)| s.clone()))
            .collect())
    }

    async fn forward(&self, records: &[SpoolRecord]) -> Result<(), GraphError> {
        let mut shared = self.lock();
        for record in records {
            shared.next += 1;
            let handle = shared.next;
            shared.records.push((handle, record.clone()));
        }
        Ok(())
    }

    async fn inbox(&self, limit: usize) -> Result<Vec<Forwarded>, GraphError> {
        let shared = self.lock();
        let holds = |mailbox: &str| {
            shared
                .subscriptions
                .values()
                .any(|(s, node)| s.mailbox == mailbox && *node == self.name)
        };
        Ok(shared
            .records
            .iter()
            .filter(|(_, r)| holds(&r.mailbox))
            .take(limit)
            .map(|(h, r)| Forwarded::new(*h, r.clone()))
            .collect())
    }

    async fn taken(&self, handles: &[i64]) -> Result<(), GraphError> {
        self.lock().records.retain(|(h, _)| !handles.contains(h));
        Ok(())
    }
}

fn node(name: &'static str, shared: &Arc<Mutex<Shared>>) -> Options {
    Options {
        peers: Some(Arc::new(Node {
            name,
            shared: Arc::clone(shared),
        })),
        adjust: |s| s.peer_poll = Duration::from_millis(20),
        ..Options::default()
    }
}

#[tokio::test]
async fn a_notification_reaching_the_other_node_is_delivered_by_the_holder() {
    let sim = sim().await;
    let shared = Arc::new(Mutex::new(Shared::default()));
    let mut a = Harness::start(&sim, node("a", &shared)).await;
    let mut b = Harness::start(&sim, node("b", &shared)).await;
    a.watch(MARA);
    b.watch(SADIE);
    a.subscribed(MARA).await;
    b.subscribed(SADIE).await;
    // The balancer sends everything addressed to a's URL to b.
    *a.tap.elsewhere.lock().expect("lock") = Some((b.http.clone(), b.base.clone()));

    let id = sim
        .deliver_mail(MARA, "Through the other node", "boss@contoso.com")
        .expect("mail");
    let events = a
        .collect(has_new_mail(1, MARA), Duration::from_millis(300))
        .await;
    assert_eq!(new_mail(&events, MARA), [id], "the holder reports it, once");
    assert!(
        b.watcher.counts().forwarded >= 1,
        "{:?}",
        b.watcher.counts()
    );
    assert_eq!(
        b.watcher.counts().accepted,
        0,
        "b holds no subscription of Mara's"
    );
    assert!(a.watcher.counts().taken >= 1, "{:?}", a.watcher.counts());
    assert!(
        shared.lock().expect("lock").records.is_empty(),
        "taken records are let go"
    );

    // b's own mailbox is still delivered by b.
    let own = sim
        .deliver_mail(SADIE, "Direct", "boss@contoso.com")
        .expect("mail");
    let events = b
        .collect(has_new_mail(1, SADIE), Duration::from_millis(100))
        .await;
    assert_eq!(new_mail(&events, SADIE), [own]);
}

#[tokio::test]
async fn a_further_folders_notification_handed_on_is_marked_by_the_holder() {
    use ews_proto::{BaseFolderId, DistinguishedFolder};
    use exchange_sim::{FolderKind, NewMessage};
    use mailbox_watch::{WatchEvent, WatchTarget};

    let sim = sim().await;
    let shared = Arc::new(Mutex::new(Shared::default()));
    let mut a = Harness::start(&sim, node("a", &shared)).await;
    let b = Harness::start(&sim, node("b", &shared)).await;
    let url = "https://graph.microsoft.com/v1.0/".parse().expect("url");
    let junk = BaseFolderId::distinguished(DistinguishedFolder::JunkEmail);
    a.watcher
        .watch(WatchTarget::new(MARA, url).folders(vec![junk]))
        .expect("watch");
    a.subscribed(MARA).await;
    let both = || shared.lock().expect("lock").subscriptions.len() == 2;
    assert!(
        eventually(Duration::from_secs(5), both).await,
        "both published"
    );
    *a.tap.elsewhere.lock().expect("lock") = Some((b.http.clone(), b.base.clone()));

    let message = NewMessage::new("Filed", "a@fabrikam.com").into_folder(FolderKind::JunkEmail);
    let id = sim.deliver_message(MARA, &message).expect("mail");
    let events = a
        .collect(has_new_mail(1, MARA), Duration::from_millis(300))
        .await;
    assert_eq!(new_mail(&events, MARA), [id]);
    let marked: Vec<bool> = events
        .iter()
        .filter_map(|e| match e {
            WatchEvent::Mail(m) if m.is_new_mail() => Some(m.further_folder),
            _ => None,
        })
        .collect();
    assert_eq!(marked, [true], "the holder knows the subscription's folder");
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, WatchEvent::Mail(m) if m.event.unread_count.is_some())),
        "no badge after a further folder's mail: {events:#?}"
    );
    assert!(
        b.watcher.counts().forwarded >= 1,
        "{:?}",
        b.watcher.counts()
    );
}

#[tokio::test]
async fn a_forged_notification_of_another_nodes_subscription_is_refused_and_not_handed_on() {
    let sim = sim().await;
    let shared = Arc::new(Mutex::new(Shared::default()));
    let a = Harness::start(&sim, node("a", &shared)).await;
    let b = Harness::start(&sim, node("b", &shared)).await;
    a.watch(MARA);
    a.subscribed(MARA).await;
    let subscription = sim.graph().subscriptions(Some(MARA))[0].id.clone();
    let forged = serde_json::json!({"value": [
        {"subscriptionId": subscription, "clientState": "a-guess", "changeType": "created",
         "resource": "users/mara@contoso.com/messages/AAMk",
         "resourceData": {"id": "AAMkAGI2THVSAAA="}},
    ]});
    assert_eq!(b.post(forged.to_string()).await, 403);
    let counts = b.watcher.counts();
    assert_eq!((counts.refused, counts.forwarded), (1, 0), "{counts:?}");
    assert!(shared.lock().expect("lock").records.is_empty());
    // A withdrawn subscription is no longer accepted anywhere but counted as unknown.
    assert!(a.watcher.unwatch(MARA).await.expect("unwatch"));
    let withdrawn = || shared.lock().expect("lock").subscriptions.is_empty();
    eventually(Duration::from_secs(1), withdrawn).await;
    assert!(
        shared.lock().expect("lock").subscriptions.is_empty(),
        "withdrawn"
    );
    assert_eq!(b.post(forged.to_string()).await, 202);
    assert_eq!(b.watcher.counts().forwarded, 0);
    assert!(b.watcher.status().unknown_push >= 1);
}
