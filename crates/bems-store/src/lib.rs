//! The store: tenants, devices, mailboxes and watermarks, encrypted tokens, trusted certificates,
//! the push outbox.
//!
//! The service holds an `Arc<dyn` [`Store`]`>`; [`SqliteStore`] is the implementation (one file,
//! WAL, numbered migrations) of one node; with the cargo feature `postgres`, `PostgresStore` keeps
//! it in a PostgreSQL database that several nodes share.
//! The store knows no other bems crate's traits: the service adapts it to what the watchers and
//! the authenticators need.
//!
//! Every backend passes the same conformance suite: with the cargo feature `conformance`,
//! `conformance` holds one check per behaviour and `conformance_tests!` runs them all as a
//! backend's tests.
//!
//! Nothing is lost between "event seen" and "push accepted": [`Outbox::enqueue`] writes the pushes
//! that a batch of mailbox events produced, the mailbox's new watermark and its unread count (the
//! badge of the pushes) in one transaction, and a push leaves the outbox only through
//! [`Outbox::complete`] (or with its device). Nothing is announced twice either: the count saved
//! never falls behind what the pushes written announced.
//!
//! Several nodes may share one store (PostgreSQL): each mailbox is then watched by the node that
//! holds its lease ([`Leases`], in [`cluster`]), and a node that lost a lease writes nothing
//! more for the mailbox ([`Checkpoint::holder`]). Senders take pushes with
//! [`Outbox::claim_due`], so no two nodes send the same push at once; the store knows which
//! node claimed each push, and a node that leaves ([`Leases::leave`], also at its start after a
//! crash) gives its pushes back at once. A notification (a Graph webhook) that reaches a node
//! not watching its mailbox is checked against the subscription its holder published and
//! handed to that holder through the store ([`Relay`]).
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! use bems_store::model::{MailboxRecord, NewDevice, PendingPush, Platform, TenantId};
//! use bems_store::{
//!     Checkpoint, DeviceStore, Leases, MailboxStore, NodeBeat, NodeId, Outbox, SqliteStore,
//!     Store, StoreKey,
//! };
//!
//! let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory(StoreKey::generate()?).await?);
//! let contoso = TenantId::new("contoso").expect("a valid id");
//! let device = store
//!     .register_device(&NewDevice {
//!         tenant: contoso.clone(),
//!         mailbox: "alice@contoso.com".into(),
//!         platform: Platform::Apns,
//!         token: "a1b2c3d4".into(),
//!         app_id: "com.example.mail".into(),
//!         locale: "en".into(),
//!         public_key: None,
//!     }, 10)
//!     .await?;
//! store
//!     .upsert_mailbox(&MailboxRecord {
//!         tenant: contoso.clone(),
//!         mailbox: "alice@contoso.com".into(),
//!         ews_url: None,
//!         grouping: None,
//!         watermark: None,
//!     })
//!     .await?;
//!
//! // This node says it is alive and takes the mailboxes nobody watches.
//! let node = NodeId::new("node-1").expect("a valid id");
//! let ttl = Duration::from_secs(30);
//! let beat = NodeBeat { node: node.clone(), capacity: 1_000, url: None };
//! store.heartbeat(&beat, ttl).await?;
//! let watched = store.claim(&node, ttl, 100).await?;
//! assert_eq!(watched[0].mailbox, "alice@contoso.com");
//!
//! let push = PendingPush {
//!     device_id: device.id,
//!     tenant: contoso.clone(),
//!     mailbox: "alice@contoso.com".into(),
//!     payload: r#"{"badge":1}"#.into(),
//!     seen_at_ms: 1_000,
//! };
//! // The push, the watermark after its event and the inbox's unread count (its badge) are
//! // written together, while the node holds the mailbox's lease; others may send the push
//! // from 31_000 on.
//! let checkpoint = Checkpoint {
//!     tenant: &contoso,
//!     mailbox: "alice@contoso.com",
//!     watermark: Some("AQAAAA=="),
//!     unread: Some(1),
//!     holder: Some(&node),
//! };
//! let ids = store.enqueue(&[push], 31_000, Some(checkpoint)).await?;
//! let alice = ["alice@contoso.com".to_owned()];
//! assert_eq!(store.unread_counts_of(&contoso, &alice).await?, [(alice[0].clone(), 1)]);
//! assert!(store.claim_due(&node, 1_000, 100, 61_000).await?.is_empty());
//! let due = store.claim_due(&node, 31_000, 100, 61_000).await?;
//! assert_eq!((due[0].id, due[0].not_before_ms), (ids[0], 61_000));
//! store.complete(ids[0]).await?;
//! assert_eq!(store.outbox_len().await?, 0);
//! // A clean stop: the node's leases, and the pushes it had claimed, are free at once.
//! store.leave(&node).await?;
//! # Ok::<(), bems_store::StoreError>(())
//! # }).unwrap();
//! ```

