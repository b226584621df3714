//! The SQLite store over a real file: reopening, migrations, keys, what the file holds. What any
//! backend must do is the conformance suite (`tests/conformance.rs`).

use bems_store::{DeviceStore, MailboxStore, Outbox, TenantStore};
use std::path::{Path, PathBuf};

use bems_store::model::{MailboxRecord, NewDevice, PendingPush, Platform, TenantId};
use bems_store::{Checkpoint, NodeId, SqliteStore, Store, StoreError, StoreKey};
use secrecy::{ExposeSecret, SecretSlice};

const SECRET: &[u8] = b"plaintext-refresh-token-7f3a9c";
const SETTINGS: &str = r#"{"marker":"settings-in-the-clear-5b2e"}"#;
const PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIBcertificate\n-----END CERTIFICATE-----\n";

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

fn device(mailbox: &str, token: &str) -> NewDevice {
    NewDevice {
        tenant: contoso(),
        mailbox: mailbox.into(),
        platform: Platform::Apns,
        token: token.into(),
        app_id: "com.example.mail".into(),
        locale: "en".into(),
        public_key: None,
    }
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

/// Everything stored: one of each record.
async fn fill(store: &dyn Store) -> i64 {
    store.put_tenant(&contoso(), SETTINGS).await.unwrap();
    let alice = store
        .register_device(&device("alice@contoso.com", "a1b2"), 10)
        .await
        .unwrap();
    store
        .upsert_mailbox(&MailboxRecord {
            tenant: contoso(),
            mailbox: "alice@contoso.com".into(),
            ews_url: Some("https://mail.contoso.com/EWS/Exchange.asmx".into()),
            grouping: Some("PRDEX01".into()),
            watermark: None,
        })
        .await
        .unwrap();
    let tenant = contoso();
    let mark = Checkpoint {
        tenant: &tenant,
        mailbox: "alice@contoso.com",
        watermark: Some("AQAAAA=="),
        unread: None,
        holder: None,
    };
    store
        .enqueue(&[push(alice.id, 5)], 5, Some(mark))
        .await
        .unwrap();
    store
        .put_secret(&contoso(), "oauth", &SecretSlice::from(SECRET.to_vec()))
        .await
        .unwrap();
    store
        .put_certificate(&contoso(), "root", PEM)
        .await
        .unwrap();
    alice.id
}

/// The bytes of the database and its WAL and shared-memory files.
fn file_bytes(path: &Path) -> Vec<u8> {
    ["", "-wal", "-shm"]
        .iter()
        .filter_map(|suffix| std::fs::read(format!("{}{suffix}", path.display())).ok())
        .flatten()
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn db(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("bems.db")
}

#[tokio::test]
async fn a_reopened_file_holds_everything() {
    let dir = tempfile::tempdir().unwrap();
    let device_id = fill(&SqliteStore::open(db(&dir), key()).await.unwrap()).await;

    let store = SqliteStore::open(db(&dir), key()).await.unwrap();
    assert_eq!(
        store.tenant(&contoso()).await.unwrap().as_deref(),
        Some(SETTINGS)
    );
    assert_eq!(
        store
            .devices_for(&contoso(), "alice@contoso.com")
            .await
            .unwrap()[0]
            .id,
        device_id
    );
    let mailbox = store
        .mailbox(&contoso(), "alice@contoso.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(mailbox.grouping.as_deref(), Some("PRDEX01"));
    assert_eq!(mailbox.watermark.as_deref(), Some("AQAAAA=="));
    assert_eq!(
        store.claim_due(&node(), 5, 10, 6).await.unwrap()[0].push,
        push(device_id, 5)
    );
    assert_eq!(
        store
            .secret(&contoso(), "oauth")
            .await
            .unwrap()
            .unwrap()
            .expose_secret(),
        SECRET
    );
    assert_eq!(
        store.certificates(&contoso()).await.unwrap(),
        [("root".to_owned(), PEM.to_owned())]
    );
}

#[tokio::test]
async fn the_file_never_holds_a_secret_in_the_clear() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(db(&dir), key()).await.unwrap();
    fill(&store).await;
    // While open (the WAL holds the writes) and after closing and reopening.
    let open = file_bytes(&db(&dir));
    assert!(
        contains(&open, SETTINGS.as_bytes()),
        "the scan sees what is stored"
    );
    assert!(!contains(&open, SECRET));
    drop(store);
    let reopened = SqliteStore::open(db(&dir), key()).await.unwrap();
    reopened.device_count().await.unwrap();
    let closed = file_bytes(&db(&dir));
    assert!(contains(&closed, SETTINGS.as_bytes()));
    assert!(!contains(&closed, SECRET));
}

#[tokio::test]
async fn a_wrong_key_fails_the_secrets_clearly_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    fill(&SqliteStore::open(db(&dir), key()).await.unwrap()).await;

    let store = SqliteStore::open(db(&dir), StoreKey::from_bytes([8; 32]))
        .await
        .unwrap();
    let error = store.secret(&contoso(), "oauth").await.unwrap_err();
    assert!(error.is_key_problem(), "{error:?}");
    let text = error.to_string();
    assert!(
        text.contains("\"oauth\"") && text.contains("contoso"),
        "{text}"
    );
    assert!(!contains(text.as_bytes(), SECRET), "{text}");
    assert_eq!(store.device_count().await.unwrap(), 1);
}

#[tokio::test]
async fn migrations_run_once_however_often_the_file_is_opened() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..3 {
        let store = SqliteStore::open(db(&dir), key()).await.unwrap();
        store
            .register_device(&device("alice@contoso.com", "a1b2"), 10)
            .await
            .unwrap();
        drop(store);
    }
    let conn = rusqlite::Connection::open(db(&dir)).unwrap();
    let versions: Vec<i64> = conn
        .prepare("SELECT version FROM schema_version ORDER BY version")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(versions, [1, 2, 3, 4, 5, 6, 7, 8]);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let devices: i64 = conn
        .query_row("SELECT count(*) FROM devices", [], |row| row.get(0))
        .unwrap();
    assert_eq!(devices, 1);
}

