//! The PostgreSQL schema, created and upgraded by numbered migrations.
//!
//! As for SQLite (`crate::schema`): each migration runs once, in order, and the versions applied
//! are rows of `schema_version`. All pending migrations run in one transaction that first takes
//! a transaction-level advisory lock, so nodes connecting to a new database together apply them
//! once, and a failed migration leaves the database as it was. The tables live in the first
//! schema of the connection's `search_path` (`public` unless configured). Text that is sorted
//! (tenants, mailboxes, names, keys) is collated `"C"`: by bytes, as SQLite sorts it.

use deadpool_postgres::Client;

/// The advisory lock the migrations take: "bems" in ASCII.
const MIGRATION_LOCK: i64 = 0x6265_6d73;

/// The migrations, in order: (version, what it does, SQL).
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "tenants, devices, mailboxes with unread counts, secrets, certificates, outbox, \
         follow-me documents",
        V1,
    ),
    (2, "mailbox leases and the cluster's nodes", V2_LEASES),
    (3, "the node sending each push", V3_OUTBOX_CLAIMS),
    (4, "shared subscriptions and relayed notes", V4_RELAY),
    (
        5,
        "each device's public key for sealed alerts",
        V5_DEVICE_KEYS,
    ),
];

/// The newest schema version this build knows.
pub(super) const LATEST: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

const V1: &str = r#"
CREATE TABLE tenants (
    id            TEXT COLLATE "C" PRIMARY KEY,
    settings      TEXT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);

CREATE TABLE devices (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant           TEXT COLLATE "C" NOT NULL,
    mailbox          TEXT COLLATE "C" NOT NULL,
    platform         TEXT NOT NULL CHECK (platform IN ('apns', 'fcm')),
    token            TEXT NOT NULL,
    app_id           TEXT NOT NULL,
    locale           TEXT NOT NULL,
    registered_at_ms BIGINT NOT NULL,
    UNIQUE (platform, token)
);
CREATE INDEX devices_by_mailbox ON devices (tenant, mailbox);

CREATE TABLE mailboxes (
    tenant        TEXT COLLATE "C" NOT NULL,
    mailbox       TEXT COLLATE "C" NOT NULL,
    ews_url       TEXT,
    grouping      TEXT,
    watermark     TEXT,
    unread        BIGINT CHECK (unread >= 0),
    updated_at_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant, mailbox)
);

CREATE TABLE secrets (
    tenant        TEXT COLLATE "C" NOT NULL,
    name          TEXT COLLATE "C" NOT NULL,
    key_id        BIGINT NOT NULL,
    nonce         BYTEA NOT NULL,
    ciphertext    BYTEA NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant, name)
);

CREATE TABLE certificates (
    tenant        TEXT COLLATE "C" NOT NULL,
    name          TEXT COLLATE "C" NOT NULL,
    pem           TEXT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant, name)
);

CREATE TABLE outbox (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id     BIGINT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    tenant        TEXT COLLATE "C" NOT NULL,
    mailbox       TEXT COLLATE "C" NOT NULL,
    payload       TEXT NOT NULL,
    seen_at_ms    BIGINT NOT NULL,
    attempts      BIGINT NOT NULL DEFAULT 0,
    not_before_ms BIGINT NOT NULL
);
CREATE INDEX outbox_due ON outbox (not_before_ms, id);
CREATE INDEX outbox_by_device ON outbox (device_id);
CREATE INDEX outbox_by_tenant ON outbox (tenant);

CREATE TABLE follow_me (
    tenant        TEXT COLLATE "C" NOT NULL,
    "user"        TEXT COLLATE "C" NOT NULL,
    key           TEXT COLLATE "C" NOT NULL,
    version       BIGINT NOT NULL CHECK (version > 0),
    body          TEXT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant, "user", key)
);
"#;

/// Each mailbox is watched by the node holding its lease: `holder` (a node id) until
/// `lease_until_ms`, renewed at `leased_at_ms`; all three are NULL when nobody holds it. The
/// nodes of the cluster say they are alive in `nodes`. Times are Unix ms of the database's
/// clock (`clock_timestamp()`), so nodes with skewed clocks agree on who holds what.
const V2_LEASES: &str = r#"
ALTER TABLE mailboxes
    ADD COLUMN holder TEXT COLLATE "C",
    ADD COLUMN lease_until_ms BIGINT,
    ADD COLUMN leased_at_ms BIGINT,
    ADD CONSTRAINT mailboxes_lease_whole
        CHECK ((holder IS NULL) = (lease_until_ms IS NULL)
               AND (holder IS NULL) = (leased_at_ms IS NULL));