mod check;
pub mod cluster;
#[cfg(feature = "conformance")]
pub mod conformance;
mod crypto;
mod error;
mod followme;
mod key;
pub mod model;
#[cfg(feature = "postgres")]
mod postgres;
mod relay;
mod schema;
mod sqlite;

use async_trait::async_trait;
use tokio::sync::broadcast;

use crate::model::{Device, MailboxRecord, NewDevice, OutboxEntry, PendingPush, TenantId};

pub use cluster::{InvalidNodeId, Leases, NodeBeat, NodeId, NodeRecord};
pub use error::StoreError;
pub use followme::{
    FollowMeDocument, FollowMeExpect, FollowMeWrite, KEY_MAX as FOLLOW_ME_KEY_MAX,
    RESERVED_PREFIX as FOLLOW_ME_RESERVED_PREFIX,
};
pub use key::StoreKey;
pub use model::Checkpoint;
#[cfg(feature = "postgres")]
pub use postgres::{PostgresOptions, PostgresStore};
pub use relay::{Relay, RelayedNote, SharedSubscription};
pub use secrecy::{ExposeSecret, SecretSlice};
pub use sqlite::SqliteStore;

/// How many tenant changes a receiver of [`TenantStore::tenant_changes`] may leave unread
/// before it lags.
pub(crate) const TENANT_CHANGES: usize = 1024;

/// Where the service keeps what must outlive the process: the seven narrow traits a backend
/// implements, together. The composition holds an `Arc<dyn Store>` and hands each part of the
/// service the trait it needs (`Arc<dyn Outbox>` for the courier, ...); every type that
/// implements the seven is a `Store`.
///
/// | trait | what |
/// |---|---|
/// | [`TenantStore`] | settings documents, sealed secrets, trusted certificates |
/// | [`DeviceStore`] | registered devices |
/// | [`MailboxStore`] | watched mailboxes, watermarks, unread counts |
/// | [`Outbox`] | pushes not yet accepted by their provider |
/// | [`FollowMeStore`] | Follow-Me documents |
/// | [`Leases`] | the cluster's nodes, and which node watches which mailbox |
/// | [`Relay`] | notifications any node accepted, for the node that watches their mailbox |
///
/// Mailbox addresses are compared without regard to ASCII case and kept lower-cased. Every write
/// is one transaction: a failed operation leaves what was stored before. Ids are the store's.
pub trait Store:
    TenantStore + DeviceStore + MailboxStore + Outbox + FollowMeStore + Leases + Relay
{
}

impl<T: TenantStore + DeviceStore + MailboxStore + Outbox + FollowMeStore + Leases + Relay + ?Sized>
    Store for T
{
}

/// Tenants' settings documents, their sealed secrets and trusted certificates. Part of [`Store`].
#[async_trait]
pub trait TenantStore: Send + Sync {
    /// Saves `tenant`'s settings (JSON), replacing any before.
    async fn put_tenant(&self, tenant: &TenantId, settings_json: &str) -> Result<(), StoreError>;

    /// `tenant`'s settings, if saved.
    async fn tenant(&self, tenant: &TenantId) -> Result<Option<String>, StoreError>;

    /// The tenants with saved settings, in order.
    async fn tenants(&self) -> Result<Vec<TenantId>, StoreError>;

    /// Deletes `tenant` and everything stored for it (devices and their pushes, mailboxes,
    /// secrets, certificates, Follow-Me documents, shared subscriptions and relayed notes);
    /// false if it had no settings saved.
    async fn delete_tenant(&self, tenant: &TenantId) -> Result<bool, StoreError>;

    /// Saves a secret (a refresh token, a client secret, a `.pfx`), encrypted, replacing any
    /// before under that name.
    async fn put_secret(
        &self,
        tenant: &TenantId,
        name: &str,
        value: &SecretSlice<u8>,
    ) -> Result<(), StoreError>;

