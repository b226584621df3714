//! The cluster: nodes that share one store, each watching the mailboxes whose lease it holds.
//!
//! Every stored mailbox is watched by one node at a time. A node says it is alive with
//! [`Leases::heartbeat`], takes free mailboxes with [`Leases::claim`] (or one with
//! [`Leases::claim_mailbox`]), keeps them with [`Leases::renew`] before their ttl runs out, and
//! gives them up with [`Leases::release`] or, when it stops, [`Leases::leave`] (which gives back
//! the pushes it was sending too). A lease that is not renewed in time expires, and any node may
//! claim the mailbox then.
//!
//! Leases are timed by the store's clock (PostgreSQL's `clock_timestamp()`, for SQLite the
//! system clock), so nodes whose clocks disagree still agree on who holds what. A node that lost
//! a lease cannot announce the mailbox's events any more: [`Outbox::enqueue`](crate::Outbox::enqueue)
//! with a [`Checkpoint::holder`](crate::Checkpoint::holder) writes nothing unless that node holds
//! the mailbox's unexpired lease (fencing).

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::StoreError;
use crate::model::{MailboxRecord, TenantId};

/// A node's name in the cluster: 1-64 of ASCII letters, digits, '.', '-', '_'.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NodeId(String);

impl NodeId {
    /// A node id, checked.
    pub fn new(id: impl Into<String>) -> Result<Self, InvalidNodeId> {
        let id = id.into();
        let valid = (1..=64).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
        if valid {
            Ok(Self(id))
        } else {
            Err(InvalidNodeId(id))
        }
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for NodeId {
    type Error = InvalidNodeId;

    fn try_from(value: String) -> Result<Self, InvalidNodeId> {
        Self::new(value)
    }
}

impl From<NodeId> for String {
    fn from(id: NodeId) -> Self {
        id.0
    }
}

/// A node id that breaks the rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a node id (1-64 ASCII letters, digits, '.', '-' or '_')")]
pub struct InvalidNodeId(pub String);

/// What a node says of itself at each heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeBeat {
    /// The node.
    pub node: NodeId,
    /// Mailboxes it watches at most.
    pub capacity: u32,
    /// Where its API listens (for the cluster view), if known.
    pub url: Option<String>,
}

/// A node as the cluster sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeRecord {
    /// The node.
    pub node: NodeId,
    /// Mailboxes it watches at most, as its last heartbeat said.
    pub capacity: u32,
    /// Where its API listens, as its last heartbeat said.
    pub url: Option<String>,
    /// First heartbeat of this run of the node (Unix ms, store clock); a node that left and
    /// comes back starts anew.
    pub started_at_ms: i64,
    /// Last heartbeat (Unix ms, store clock).
    pub heartbeat_at_ms: i64,
    /// Whether its last heartbeat's ttl has not run out (store clock, at the time of the query).
    pub alive: bool,
    /// Mailboxes whose lease it holds, unexpired.
    pub mailboxes: u64,
    /// Age in ms of its least recently renewed unexpired lease (store clock), None with none.
    pub oldest_lease_age_ms: Option<i64>,
}

/// Mailbox leases: each stored mailbox is watched by one node at a time. Part of [`Store`](crate::Store).
///
/// A ttl is at least 1 ms and at most a day ([`StoreError::Invalid`] otherwise). A node "holds"
/// a mailbox while its lease is unexpired: a lease that ran out names its old holder no more,
/// and every node may claim the mailbox (its old holder too).
#[async_trait]
pub trait Leases: Send + Sync {
    /// Records `beat` (alive for `ttl` from now, store clock) and returns every node known,
    /// alive or not, by node id. A node whose heartbeat ran out more than 10 × its ttl ago
    /// is forgotten (its row deleted) by any heartbeat.
    ///
    /// A node beating again after its own ttl ran out (or after it left, or was forgotten)
    /// starts a new run: its `started_at_ms` is now.
    async fn heartbeat(
        &self,
        beat: &NodeBeat,
        ttl: Duration,
    ) -> Result<Vec<NodeRecord>, StoreError>;

    /// The cluster as `heartbeat` returns it, without beating.
    async fn nodes(&self) -> Result<Vec<NodeRecord>, StoreError>;

