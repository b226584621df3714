//! This node among the nodes that share one store: which mailboxes it watches, under leases
//! in the store, and how full it is.
//!
//! Every third of a lease, the node
//!
//! | step | what | why |
//! |---|---|---|
//! | 1 | beats (its capacity and URL) and reads the cluster | the nodes alive share the work |
//! | 2 | renews its leases; stops watching each mailbox whose lease it lost | a node that was cut off for a lease's length no longer holds them: another node does |
//! | 3 | claims free mailboxes up to its share (the mailboxes over the nodes alive, at most its capacity), group by group, and watches them | a dead node's mailboxes, new mailboxes, and those another node handed over |
//! | 4 | hands over what it holds beyond its share (stops watching, then releases) | a node that joined gets its share without waiting for a lease to run out |
//!
//! A mailbox changes hands without a gap: the node giving it up unsubscribes before it
//! releases the lease, and the node taking it subscribes from the saved watermark (push,
//! pull) or compares the unread count with the saved one (streaming). Whatever the old
//! holder still had in hand is refused by the store ([`Checkpoint::holder`]), so it is
//! announced once, by the new holder.
//!
//! Capacity alarms, as BlackBerry's BEMS raises them: a warning at 80% of the capacity, an
//! error at 100% (new mailboxes then wait for a node with room).
//!
//! [`Checkpoint::holder`]: bems_store::Checkpoint

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bems_settings::ClusterSettings;
use bems_store::model::{MailboxRecord, TenantId};
use bems_store::{NodeBeat, NodeId, NodeRecord};

use crate::error::StartError;

/// A mailbox of a tenant.
pub(crate) type MailboxKey = (TenantId, String);

/// How full a node is, as BEMS's capacity alarms say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Alarm {
    /// Below 80% of its capacity.
    Ok,
    /// From 80% of its capacity.
    Warning,
    /// At its capacity: mailboxes beyond wait for a node with room.
    Critical,
}

impl Alarm {
    /// The alarm of a node watching `mailboxes` of `capacity`.
    pub fn of(mailboxes: u64, capacity: u32) -> Self {
        let capacity = u64::from(capacity.max(1));
        if mailboxes >= capacity {
            Self::Critical
        } else if mailboxes * 5 >= capacity * 4 {
            Self::Warning
        } else {
            Self::Ok
        }
    }

    /// `ok`, `warning` or `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }
}

/// This node as the admin status shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NodeStatus {
    /// Its name.
    pub node: NodeId,
    /// The most mailboxes it watches.
    pub capacity: u32,
    /// The mailboxes whose lease it holds.
    pub mailboxes: u64,
    /// `mailboxes` in percent of `capacity`.
    pub percent: u64,
    /// Its capacity alarm.
    pub alarm: Alarm,
    /// Mailboxes no node held at the last look (all nodes full, or a dead node's leases not
    /// yet run out).
    pub waiting: u64,
    /// The nodes alive at the last look, this one included.
    pub nodes_alive: usize,
    /// Tenants whose settings were stored through the admin API (on any node) since this
    /// node started: they apply at its next start.
    pub settings_pending: Vec<TenantId>,
}

/// The cluster as `GET /admin/cluster` shows it: every node the store knows, this one first.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ClusterView {
    /// This node.
    pub this: NodeStatus,
    /// Every node known: alive or not, with its mailboxes and the age of its oldest lease.
    pub nodes: Vec<NodeView>,
    /// Mailboxes stored.
    pub mailboxes: u64,
}

/// One node in the [`ClusterView`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct NodeView {
    /// As the store keeps it.
    #[serde(flatten)]
    pub record: NodeRecord,
    /// Its capacity alarm.
    pub alarm: Alarm,
}

