//! The outbox's throughput: 10,000 pushes enqueued (each with its watermark) and completed,
//! one caller at a time, in bursts, and from many tasks at once (the store's worker commits
//! what queued up together).
//!
//! ```text
//! cargo run --release -p bems-store --example store_load
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use bems_store::model::{NewDevice, PendingPush, Platform, TenantId};
use bems_store::{Checkpoint, NodeId, SqliteStore, Store, StoreKey};

const PUSHES: i64 = 10_000;

fn contoso() -> TenantId {
    TenantId::new("contoso").expect("tenant id")
}

fn push(device_id: i64, seen_at_ms: i64) -> PendingPush {
    PendingPush {
        device_id,
        tenant: contoso(),
        mailbox: "alice@contoso.com".into(),
        payload: r#"{"aps":{"badge":1}}"#.into(),
        seen_at_ms,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(dir.path().join("bems.db"), StoreKey::from_bytes([7; 32]))
            .await
            .expect("store"),
    );
    // The one node, sending what it enqueued.
    let node = NodeId::new("node-1").expect("node id");
    let device = store
        .register_device(
            &NewDevice {
                tenant: contoso(),
                mailbox: "alice@contoso.com".into(),
                platform: Platform::Apns,
                token: "a1b2".into(),
                app_id: "com.example.mail".into(),
                locale: "en".into(),
                public_key: None,
            },
            10,
        )
        .await
        .expect("device");

    // One event at a time: each push enqueued with its watermark, then completed.
    let started = Instant::now();
    for n in 0..PUSHES {
        let mark = format!("wm-{n}");
        store
            .enqueue(
                &[push(device.id, n)],
                n,
                Some(checkpoint(&device.device.tenant, &mark)),
            )
            .await
            .expect("store");
    }
    let enqueued = started.elapsed();
    for entry in store
        .claim_due(&node, i64::MAX, PUSHES as usize, i64::MAX)
        .await
        .expect("store")
    {
        store.complete(entry.id).await.expect("store");
    }
    let one_by_one = started.elapsed();
    report(
        "one push per enqueue, one complete each",
        Some(enqueued),
        one_by_one,
        PUSHES,
    );

    // Bursts: 100 pushes per enqueue (one transaction).
    let started = Instant::now();
    for batch in 0..PUSHES / 100 {
        let pushes: Vec<_> = (0..100).map(|n| push(device.id, batch * 100 + n)).collect();
        let mark = format!("wm-{batch}");
        store
            .enqueue(
                &pushes,
                batch * 100,
                Some(checkpoint(&device.device.tenant, &mark)),
            )
            .await
            .expect("store");
    }
    let enqueued = started.elapsed();
    for entry in store
        .claim_due(&node, i64::MAX, PUSHES as usize, i64::MAX)
        .await
        .expect("store")
    {
        store.complete(entry.id).await.expect("store");
    }
    report(
        "100 pushes per enqueue, one complete each",
        Some(enqueued),
        started.elapsed(),
        PUSHES,
    );

    // Many tasks at once, each one push per enqueue then complete: the worker commits what
    // queued up together in one transaction.
    for tasks in [8, 64] {
        let started = Instant::now();
        let running: Vec<_> = (0..tasks)
            .map(|task| {
                let store = Arc::clone(&store);
                let tenant = device.device.tenant.clone();
                tokio::spawn(async move {
                    for n in 0..PUSHES / tasks {
                        let mark = format!("wm-{task}-{n}");
                        let ids = store
                            .enqueue(&[push(device.id, n)], n, Some(checkpoint(&tenant, &mark)))
                            .await
                            .expect("store");
                        store.complete(ids[0]).await.expect("store");
                    }
                })
            })
            .collect();
        for task in running {
            task.await.expect("task");
        }
        let total = started.elapsed();
        report(
            &format!("{tasks} tasks at once, enqueue then complete"),
            None,
            total,
            (PUSHES / tasks) * tasks,
        );
    }
    assert_eq!(store.outbox_len().await.expect("store"), 0);
}

/// alice's watermark `watermark`, written without a lease (one node).
fn checkpoint<'a>(tenant: &'a TenantId, watermark: &'a str) -> Checkpoint<'a> {
    Checkpoint {
        tenant,
        mailbox: "alice@contoso.com",
        watermark: Some(watermark),
        unread: None,
        holder: None,
    }
}

fn report(what: &str, enqueued: Option<Duration>, total: Duration, pushes: i64) {
    let enqueued = enqueued.map_or(String::new(), |e| {
        format!("enqueue {:.3} s, ", e.as_secs_f64())
    });
    println!(
        "{what}: {pushes} pushes, {enqueued}enqueue+complete {:.3} s ({:.0} pushes/s)",
        total.as_secs_f64(),
        pushes as f64 / total.as_secs_f64()
    );
}
