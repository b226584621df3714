//! The relay: change notifications (Microsoft Graph webhooks) that any node accepts, handed to
//! the node that watches their mailbox.
//!
//! Graph posts every notification to one public URL, in front of all the nodes, so a
//! notification may reach a node that does not watch its mailbox. That node authenticates it
//! against the subscription its holder published ([`Relay::share_subscription`]: the digest of
//! the `clientState`, never the secret), and keeps it in the store for the holder
//! ([`Relay::relay`]). The node holding the mailbox's lease takes it
//! ([`Relay::relayed_to`]), processes it and drops it ([`Relay::drop_relayed`]); what nobody
//! took (the mailbox is no longer watched) is removed by [`Relay::expire_relayed`].

use async_trait::async_trait;

use crate::cluster::NodeId;
use crate::model::TenantId;
use crate::{StoreError, check};

/// The longest subscription id, in bytes.
const ID_MAX: usize = 256;
/// The length of a digest: SHA-256 in hex.
const DIGEST_LEN: usize = 64;

/// A subscription of a watched mailbox, published by the node that made it so that any node
/// can check a notification against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedSubscription {
    /// The tenant.
    pub tenant: TenantId,
    /// The subscription's id, as the provider (Graph) gave it (at most 256 bytes).
    pub id: String,
    /// The mailbox it notifies of (compared without ASCII case, kept lower-cased).
    pub mailbox: String,
    /// The digest of its `clientState`, lowercase hex (never the secret itself).
    pub digest: String,
}

/// A notification one node accepted for a mailbox, waiting for the node that holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayedNote {
    /// The store's id (increasing in insertion order within one backend).
    pub id: i64,
    /// The tenant.
    pub tenant: TenantId,
    /// The mailbox it is for, lower-cased.
    pub mailbox: String,
    /// Opaque to the store (JSON the service writes).
    pub body: String,
    /// When it was accepted (Unix ms), as given to `relay`.
    pub at_ms: i64,
}

/// Notifications accepted by any node for the node that watches their mailbox, and the
/// subscriptions they are checked against. Part of [`Store`](crate::Store).
///
/// A subscription's id is 1 to 256 bytes, its mailbox an address (lower-cased), its digest 64
/// lowercase hex digits; anything else is refused as [`StoreError::Invalid`], and nothing is
/// written. An empty slice of notes or ids is no operation (no query is made).
#[async_trait]
pub trait Relay: Send + Sync {
    /// Publishes a subscription, replacing one with the same (tenant, id).
    async fn share_subscription(&self, subscription: &SharedSubscription)
    -> Result<(), StoreError>;

    /// Withdraws one; false if there was none.
    async fn unshare_subscription(&self, tenant: &TenantId, id: &str) -> Result<bool, StoreError>;

    /// The published subscriptions among `ids` (unknown ids skipped), in any order.
    async fn shared_subscriptions(
        &self,
        tenant: &TenantId,
        ids: &[String],
    ) -> Result<Vec<SharedSubscription>, StoreError>;

    /// Keeps notes (mailbox, body) for the mailboxes' holders, accepted at `at_ms`, in one
    /// transaction; durable on return.
    async fn relay(
        &self,
        tenant: &TenantId,
        notes: &[(String, String)],
        at_ms: i64,
    ) -> Result<(), StoreError>;

    /// At most `limit` notes of `tenant` for mailboxes whose unexpired lease `node` holds
    /// (the same lease test as [`Checkpoint::holder`](crate::Checkpoint::holder) fencing, by
    /// the store's clock), oldest first (by id). Not removed: the caller drops them once it
    /// has them safe.
    async fn relayed_to(
        &self,
        node: &NodeId,
        tenant: &TenantId,
        limit: usize,
    ) -> Result<Vec<RelayedNote>, StoreError>;

    /// Removes notes; how many were there.
    async fn drop_relayed(&self, ids: &[i64]) -> Result<u64, StoreError>;

    /// Removes `tenant`'s notes accepted before `before_ms` (nobody took them: their mailbox
    /// is no longer watched); how many.
    async fn expire_relayed(&self, tenant: &TenantId, before_ms: i64) -> Result<u64, StoreError>;
}

/// A subscription to publish, checked, with its mailbox lower-cased.
pub(crate) fn subscription(
    op: &'static str,
    subscription: &SharedSubscription,
) -> Result<SharedSubscription, StoreError> {
    let tenant = &subscription.tenant;
    let id = &subscription.id;
    if id.is_empty() || id.len() > ID_MAX {
        return Err(StoreError::invalid(
            op,
            &format!("subscription of tenant {tenant}"),
            format!(
                "a subscription's id has 1 to {ID_MAX} bytes, this one has {}",
                id.len()
            ),
        ));
    }
    let mailbox = check::mailbox(op, &subscription.mailbox)?;
    let digest = &subscription.digest;
    if digest.len() != DIGEST_LEN
        || !digest
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(StoreError::invalid(
            op,
            &subscription_record(tenant, id),
            "a subscription's digest (of its clientState) is 64 lowercase hex digits",
        ));
    }
    Ok(SharedSubscription {
        mailbox,
        ..subscription.clone()
    })
}

/// Notes to relay, checked, with their mailboxes lower-cased.
pub(crate) fn notes(
    op: &'static str,
    notes: &[(String, String)],
) -> Result<Vec<(String, String)>, StoreError> {
    notes
        .iter()
        .map(|(mailbox, body)| {
            let mailbox = check::mailbox(op, mailbox)?;
            check::size(op, &format!("note for mailbox {mailbox}"), body.len())?;
            Ok((mailbox, body.clone()))
        })
        .collect()
}

/// How a subscription is named in errors.
pub(crate) fn subscription_record(tenant: &TenantId, id: &str) -> String {
    check::named("subscription", tenant, id)
}

/// How a batch of notes for `tenant` is named in errors.
pub(crate) fn notes_record(count: usize, tenant: &TenantId) -> String {
    format!("{count} notes of tenant {tenant}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(id: &str, mailbox: &str, digest: &str) -> SharedSubscription {
        SharedSubscription {
            tenant: TenantId::new("contoso").unwrap(),
            id: id.into(),
            mailbox: mailbox.into(),
            digest: digest.into(),
        }
    }

    #[test]
    fn subscriptions_are_checked_field_by_field() {
        let digest = "0123456789abcdef".repeat(4);
        let good = subscription("op", &shared("sub-1", "Alice@Contoso.com", &digest)).unwrap();
        assert_eq!(good.mailbox, "alice@contoso.com");
        assert!(subscription("op", &shared(&"i".repeat(256), "a@b", &digest)).is_ok());
        for (bad, field) in [
            (shared("", "a@b", &digest), "id"),
            (shared(&"i".repeat(257), "a@b", &digest), "id"),
            (shared("sub-1", "", &digest), "mailbox"),
            (shared("sub-1", "a@b", &digest.to_uppercase()), "digest"),
            (shared("sub-1", "a@b", &digest[1..]), "digest"),
            (
                shared("sub-1", "a@b", &format!("{}g", &digest[1..])),
                "digest",
            ),
        ] {
            let error = subscription("op", &bad).unwrap_err();
            assert!(matches!(error, StoreError::Invalid { .. }), "{error:?}");
            assert!(error.to_string().contains(field), "{field}: {error}");
        }
    }
}
