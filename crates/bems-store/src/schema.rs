//! The SQLite schema, created and upgraded by numbered migrations.
//!
//! Each migration runs once, in order; the versions applied are rows of `schema_version`. All
//! pending migrations run in one `IMMEDIATE` transaction, so two processes opening the same new
//! file do not both apply them, and a failed migration leaves the file as it was.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

/// `PRAGMA application_id` of a bems store: "bems" in ASCII.
pub(crate) const APPLICATION_ID: i32 = 0x6265_6d73;

/// The migrations, in order: (version, what it does, SQL).
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "tenants, devices, mailboxes, secrets, certificates, outbox",
        V1,
    ),
    (2, "follow-me documents", V2_FOLLOW_ME),
    (3, "each mailbox's last known unread count", V3_UNREAD),
    (4, "outbox ids never reused", V4_OUTBOX_IDS),
    (5, "mailbox leases and the cluster's nodes", V5_LEASES),
    (6, "the node sending each push", V6_OUTBOX_CLAIMS),
    (7, "shared subscriptions and relayed notes", V7_RELAY),
    (
        8,
        "each device's public key for sealed alerts",
        V8_DEVICE_KEYS,
    ),
];

/// The newest schema version this build knows.
pub(crate) const LATEST: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

const V1: &str = "
CREATE TABLE tenants (
    id            TEXT PRIMARY KEY NOT NULL,
    settings      TEXT NOT NULL,
    updated_at_ms INTEGER NOT NULL
) STRICT;

CREATE TABLE devices (
    id               INTEGER PRIMARY KEY,
    tenant           TEXT NOT NULL,
    mailbox          TEXT NOT NULL,
    platform         TEXT NOT NULL CHECK (platform IN ('apns', 'fcm')),
    token            TEXT NOT NULL,
    app_id           TEXT NOT NULL,
    locale           TEXT NOT NULL,
    registered_at_ms INTEGER NOT NULL,
    UNIQUE (platform, token)
) STRICT;
CREATE INDEX devices_by_mailbox ON devices (tenant, mailbox);

CREATE TABLE mailboxes (
    tenant        TEXT NOT NULL,
    mailbox       TEXT NOT NULL,
    ews_url       TEXT,
    grouping      TEXT,
    watermark     TEXT,
    updated_at_ms INTEGER NOT NULL,
    PRIMARY KEY (tenant, mailbox)
) STRICT;

CREATE TABLE secrets (
    tenant        TEXT NOT NULL,
    name          TEXT NOT NULL,
    key_id        INTEGER NOT NULL,
    nonce         BLOB NOT NULL,
    ciphertext    BLOB NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    PRIMARY KEY (tenant, name)
) STRICT;

CREATE TABLE certificates (
    tenant        TEXT NOT NULL,
    name          TEXT NOT NULL,
    pem           TEXT NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    PRIMARY KEY (tenant, name)
) STRICT;

