//! A tenant switched from EWS to Graph: its mailboxes move in batches (`migration_batch`
//! every `migration_interval_seconds`, 50 every 5 minutes by default, as BEMS), without
//! losing or doubling a notification.
//!
//! A mailbox moves in four steps: (1) a handover window opens for it; (2) Graph subscribes
//! it, and the move waits until the subscription is made (a mailbox Graph cannot subscribe
//! stays on EWS and is tried at the next batch); (3) its record says Graph, so a restart
//! watches it there; (4) EWS stops watching it. Mail that arrives while both watch it is
//! reported by both: in the window, a new-mail event whose message was already reported by
//! the other is dropped (events of both carry the message's EWS id). EWS checkpoints and
//! unread counts of a moving or moved mailbox are dropped too, so that they never replace
//! Graph's saved state, nor a late EWS notification's count the badge Graph just gave.
//! The window closes a grace period after EWS stops.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ews_proto::EventType;
use mailbox_watch::{Events, MailboxWatcher, WatchEvent, WatchTarget};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use bems_store::Store;
use bems_store::model::{MailboxRecord, TenantId};

/// How long a mailbox's window stays open after EWS stopped watching it (events EWS sent
/// before may still be on their way).
const GRACE: Duration = Duration::from_secs(120);

/// How long a move waits for Graph's subscription.
const SUBSCRIBE_WAIT: Duration = Duration::from_secs(60);

/// Moves at once within a batch.
const CONCURRENT_MOVES: usize = 8;

/// One mailbox's handover window.
#[derive(Debug, Default)]
struct Window {
    /// Messages (EWS ids) reported in the window, by either watcher.
    seen: HashSet<String>,
    /// When the window closes (once EWS stopped).
    closes: Option<Instant>,
}