    /// Extends every unexpired lease `node` holds to now + `ttl`; returns the mailboxes it
    /// holds now, by tenant then mailbox. A lease that had expired is not renewed (another
    /// node may have it already): it is not in the answer.
    async fn renew(
        &self,
        node: &NodeId,
        ttl: Duration,
    ) -> Result<Vec<(TenantId, String)>, StoreError>;

    /// Takes at most `limit` mailboxes nobody holds (never held, released, or expired) for
    /// `node` until now + `ttl`, and returns their records (by tenant, grouping, mailbox).
    /// Affinity: mailboxes whose (tenant, grouping) `node` already holds some of come first;
    /// then free mailboxes in (tenant, grouping, mailbox) order, so a node takes whole groups
    /// as far as `limit` lets it; a free mailbox whose group another live holder has is taken
    /// only after every other free mailbox (NULL grouping = a group of its own). Two nodes
    /// claiming at once never both get a mailbox (PostgreSQL: FOR UPDATE SKIP LOCKED in the
    /// selecting subquery and the holder condition re-checked in the UPDATE).
    ///
    /// Mailboxes without a grouping come after the groups of their tenant, and in the answer
    /// after the grouped ones of their tenant; text is compared by bytes.
    async fn claim(
        &self,
        node: &NodeId,
        ttl: Duration,
        limit: usize,
    ) -> Result<Vec<MailboxRecord>, StoreError>;

    /// Takes one stored mailbox for `node` if nobody else holds it (free, expired, or held by
    /// `node`: then renewed). Its record if `node` holds it now; None if another node does
    /// or the mailbox is not stored.
    async fn claim_mailbox(
        &self,
        node: &NodeId,
        tenant: &TenantId,
        mailbox: &str,
        ttl: Duration,
    ) -> Result<Option<MailboxRecord>, StoreError>;

    /// Gives up `node`'s leases of `mailboxes` at once (others may claim them now); returns
    /// how many it held. Leases of other nodes are untouched.
    async fn release(
        &self,
        node: &NodeId,
        mailboxes: &[(TenantId, String)],
    ) -> Result<u64, StoreError>;

    /// A clean stop, or a start after a crash: releases every lease of `node`, gives back the
    /// pushes it claimed ([`Outbox::enqueue`](crate::Outbox::enqueue) with it as the holder,
    /// or [`Outbox::claim_due`](crate::Outbox::claim_due)) and deletes its node row. The pushes
    /// are then claimed by nobody and due at once: their `not_before_ms` becomes now (Unix ms,
    /// store clock) unless it was earlier, so any node's next `claim_due` takes them. Pushes
    /// of other nodes, and those waiting for a retry, are untouched.
    ///
    /// Call it when the node sends nothing more: a push it is still sending may be sent again
    /// by another node.
    async fn leave(&self, node: &NodeId) -> Result<(), StoreError>;

    /// Who holds `mailbox`'s unexpired lease.
    async fn holder(&self, tenant: &TenantId, mailbox: &str) -> Result<Option<NodeId>, StoreError>;

    /// How many mailboxes are stored, of all tenants (the work the nodes share).
    async fn mailbox_count(&self) -> Result<u64, StoreError>;
}

/// The longest lease or heartbeat ttl: a day.
const TTL_MAX_MS: i64 = 24 * 60 * 60 * 1000;
/// The longest node URL.
const URL_MAX: usize = 2048;

/// `ttl` in whole milliseconds, if it is between 1 ms and a day.
pub(crate) fn ttl_ms(op: &'static str, record: &str, ttl: Duration) -> Result<i64, StoreError> {
    match i64::try_from(ttl.as_millis()) {
        Ok(ms) if (1..=TTL_MAX_MS).contains(&ms) => Ok(ms),
        _ => Err(StoreError::invalid(
            op,
            record,
            format!("a ttl is at least 1 ms and at most a day, not {ttl:?}"),
        )),
    }
}

/// A heartbeat's URL: at most 2048 characters, no spaces or control characters.
pub(crate) fn check_beat(op: &'static str, beat: &NodeBeat) -> Result<(), StoreError> {
    if let Some(url) = &beat.url
        && (url.is_empty()
            || url.len() > URL_MAX
            || url.chars().any(|c| c.is_whitespace() || c.is_control()))
    {
        return Err(StoreError::invalid(
            op,
            &node_record(&beat.node),
            "a node's URL has 1 to 2048 characters and no spaces",
        ));
    }
    Ok(())
}

