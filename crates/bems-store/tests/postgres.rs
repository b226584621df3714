//! The PostgreSQL store's own behaviour over a real server: migrations, refusals, what the
//! database holds, the outbox claimed by two nodes; two nodes sharing the database (leases,
//! claims, tenant changes) are in `cluster`, TLS in `tls`. What any backend must do is the conformance
//! suite (`tests/conformance.rs`). Each test takes a scratch database from `BEMS_POSTGRES_URL`;
//! without it the tests are skipped with a note, unless `BEMS_REQUIRE_SERVICES=1`.
//!
//! ```sh
//! eval "$(scripts/postgres/start.sh)"
//! BEMS_REQUIRE_SERVICES=1 cargo test -p bems-store --test postgres
//! scripts/postgres/stop.sh
//! ```

mod cluster;
mod tls;

use bems_store::model::{NewDevice, PendingPush, Platform, TenantId};
use bems_store::{DeviceStore, NodeId, Outbox, PostgresStore, StoreError, StoreKey, TenantStore};
use secrecy::{ExposeSecret, SecretSlice};

use bems_store::conformance::scratch::{admin_client, scratch};

const SECRET: &[u8] = b"plaintext-refresh-token-7f3a9c";

/// The node claiming pushes.
fn node() -> NodeId {
    NodeId::new("node-a").unwrap()
}

fn contoso() -> TenantId {
    TenantId::new("contoso").unwrap()
}

fn key() -> StoreKey {
    StoreKey::from_bytes([7; 32])
}

#[tokio::test]
async fn migrations_run_once_and_the_data_outlives_the_store() {
    let Some((url, _scratch)) = scratch("postgres::migrations_run_once").await else {
        return;
    };
    let store = PostgresStore::connect(&url, key()).await.unwrap();
    store.put_tenant(&contoso(), "{}").await.unwrap();
    drop(store);
    let store = PostgresStore::connect(&url, key()).await.unwrap();
    assert_eq!(
        store.tenant(&contoso()).await.unwrap().as_deref(),
        Some("{}")
    );
    let client = admin_client(&url).await;
    let versions: i64 = client
        .query_one("SELECT count(*) FROM schema_version", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(versions, 5);
}

#[tokio::test]
async fn nodes_starting_together_migrate_once() {
    let Some((url, _scratch)) = scratch("postgres::nodes_starting_together").await else {
        return;
    };
    let (a, b, c) = tokio::join!(
        PostgresStore::connect(&url, key()),
        PostgresStore::connect(&url, key()),
        PostgresStore::connect(&url, key()),
    );
    let (a, b, _c) = (a.unwrap(), b.unwrap(), c.unwrap());
    a.put_tenant(&contoso(), r#"{"by":"a"}"#).await.unwrap();
    assert_eq!(
        b.tenant(&contoso()).await.unwrap().as_deref(),
        Some(r#"{"by":"a"}"#)
    );
}

#[tokio::test]
async fn errors_say_what_the_server_said_and_an_unreachable_server_is_named() {
    let Some((url, _scratch)) = scratch("postgres::errors_say_what_the_server_said").await else {
        return;
    };
    let store = PostgresStore::connect(&url, key()).await.unwrap();
    let push = PendingPush {
        device_id: 42,
        tenant: contoso(),
        mailbox: "alice@contoso.com".into(),
        payload: "{}".into(),
        seen_at_ms: 1,
    };
    let error = store.enqueue(&[push], 1, None).await.unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("alice@contoso.com") && text.contains("foreign key"),
        "{text}"
    );

    // Nothing listens on port 1.
    let error = PostgresStore::connect("postgres://bems:s3cret@127.0.0.1:1/bems", key())
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::Connect { .. }), "{error:?}");
    let text = error.to_string();
    assert!(
        text.contains("postgres://bems@127.0.0.1:1/bems") && !text.contains("s3cret"),
        "{text}"
    );
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let Some((url, _scratch)) = scratch("postgres::a_newer_schema_is_refused").await else {
        return;
    };
    drop(PostgresStore::connect(&url, key()).await.unwrap());
    admin_client(&url)
        .await
        .batch_execute("INSERT INTO schema_version VALUES (1000, 'from the future', 0)")
        .await
        .unwrap();
    let error = PostgresStore::connect(&url, key()).await.unwrap_err();
    assert!(
        matches!(error, StoreError::TooNew { found: 1000, .. }),
        "{error:?}"
    );
    assert!(!error.to_string().contains("Bems-Postgres-Pa55"), "{error}");
}

