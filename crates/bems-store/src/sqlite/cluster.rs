//! [`Leases`] for [`SqliteStore`]: input checked (mailboxes lower-cased) here, the SQL on the
//! store's thread, timed by the system clock read there when the operation runs (a renewal,
//! which runs in slices, reads it once before the first).

use std::time::Duration;

use async_trait::async_trait;

use super::{SqliteStore, leases, nodes, now_ms};
use crate::cluster::{check_beat, node_record, sql_limit, ttl_ms};
use crate::model::{MailboxRecord, TenantId};
use crate::{Leases, NodeBeat, NodeId, NodeRecord, StoreError, check};

/// Leases renewed per call of the store's thread: a slice takes a few milliseconds, and the
/// outbox's writes queued meanwhile go between slices.
const RENEW_SLICE: usize = 2_000;

#[async_trait]
impl Leases for SqliteStore {
    async fn heartbeat(
        &self,
        beat: &NodeBeat,
        ttl: Duration,
    ) -> Result<Vec<NodeRecord>, StoreError> {
        const OP: &str = "heartbeat";
        let record = node_record(&beat.node);
        check_beat(OP, beat)?;
        let ttl = ttl_ms(OP, &record, ttl)?;
        let beat = beat.clone();
        self.call(
            OP,
            || record,
            move |c| nodes::heartbeat(c, &beat, ttl, now_ms()),
        )
        .await
    }

    async fn nodes(&self) -> Result<Vec<NodeRecord>, StoreError> {
        self.call("list nodes", String::new, |c| nodes::list(c, now_ms()))
            .await
    }

    async fn renew(
        &self,
        node: &NodeId,
        ttl: Duration,
    ) -> Result<Vec<(TenantId, String)>, StoreError> {
        const OP: &str = "renew leases";
        let record = node_record(node);
        let ttl = ttl_ms(OP, &record, ttl)?;
        let node = node.to_string();
        // Every slice renews to the same deadline; the mailboxes held are read at the end.
        let now = now_ms();
        loop {
            let slice = node.clone();
            let renewed = self
                .call(
                    OP,
                    || record.clone(),
                    move |c| leases::renew_slice(c, &slice, ttl, now, RENEW_SLICE as i64),
                )
                .await?;
            if renewed < RENEW_SLICE {
                break;
            }
        }
        self.call(OP, || record, move |c| leases::renewed(c, &node, ttl, now))
            .await
    }

    async fn claim(
        &self,
        node: &NodeId,
        ttl: Duration,
        limit: usize,
    ) -> Result<Vec<MailboxRecord>, StoreError> {
        const OP: &str = "claim mailboxes";
        let record = format!("for {}", node_record(node));
        let ttl = ttl_ms(OP, &record, ttl)?;
        let (node, limit) = (node.to_string(), sql_limit(limit));
        self.call(
            OP,
            || record,
            move |c| leases::claim(c, &node, ttl, limit, now_ms()),
        )
        .await
    }

    async fn claim_mailbox(
        &self,
        node: &NodeId,
        tenant: &TenantId,
        mailbox: &str,
        ttl: Duration,
    ) -> Result<Option<MailboxRecord>, StoreError> {
        const OP: &str = "claim mailbox";
        let mailbox = check::mailbox(OP, mailbox)?;
        let record = format!(
            "{} for {}",
            check::in_mailbox(tenant, &mailbox),
            node_record(node)
        );
        let ttl = ttl_ms(OP, &record, ttl)?;
        let (node, tenant) = (node.to_string(), tenant.to_string());
        self.call(
            OP,
            || record,
            move |c| leases::claim_mailbox(c, &node, &tenant, &mailbox, ttl, now_ms()),
        )
        .await
    }

    async fn release(
        &self,
        node: &NodeId,
        mailboxes: &[(TenantId, String)],
    ) -> Result<u64, StoreError> {
        const OP: &str = "release mailboxes";
        let mut asked = mailboxes
            .iter()
            .map(|(tenant, mailbox)| Ok((tenant.to_string(), check::mailbox(OP, mailbox)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        asked.sort_unstable();
        asked.dedup();
        let record = format!("{} mailboxes of {}", asked.len(), node_record(node));
        let node = node.to_string();
        self.call(
            OP,
            || record,
            move |c| leases::release(c, &node, &asked, now_ms()),
        )
        .await
    }

    async fn leave(&self, node: &NodeId) -> Result<(), StoreError> {
        let (record, node) = (node_record(node), node.to_string());
        self.call(
            "leave",
            || record,
            move |c| nodes::leave(c, &node, now_ms()),
        )
        .await
    }

    async fn holder(&self, tenant: &TenantId, mailbox: &str) -> Result<Option<NodeId>, StoreError> {
        const OP: &str = "read lease holder";
        let mailbox = check::mailbox(OP, mailbox)?;
        let record = check::in_mailbox(tenant, &mailbox);
        let tenant = tenant.to_string();
        self.call(
            OP,
            || record,
            move |c| leases::holder(c, &tenant, &mailbox, now_ms()),
        )
        .await
    }

    async fn mailbox_count(&self) -> Result<u64, StoreError> {
        self.call("count mailboxes", String::new, |c| leases::count(c))
            .await
    }
}
