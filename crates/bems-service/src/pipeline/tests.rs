//! The pipeline over a real store: what it writes, for which holder, and when it announces.

use ews_proto::{Event, FolderId};
use mailbox_watch::MailboxEvent;

use super::*;
use crate::courier::PushRoutes;
use bems_store::model::{MailboxRecord, NewDevice, Platform};
use bems_store::{NodeId, SqliteStore, StoreKey};

const MARA: &str = "mara@contoso.com";

/// Every inbox has 7 unread.
struct SevenUnread;

#[async_trait]
impl UnreadCounts for SevenUnread {
    async fn unread(&self, _mailbox: &str) -> Option<u32> {
        Some(7)
    }
}

/// A pipeline of node `bems-1` over a store where mara is stored with a device and saved
/// count 3, her lease taken by `holder`.
async fn pipeline(holder: &str) -> Pipeline {
    with_count(holder, Some(3)).await
}

/// [`pipeline`] with mara's saved count `count`.
async fn with_count(holder: &str, count: Option<u32>) -> Pipeline {
    let key = StoreKey::generate().expect("a key");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory(key).await.expect("store"));
    let tenant = TenantId::new("contoso").expect("id");
    let record = MailboxRecord {
        tenant: tenant.clone(),
        mailbox: MARA.into(),
        ews_url: None,
        grouping: None,
        watermark: None,
    };
    store.upsert_mailbox(&record).await.expect("stored");
    let counts: Vec<(String, u32)> = count.map(|c| (MARA.to_owned(), c)).into_iter().collect();
    store
        .save_unread_counts(&tenant, &counts)
        .await
        .expect("saved");
    let device = NewDevice {
        tenant: tenant.clone(),
        mailbox: MARA.into(),
        platform: Platform::Apns,
        token: "ab".repeat(32),
        app_id: "com.contoso.mail".into(),
        locale: "en".into(),
        public_key: None,
    };
    store.register_device(&device, 10).await.expect("device");
    let lease = Duration::from_secs(30);
    let holder = NodeId::new(holder).expect("id");
    assert_eq!(
        store.claim(&holder, lease, 10).await.expect("claim").len(),
        1
    );
    let node = Arc::new(Node::named(
        NodeId::new("bems-1").expect("id"),
        10,
        lease,
        None,
    ));
    // Taken by this node: its first subscription here starts from the store.
    node.take(&record);
    let metrics = Arc::new(Metrics::default());
    let routes = Arc::new(PushRoutes::default());
    let courier = Courier::new(
        Arc::clone(&store),
        routes,
        Arc::clone(&metrics),
        node.id().clone(),
        lease,
    );
    Pipeline::new(
        tenant,
        store,
        Arc::new(courier),
        metrics,
        Arc::new(SevenUnread),
        node,
    )
}

fn event(event: Event) -> WatchEvent {
    WatchEvent::Mail(MailboxEvent::new(Arc::from(MARA), event))
}

async fn saved(pipeline: &Pipeline) -> Vec<(String, u32)> {
    pipeline
        .store
        .unread_counts(&pipeline.tenant)
        .await
        .expect("counts")
}

#[tokio::test]
async fn the_badge_is_saved_with_its_pushes() {
    let mut pipeline = pipeline("bems-1").await;
    pipeline
        .batch(vec![event(Event::new(EventType::NewMail))])
        .await;
    assert_eq!(saved(&pipeline).await, [(MARA.to_owned(), 7)]);
}

/// A write the lease fence refuses saves no count either: the mailbox's new holder's is kept.
#[tokio::test]
async fn a_refused_write_saves_no_count() {
    let mut pipeline = pipeline("bems-2").await;
    pipeline
        .batch(vec![event(Event::new(EventType::NewMail))])
        .await;
    assert_eq!(saved(&pipeline).await, [(MARA.to_owned(), 3)]);
}

