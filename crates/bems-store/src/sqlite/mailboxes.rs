//! Watched mailboxes and their watermarks.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::tenants::tenant_id;
use crate::model::MailboxRecord;

const COLUMNS: &str = "tenant, mailbox, ews_url, grouping, watermark";

/// Saves the record; a record without a watermark keeps the one saved before.
pub(super) fn upsert(
    conn: &Connection,
    record: &MailboxRecord,
    now_ms: i64,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO mailboxes (tenant, mailbox, ews_url, grouping, watermark, updated_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (tenant, mailbox) DO UPDATE SET
             ews_url = excluded.ews_url, grouping = excluded.grouping,
             watermark = coalesce(excluded.watermark, mailboxes.watermark),
             updated_at_ms = excluded.updated_at_ms",
    )?
    .execute(params![
        record.tenant.as_str(),
        record.mailbox,
        record.ews_url,
        record.grouping,
        record.watermark,
        now_ms
    ])?;
    Ok(())
}

pub(super) fn list(conn: &Connection) -> rusqlite::Result<Vec<MailboxRecord>> {
    let sql = format!("SELECT {COLUMNS} FROM mailboxes ORDER BY tenant, mailbox");
    let mut statement = conn.prepare_cached(&sql)?;
    let rows = statement.query_map([], mailbox_record)?;
    rows.collect()
}

pub(super) fn get(
    conn: &Connection,
    tenant: &str,
    mailbox: &str,
) -> rusqlite::Result<Option<MailboxRecord>> {
    let sql = format!("SELECT {COLUMNS} FROM mailboxes WHERE tenant = ?1 AND mailbox = ?2");
    conn.prepare_cached(&sql)?
        .query_row([tenant, mailbox], mailbox_record)
        .optional()
}

pub(super) fn remove(conn: &Connection, tenant: &str, mailbox: &str) -> rusqlite::Result<bool> {
    let deleted = conn
        .prepare_cached("DELETE FROM mailboxes WHERE tenant = ?1 AND mailbox = ?2")?
        .execute([tenant, mailbox])?;
    Ok(deleted > 0)
}

/// Saves the watermark, adding the mailbox if it is not saved yet.
pub(super) fn save_watermark(
    conn: &Connection,
    tenant: &str,
    mailbox: &str,
    watermark: &str,
    now_ms: i64,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO mailboxes (tenant, mailbox, watermark, updated_at_ms) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (tenant, mailbox) DO UPDATE SET
             watermark = excluded.watermark, updated_at_ms = excluded.updated_at_ms",
    )?
    .execute(params![tenant, mailbox, watermark, now_ms])?;
    Ok(())
}

pub(super) fn load_watermark(
    conn: &Connection,
    tenant: &str,
    mailbox: &str,
) -> rusqlite::Result<Option<String>> {
    let watermark: Option<Option<String>> = conn
        .prepare_cached("SELECT watermark FROM mailboxes WHERE tenant = ?1 AND mailbox = ?2")?
        .query_row([tenant, mailbox], |row| row.get(0))
        .optional()?;
    Ok(watermark.flatten())
}

pub(super) fn unread_counts(
    conn: &Connection,
    tenant: &str,
) -> rusqlite::Result<Vec<(String, u32)>> {
    let mut statement = conn.prepare_cached(
        "SELECT mailbox, unread FROM mailboxes
         WHERE tenant = ?1 AND unread IS NOT NULL ORDER BY mailbox",
    )?;
    let rows = statement.query_map([tenant], |row| Ok((row.get(0)?, row.get(1)?)))?;
    rows.collect()
}

pub(super) fn save_unread_counts(
    conn: &Connection,
    tenant: &str,
    counts: &[(String, u32)],
) -> rusqlite::Result<()> {
    let mut statement =
        conn.prepare_cached("UPDATE mailboxes SET unread = ?3 WHERE tenant = ?1 AND mailbox = ?2")?;
    for (mailbox, unread) in counts {
        statement.execute(params![tenant, mailbox, unread])?;
    }
    Ok(())
}

fn mailbox_record(row: &Row<'_>) -> rusqlite::Result<MailboxRecord> {
    Ok(MailboxRecord {
        tenant: tenant_id(row, 0)?,
        mailbox: row.get(1)?,
        ews_url: row.get(2)?,
        grouping: row.get(3)?,
        watermark: row.get(4)?,
    })
}

#[cfg(test)]
mod tests {
    use crate::MailboxStore;
    use crate::model::{MailboxRecord, TenantId};
    use crate::sqlite::testing::{contoso, store};

    fn record(mailbox: &str, watermark: Option<&str>) -> MailboxRecord {
        MailboxRecord {
            tenant: contoso(),
            mailbox: mailbox.into(),
            ews_url: Some("https://mail.contoso.com/EWS/Exchange.asmx".into()),
            grouping: Some("PRDEX01".into()),
            watermark: watermark.map(str::to_owned),
        }
    }

