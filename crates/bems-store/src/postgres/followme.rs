//! Follow-Me documents, versioned per user and key.

use async_trait::async_trait;

use super::shared::{count, lock, settle};
use super::{Failure, PostgresStore, now_ms};
use crate::followme::{check_body, check_key};
use crate::model::TenantId;
use crate::{FollowMeDocument, FollowMeExpect, FollowMeStore, FollowMeWrite, StoreError, check};

/// The version of `user`'s document `key`, if stored.
async fn follow_me_version(
    tx: &deadpool_postgres::Transaction<'_>,
    tenant: &str,
    user: &str,
    key: &str,
) -> Result<Option<i64>, Failure> {
    let row = tx
        .query_opt(
            r#"SELECT version FROM follow_me WHERE tenant = $1 AND "user" = $2 AND key = $3"#,
            &[&tenant, &user, &key],
        )
        .await?;
    Ok(row.map(|row| row.try_get(0)).transpose()?)
}

#[async_trait]
impl FollowMeStore for PostgresStore {
    async fn follow_me(
        &self,
        tenant: &TenantId,
        user: &str,
        key: &str,
    ) -> Result<Option<FollowMeDocument>, StoreError> {
        const OP: &str = "read follow-me document";
        let user = check::mailbox(OP, user)?;
        check_key(OP, key)?;
        let record = check::follow_me_record(tenant, &user, key);
        let client = self.client(OP, &record).await?;
        let result = async {
            let row = client
                .query_opt(
                    r#"SELECT key, version, body, updated_at_ms FROM follow_me
                       WHERE tenant = $1 AND "user" = $2 AND key = $3"#,
                    &[&tenant.as_str(), &user, &key],
                )
                .await?;
            let Some(row) = row else { return Ok(None) };
            Ok(Some(FollowMeDocument {
                key: row.try_get(0)?,
                version: row.try_get(1)?,
                body: row.try_get(2)?,
                updated_at_ms: row.try_get(3)?,
            }))
        }
        .await;
        settle(OP, record, result)
    }

    async fn follow_me_keys(
        &self,
        tenant: &TenantId,
        user: &str,
    ) -> Result<Vec<FollowMeDocument>, StoreError> {
        const OP: &str = "list follow-me documents";
        let user = check::mailbox(OP, user)?;
        let record = format!("of {user} in tenant {tenant}");
        let client = self.client(OP, &record).await?;
        let result = async {
            let rows = client
                .query(
                    r#"SELECT key, version, updated_at_ms FROM follow_me
                       WHERE tenant = $1 AND "user" = $2 ORDER BY key"#,
                    &[&tenant.as_str(), &user],
                )
                .await?;
            rows.iter()
                .map(|row| {
                    Ok(FollowMeDocument {
                        key: row.try_get(0)?,
                        version: row.try_get(1)?,
                        body: String::new(),
                        updated_at_ms: row.try_get(2)?,
                    })
                })
                .collect()
        }
        .await;
        settle(OP, record, result)
    }

    async fn put_follow_me(
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
        let record = check::follow_me_record(tenant, &user, key);
        let now = now_ms();
        let mut client = self.client(OP, &record).await?;
        let result = async {
            let tx = client.transaction().await?;
            let tenant = tenant.as_str();
            // One writer of a user's documents at a time: the version read is the one replaced,
            // and the count read is the count the bound applies to.
            lock(&tx, &format!("follow-me\n{tenant}\n{user}")).await?;
            let current = follow_me_version(&tx, tenant, &user, key).await?;
            let written = match (expect, current) {
                (FollowMeExpect::Absent, None) => {
                    let kept = count(
                        &tx.query_one(
                            r#"SELECT count(*) FROM follow_me
                               WHERE tenant = $1 AND "user" = $2 AND key NOT LIKE 'bems.%'"#,
                            &[&tenant, &user],
                        )
                        .await?,
                    )?;
                    if usize::try_from(kept).unwrap_or(usize::MAX) >= max_documents
                        && !key.starts_with(crate::followme::RESERVED_PREFIX)
                    {
                        return Ok(FollowMeWrite::Full);
                    }
                    tx.execute(
                        r#"INSERT INTO follow_me (tenant, "user", key, version, body, updated_at_ms)
                           VALUES ($1, $2, $3, 1, $4, $5)"#,
                        &[&tenant, &user, &key, &body, &now],
                    )
                    .await?;
                    1
                }
                (FollowMeExpect::Version(expected), Some(stored)) if expected == stored => {
                    tx.execute(
                        r#"UPDATE follow_me SET version = version + 1, body = $4, updated_at_ms = $5
                           WHERE tenant = $1 AND "user" = $2 AND key = $3"#,
                        &[&tenant, &user, &key, &body, &now],
                    )
                    .await?;
                    stored + 1
                }
                (_, current) => return Ok(FollowMeWrite::Conflict { current }),
            };
            tx.commit().await?;
            Ok(FollowMeWrite::Written { version: written })
        }
        .await;
        settle(OP, record, result)
    }

    async fn delete_follow_me(
        &self,
        tenant: &TenantId,
        user: &str,
        key: &str,
        version: i64,
    ) -> Result<FollowMeWrite, StoreError> {
        const OP: &str = "delete follow-me document";
        let user = check::mailbox(OP, user)?;
        check_key(OP, key)?;
        let record = check::follow_me_record(tenant, &user, key);
        let mut client = self.client(OP, &record).await?;
        let result = async {
            let tx = client.transaction().await?;
            let tenant = tenant.as_str();
            lock(&tx, &format!("follow-me\n{tenant}\n{user}")).await?;
            let current = follow_me_version(&tx, tenant, &user, key).await?;
            if current != Some(version) {
                return Ok(FollowMeWrite::Conflict { current });
            }
            tx.execute(
                r#"DELETE FROM follow_me WHERE tenant = $1 AND "user" = $2 AND key = $3"#,
                &[&tenant, &user, &key],
            )
            .await?;
            tx.commit().await?;
            Ok(FollowMeWrite::Written { version })
        }
        .await;
        settle(OP, record, result)
    }
}
