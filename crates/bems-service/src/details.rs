//! The details of new mail: who it is from, its subject, whether it is Important. Asked of
//! Exchange in one request per mailbox and batch of new mail (EWS `GetItem` with an `IdOnly`
//! shape plus those properties; Graph `GET .../messages/{id}?$select=`), only when an alert
//! may show them or a user's rule judges them.
//!
//! The pipeline waits for them at most the tenant's `alerts.details_timeout_ms` (the
//! [`Details`] bound); on a slow or failed request the generic alert goes. The tenant's
//! requests are bounded per second (`alerts.details_per_second`): past the bound, the
//! alert goes at once without details rather than waiting for the budget.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use ews_client::{Call, CallOptions};
use ews_proto::ItemId;
use ews_proto::operations::GetItem;
use futures_util::StreamExt as _;

use crate::graph::unread::TenantUnread;
use crate::unread::EwsUnread;

/// The most items asked in one `GetItem` (a batch's newest are asked first).
pub const MAX_ITEMS_PER_REQUEST: usize = 50;

/// The longest subject kept: an alert shows a line or two, and a sealed alert must fit the
/// providers' 4 KiB.
pub const SUBJECT_MAX_CHARS: usize = 256;

/// What an alert may say of one new mail.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct MailSummary {
    /// The item's id, as events carry it (EWS form).
    pub item_id: String,
    /// The sender's display name.
    pub from_name: Option<String>,
    /// The sender's SMTP address (lower case).
    pub from_address: Option<String>,
    /// The subject (at most [`SUBJECT_MAX_CHARS`] characters).
    pub subject: Option<String>,
    /// Marked Important (importance High).
    pub important: bool,
}

impl std::fmt::Debug for MailSummary {
    /// Names the fields that are present, never their content (a subject is the user's).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailSummary")
            .field("from", &self.from_address.is_some())
            .field("subject", &self.subject.is_some())
            .field("important", &self.important)
            .finish_non_exhaustive()
    }
}

impl MailSummary {
    fn new(
        item_id: String,
        from_name: Option<String>,
        from_address: Option<String>,
        subject: Option<String>,
        important: bool,
    ) -> Self {
        Self {
            item_id,
            from_name: from_name.map(|n| clean(&n, 128)).filter(|n| !n.is_empty()),
            from_address: from_address
                .map(|a| clean(&a, 320).to_ascii_lowercase())
                .filter(|a| a.contains('@')),
            subject: subject.map(|s| clean(&s, SUBJECT_MAX_CHARS)),
            important,
        }
    }

    /// The sender as an alert names them: the display name, else the address.
    pub fn sender(&self) -> Option<&str> {
        self.from_name.as_deref().or(self.from_address.as_deref())
    }
}

/// `text` without control characters (a subject is Exchange's, which took it from anyone's
/// mail), trimmed to `max` characters.
fn clean(text: &str, max: usize) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect::<String>()
        .trim()
        .to_owned()
}

/// Asks Exchange for the details of a mailbox's new items.
#[async_trait]
pub trait MailDetails: Send + Sync {
    /// The summaries of `items` (EWS ids) of `mailbox`, those found, in any order.
    async fn summaries(&self, mailbox: &str, items: &[String]) -> Result<Vec<MailSummary>, String>;
}

/// Asks through EWS, as the mailbox (impersonation), at the EWS URL the store recorded: where
/// and as whom the unread counts are asked.
#[derive(Debug)]
pub struct EwsDetails(Arc<EwsUnread>);

impl EwsDetails {
    /// Asks where `ews` asks for counts.
    pub fn new(ews: Arc<EwsUnread>) -> Self {
        Self(ews)
    }
}

#[async_trait]
impl MailDetails for EwsDetails {
    async fn summaries(&self, mailbox: &str, items: &[String]) -> Result<Vec<MailSummary>, String> {
        ews_summaries(&self.0, mailbox, items).await
    }
}

/// `GetItem` for `items` of `mailbox`, where `ews` asks for its counts.
async fn ews_summaries(
    ews: &EwsUnread,
    mailbox: &str,
    items: &[String],
) -> Result<Vec<MailSummary>, String> {
    let (auth, url, version) = ews.access(mailbox).await?;
    let ids = items.iter().map(ItemId::new).collect();
    let answer = Call::new(url, CallOptions::as_mailbox(version, mailbox))
        .timeout(Some(Duration::from_secs(30)))
        .max_answer(1 << 20)
        .send(auth, &GetItem::summaries(ids))
        .await
        .map_err(|e| e.to_string())?;
    Ok(answer
        .body
        .messages
        .iter()
        .filter_map(|message| message.item())
        .map(|item| {
            let from = item.from.as_ref();
            MailSummary::new(
                item.id.id.clone(),
                from.and_then(|f| f.name.clone()),
                item.sender_address().map(str::to_owned),
                item.subject.clone(),
                item.importance == Some(ews_proto::Importance::High),
            )
        })
        .collect())
}