    #[tokio::test]
    async fn an_upsert_without_a_watermark_keeps_the_saved_one() {
        let store = store().await;
        store
            .upsert_mailbox(&record("Alice@Contoso.com", Some("w1")))
            .await
            .unwrap();
        let mut moved = record("alice@contoso.com", None);
        moved.ews_url = Some("https://mail2.contoso.com/EWS/Exchange.asmx".into());
        store.upsert_mailbox(&moved).await.unwrap();
        let saved = store
            .mailbox(&contoso(), "alice@contoso.com")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(saved.ews_url, moved.ews_url);
        assert_eq!(saved.watermark.as_deref(), Some("w1"));

        store
            .upsert_mailbox(&record("alice@contoso.com", Some("w2")))
            .await
            .unwrap();
        assert_eq!(
            store
                .load_watermark(&contoso(), "alice@contoso.com")
                .await
                .unwrap()
                .as_deref(),
            Some("w2")
        );
    }

    #[tokio::test]
    async fn unread_counts_are_kept_per_tenant_for_saved_mailboxes_only() {
        let store = store().await;
        let fabrikam = TenantId::new("fabrikam").unwrap();
        store
            .upsert_mailbox(&record("alice@contoso.com", None))
            .await
            .unwrap();
        let mut carol = record("carol@fabrikam.com", None);
        carol.tenant = fabrikam.clone();
        store.upsert_mailbox(&carol).await.unwrap();
        assert!(store.unread_counts(&contoso()).await.unwrap().is_empty());
        store
            .save_unread_counts(
                &contoso(),
                &[
                    ("Alice@Contoso.com".into(), 3),
                    ("ghost@contoso.com".into(), 9),
                ],
            )
            .await
            .unwrap();
        store
            .save_unread_counts(&fabrikam, &[("carol@fabrikam.com".into(), 1)])
            .await
            .unwrap();
        assert_eq!(
            store.unread_counts(&contoso()).await.unwrap(),
            [("alice@contoso.com".to_owned(), 3)],
            "lower-cased, and a mailbox not saved is not added"
        );
        store
            .save_unread_counts(&contoso(), &[("alice@contoso.com".into(), 0)])
            .await
            .unwrap();
        assert_eq!(
            store.unread_counts(&contoso()).await.unwrap(),
            [("alice@contoso.com".to_owned(), 0)]
        );
        assert_eq!(
            store.unread_counts(&fabrikam).await.unwrap(),
            [("carol@fabrikam.com".to_owned(), 1)]
        );
        let error = store
            .save_unread_counts(&contoso(), &[("not an address".into(), 1)])
            .await
            .unwrap_err();
        assert!(error.to_string().contains("not an address"), "{error}");
    }

    #[tokio::test]
    async fn mailboxes_of_all_tenants_are_listed_for_start_up() {
        let store = store().await;
        store
            .upsert_mailbox(&record("bob@contoso.com", None))
            .await
            .unwrap();
        let mut other = record("carol@fabrikam.com", Some("w9"));
        other.tenant = TenantId::new("fabrikam").unwrap();
        store.upsert_mailbox(&other).await.unwrap();
        store
            .upsert_mailbox(&record("alice@contoso.com", Some("w1")))
            .await
            .unwrap();
        let all = store.mailboxes().await.unwrap();
        let names: Vec<_> = all.iter().map(|m| m.mailbox.as_str()).collect();
        assert_eq!(
            names,
            ["alice@contoso.com", "bob@contoso.com", "carol@fabrikam.com"]
        );
        assert_eq!(all[2], other);
    }

    #[tokio::test]
    async fn watermarks_are_saved_loaded_and_removed_with_their_mailbox() {
        let store = store().await;
        let tenant = contoso();
        assert_eq!(
            store
                .load_watermark(&tenant, "dave@contoso.com")
                .await
                .unwrap(),
            None
        );
        store
            .save_watermark(&tenant, "Dave@contoso.com", "w1")
            .await
            .unwrap();
        store
            .save_watermark(&tenant, "dave@contoso.com", "w2")
            .await
            .unwrap();
        assert_eq!(
            store
                .load_watermark(&tenant, "dave@contoso.com")
                .await
                .unwrap()
                .as_deref(),
            Some("w2")
        );
        let saved = store
            .mailbox(&tenant, "dave@contoso.com")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(saved.ews_url, None, "a watermark alone adds a bare record");

        assert!(
            store
                .remove_mailbox(&tenant, "dave@contoso.com")
                .await
                .unwrap()
        );
        assert!(
            !store
                .remove_mailbox(&tenant, "dave@contoso.com")
                .await
                .unwrap()
        );
        assert_eq!(
            store
                .load_watermark(&tenant, "dave@contoso.com")
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            store.mailbox(&tenant, "dave@contoso.com").await.unwrap(),
            None
        );
    }
}