/// This node's part: its name and bounds, the mailboxes it holds, what it saw last.
pub struct Node {
    id: NodeId,
    capacity: u32,
    lease: Duration,
    url: Option<String>,
    /// Held mailboxes and their groups (`GroupingInformation`).
    held: Mutex<BTreeMap<MailboxKey, Option<String>>>,
    /// Mailboxes taken since their pipeline last saw them subscribed: their first
    /// subscription here starts from what the store says, not from the pipeline's memory.
    fresh: Mutex<HashSet<MailboxKey>>,
    /// The cluster at the last beat, and the mailboxes stored then.
    seen: Mutex<(Vec<NodeRecord>, u64)>,
    /// Tenants whose stored settings changed since this node started.
    pending: Mutex<std::collections::BTreeSet<TenantId>>,
    /// Autodiscover lookups (and the subscriptions after them) of mailboxes taken, at most
    /// [`LOCATING`] at once.
    locating: Arc<crate::jobs::Jobs>,
}

/// Autodiscover lookups a node runs at once for the mailboxes it takes.
pub const LOCATING: usize = 32;

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("id", &self.id)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Node {
    /// The node `[cluster]` describes, its API at `url` (for the cluster view).
    pub fn new(settings: &ClusterSettings, url: Option<String>) -> Result<Self, StartError> {
        let name = settings.node.clone().unwrap_or_else(host_name);
        let id = NodeId::new(name).map_err(|e| StartError::part("cluster.node", e))?;
        Ok(Self::named(
            id,
            settings.capacity,
            Duration::from_secs(u64::from(settings.lease_seconds)),
            url,
        ))
    }

    /// A node of these bounds.
    pub fn named(id: NodeId, capacity: u32, lease: Duration, url: Option<String>) -> Self {
        Self {
            id,
            capacity,
            lease,
            url,
            held: Mutex::new(BTreeMap::new()),
            fresh: Mutex::new(HashSet::new()),
            seen: Mutex::new((Vec::new(), 0)),
            pending: Mutex::new(std::collections::BTreeSet::new()),
            locating: Arc::new(crate::jobs::Jobs::new(LOCATING)),
        }
    }

    /// The queue of its Autodiscover lookups.
    pub(crate) fn locating(&self) -> &Arc<crate::jobs::Jobs> {
        &self.locating
    }

    /// Its name.
    pub fn id(&self) -> &NodeId {
        &self.id
    }

    /// How long its leases last.
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// How often it beats, renews and claims: a third of a lease.
    pub fn tick(&self) -> Duration {
        self.lease / 3
    }

    /// What it says of itself.
    pub(crate) fn beat(&self) -> NodeBeat {
        NodeBeat {
            node: self.id.clone(),
            capacity: self.capacity,
            url: self.url.clone(),
        }
    }

    /// How many mailboxes it holds.
    pub fn held(&self) -> usize {
        lock(&self.held).len()
    }

    /// Whether it holds `mailbox`.
    pub fn holds(&self, tenant: &TenantId, mailbox: &str) -> bool {
        lock(&self.held).contains_key(&(tenant.clone(), mailbox.to_owned()))
    }

    /// Whether it has room for one more mailbox.
    pub(crate) fn has_room(&self) -> bool {
        self.held() < self.capacity as usize
    }

    /// Records a mailbox taken; false if it was held already.
    pub(crate) fn take(&self, record: &MailboxRecord) -> bool {
        let key = (record.tenant.clone(), record.mailbox.clone());
        let new = lock(&self.held)
            .insert(key.clone(), record.grouping.clone())
            .is_none();
        if new {
            lock(&self.fresh).insert(key);
        }
        new
    }

    /// Forgets mailboxes no longer held.
    pub(crate) fn drop_held(&self, keys: &[MailboxKey]) {
        let mut held = lock(&self.held);
        let mut fresh = lock(&self.fresh);
        for key in keys {
            held.remove(key);
            fresh.remove(key);
        }
    }

    /// The mailboxes it holds now.
    pub(crate) fn held_keys(&self) -> Vec<MailboxKey> {
        lock(&self.held).keys().cloned().collect()
    }

    /// The mailboxes of `renewed` it does not know it holds.
    pub(crate) fn unknown(&self, renewed: &HashSet<MailboxKey>) -> Vec<MailboxKey> {
        let held = lock(&self.held);
        renewed
            .iter()
            .filter(|key| !held.contains_key(*key))
            .cloned()
            .collect()
    }

    /// The held mailboxes to hand over to come down to `target`: the last groups in order,
    /// whole where they fit.
    pub(crate) fn surplus(&self, target: usize) -> Vec<MailboxKey> {
        let held = lock(&self.held);
        let extra = held.len().saturating_sub(target);
        let mut by_group: Vec<(&MailboxKey, &Option<String>)> = held.iter().collect();
        by_group.sort_by(|a, b| (&a.0.0, a.1, &a.0.1).cmp(&(&b.0.0, b.1, &b.0.1)));
        by_group
            .into_iter()
            .rev()
            .take(extra)
            .map(|(key, _)| key.clone())
            .collect()
    }

    /// Whether `mailbox` was taken since its pipeline last saw it subscribed; the first call
    /// after a take says true, later ones false.
    pub fn first_subscription(&self, tenant: &TenantId, mailbox: &str) -> bool {
        lock(&self.fresh).remove(&(tenant.clone(), mailbox.to_owned()))
    }

    /// How many mailboxes it should hold, the cluster being `nodes` with `mailboxes` stored:
    /// an even share among the nodes alive, at most its capacity.
    pub(crate) fn target(&self, nodes: &[NodeRecord], mailboxes: u64) -> usize {
        let alive = nodes.iter().filter(|n| n.alive).count().max(1) as u64;
        let share = mailboxes.div_ceil(alive);
        usize::try_from(share.min(u64::from(self.capacity))).unwrap_or(usize::MAX)
    }

    /// Notes that `tenant`'s stored settings changed: they apply at this node's next start.
    pub fn settings_changed(&self, tenant: TenantId) {
        lock(&self.pending).insert(tenant);
    }

    /// Remembers the cluster of the last beat.
    pub(crate) fn saw(&self, nodes: Vec<NodeRecord>, mailboxes: u64) {
        *lock(&self.seen) = (nodes, mailboxes);
    }

    /// Its status: what it holds against its capacity, and what waits.
    pub fn status(&self) -> NodeStatus {
        let held = self.held() as u64;
        let (nodes, stored) = lock(&self.seen).clone();
        let alive: Vec<&NodeRecord> = nodes.iter().filter(|n| n.alive).collect();
        let holding: u64 = alive.iter().map(|n| n.mailboxes).sum();
        NodeStatus {
            node: self.id.clone(),
            capacity: self.capacity,
            mailboxes: held,
            percent: held * 100 / u64::from(self.capacity.max(1)),
            alarm: Alarm::of(held, self.capacity),
            waiting: stored.saturating_sub(holding),
            nodes_alive: alive.len().max(1),
            settings_pending: lock(&self.pending).iter().cloned().collect(),
        }
    }
}