CREATE INDEX mailboxes_by_lease ON mailboxes (lease_until_ms);
CREATE INDEX mailboxes_by_holder ON mailboxes (holder, lease_until_ms) WHERE holder IS NOT NULL;

CREATE TABLE nodes (
    node            TEXT COLLATE "C" PRIMARY KEY,
    capacity        BIGINT NOT NULL CHECK (capacity >= 0),
    started_at_ms   BIGINT NOT NULL,
    heartbeat_at_ms BIGINT NOT NULL,
    alive_until_ms  BIGINT NOT NULL,
    url             TEXT NULL
);
"#;

/// Who is sending a push: `claimed_by` is the node that enqueued it with a lease, or took it
/// with `claim_due`; NULL when nobody is (enqueued without a lease, waiting for a retry, or
/// given back by a node that left). Pushes already stored are nobody's.
const V3_OUTBOX_CLAIMS: &str = r#"
ALTER TABLE outbox ADD COLUMN claimed_by TEXT COLLATE "C";
CREATE INDEX outbox_by_claimer ON outbox (claimed_by) WHERE claimed_by IS NOT NULL;
"#;

/// Notifications any node accepts for the node watching their mailbox: the subscriptions
/// their holders published (the digest of each `clientState`, never the secret), and the notes
/// waiting for the holder of their mailbox's lease (`relayed_to` joins them to `mailboxes` by
/// (tenant, mailbox), from the holder's leases).
const V5_DEVICE_KEYS: &str = "
ALTER TABLE devices ADD COLUMN public_key TEXT;
";

const V4_RELAY: &str = r#"
CREATE TABLE shared_subscriptions (
    tenant  TEXT COLLATE "C" NOT NULL,
    id      TEXT COLLATE "C" NOT NULL,
    mailbox TEXT COLLATE "C" NOT NULL,
    digest  TEXT NOT NULL,
    PRIMARY KEY (tenant, id)
);

CREATE TABLE relayed (
    id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant  TEXT COLLATE "C" NOT NULL,
    mailbox TEXT COLLATE "C" NOT NULL,
    body    TEXT NOT NULL,
    at_ms   BIGINT NOT NULL
);
CREATE INDEX relayed_by_mailbox ON relayed (tenant, mailbox, id);
"#;

/// Why the schema could not be brought up to date.
#[derive(Debug)]
pub(super) enum MigrateError {
    /// The database failed.
    Database(tokio_postgres::Error),
    /// The database is newer than this build.
    TooNew(i64),
    /// The schema holds another application's tables.
    NotBems,
}

impl From<tokio_postgres::Error> for MigrateError {
    fn from(error: tokio_postgres::Error) -> Self {
        Self::Database(error)
    }
}

/// Applies the pending migrations; returns how many ran.
pub(super) async fn migrate(client: &mut Client, now_ms: i64) -> Result<usize, MigrateError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let tables: Vec<String> = tx
        .query(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = current_schema()",
            &[],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    // A schema with tables but no schema_version is another application's.
    let tracked = tables.iter().any(|t| t == "schema_version");
    if !tracked && !tables.is_empty() {
        return Err(MigrateError::NotBems);
    }
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_version (
             version       BIGINT PRIMARY KEY,
             description   TEXT NOT NULL,
             applied_at_ms BIGINT NOT NULL
         )",
    )
    .await?;
    let current: i64 = tx
        .query_one(
            "SELECT coalesce(max(version), 0)::bigint FROM schema_version",
            &[],
        )
        .await?
        .get(0);
    if current > LATEST {
        return Err(MigrateError::TooNew(current));
    }
    let mut applied = 0;
    for (version, description, sql) in MIGRATIONS.iter().filter(|(v, ..)| *v > current) {
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO schema_version (version, description, applied_at_ms) VALUES ($1, $2, $3)",
            &[version, description, &now_ms],
        )
        .await?;
        applied += 1;
    }
    tx.commit().await?;
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_numbered_upwards() {
        assert!(MIGRATIONS.windows(2).all(|pair| pair[0].0 < pair[1].0));
        assert_eq!(MIGRATIONS[0].0, 1);
    }
}