#[tokio::test]
async fn another_applications_schema_is_left_alone() {
    let Some((url, _scratch)) = scratch("postgres::another_applications_schema").await else {
        return;
    };
    let client = admin_client(&url).await;
    client
        .batch_execute("CREATE TABLE photos (id BIGINT PRIMARY KEY)")
        .await
        .unwrap();
    let error = PostgresStore::connect(&url, key()).await.unwrap_err();
    assert!(matches!(error, StoreError::NotBems { .. }), "{error:?}");
    let tables: i64 = client
        .query_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(tables, 1, "nothing was created");
}

#[tokio::test]
async fn secrets_are_sealed_in_the_database_and_need_their_key() {
    let Some((url, _scratch)) = scratch("postgres::secrets_are_sealed").await else {
        return;
    };
    let store = PostgresStore::connect(&url, key()).await.unwrap();
    store
        .put_secret(&contoso(), "oauth", &SecretSlice::from(SECRET.to_vec()))
        .await
        .unwrap();
    let row = admin_client(&url)
        .await
        .query_one("SELECT nonce, ciphertext FROM secrets", &[])
        .await
        .unwrap();
    let (nonce, ciphertext): (Vec<u8>, Vec<u8>) = (row.get(0), row.get(1));
    assert_eq!(nonce.len(), 12);
    assert!(!ciphertext.windows(SECRET.len()).any(|w| w == SECRET));
    let opened = store.secret(&contoso(), "oauth").await.unwrap().unwrap();
    assert_eq!(opened.expose_secret(), SECRET);

    let other = PostgresStore::connect(&url, StoreKey::from_bytes([8; 32]))
        .await
        .unwrap();
    let error = other.secret(&contoso(), "oauth").await.unwrap_err();
    assert!(matches!(error, StoreError::Decrypt { .. }), "{error:?}");
}

#[tokio::test]
async fn claim_due_skips_the_pushes_another_node_is_claiming() {
    let Some((url, _scratch)) = scratch("postgres::claim_due_skips_locked_pushes").await else {
        return;
    };
    let store = PostgresStore::connect(&url, key()).await.unwrap();
    let device = store
        .register_device(
            &NewDevice {
                tenant: contoso(),
                mailbox: "alice@contoso.com".into(),
                platform: Platform::Apns,
                token: "a1b2c3".into(),
                app_id: "com.example.mail".into(),
                locale: "en".into(),
                public_key: None,
            },
            10,
        )
        .await
        .unwrap();
    let push = |seen_at_ms| PendingPush {
        device_id: device.id,
        tenant: contoso(),
        mailbox: "alice@contoso.com".into(),
        payload: "{}".into(),
        seen_at_ms,
    };
    let ids = store.enqueue(&[push(1), push(2)], 1, None).await.unwrap();

    // Another node holds the oldest push while it claims.
    let mut other = admin_client(&url).await;
    let claiming = other.transaction().await.unwrap();
    claiming
        .query(
            "SELECT id FROM outbox ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED",
            &[],
        )
        .await
        .unwrap();
    let due: Vec<i64> = store
        .claim_due(&node(), 10, 10, 20)
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(due, [ids[1]], "the push being claimed elsewhere is skipped");
    claiming.commit().await.unwrap();
    let due: Vec<i64> = store
        .claim_due(&node(), 10, 10, 20)
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(
        due,
        [ids[0]],
        "then it is claimed; the other is not due again before 20"
    );
}