/// Asks Graph for mailboxes watched there, EWS for the others, as the badge's counts are
/// asked ([`TenantUnread`]).
#[derive(Debug)]
pub struct TenantDetails(Arc<TenantUnread>);

impl TenantDetails {
    /// Asks where `counts` asks.
    pub fn new(counts: Arc<TenantUnread>) -> Self {
        Self(counts)
    }
}

#[async_trait]
impl MailDetails for TenantDetails {
    async fn summaries(&self, mailbox: &str, items: &[String]) -> Result<Vec<MailSummary>, String> {
        if !self.0.on_graph(mailbox).await {
            return ews_summaries(self.0.ews(), mailbox, items).await;
        }
        // One GET per message; the watcher keeps the mailbox within Graph's 4 in flight.
        let graph = self.0.graph();
        let found: Vec<_> = futures_util::stream::iter(items.iter().cloned())
            .map(|id| async move {
                let answer = graph.message_summary(mailbox, &id).await;
                (id, answer)
            })
            .buffer_unordered(4)
            .collect()
            .await;
        let mut summaries = Vec::with_capacity(found.len());
        let mut failure = None;
        for (id, answer) in found {
            match answer {
                Ok(message) => {
                    let important = message.is_important();
                    let (name, address) = message
                        .from
                        .map(|r| (r.email_address.name, r.email_address.address))
                        .unwrap_or_default();
                    summaries.push(MailSummary::new(
                        id,
                        name,
                        address,
                        message.subject,
                        important,
                    ));
                }
                Err(error) => failure = Some(error.to_string()),
            }
        }
        match (summaries.is_empty(), failure) {
            (true, Some(error)) => Err(error),
            _ => Ok(summaries),
        }
    }
}

/// The pipeline's side of details: the fetcher, the tenant's bounds, and one request per
/// mailbox in flight.
pub struct Details {
    fetch: Arc<dyn MailDetails>,
    /// How long an alert waits for them.
    pub timeout: Duration,
    budget: Mutex<Budget>,
    /// Requests made, and how they ended (for metrics and the load report).
    pub counts: DetailCounts,
}