/// The handover state of a tenant.
#[derive(Debug, Default)]
pub struct Switch {
    windows: Mutex<HashMap<String, Window>>,
    /// Mailboxes moved to (or moving to) Graph: EWS checkpoints for them are dropped.
    moved: Mutex<HashSet<String>>,
    /// New-mail events dropped because the other watcher reported them.
    duplicates: std::sync::atomic::AtomicU64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Which watcher an event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum From {
    Ews,
    Graph,
}

impl Switch {
    /// New-mail events dropped as reported twice.
    pub fn duplicates(&self) -> u64 {
        self.duplicates.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn open(&self, mailbox: &str) {
        lock(&self.moved).insert(mailbox.to_owned());
        lock(&self.windows).entry(mailbox.to_owned()).or_default();
    }

    fn close_after(&self, mailbox: &str, grace: Duration) {
        if let Some(window) = lock(&self.windows).get_mut(mailbox) {
            window.closes = Some(Instant::now() + grace);
        }
    }

    /// A move that failed: EWS goes on watching the mailbox.
    fn abort(&self, mailbox: &str) {
        lock(&self.moved).remove(mailbox);
        lock(&self.windows).remove(mailbox);
    }

    /// Whether an event goes on to the pipeline.
    fn pass(&self, event: &WatchEvent, from: From) -> bool {
        let mailbox = event.mailbox().to_ascii_lowercase();
        match event {
            WatchEvent::Checkpoint { .. } if from == From::Ews => {
                !lock(&self.moved).contains(&mailbox)
            }
            WatchEvent::Mail(mail) if from == From::Ews && mail.event.unread_count.is_some() => {
                !lock(&self.moved).contains(&mailbox)
            }
            WatchEvent::Mail(mail) if mail.event.kind == EventType::NewMail => {
                let mut windows = lock(&self.windows);
                windows.retain(|_, w| w.closes.is_none_or(|at| at > Instant::now()));
                let Some(window) = windows.get_mut(&mailbox) else {
                    return true;
                };
                let Some(id) = mail.event.item_id() else {
                    return true;
                };
                if window.seen.insert(id.id.clone()) {
                    return true;
                }
                self.duplicates
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::debug!(%mailbox, ?from, "a message reported by both watchers; once is enough");
                false
            }
            _ => true,
        }
    }
}

/// One stream of both watchers' events, through the switch.
pub(crate) fn merge(
    switch: Arc<Switch>,
    mut ews: Events,
    mut graph: Events,
    capacity: usize,
) -> Events {
    let (tx, rx) = mpsc::channel(capacity);
    tokio::spawn(async move {
        let (mut ews_open, mut graph_open) = (true, true);
        while ews_open || graph_open {
            let (event, from) = tokio::select! {
                event = ews.recv(), if ews_open => match event {
                    Some(event) => (event, From::Ews),
                    None => { ews_open = false; continue; }
                },
                event = graph.recv(), if graph_open => match event {
                    Some(event) => (event, From::Graph),
                    None => { graph_open = false; continue; }
                },
            };
            if switch.pass(&event, from) && tx.send(event).await.is_err() {
                return;
            }
        }
    });
    Events::from_receiver(rx)
}

/// What a move needs.
pub(crate) struct Mover {
    pub(crate) tenant: TenantId,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) ews: Arc<dyn MailboxWatcher>,
    pub(crate) graph: Arc<dyn MailboxWatcher>,
    pub(crate) switch: Arc<Switch>,
    /// The record URL of a mailbox on Graph, before its address.
    pub(crate) prefix: String,
    pub(crate) batch: usize,
    pub(crate) interval: Duration,
    /// Whether the tenant honours its users' alert rules: a moved mailbox keeps the further
    /// folders they ask for.
    pub(crate) rules: bool,
}

impl Mover {
    /// Moves a batch every interval until `stop`, while EWS mailboxes remain.
    pub(crate) async fn run(self, stop: CancellationToken) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(self.interval) => {}
                () = stop.cancelled() => return,
            }
            match self.batch().await {
                Ok(0) => {}
                Ok(moved) => {
                    tracing::info!(tenant = %self.tenant, moved, "mailboxes moved from EWS to Microsoft Graph")
                }
                Err(error) => {
                    tracing::warn!(tenant = %self.tenant, %error, "EWS to Graph move failed; trying again at the next batch")
                }
            }
        }
    }

    /// The tenant's mailboxes still on EWS that have devices.
    async fn on_ews(&self) -> Result<Vec<MailboxRecord>, bems_store::StoreError> {
        let mut out = Vec::new();
        for record in self.store.mailboxes().await? {
            if record.tenant != self.tenant
                || record
                    .ews_url
                    .as_deref()
                    .is_none_or(|u| u.starts_with(&self.prefix))
            {
                continue;
            }
            if !self
                .store
                .devices_for(&self.tenant, &record.mailbox)
                .await?
                .is_empty()
            {
                out.push(record);
            }
            if out.len() == self.batch {
                break;
            }
        }
        Ok(out)
    }

    /// Moves up to one batch; how many moved.
    pub(crate) async fn batch(&self) -> Result<usize, bems_store::StoreError> {
        use futures_util::StreamExt as _;
        let records = self.on_ews().await?;
        let moved = futures_util::stream::iter(records)
            .map(|record| self.move_one(record))
            .buffer_unordered(CONCURRENT_MOVES)
            .filter(|moved| std::future::ready(*moved))
            .count()
            .await;
        Ok(moved)
    }

    async fn move_one(&self, record: MailboxRecord) -> bool {
        let mailbox = record.mailbox.clone();
        self.switch.open(&mailbox);
        let url = format!("{}{mailbox}", self.prefix);
        let folders = if self.rules {
            let rules =
                crate::alerts::decide::stored_rules(self.store.as_ref(), &self.tenant, &mailbox);
            crate::alerts::decide::folders(&rules.await)
        } else {
            Vec::new()
        };
        let target = match url.parse() {
            Ok(url) => WatchTarget::new(&mailbox, url).folders(folders),
            Err(_) => {
                self.switch.abort(&mailbox);
                return false;
            }
        };
        if let Err(error) = self.graph.watch(target).await {
            tracing::warn!(%mailbox, %error, "not moved to Graph");
            self.switch.abort(&mailbox);
            return false;
        }
        let deadline = Instant::now() + SUBSCRIBE_WAIT;
        while !self.graph.is_subscribed(&mailbox) {
            if Instant::now() > deadline {
                tracing::warn!(%mailbox, "Graph did not subscribe the mailbox in time; it stays on EWS");
                let _ = self.graph.unwatch(&mailbox).await;
                self.switch.abort(&mailbox);
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let moved = MailboxRecord {
            ews_url: Some(url),
            grouping: None,
            watermark: None,
            ..record
        };
        if let Err(error) = self.store.upsert_mailbox(&moved).await {
            tracing::warn!(%mailbox, %error, "move not recorded; it stays on EWS");
            let _ = self.graph.unwatch(&mailbox).await;
            self.switch.abort(&mailbox);
            return false;
        }
        if let Err(error) = self.ews.unwatch(&mailbox).await {
            tracing::warn!(%mailbox, %error, "EWS still watches the moved mailbox");
        }
        self.switch.close_after(&mailbox, GRACE);
        tracing::info!(%mailbox, "moved from EWS to Microsoft Graph");
        true
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ews_proto::{ChangedObject, Event, ItemId, Watermark};
    use mailbox_watch::MailboxEvent;

    use super::*;

    fn mail(id: &str) -> WatchEvent {
        let mut event = Event::new(EventType::NewMail);
        event.object = Some(ChangedObject::Item(ItemId::new(id)));
        WatchEvent::Mail(MailboxEvent::new(Arc::from("Mara@contoso.com"), event))
    }

    fn unread(count: i32) -> WatchEvent {
        let mut event = Event::new(EventType::Modified);
        event.object = Some(ChangedObject::Folder(ews_proto::FolderId::new("inbox")));
        event.unread_count = Some(count);
        WatchEvent::Mail(MailboxEvent::new(Arc::from("mara@contoso.com"), event))
    }

    #[test]
    fn a_moving_mailbox_takes_its_unread_count_from_graph_only() {
        let switch = Switch::default();
        assert!(switch.pass(&unread(3), From::Ews));
        switch.open("mara@contoso.com");
        assert!(!switch.pass(&unread(3), From::Ews), "a late EWS count");
        assert!(switch.pass(&unread(5), From::Graph));
        switch.abort("mara@contoso.com");
        assert!(
            switch.pass(&unread(6), From::Ews),
            "the move failed: EWS again"
        );
    }

    fn checkpoint() -> WatchEvent {
        WatchEvent::Checkpoint {
            mailbox: Arc::from("mara@contoso.com"),
            watermark: Watermark::new("w"),
        }
    }

    #[test]
    fn in_the_window_a_message_passes_once_whoever_reports_it() {
        let switch = Switch::default();
        assert!(switch.pass(&mail("A"), From::Ews));
        assert!(switch.pass(&mail("A"), From::Graph), "no window yet");
        switch.open("mara@contoso.com");
        assert!(switch.pass(&mail("B"), From::Ews));
        assert!(!switch.pass(&mail("B"), From::Graph));
        assert!(switch.pass(&mail("C"), From::Graph));
        assert!(!switch.pass(&mail("C"), From::Ews));
        assert_eq!(switch.duplicates(), 2);
        assert!(
            !switch.pass(&checkpoint(), From::Ews),
            "EWS no longer saves"
        );
        assert!(switch.pass(&checkpoint(), From::Graph));
        switch.close_after("mara@contoso.com", Duration::ZERO);
        assert!(switch.pass(&mail("B"), From::Graph), "the window closed");
        assert!(!switch.pass(&checkpoint(), From::Ews), "still moved");
        switch.abort("mara@contoso.com");
        assert!(switch.pass(&checkpoint(), From::Ews));
    }
}