    /// A secret, decrypted; [`StoreError::Decrypt`] if the store key is not the one it was
    /// sealed with.
    async fn secret(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> Result<Option<SecretSlice<u8>>, StoreError>;

    /// Deletes a secret; false if there was none.
    async fn delete_secret(&self, tenant: &TenantId, name: &str) -> Result<bool, StoreError>;

    /// Saves a trusted certificate (PEM), replacing any before under that name.
    async fn put_certificate(
        &self,
        tenant: &TenantId,
        name: &str,
        pem: &str,
    ) -> Result<(), StoreError>;

    /// `tenant`'s trusted certificates as (name, PEM), by name.
    async fn certificates(&self, tenant: &TenantId) -> Result<Vec<(String, String)>, StoreError>;

    /// Deletes a trusted certificate; false if there was none.
    async fn delete_certificate(&self, tenant: &TenantId, name: &str) -> Result<bool, StoreError>;

    /// Tenants whose settings were saved or deleted from now on, by any node using the same
    /// store (PostgreSQL: LISTEN/NOTIFY on channel `bems_tenants`, the NOTIFY sent in the same
    /// transaction as the write; SQLite: this process's writes). Each receiver gets every change
    /// after its creation; a receiver that lags gets `RecvError::Lagged` and should reread all.
    ///
    /// A delete of a tenant that had no settings is no change. A receiver holds at most 1024
    /// changes not yet received. PostgreSQL: when the listening connection was lost and is made
    /// again, every stored tenant id is sent once, as changes may have been missed meanwhile.
    fn tenant_changes(&self) -> broadcast::Receiver<TenantId>;
}

/// Devices registered for push, each token held by one mailbox. Part of [`Store`].
#[async_trait]
pub trait DeviceStore: Send + Sync {
    /// Registers a device. A (platform, token) already registered for the same tenant and
    /// mailbox is the same device: it keeps its id and pending pushes, and its app id, locale
    /// and `registered_at` are refreshed. A token registered for another mailbox, of this
    /// tenant or another, is refused with [`StoreError::Conflict`]: it moves only once that
    /// registration is removed ([`unregister_device`](Self::unregister_device),
    /// [`remove_device`](Self::remove_device)). A new device of a mailbox that has
    /// `max_per_mailbox` devices already is refused the same way.
    async fn register_device(
        &self,
        device: &NewDevice,
        max_per_mailbox: u32,
    ) -> Result<Device, StoreError>;

    /// Removes the device with `token` registered for `mailbox`; false if there was none.
    async fn unregister_device(
        &self,
        tenant: &TenantId,
        mailbox: &str,
        token: &str,
    ) -> Result<bool, StoreError>;

    /// Removes a device (its token is dead) and its pending pushes; false if it was gone.
    async fn remove_device(&self, id: i64) -> Result<bool, StoreError>;

    /// The devices registered for `mailbox`, in the order they were first registered.
    async fn devices_for(
        &self,
        tenant: &TenantId,
        mailbox: &str,
    ) -> Result<Vec<Device>, StoreError>;

    /// All of `tenant`'s devices, by mailbox, then in the order they were first registered.
    async fn devices(&self, tenant: &TenantId) -> Result<Vec<Device>, StoreError>;

    /// `tenant`'s mailboxes with at least one device, sorted: what a node taking thousands of
    /// mailboxes needs to know, without reading every device. (The default reads them; both
    /// stores here ask for the mailboxes alone.)
    async fn mailboxes_with_devices(&self, tenant: &TenantId) -> Result<Vec<String>, StoreError> {
        let mut mailboxes: Vec<String> = self
            .devices(tenant)
            .await?
            .into_iter()
            .map(|d| d.device.mailbox)
            .collect();
        mailboxes.dedup();
        Ok(mailboxes)
    }

    /// How many devices are registered, in all tenants.
    async fn device_count(&self) -> Result<u64, StoreError>;
}

/// Watched mailboxes: where they are, their watermarks and last unread counts. Part of [`Store`].
#[async_trait]
pub trait MailboxStore: Send + Sync {
    /// Saves a watched mailbox; a record without a watermark keeps the one saved before.
    async fn upsert_mailbox(&self, record: &MailboxRecord) -> Result<(), StoreError>;

    /// Every watched mailbox, of all tenants (to resume watching at start-up).
    async fn mailboxes(&self) -> Result<Vec<MailboxRecord>, StoreError>;

    /// One watched mailbox.
    async fn mailbox(
        &self,
        tenant: &TenantId,
        mailbox: &str,
    ) -> Result<Option<MailboxRecord>, StoreError>;

    /// Forgets a watched mailbox and its watermark (pending pushes stay); false if unknown.
    async fn remove_mailbox(&self, tenant: &TenantId, mailbox: &str) -> Result<bool, StoreError>;

    /// Saves `mailbox`'s watermark, adding the mailbox if it is not yet saved.
    async fn save_watermark(
        &self,
        tenant: &TenantId,
        mailbox: &str,
        watermark: &str,
    ) -> Result<(), StoreError>;

    /// `mailbox`'s saved watermark.
    async fn load_watermark(
        &self,
        tenant: &TenantId,
        mailbox: &str,
    ) -> Result<Option<String>, StoreError>;