impl std::fmt::Debug for Details {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Details")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// How details requests ended.
#[derive(Debug, Default)]
pub struct DetailCounts {
    /// Requests sent.
    pub requests: std::sync::atomic::AtomicU64,
    /// Items asked.
    pub items: std::sync::atomic::AtomicU64,
    /// Requests that failed.
    pub failed: std::sync::atomic::AtomicU64,
    /// Requests not answered within the bound (the generic alert went).
    pub timed_out: std::sync::atomic::AtomicU64,
    /// Requests not made: the tenant's requests of this second were spent.
    pub over_budget: std::sync::atomic::AtomicU64,
}

impl DetailCounts {
    /// The requests by how they ended: answered, failed, timed_out, over_budget.
    pub fn by_outcome(&self) -> impl Iterator<Item = (&'static str, u64)> {
        use std::sync::atomic::Ordering::Relaxed;
        let (requests, failed, timed_out) = (
            self.requests.load(Relaxed),
            self.failed.load(Relaxed),
            self.timed_out.load(Relaxed),
        );
        [
            ("answered", requests.saturating_sub(failed + timed_out)),
            ("failed", failed),
            ("timed_out", timed_out),
            ("over_budget", self.over_budget.load(Relaxed)),
        ]
        .into_iter()
    }
}

/// A token bucket of requests per second.
#[derive(Debug)]
struct Budget {
    per_second: f64,
    tokens: f64,
    at: Instant,
}

impl Budget {
    fn take(&mut self, now: Instant) -> bool {
        let refill = now.saturating_duration_since(self.at).as_secs_f64() * self.per_second;
        self.tokens = (self.tokens + refill).min(self.per_second);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

impl Details {
    /// Details through `fetch`, waiting at most `timeout`, at most `per_second` requests.
    pub fn new(fetch: Arc<dyn MailDetails>, timeout: Duration, per_second: u32) -> Self {
        let per_second = f64::from(per_second.max(1));
        Self {
            fetch,
            timeout,
            budget: Mutex::new(Budget {
                per_second,
                tokens: per_second,
                at: Instant::now(),
            }),
            counts: DetailCounts::default(),
        }
    }

    /// The summaries of the new `items` of each mailbox, asked at once, waiting at most the
    /// bound from `started`: what came in time, by item id. A mailbox's newest items are asked
    /// (at most [`MAX_ITEMS_PER_REQUEST`]).
    pub async fn fetch(
        &self,
        wanted: Vec<(String, Vec<String>)>,
        started: tokio::time::Instant,
    ) -> HashMap<String, MailSummary> {
        use std::sync::atomic::Ordering::Relaxed;
        let deadline = started + self.timeout;
        let mut asked = Vec::new();
        for (mailbox, mut items) in wanted {
            if items.is_empty() {
                continue;
            }
            let allowed = match self.budget.lock() {
                Ok(mut budget) => budget.take(Instant::now()),
                Err(_) => false,
            };
            if !allowed {
                self.counts.over_budget.fetch_add(1, Relaxed);
                continue;
            }
            if items.len() > MAX_ITEMS_PER_REQUEST {
                items.drain(..items.len() - MAX_ITEMS_PER_REQUEST);
            }
            self.counts.requests.fetch_add(1, Relaxed);
            self.counts
                .items
                .fetch_add(u64::try_from(items.len()).unwrap_or(u64::MAX), Relaxed);
            asked.push((mailbox, items));
        }
        let fetch = &self.fetch;
        let counts = &self.counts;
        let answers = futures_util::stream::iter(asked)
            .map(|(mailbox, items)| async move {
                match tokio::time::timeout_at(deadline, fetch.summaries(&mailbox, &items)).await {
                    Ok(Ok(found)) => found,
                    Ok(Err(error)) => {
                        counts.failed.fetch_add(1, Relaxed);
                        tracing::info!(%mailbox, %error, "mail details not available: the generic alert goes");
                        Vec::new()
                    }
                    Err(_) => {
                        counts.timed_out.fetch_add(1, Relaxed);
                        tracing::info!(%mailbox, "mail details too slow: the generic alert goes");
                        Vec::new()
                    }
                }
            })
            .buffer_unordered(64)
            .collect::<Vec<_>>()
            .await;
        answers
            .into_iter()
            .flatten()
            .map(|summary| (summary.item_id.clone(), summary))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_drop_control_characters_and_bound_their_text() {
        let summary = MailSummary::new(
            "id".into(),
            Some("Ada\u{7}\nLovelace".into()),
            Some("Ada@Contoso.COM".into()),
            Some("x".repeat(1000)),
            true,
        );
        assert_eq!(summary.from_name.as_deref(), Some("Ada  Lovelace"));
        assert_eq!(summary.from_address.as_deref(), Some("ada@contoso.com"));
        assert_eq!(
            summary.subject.as_ref().map(|s| s.chars().count()),
            Some(SUBJECT_MAX_CHARS)
        );
        assert_eq!(summary.sender(), Some("Ada  Lovelace"));
        let debug = format!("{summary:?}");
        assert!(!debug.contains("Ada") && !debug.contains("xxx"), "{debug}");
        let nameless = MailSummary::new(
            "id".into(),
            Some(" ".into()),
            Some("not-an-address".into()),
            None,
            false,
        );
        assert_eq!(nameless.sender(), None);
    }

    #[test]
    fn the_budget_allows_its_rate_and_refills() {
        let start = Instant::now();
        let mut budget = Budget {
            per_second: 2.0,
            tokens: 2.0,
            at: start,
        };
        assert!(budget.take(start) && budget.take(start));
        assert!(!budget.take(start), "the second's two are spent");
        assert!(
            budget.take(start + Duration::from_millis(500)),
            "half a second gives one"
        );
        assert!(!budget.take(start + Duration::from_millis(500)));
    }

    struct Slow(Duration);

    #[async_trait]
    impl MailDetails for Slow {
        async fn summaries(&self, _: &str, items: &[String]) -> Result<Vec<MailSummary>, String> {
            tokio::time::sleep(self.0).await;
            Ok(items
                .iter()
                .map(|id| MailSummary::new(id.clone(), None, Some("a@b.c".into()), None, false))
                .collect())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_fetch_past_its_bound_gives_nothing_and_is_counted() {
        let details = Details::new(
            Arc::new(Slow(Duration::from_secs(5))),
            Duration::from_millis(500),
            10,
        );
        let found = details
            .fetch(
                vec![("m@c.com".into(), vec!["i1".into()])],
                tokio::time::Instant::now(),
            )
            .await;
        assert!(found.is_empty());
        assert_eq!(
            details
                .counts
                .timed_out
                .load(std::sync::atomic::Ordering::Relaxed),
            1
        );
        let quick = Details::new(
            Arc::new(Slow(Duration::from_millis(10))),
            Duration::from_millis(500),
            10,
        );
        let found = quick
            .fetch(
                vec![("m@c.com".into(), vec!["i1".into(), "i2".into()])],
                tokio::time::Instant::now(),
            )
            .await;
        assert_eq!(found.len(), 2);
    }
}