CREATE TABLE outbox (
    id            INTEGER PRIMARY KEY,
    device_id     INTEGER NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    tenant        TEXT NOT NULL,
    mailbox       TEXT NOT NULL,
    payload       TEXT NOT NULL,
    seen_at_ms    INTEGER NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    not_before_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX outbox_due ON outbox (not_before_ms, id);
CREATE INDEX outbox_by_device ON outbox (device_id);
";

/// BlackBerry Follow-Me: one opaque JSON document per (tenant, user, key), versioned.
const V2_FOLLOW_ME: &str = "
CREATE TABLE follow_me (
    tenant        TEXT NOT NULL,
    user          TEXT NOT NULL,
    key           TEXT NOT NULL,
    version       INTEGER NOT NULL CHECK (version > 0),
    body          TEXT NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    PRIMARY KEY (tenant, user, key)
) STRICT;
";

/// The badge a restarted service starts from: mail that arrived while it was down is found
/// by comparing the inbox's unread count with it.
const V3_UNREAD: &str = "
ALTER TABLE mailboxes ADD COLUMN unread INTEGER CHECK (unread >= 0);
";

/// An outbox id names one push for good: SQLite's plain `INTEGER PRIMARY KEY` hands a deleted
/// row's id to the next row once the table is empty, and a push still being settled (or
/// read by the outbox sweep) under that id could then stand for another.
const V4_OUTBOX_IDS: &str = "
CREATE TABLE outbox_v4 (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id     INTEGER NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    tenant        TEXT NOT NULL,
    mailbox       TEXT NOT NULL,
    payload       TEXT NOT NULL,
    seen_at_ms    INTEGER NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    not_before_ms INTEGER NOT NULL
) STRICT;
INSERT INTO outbox_v4 (id, device_id, tenant, mailbox, payload, seen_at_ms, attempts, not_before_ms)
    SELECT id, device_id, tenant, mailbox, payload, seen_at_ms, attempts, not_before_ms FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_v4 RENAME TO outbox;
CREATE INDEX outbox_due ON outbox (not_before_ms, id);
CREATE INDEX outbox_by_device ON outbox (device_id);
";

/// Each mailbox is watched by the node holding its lease: `holder` (a node id) until
/// `lease_until_ms`, renewed at `leased_at_ms`; all three are NULL when nobody holds it. The
/// nodes of the cluster say they are alive in `nodes` (times in Unix ms of the store's clock).
const V5_LEASES: &str = "
ALTER TABLE mailboxes ADD COLUMN holder TEXT;
ALTER TABLE mailboxes ADD COLUMN lease_until_ms INTEGER;
ALTER TABLE mailboxes ADD COLUMN leased_at_ms INTEGER
    CHECK ((holder IS NULL) = (lease_until_ms IS NULL)
           AND (holder IS NULL) = (leased_at_ms IS NULL));
CREATE INDEX mailboxes_by_lease ON mailboxes (lease_until_ms);
CREATE INDEX mailboxes_by_holder ON mailboxes (holder, lease_until_ms) WHERE holder IS NOT NULL;

CREATE TABLE nodes (
    node            TEXT PRIMARY KEY NOT NULL,
    capacity        INTEGER NOT NULL CHECK (capacity >= 0),
    started_at_ms   INTEGER NOT NULL,
    heartbeat_at_ms INTEGER NOT NULL,
    alive_until_ms  INTEGER NOT NULL,
    url             TEXT
) STRICT;
";

/// Who is sending a push: `claimed_by` is the node that enqueued it with a lease, or took it
/// with `claim_due`; NULL when nobody is (enqueued without a lease, waiting for a retry, or
/// given back by a node that left). Pushes already stored are nobody's.
const V6_OUTBOX_CLAIMS: &str = "
ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
CREATE INDEX outbox_by_claimer ON outbox (claimed_by) WHERE claimed_by IS NOT NULL;
";

/// Notifications any node accepts for the node watching their mailbox: the subscriptions
/// their holders published (the digest of each `clientState`, never the secret), and the notes
/// waiting for the holder of their mailbox's lease (`relayed_to` joins them to `mailboxes` by
/// (tenant, mailbox), from the holder's leases). A note's id is never reused.
const V8_DEVICE_KEYS: &str = "
ALTER TABLE devices ADD COLUMN public_key TEXT;
";

const V7_RELAY: &str = "
CREATE TABLE shared_subscriptions (
    tenant  TEXT NOT NULL,
    id      TEXT NOT NULL,
    mailbox TEXT NOT NULL,
    digest  TEXT NOT NULL,
    PRIMARY KEY (tenant, id)
) STRICT;

CREATE TABLE relayed (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant  TEXT NOT NULL,
    mailbox TEXT NOT NULL,
    body    TEXT NOT NULL,
    at_ms   INTEGER NOT NULL
) STRICT;
CREATE INDEX relayed_by_mailbox ON relayed (tenant, mailbox, id);
";

/// Why the schema could not be brought up to date.
#[derive(Debug)]
pub(crate) enum MigrateError {
    /// The database failed.
    Database(rusqlite::Error),
    /// The file is newer than this build.
    TooNew(i64),
    /// The file is another application's database.
    NotBems,
}

impl From<rusqlite::Error> for MigrateError {
    fn from(error: rusqlite::Error) -> Self {
        Self::Database(error)
    }
}

/// Applies the pending migrations; returns how many ran.
pub(crate) fn migrate(conn: &mut Connection, now_ms: i64) -> Result<usize, MigrateError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let application_id: i32 = tx.pragma_query_value(None, "application_id", |row| row.get(0))?;
    let tracked = tx
        .query_row(
            "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'schema_version'",
            [],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    let foreign_tables: i64 = tx.query_row(
        "SELECT count(*) FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%'",
        [],
        |row| row.get(0),
    )?;
    let ours = application_id == APPLICATION_ID
        || (application_id == 0 && (tracked || foreign_tables == 0));
    if !ours {
        return Err(MigrateError::NotBems);
    }
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_version (
             version       INTEGER PRIMARY KEY,
             description   TEXT NOT NULL,
             applied_at_ms INTEGER NOT NULL
         ) STRICT;",
    )?;
    let current: i64 = tx.query_row(
        "SELECT coalesce(max(version), 0) FROM schema_version",
        [],
        |row| row.get(0),
    )?;
    if current > LATEST {
        return Err(MigrateError::TooNew(current));
    }
    let mut applied = 0;
    for (version, description, sql) in MIGRATIONS.iter().filter(|(v, ..)| *v > current) {
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_version (version, description, applied_at_ms) VALUES (?1, ?2, ?3)",
            params![version, description, now_ms],
        )?;
        applied += 1;
    }
    tx.pragma_update(None, "application_id", APPLICATION_ID)?;
    tx.commit()?;
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(conn: &Connection) -> i64 {
        conn.query_row("SELECT max(version) FROM schema_version", [], |row| {
            row.get(0)
        })
        .unwrap()
    }

    #[test]
    fn migrations_run_once() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut conn, 1).unwrap(), MIGRATIONS.len());
        assert_eq!(version(&conn), LATEST);
        assert_eq!(migrate(&mut conn, 2).unwrap(), 0);
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM schema_version", [], |row| row.get(0))
            .unwrap();
        assert_eq!(rows, MIGRATIONS.len() as i64);
    }

    /// A file as a bems of schema version `version` left it.
    fn at_version(version: usize) -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE schema_version (
                 version INTEGER PRIMARY KEY, description TEXT NOT NULL,
                 applied_at_ms INTEGER NOT NULL
             ) STRICT;",
        )
        .unwrap();
        for (version, description, sql) in &MIGRATIONS[..version] {
            conn.execute_batch(sql).unwrap();
            conn.execute(
                "INSERT INTO schema_version VALUES (?1, ?2, 0)",
                params![version, description],
            )
            .unwrap();
        }
        conn
    }

    #[test]
    fn a_file_at_version_4_keeps_its_mailboxes_free_of_leases() {
        let mut conn = at_version(4);
        conn.execute(
            "INSERT INTO mailboxes (tenant, mailbox, watermark, updated_at_ms)
             VALUES ('contoso', 'alice@contoso.com', 'w1', 1)",
            [],
        )
        .unwrap();
        assert_eq!(migrate(&mut conn, 2).unwrap(), MIGRATIONS.len() - 4);
        let row: (String, Option<String>, Option<i64>) = conn
            .query_row(
                "SELECT watermark, holder, lease_until_ms FROM mailboxes",
                [],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .unwrap();
        assert_eq!(row, ("w1".to_owned(), None, None));
        let nodes: i64 = conn
            .query_row("SELECT count(*) FROM nodes", [], |row| row.get(0))
            .unwrap();
        assert_eq!(nodes, 0);
    }

    #[test]
    fn a_file_at_version_5_keeps_its_pushes_claimed_by_nobody() {
        let mut conn = at_version(5);
        conn.execute_batch(
            "INSERT INTO devices (id, tenant, mailbox, platform, token, app_id, locale,
                                  registered_at_ms)
             VALUES (7, 'contoso', 'alice@contoso.com', 'apns', 'a1b2', 'app', 'en', 1);
             INSERT INTO outbox (id, device_id, tenant, mailbox, payload, seen_at_ms,
                                 not_before_ms)
             VALUES (3, 7, 'contoso', 'alice@contoso.com', '{}', 1, 50);",
        )
        .unwrap();
        assert_eq!(migrate(&mut conn, 2).unwrap(), MIGRATIONS.len() - 5);
        let row: (i64, i64, Option<String>) = conn
            .query_row(
                "SELECT id, not_before_ms, claimed_by FROM outbox",
                [],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .unwrap();
        assert_eq!(row, (3, 50, None));
    }

    #[test]
    fn a_file_at_version_6_keeps_its_mailboxes_and_relays_nothing_yet() {
        let mut conn = at_version(6);
        conn.execute(
            "INSERT INTO mailboxes (tenant, mailbox, watermark, updated_at_ms)
             VALUES ('contoso', 'alice@contoso.com', 'w1', 1)",
            [],
        )
        .unwrap();
        assert_eq!(migrate(&mut conn, 2).unwrap(), MIGRATIONS.len() - 6);
        let counts: (i64, i64, i64) = conn
            .query_row(
                "SELECT (SELECT count(*) FROM mailboxes),
                        (SELECT count(*) FROM shared_subscriptions),
                        (SELECT count(*) FROM relayed)",
                [],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .unwrap();
        assert_eq!(counts, (1, 0, 0));
    }

    #[test]
    fn versions_are_numbered_upwards() {
        assert!(MIGRATIONS.windows(2).all(|pair| pair[0].0 < pair[1].0));
        assert_eq!(MIGRATIONS[0].0, 1);
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, 1).unwrap();
        conn.execute(
            "INSERT INTO schema_version VALUES (?1, 'from the future', 0)",
            [LATEST + 1],
        )
        .unwrap();
        assert!(matches!(migrate(&mut conn, 2), Err(MigrateError::TooNew(v)) if v == LATEST + 1));
    }

    #[test]
    fn another_applications_database_is_left_alone() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE photos (id INTEGER PRIMARY KEY)")
            .unwrap();
        assert!(matches!(migrate(&mut conn, 1), Err(MigrateError::NotBems)));
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))
            .unwrap();
        assert_eq!(tables, 1, "nothing was created");
    }
}