/// A count changed without pushes nor watermark (mail read) is written alone, fenced too.
#[tokio::test]
async fn a_count_changed_without_pushes_is_written_alone_by_the_holder_only() {
    let mut holder = pipeline("bems-1").await;
    let mut read = Event::new(EventType::Modified);
    read.object = Some(ChangedObject::Folder(FolderId::new("inbox")));
    read.unread_count = Some(2);
    holder.batch(vec![event(read.clone())]).await;
    assert_eq!(saved(&holder).await, [(MARA.to_owned(), 2)]);
    let mut elsewhere = pipeline("bems-2").await;
    elsewhere.batch(vec![event(read)]).await;
    assert_eq!(
        saved(&elsewhere).await,
        [(MARA.to_owned(), 3)],
        "not the holder"
    );
}

fn subscribed_afresh() -> WatchEvent {
    WatchEvent::Subscribed {
        mailbox: Arc::from(MARA),
        resumed: false,
    }
}

/// A mailbox taken afresh (a streaming subscription) whose count rose past the saved one:
/// the difference is announced, once, with the count.
#[tokio::test]
async fn a_mailbox_taken_afresh_announces_what_its_count_gained() {
    let mut pipeline = pipeline("bems-1").await;
    pipeline.batch(vec![subscribed_afresh()]).await;
    assert_eq!(saved(&pipeline).await, [(MARA.to_owned(), 7)]);
    // One push went to the courier (which has no sender here: counted, dropped).
    let sent = "bems_pushes_total{platform=\"apns\",outcome=\"no_sender\"} 1";
    let gauges = crate::metrics::Gauges::default();
    until_rendered(&pipeline, &gauges, sent).await;
    // A later subscription is not a take: nothing is announced again.
    pipeline.batch(vec![subscribed_afresh()]).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(pipeline.metrics.render(&gauges).contains(sent));
}

async fn until_rendered(pipeline: &Pipeline, gauges: &crate::metrics::Gauges, line: &str) {
    for _ in 0..100 {
        if pipeline.metrics.render(gauges).contains(line) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{line} not in {}", pipeline.metrics.render(gauges));
}

/// A mailbox taken afresh without a saved count (no mail announced yet) gets its baseline,
/// and nothing is announced.
#[tokio::test]
async fn a_mailbox_taken_afresh_without_a_saved_count_gets_its_baseline() {
    let mut pipeline = with_count("bems-1", None).await;
    pipeline.batch(vec![subscribed_afresh()]).await;
    assert_eq!(saved(&pipeline).await, [(MARA.to_owned(), 7)]);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let rendered = pipeline.metrics.render(&crate::metrics::Gauges::default());
    assert!(!rendered.contains("bems_pushes_total{"), "{rendered}");
}

/// New mail in a further folder the user watches is announced, but it is not the inbox's:
/// the badge does not count it, and that folder's unread count is not taken for the badge.
#[tokio::test]
async fn mail_in_a_further_folder_alerts_without_raising_the_badge() {
    let mut pipeline = pipeline("bems-1").await;
    // The inbox's count is known: 2.
    let mut read = Event::new(EventType::Modified);
    read.object = Some(ChangedObject::Folder(FolderId::new("inbox")));
    read.unread_count = Some(2);
    pipeline.batch(vec![event(read)]).await;
    assert_eq!(saved(&pipeline).await, [(MARA.to_owned(), 2)]);
    let further = |event: Event| {
        WatchEvent::Mail(MailboxEvent::new(Arc::from(MARA), event).in_further_folder())
    };
    let mut filed = Event::new(EventType::Modified);
    filed.object = Some(ChangedObject::Folder(FolderId::new("projects")));
    filed.unread_count = Some(40);
    pipeline
        .batch(vec![
            further(Event::new(EventType::NewMail)),
            further(filed),
        ])
        .await;
    assert_eq!(
        saved(&pipeline).await,
        [(MARA.to_owned(), 2)],
        "the inbox's count"
    );
    let sent = "bems_pushes_total{platform=\"apns\",outcome=\"no_sender\"} 1";
    until_rendered(&pipeline, &crate::metrics::Gauges::default(), sent).await;
    // Inbox mail raises it from there.
    pipeline
        .batch(vec![event(Event::new(EventType::NewMail))])
        .await;
    assert_eq!(saved(&pipeline).await, [(MARA.to_owned(), 3)]);
}