/// The host's name as a node name (`bems` when the system does not say): the kernel's, with
/// characters a node name cannot hold made `-`, at most 64.
fn host_name() -> String {
    let raw = ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|path| std::fs::read_to_string(path).ok())
        .unwrap_or_default();
    node_name(raw.trim())
}

/// `raw` made a valid node name.
fn node_name(raw: &str) -> String {
    let name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    if name.is_empty() {
        "bems".to_owned()
    } else {
        name
    }
}

/// Refuses `node`'s name when a live node elsewhere (another URL) beats under it: two nodes
/// with one name would each take the other's mailboxes for their own.
pub(crate) fn check_name(node: &Node, nodes: &[NodeRecord]) -> Result<(), StartError> {
    let taken = nodes
        .iter()
        .find(|n| n.node == node.id && n.alive && n.url != node.url);
    match taken {
        Some(other) => Err(StartError::NodeNameTaken {
            node: node.id.to_string(),
            url: other.url.clone().unwrap_or_default(),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alarms_are_raised_at_80_and_100_percent() {
        assert_eq!(Alarm::of(0, 10_000), Alarm::Ok);
        assert_eq!(Alarm::of(7_999, 10_000), Alarm::Ok);
        assert_eq!(Alarm::of(8_000, 10_000), Alarm::Warning);
        assert_eq!(Alarm::of(9_999, 10_000), Alarm::Warning);
        assert_eq!(Alarm::of(10_000, 10_000), Alarm::Critical);
        assert_eq!(Alarm::of(4, 5), Alarm::Warning);
        assert_eq!(Alarm::of(3, 5), Alarm::Ok);
    }

    fn node(capacity: u32) -> Node {
        Node::named(
            NodeId::new("n1").unwrap(),
            capacity,
            Duration::from_secs(3),
            None,
        )
    }

    fn record(node: &str, alive: bool) -> NodeRecord {
        NodeRecord {
            node: NodeId::new(node).unwrap(),
            capacity: 100,
            url: None,
            started_at_ms: 0,
            heartbeat_at_ms: 0,
            alive,
            mailboxes: 0,
            oldest_lease_age_ms: None,
        }
    }

    #[test]
    fn the_host_name_is_made_a_node_name() {
        assert_eq!(node_name("mail-gw01.corp"), "mail-gw01.corp");
        assert_eq!(node_name("gw 01/ä"), "gw-01--");
        assert_eq!(node_name(""), "bems");
        assert_eq!(node_name(&"h".repeat(80)).len(), 64);
        assert!(NodeId::new(host_name()).is_ok());
    }

    #[test]
    fn a_live_node_elsewhere_keeps_its_name() {
        let here = Node::named(
            NodeId::new("a").unwrap(),
            10,
            Duration::from_secs(3),
            Some("http://10.0.0.1:8443".into()),
        );
        let mut other = record("a", true);
        other.url = Some("http://10.0.0.2:8443".into());
        assert!(check_name(&here, std::slice::from_ref(&other)).is_err());
        other.alive = false;
        assert!(
            check_name(&here, &[other.clone()]).is_ok(),
            "a dead one's name is free"
        );
        other.alive = true;
        other.url = here.url.clone();
        assert!(check_name(&here, &[other]).is_ok(), "its own last run");
    }

    #[test]
    fn the_share_is_even_among_the_nodes_alive_and_at_most_the_capacity() {
        let three = [record("a", true), record("b", true), record("c", false)];
        assert_eq!(node(1000).target(&three, 301), 151);
        assert_eq!(node(100).target(&three, 301), 100);
        assert_eq!(node(1000).target(&[], 7), 7, "alone before the first beat");
    }

    fn mailbox(tenant: &str, address: &str, group: Option<&str>) -> MailboxRecord {
        MailboxRecord {
            tenant: TenantId::new(tenant).unwrap(),
            mailbox: address.into(),
            ews_url: None,
            grouping: group.map(str::to_owned),
            watermark: None,
        }
    }

    #[test]
    fn the_surplus_is_the_last_groups_and_a_taken_mailbox_is_fresh_once() {
        let node = node(100);
        for (address, group) in [
            ("a@x", Some("g1")),
            ("b@x", Some("g2")),
            ("c@x", Some("g1")),
            ("d@x", Some("g2")),
        ] {
            assert!(node.take(&mailbox("t", address, group)));
        }
        assert!(!node.take(&mailbox("t", "a@x", Some("g1"))));
        let surplus: Vec<String> = node.surplus(2).into_iter().map(|k| k.1).collect();
        assert_eq!(surplus, ["d@x", "b@x"], "group g2 goes whole");
        let t = TenantId::new("t").unwrap();
        assert!(node.first_subscription(&t, "a@x"));
        assert!(!node.first_subscription(&t, "a@x"));
        node.drop_held(&[(t.clone(), "a@x".into())]);
        assert!(!node.holds(&t, "a@x"));
        assert_eq!(node.held(), 3);
    }
}