    /// The last unread count saved for each of `tenant`'s mailboxes (those with one).
    async fn unread_counts(&self, tenant: &TenantId) -> Result<Vec<(String, u32)>, StoreError>;

    /// The last unread counts saved for `mailboxes` of `tenant` (those with one), in any order.
    async fn unread_counts_of(
        &self,
        tenant: &TenantId,
        mailboxes: &[String],
    ) -> Result<Vec<(String, u32)>, StoreError>;

    /// Saves mailboxes' last known unread counts (the badge a restarted service starts
    /// from); a mailbox not saved is skipped. Not fenced by a lease: a count that goes with
    /// pushes is written with them ([`Checkpoint::unread`]); this one is for counts that
    /// changed without any (mail read).
    async fn save_unread_counts(
        &self,
        tenant: &TenantId,
        counts: &[(String, u32)],
    ) -> Result<(), StoreError>;
}

/// Pushes between "event seen" and "push accepted". Part of [`Store`].
///
/// Each push is claimed by the node sending it, or by nobody: a node that leaves
/// ([`Leases::leave`]) gives back the pushes it claimed, due at once.
#[async_trait]
pub trait Outbox: Send + Sync {
    /// Adds pushes, due at `not_before_ms` (the node that enqueues sends them itself at once; no
    /// other sender's claim_due sees them before then), and writes `checkpoint`, in one transaction.
    ///
    /// Either everything is written or nothing: the pushes, and the checkpoint's watermark
    /// and unread count that follow the events they came from ([`Checkpoint::unread`]). With a [`Checkpoint::holder`], nothing is
    /// written unless that node holds the mailbox's unexpired lease ([`StoreError::Conflict`]),
    /// and the pushes are written claimed by that node; otherwise they are nobody's.
    /// Returns the pushes' ids, in order.
    async fn enqueue(
        &self,
        pushes: &[PendingPush],
        not_before_ms: i64,
        checkpoint: Option<Checkpoint<'_>>,
    ) -> Result<Vec<i64>, StoreError>;

    /// Claims for `node` at most `limit` pushes due at `now_ms` (not_before_ms <= now_ms),
    /// oldest first (not_before_ms, id), making each due again only at `until_ms` unless
    /// completed or retried before. Two callers claiming at once never get the same push
    /// (PostgreSQL: UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING).
    /// `attempts` is not changed by a claim.
    ///
    /// The entries answered carry their new `not_before_ms` (`until_ms`). The pushes are
    /// claimed by `node` (whoever claimed them before) until completed or retried, or until
    /// `node` leaves.
    async fn claim_due(
        &self,
        node: &NodeId,
        now_ms: i64,
        limit: usize,
        until_ms: i64,
    ) -> Result<Vec<OutboxEntry>, StoreError>;

    /// Removes a push the provider accepted (or gave up on); false if it was gone.
    async fn complete(&self, id: i64) -> Result<bool, StoreError>;

    /// Counts a failed attempt and makes the push due again at `not_before_ms`, claimed by
    /// nobody (a push waiting for its retry is nobody's); false if gone.
    async fn retry_later(&self, id: i64, not_before_ms: i64) -> Result<bool, StoreError>;

    /// How many pushes are waiting.
    async fn outbox_len(&self) -> Result<u64, StoreError>;
}

/// Follow-Me documents, versioned per user and key. Part of [`Store`].
#[async_trait]
pub trait FollowMeStore: Send + Sync {
    /// `user`'s Follow-Me document `key`.
    async fn follow_me(
        &self,
        tenant: &TenantId,
        user: &str,
        key: &str,
    ) -> Result<Option<FollowMeDocument>, StoreError>;

    /// `user`'s Follow-Me documents, by key, without their bodies.
    async fn follow_me_keys(
        &self,
        tenant: &TenantId,
        user: &str,
    ) -> Result<Vec<FollowMeDocument>, StoreError>;

    /// Writes `user`'s document `key` (JSON) if it is as `expect` says, and, when it is new,
    /// the user keeps fewer than `max_documents`; a refused write changes nothing.
    async fn put_follow_me(
        &self,
        tenant: &TenantId,
        user: &str,
        key: &str,
        body: &str,
        expect: FollowMeExpect,
        max_documents: usize,
    ) -> Result<FollowMeWrite, StoreError>;

    /// Deletes `user`'s document `key` if it is at `version`.
    async fn delete_follow_me(
        &self,
        tenant: &TenantId,
        user: &str,
        key: &str,
        version: i64,
    ) -> Result<FollowMeWrite, StoreError>;
}
