//! Follow-Me documents: read, listed, and written or deleted by compare-and-set in one
//! savepoint, so two writers that read the same version cannot both write.

use rusqlite::{Connection, OptionalExtension, params};

use super::{SqliteStore, now_ms};
use crate::followme::{check_body, check_key};
use crate::model::TenantId;
use crate::{FollowMeDocument, FollowMeExpect, FollowMeWrite, StoreError, check};

/// The [`Store`](crate::Store) methods of Follow-Me: input checked (the user
/// lower-cased) here, the SQL on the store's thread.
impl SqliteStore {
    pub(super) async fn read_follow_me(
        &self,
        tenant: &TenantId,
        user: &str,
        key: &str,
    ) -> Result<Option<FollowMeDocument>, StoreError> {
        const OP: &str = "read follow-me document";
        let user = check::mailbox(OP, user)?;
        check_key(OP, key)?;
        let shown = check::follow_me_record(tenant, &user, key);
        let (id, key) = (tenant.to_string(), key.to_owned());
        self.call(OP, || shown, move |c| get(c, &id, &user, &key))
            .await
    }

    pub(super) async fn list_follow_me(
        &self,
        tenant: &TenantId,
        user: &str,
    ) -> Result<Vec<FollowMeDocument>, StoreError> {
        const OP: &str = "list follow-me documents";
        let user = check::mailbox(OP, user)?;
        let shown = format!("of {user} in tenant {tenant}");
        let id = tenant.to_string();
        self.call(OP, || shown, move |c| list(c, &id, &user)).await
    }

    pub(super) async fn write_follow_me(
        &self,
        tenant: &TenantId,
        user: &str,
        key: &str,
        body: &str,
        expect: FollowMeExpect,
        max_documents: usize,
    ) -> Result<FollowMeWrite, StoreError> {
        const OP: &str = "write follow-me document";
        let user = check::mailbox(OP, user)?;
        check_key(OP, key)?;
        check_body(OP, key, body)?;
        let shown = check::follow_me_record(tenant, &user, key);
        let (id, key, body, now) = (
            tenant.to_string(),
            key.to_owned(),
            body.to_owned(),
            now_ms(),
        );
        self.call(
            OP,
            || shown,
            move |c| put(c, &id, &user, &key, &body, expect, max_documents, now),
        )
        .await
    }

    pub(super) async fn remove_follow_me(
        &self,
        tenant: &TenantId,
        user: &str,
        key: &str,
        version: i64,
    ) -> Result<FollowMeWrite, StoreError> {
        const OP: &str = "delete follow-me document";
        let user = check::mailbox(OP, user)?;
        check_key(OP, key)?;
        let shown = check::follow_me_record(tenant, &user, key);
        let (id, key) = (tenant.to_string(), key.to_owned());
        self.call(OP, || shown, move |c| delete(c, &id, &user, &key, version))
            .await
    }
}

pub(super) fn get(
    conn: &Connection,
    tenant: &str,
    user: &str,
    key: &str,
) -> rusqlite::Result<Option<FollowMeDocument>> {
    conn.prepare_cached(
        "SELECT key, version, body, updated_at_ms FROM follow_me
         WHERE tenant = ?1 AND user = ?2 AND key = ?3",
    )?
    .query_row(params![tenant, user, key], |row| {
        Ok(FollowMeDocument {
            key: row.get(0)?,
            version: row.get(1)?,
            body: row.get(2)?,
            updated_at_ms: row.get(3)?,
        })
    })
    .optional()
}

/// The user's documents without their bodies, by key.
pub(super) fn list(
    conn: &Connection,
    tenant: &str,
    user: &str,
) -> rusqlite::Result<Vec<FollowMeDocument>> {
    let mut statement = conn.prepare_cached(
        "SELECT key, version, updated_at_ms FROM follow_me
         WHERE tenant = ?1 AND user = ?2 ORDER BY key",
    )?;
    let rows = statement.query_map(params![tenant, user], |row| {
        Ok(FollowMeDocument {
            key: row.get(0)?,
            version: row.get(1)?,
            body: String::new(),
            updated_at_ms: row.get(2)?,
        })
    })?;
    rows.collect()
}

fn version(
    conn: &Connection,
    tenant: &str,
    user: &str,
    key: &str,
) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached(
        "SELECT version FROM follow_me WHERE tenant = ?1 AND user = ?2 AND key = ?3",
    )?
    .query_row(params![tenant, user, key], |row| row.get(0))
    .optional()
}

/// Writes `body` if the document is as `expect` says, and the user keeps fewer than
/// `max_documents` when it is new.
#[allow(clippy::too_many_arguments)]
pub(super) fn put(
    conn: &mut Connection,
    tenant: &str,
    user: &str,
    key: &str,
    body: &str,
    expect: FollowMeExpect,
    max_documents: usize,
    now_ms: i64,
) -> rusqlite::Result<FollowMeWrite> {
    let tx = conn.savepoint()?;
    let current = version(&tx, tenant, user, key)?;
    let written = match (expect, current) {
        (FollowMeExpect::Absent, None) => {
            let kept: i64 = tx
                .prepare_cached(
                    "SELECT count(*) FROM follow_me
                     WHERE tenant = ?1 AND user = ?2 AND key NOT LIKE 'bems.%'",
                )?
                .query_row(params![tenant, user], |row| row.get(0))?;
            if usize::try_from(kept).unwrap_or(usize::MAX) >= max_documents
                && !key.starts_with(crate::followme::RESERVED_PREFIX)
            {
                return Ok(FollowMeWrite::Full);
            }
            tx.prepare_cached(
                "INSERT INTO follow_me (tenant, user, key, version, body, updated_at_ms)
                 VALUES (?1, ?2, ?3, 1, ?4, ?5)",
            )?
            .execute(params![tenant, user, key, body, now_ms])?;
            1
        }
        (FollowMeExpect::Version(expected), Some(stored)) if expected == stored => {
            tx.prepare_cached(
                "UPDATE follow_me SET version = version + 1, body = ?4, updated_at_ms = ?5
                 WHERE tenant = ?1 AND user = ?2 AND key = ?3",
            )?
            .execute(params![tenant, user, key, body, now_ms])?;
            stored + 1
        }
        (_, current) => return Ok(FollowMeWrite::Conflict { current }),
    };
    tx.commit()?;
    Ok(FollowMeWrite::Written { version: written })
}

/// Deletes the document if it is at `expected`.
pub(super) fn delete(
    conn: &mut Connection,
    tenant: &str,
    user: &str,
    key: &str,
    expected: i64,
) -> rusqlite::Result<FollowMeWrite> {
    let tx = conn.savepoint()?;
    let current = version(&tx, tenant, user, key)?;
    if current != Some(expected) {
        return Ok(FollowMeWrite::Conflict { current });
    }
    tx.prepare_cached("DELETE FROM follow_me WHERE tenant = ?1 AND user = ?2 AND key = ?3")?
        .execute(params![tenant, user, key])?;
    tx.commit()?;
    Ok(FollowMeWrite::Written { version: expected })
}
