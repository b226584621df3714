use std::sync::Arc;
use std::time::Duration;

use super::{LONG, SHORT, contoso, expire, node, stored};
use crate::{NodeBeat, NodeRecord, Store};

fn beat(name: &str, capacity: u32, url: Option<&str>) -> NodeBeat {
    NodeBeat {
        node: node(name),
        capacity,
        url: url.map(str::to_owned),
    }
}

fn find<'a>(nodes: &'a [NodeRecord], name: &str) -> &'a NodeRecord {
    nodes
        .iter()
        .find(|n| n.node.as_str() == name)
        .unwrap_or_else(|| panic!("node {name} is not listed: {nodes:?}"))
}

/// Heartbeats list every node, by id, with the capacity and URL of its last beat.
pub async fn heartbeats_list_nodes_with_capacity_and_url(store: Arc<dyn Store>) {
    store
        .heartbeat(&beat("node-b", 5, None), LONG)
        .await
        .unwrap();
    let nodes = store
        .heartbeat(&beat("node-a", 10, Some("https://a.example:8443")), LONG)
        .await
        .unwrap();
    let names: Vec<_> = nodes.iter().map(|n| n.node.as_str()).collect();
    assert_eq!(names, ["node-a", "node-b"]);
    let a = find(&nodes, "node-a");
    assert_eq!(
        (a.capacity, a.url.as_deref(), a.alive),
        (10, Some("https://a.example:8443"), true)
    );
    assert!(a.started_at_ms <= a.heartbeat_at_ms, "{a:?}");
    assert_eq!((a.mailboxes, a.oldest_lease_age_ms), (0, None));

    let again = store
        .heartbeat(&beat("node-a", 20, None), LONG)
        .await
        .unwrap();
    let after = find(&again, "node-a");
    assert_eq!((after.capacity, after.url.as_deref()), (20, None));
    assert_eq!(after.started_at_ms, a.started_at_ms, "the same run");
    assert!(after.heartbeat_at_ms >= a.heartbeat_at_ms);
    assert_eq!(
        store.nodes().await.unwrap(),
        again,
        "nodes() lists what heartbeat does"
    );
}

/// A node whose last heartbeat's ttl ran out is still listed, not alive; the others are.
pub async fn a_node_whose_ttl_ran_out_is_listed_not_alive(store: Arc<dyn Store>) {
    store
        .heartbeat(&beat("node-a", 10, None), SHORT)
        .await
        .unwrap();
    store
        .heartbeat(&beat("node-b", 10, None), LONG)
        .await
        .unwrap();
    expire().await;
    let nodes = store.nodes().await.unwrap();
    assert!(!find(&nodes, "node-a").alive, "{nodes:?}");
    assert!(find(&nodes, "node-b").alive, "{nodes:?}");
}

/// A node that beats again after its ttl ran out starts a new run: its `started_at_ms` moves.
pub async fn a_node_back_after_its_ttl_ran_out_starts_a_new_run(store: Arc<dyn Store>) {
    let first = store
        .heartbeat(&beat("node-a", 10, None), SHORT)
        .await
        .unwrap();
    let started = find(&first, "node-a").started_at_ms;
    expire().await;
    let back = store
        .heartbeat(&beat("node-a", 10, None), LONG)
        .await
        .unwrap();
    let a = find(&back, "node-a");
    assert!(a.alive);
    assert!(a.started_at_ms > started, "{a:?} after {started}");
    assert_eq!(a.started_at_ms, a.heartbeat_at_ms);
}

/// Any node's heartbeat forgets a node whose heartbeat ran out more than ten of its ttls ago,
/// and only that one.
pub async fn a_node_long_gone_is_forgotten_by_any_heartbeat(store: Arc<dyn Store>) {
    // Gone 20 ms after its beat, forgotten 200 ms later.
    store
        .heartbeat(&beat("node-a", 10, None), Duration::from_millis(20))
        .await
        .unwrap();
    store
        .heartbeat(&beat("node-c", 10, None), SHORT)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        store.nodes().await.unwrap().len(),
        2,
        "nodes() forgets nobody"
    );
    let nodes = store
        .heartbeat(&beat("node-b", 10, None), LONG)
        .await
        .unwrap();
    let names: Vec<_> = nodes.iter().map(|n| n.node.as_str()).collect();
    assert_eq!(
        names,
        ["node-b", "node-c"],
        "node-c is not alive but not gone ten ttls"
    );
}

/// Leaving releases every lease of the node and removes it from the cluster.
pub async fn leaving_releases_the_leases_and_removes_the_node(store: Arc<dyn Store>) {
    for mailbox in ["a@contoso.com", "b@contoso.com"] {
        stored(&*store, mailbox, None).await;
    }
    store
        .heartbeat(&beat("node-a", 10, None), LONG)
        .await
        .unwrap();
    store
        .heartbeat(&beat("node-b", 10, None), LONG)
        .await
        .unwrap();
    assert_eq!(
        store.claim(&node("node-a"), LONG, 10).await.unwrap().len(),
        2
    );
    store.leave(&node("node-a")).await.unwrap();
    let names: Vec<_> = store
        .nodes()
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.node)
        .collect();
    assert_eq!(names, [node("node-b")]);
    assert_eq!(
        store.holder(&contoso(), "a@contoso.com").await.unwrap(),
        None
    );
    assert_eq!(
        store.claim(&node("node-b"), LONG, 10).await.unwrap().len(),
        2
    );
    // Leaving twice, or as a node never seen, is no error.
    store.leave(&node("node-a")).await.unwrap();
}

/// Each node counts the unexpired leases it holds, and tells the age of the least recently
/// renewed one.
pub async fn nodes_count_their_unexpired_leases(store: Arc<dyn Store>) {
    for mailbox in ["a@contoso.com", "b@contoso.com", "c@contoso.com"] {
        stored(&*store, mailbox, None).await;
    }
    for name in ["node-a", "node-b"] {
        store.heartbeat(&beat(name, 10, None), LONG).await.unwrap();
    }
    let (a, b) = (node("node-a"), node("node-b"));
    let tenant = contoso();
    store
        .claim_mailbox(&a, &tenant, "a@contoso.com", LONG)
        .await
        .unwrap()
        .unwrap();
    store
        .claim_mailbox(&a, &tenant, "b@contoso.com", SHORT)
        .await
        .unwrap()
        .unwrap();
    store
        .claim_mailbox(&b, &tenant, "c@contoso.com", LONG)
        .await
        .unwrap()
        .unwrap();
    let nodes = store.nodes().await.unwrap();
    assert_eq!(find(&nodes, "node-a").mailboxes, 2);
    expire().await;
    let nodes = store.nodes().await.unwrap();
    let held = find(&nodes, "node-a");
    assert_eq!(held.mailboxes, 1, "the expired lease is not counted");
    // The lease of a@ was taken before the wait.
    let age = held.oldest_lease_age_ms.unwrap();
    assert!(age >= 400, "{held:?}");
    assert_eq!(find(&nodes, "node-b").mailboxes, 1);
    store
        .release(&a, &[(tenant, "a@contoso.com".into())])
        .await
        .unwrap();
    let nodes = store.nodes().await.unwrap();
    let a = find(&nodes, "node-a");
    assert_eq!((a.mailboxes, a.oldest_lease_age_ms), (0, None));
}