#[tokio::test]
async fn a_file_from_a_newer_bems_or_another_application_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(SqliteStore::open(db(&dir), key()).await.unwrap());
    let conn = rusqlite::Connection::open(db(&dir)).unwrap();
    conn.execute(
        "INSERT INTO schema_version VALUES (99, 'the future', 0)",
        [],
    )
    .unwrap();
    drop(conn);
    let error = SqliteStore::open(db(&dir), key()).await.unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::TooNew {
                found: 99,
                supported: 8,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("upgrade bems"), "{error}");

    let other = dir.path().join("photos.db");
    let conn = rusqlite::Connection::open(&other).unwrap();
    conn.execute_batch("CREATE TABLE photos (id INTEGER PRIMARY KEY)")
        .unwrap();
    drop(conn);
    let error = SqliteStore::open(&other, key()).await.unwrap_err();
    assert!(matches!(error, StoreError::NotBems { .. }), "{error:?}");
}

/// A node holding more mailboxes than one slice of a renewal (2,000) renews them all, and
/// only its own.
#[tokio::test]
async fn a_renewal_larger_than_a_slice_renews_every_lease_and_only_the_nodes_own() {
    use bems_store::Leases as _;
    let store = SqliteStore::in_memory(key()).await.expect("store");
    let mailboxes = 4_500;
    for i in 0..mailboxes {
        let record = MailboxRecord {
            tenant: contoso(),
            mailbox: format!("u{i}@contoso.com"),
            ews_url: None,
            grouping: None,
            watermark: None,
        };
        store.upsert_mailbox(&record).await.expect("mailbox");
    }
    let lease = std::time::Duration::from_secs(30);
    let other = NodeId::new("node-b").expect("node");
    let theirs = store.claim(&other, lease, 100).await.expect("claimed");
    let ours = store
        .claim(&node(), lease, mailboxes)
        .await
        .expect("claimed");
    assert_eq!(theirs.len() + ours.len(), mailboxes);
    let renewed = store.renew(&node(), lease).await.expect("renewed");
    assert_eq!(renewed.len(), ours.len(), "every lease renewed");
    let mut expected: Vec<(TenantId, String)> = ours
        .iter()
        .map(|r| (r.tenant.clone(), r.mailbox.clone()))
        .collect();
    expected.sort();
    assert_eq!(renewed, expected, "ours, by tenant then mailbox");
    // Renewed again at once: the same, not twice as many.
    assert_eq!(
        store.renew(&node(), lease).await.expect("renewed"),
        expected
    );
    assert_eq!(
        store.renew(&other, lease).await.expect("renewed").len(),
        100
    );
}
