//! Two nodes on one PostgreSQL database: each a `PostgresStore` of its own, as two processes
//! would have. Claims of mailboxes and of due pushes never hand one thing to both; a tenant
//! saved on one node reaches the other; a database of schema version 1 migrates with its rows.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use bems_store::model::{NewDevice, PendingPush, Platform, TenantId};
use bems_store::{
    DeviceStore, Leases, MailboxStore, NodeId, Outbox, PostgresStore, Relay, StoreKey, TenantStore,
};
use tokio::sync::broadcast;

use bems_store::conformance::scratch::{admin_client, scratch};

const LONG: Duration = Duration::from_secs(60);

fn contoso() -> TenantId {
    TenantId::new("contoso").unwrap()
}

/// alice's phone.
fn alices_device() -> NewDevice {
    NewDevice {
        tenant: contoso(),
        mailbox: "alice@contoso.com".into(),
        platform: Platform::Apns,
        token: "a1b2c3".into(),
        app_id: "com.example.mail".into(),
        locale: "en".into(),
        public_key: None,
    }
}

/// A push to alice's `device`, seen at `seen_at_ms`.
fn alices_push(device_id: i64, seen_at_ms: i64) -> PendingPush {
    PendingPush {
        device_id,
        tenant: contoso(),
        mailbox: "alice@contoso.com".into(),
        payload: "{}".into(),
        seen_at_ms,
    }
}

/// Two stores (nodes) on one scratch database.
async fn two_nodes(url: &str) -> (Arc<PostgresStore>, Arc<PostgresStore>) {
    let key = || StoreKey::from_bytes([7; 32]);
    let (a, b) = tokio::join!(
        PostgresStore::connect(url, key()),
        PostgresStore::connect(url, key())
    );
    (Arc::new(a.unwrap()), Arc::new(b.unwrap()))
}