/// How a node is named in errors.
pub(crate) fn node_record(node: &NodeId) -> String {
    format!("node {node}")
}

/// A limit as SQL takes it.
pub(crate) fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// Puts claimed mailboxes in the order [`Leases::claim`] answers: by tenant, grouping (none
/// last), mailbox.
pub(crate) fn sort_claimed(records: &mut [MailboxRecord]) {
    records.sort_by(|a, b| {
        (
            a.tenant.as_str(),
            a.grouping.is_none(),
            &a.grouping,
            &a.mailbox,
        )
            .cmp(&(
                b.tenant.as_str(),
                b.grouping.is_none(),
                &b.grouping,
                &b.mailbox,
            ))
    });
}

/// Why an [`enqueue`](crate::Outbox::enqueue) fenced by `node` wrote nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fenced {
    /// The node that wanted to write.
    node: NodeId,
    /// Another node holding the mailbox's unexpired lease; `None` when nobody does.
    other: Option<String>,
    /// Whether `node`'s own lease ran out (and no node has taken the mailbox yet).
    expired: bool,
}

impl Fenced {
    /// Whether `node` may write for a mailbox whose lease row reads (holder, unexpired).
    pub(crate) fn check(node: &NodeId, holder: Option<&str>, unexpired: bool) -> Result<(), Self> {
        let mine = holder == Some(node.as_str());
        if mine && unexpired {
            return Ok(());
        }
        Err(Self {
            node: node.clone(),
            other: holder.filter(|_| !mine && unexpired).map(str::to_owned),
            expired: mine,
        })
    }

    /// The refusal as `op`'s error on `record`, with the rule that refused it.
    pub(crate) fn into_conflict(self, op: &'static str, record: String) -> StoreError {
        let node = &self.node;
        let why = match (&self.other, self.expired) {
            (Some(other), _) => format!("the mailbox's lease is node {other}'s, not node {node}'s"),
            (None, true) => format!("node {node}'s lease of the mailbox expired"),
            (None, false) => {
                format!("node {node} holds no lease of the mailbox (released or never taken)")
            }
        };
        let rule = format!(
            "{why}; a node writes a mailbox's pushes and watermark only while it holds its \
             lease (what it saw is announced by the mailbox's holder)"
        );
        StoreError::Conflict { op, record, rule }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_are_checked() {
        for good in ["node-1", "bems.eu_west.3", &"n".repeat(64)] {
            assert_eq!(NodeId::new(good).unwrap().as_str(), good);
        }
        for bad in ["", "node 1", "nöde", "a/b", &"n".repeat(65)] {
            let error = NodeId::new(bad).unwrap_err();
            assert!(error.to_string().contains("not a node id"), "{error}");
        }
        let id: NodeId = serde_json::from_str(r#""node-1""#).unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), r#""node-1""#);
        assert!(serde_json::from_str::<NodeId>(r#""node 1""#).is_err());
    }

    #[test]
    fn ttls_are_whole_milliseconds_up_to_a_day() {
        assert_eq!(ttl_ms("op", "r", Duration::from_millis(200)).unwrap(), 200);
        for bad in [
            Duration::ZERO,
            Duration::from_micros(999),
            Duration::from_secs(86_401),
        ] {
            let error = ttl_ms("op", "node a", bad).unwrap_err();
            assert!(
                error.to_string().contains("a ttl is at least 1 ms"),
                "{error}"
            );
        }
    }

    #[test]
    fn fencing_names_whose_lease_it_is() {
        let a = NodeId::new("a").unwrap();
        let rule = |holder, unexpired| match Fenced::check(&a, holder, unexpired) {
            Ok(()) => "written".to_owned(),
            Err(fenced) => fenced
                .into_conflict("enqueue", "mailbox x".into())
                .to_string(),
        };
        assert_eq!(rule(Some("a"), true), "written");
        assert!(rule(Some("a"), false).contains("node a's lease of the mailbox expired"));
        assert!(rule(Some("b"), true).contains("lease is node b's, not node a's"));
        assert!(rule(Some("b"), false).contains("node a holds no lease"));
        assert!(rule(None, false).contains("node a holds no lease"));
        let error = Fenced::check(&a, None, false)
            .unwrap_err()
            .into_conflict("enqueue", "mailbox x".into());
        assert!(
            matches!(error, StoreError::Conflict { op: "enqueue", .. }),
            "{error:?}"
        );
    }
}