/// The next tenant change, waited for at most ten seconds.
async fn next_change(changes: &mut broadcast::Receiver<TenantId>) -> TenantId {
    tokio::time::timeout(Duration::from_secs(10), changes.recv())
        .await
        .expect("a tenant change within 10 s")
        .expect("a tenant change")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_claiming_at_once_never_hold_a_mailbox_twice() {
    let Some((url, _scratch)) = scratch("postgres::cluster::claims").await else {
        return;
    };
    let (one, two) = two_nodes(&url).await;
    // 500 mailboxes in 25 groups (and every tenth without one).
    admin_client(&url)
        .await
        .batch_execute(
            "INSERT INTO mailboxes (tenant, mailbox, grouping, updated_at_ms)
             SELECT 'contoso', 'user' || n || '@contoso.com',
                    CASE WHEN n % 10 = 0 THEN NULL ELSE 'G' || (n % 25) END, 0
             FROM generate_series(1, 500) AS n",
        )
        .await
        .unwrap();
    assert_eq!(one.mailbox_count().await.unwrap(), 500);
    // Two claim loops per node, each taking a few at a time until nothing is left.
    let loops: Vec<_> = [
        (&one, "node-a"),
        (&one, "node-a"),
        (&two, "node-b"),
        (&two, "node-b"),
    ]
    .into_iter()
    .map(|(store, name)| {
        let (store, node) = (Arc::clone(store), NodeId::new(name).unwrap());
        tokio::spawn(async move {
            let mut taken = Vec::new();
            loop {
                let claimed = store.claim(&node, LONG, 7).await.unwrap();
                if claimed.is_empty() {
                    return (node, taken);
                }
                taken.extend(claimed.into_iter().map(|m| m.mailbox));
            }
        })
    })
    .collect();
    let mut all = BTreeSet::new();
    let mut per_node = std::collections::BTreeMap::<NodeId, usize>::new();
    for task in loops {
        let (node, taken) = task.await.unwrap();
        *per_node.entry(node.clone()).or_default() += taken.len();
        for mailbox in taken {
            assert!(all.insert(mailbox.clone()), "{mailbox} claimed twice");
            assert_eq!(
                one.holder(&contoso(), &mailbox).await.unwrap(),
                Some(node.clone())
            );
        }
    }
    assert_eq!(all.len(), 500, "together they hold every mailbox");
    let nodes_held: u64 = per_node.values().map(|n| *n as u64).sum();
    assert_eq!(nodes_held, 500);
    let held = admin_client(&url)
        .await
        .query_one(
            "SELECT count(DISTINCT (tenant, mailbox)) FROM mailboxes WHERE holder IS NOT NULL",
            &[],
        )
        .await
        .unwrap()
        .get::<_, i64>(0);
    assert_eq!(held, 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_claiming_due_pushes_never_get_one_twice() {
    let Some((url, _scratch)) = scratch("postgres::cluster::claim_due").await else {
        return;
    };
    let (one, two) = two_nodes(&url).await;
    let device = one.register_device(&alices_device(), 10).await.unwrap();
    let pushes: Vec<_> = (0..500).map(|n| alices_push(device.id, n)).collect();
    let enqueued: BTreeSet<i64> = one
        .enqueue(&pushes, 1, None)
        .await
        .unwrap()
        .into_iter()
        .collect();
    let senders: Vec<_> = [
        (&one, "node-a"),
        (&one, "node-a"),
        (&two, "node-b"),
        (&two, "node-b"),
    ]
    .into_iter()
    .map(|(store, name)| {
        let (store, node) = (Arc::clone(store), NodeId::new(name).unwrap());
        tokio::spawn(async move {
            let mut claimed = Vec::new();
            loop {
                let due = store.claim_due(&node, 10, 7, 1_000_000).await.unwrap();
                if due.is_empty() {
                    return claimed;
                }
                claimed.extend(due.into_iter().map(|e| e.id));
            }
        })
    })
    .collect();
    let mut all = BTreeSet::new();
    for sender in senders {
        for id in sender.await.unwrap() {
            assert!(all.insert(id), "push {id} claimed twice");
        }
    }
    assert_eq!(all, enqueued, "every push claimed once");
}

#[tokio::test]
async fn a_tenant_saved_on_one_node_reaches_the_other() {
    let Some((url, _scratch)) = scratch("postgres::cluster::tenant_changes").await else {
        return;
    };
    let (one, two) = two_nodes(&url).await;
    let mut heard = two.tenant_changes();
    one.put_tenant(&contoso(), r#"{"v":1}"#).await.unwrap();
    assert_eq!(next_change(&mut heard).await, contoso());
    assert_eq!(
        two.tenant(&contoso()).await.unwrap().as_deref(),
        Some(r#"{"v":1}"#)
    );
    assert!(one.delete_tenant(&contoso()).await.unwrap());
    assert_eq!(next_change(&mut heard).await, contoso());
}

#[tokio::test]
async fn a_lost_listening_connection_comes_back_and_announces_every_tenant() {
    let Some((url, _scratch)) = scratch("postgres::cluster::listener_back").await else {
        return;
    };
    let (one, two) = two_nodes(&url).await;
    let fabrikam = TenantId::new("fabrikam").unwrap();
    let mut heard = one.tenant_changes();
    for tenant in [&fabrikam, &contoso()] {
        one.put_tenant(tenant, "{}").await.unwrap();
    }
    for _ in 0..2 {
        next_change(&mut heard).await; // the two saves
    }
    // The server ends the listening connections of both nodes.
    let ended: i64 = admin_client(&url)
        .await
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE application_name = 'bems-store tenant changes'
               AND datname = current_database()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(ended, 2);
    let mut announced = vec![next_change(&mut heard).await, next_change(&mut heard).await];
    announced.sort();
    assert_eq!(
        announced,
        [contoso(), fabrikam.clone()],
        "every stored tenant, once"
    );
    // Listening again: a change on the other node is heard.
    two.put_tenant(&fabrikam, r#"{"v":2}"#).await.unwrap();
    assert_eq!(next_change(&mut heard).await, fabrikam);
}

#[tokio::test]
async fn a_database_at_version_1_migrates_to_5_with_its_rows() {
    let Some((url, _scratch)) = scratch("postgres::cluster::migration_5").await else {
        return;
    };
    let store = PostgresStore::connect(&url, StoreKey::from_bytes([7; 32]))
        .await
        .unwrap();
    store.put_tenant(&contoso(), r#"{"v":1}"#).await.unwrap();
    store
        .save_watermark(&contoso(), "alice@contoso.com", "w1")
        .await
        .unwrap();
    store
        .save_unread_counts(&contoso(), &[("alice@contoso.com".into(), 3)])
        .await
        .unwrap();
    let device = store.register_device(&alices_device(), 10).await.unwrap();
    let pushed = store
        .enqueue(&[alices_push(device.id, 1)], 50, None)
        .await
        .unwrap();
    drop(store);
    // Version 1 as it was: migrations 5, 4, 3 and 2 undone.
    let admin = admin_client(&url).await;
    admin
        .batch_execute(
            "ALTER TABLE devices DROP COLUMN public_key;
             DROP TABLE relayed, shared_subscriptions;
             DROP INDEX outbox_by_claimer;
             ALTER TABLE outbox DROP COLUMN claimed_by;
             DROP TABLE nodes;
             ALTER TABLE mailboxes DROP CONSTRAINT mailboxes_lease_whole,
                 DROP COLUMN holder, DROP COLUMN lease_until_ms, DROP COLUMN leased_at_ms;
             DELETE FROM schema_version WHERE version IN (2, 3, 4, 5);",
        )
        .await
        .unwrap();

    let store = PostgresStore::connect(&url, StoreKey::from_bytes([7; 32]))
        .await
        .unwrap();
    let versions: Vec<i64> = admin
        .query("SELECT version FROM schema_version ORDER BY version", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(versions, [1, 2, 3, 4, 5]);
    assert_eq!(
        store.tenant(&contoso()).await.unwrap().as_deref(),
        Some(r#"{"v":1}"#)
    );
    let mailbox = store
        .mailbox(&contoso(), "alice@contoso.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(mailbox.watermark.as_deref(), Some("w1"));
    assert_eq!(
        store.unread_counts(&contoso()).await.unwrap(),
        [("alice@contoso.com".to_owned(), 3)]
    );
    // The migrated mailbox is free: a node claims it.
    let node = NodeId::new("node-a").unwrap();
    assert_eq!(
        store.holder(&contoso(), "alice@contoso.com").await.unwrap(),
        None
    );
    assert_eq!(store.claim(&node, LONG, 10).await.unwrap().len(), 1);
    // The migrated push is nobody's, due when it was.
    let claimed_by: Option<String> = admin
        .query_one("SELECT claimed_by FROM outbox", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(claimed_by, None);
    assert!(
        store
            .claim_due(&node, 49, 10, 100)
            .await
            .unwrap()
            .is_empty()
    );
    let due = store.claim_due(&node, 50, 10, 100).await.unwrap();
    assert_eq!(due.iter().map(|e| e.id).collect::<Vec<_>>(), pushed);
    // Notes relayed for the migrated mailbox reach its holder.
    let note = [("alice@contoso.com".to_owned(), "{}".to_owned())];
    store.relay(&contoso(), &note, 1).await.unwrap();
    let relayed = store.relayed_to(&node, &contoso(), 10).await.unwrap();
    assert_eq!(relayed.len(), 1);
}
