//! Delta rounds on the inbox: what the notifications may have missed.
//!
//! The first round after a subscription is made (the baseline) asks only for messages
//! created from a few minutes before (`changeType=created`, `$filter=receivedDateTime ge`),
//! reports nothing, and keeps the `@odata.deltaLink`. Later rounds follow the link: every
//! unread message created since, not yet reported, becomes a new-mail event. Rounds run
//! after `missed`, `subscriptionRemoved` and `reauthorizationRequired`, after a restart that
//! found the subscription expired, and every `catch_up_after` reported messages (so that the
//! link stays close and the set of reported messages covers the round).

use std::sync::Arc;
use std::time::Duration;

use ews_subscriptions::WatchEvent;

use crate::client::Verb;
use crate::core::{Core, Counters, folder_count, new_mail};
use crate::error::GraphError;
use crate::ids::{rest_to_ews, short};
use crate::member::Member;
use crate::wire::delta::Page;
use crate::wire::format_datetime;

/// How far before now the baseline reaches (clock skew between us and Graph).
const BASELINE_MARGIN: Duration = Duration::from_secs(5 * 60);

/// Most pages in one round.
const MAX_PAGES: usize = 1000;

/// The messages of a round that are not removed and not read: (Graph id, received).
type Rows = Vec<(String, Option<time::OffsetDateTime>)>;

/// Follows a round from `url` to its delta link.
async fn round(core: &Core, member: &Member, url: url::Url) -> Result<(Rows, String), GraphError> {
    let mut rows = Vec::new();
    let mut next = url;
    for _ in 0..MAX_PAGES {
        let answer = core.call(member, Verb::Get, next).await?;
        let page = Page::parse(&answer.body).map_err(GraphError::Protocol)?;
        rows.extend(
            page.rows
                .into_iter()
                .filter(|r| !r.removed && r.is_read != Some(true))
                .map(|r| (r.id, r.received)),
        );
        match (page.next_link, page.delta_link) {
            (Some(link), _) => next = core.client.rebase(&link)?,
            (None, Some(link)) => {
                Counters::add(&core.counters.delta_rounds, 1);
                return Ok((rows, link));
            }
            (None, None) => {
                return Err(GraphError::Protocol("a delta page without a link".into()));
            }
        }
    }
    Err(GraphError::Protocol(format!(
        "a delta round of more than {MAX_PAGES} pages"
    )))
}

/// A first round from a few minutes ago; its delta link.
pub(crate) async fn baseline(core: &Core, member: &Member) -> Result<String, GraphError> {
    let since = format_datetime(core.settings.clock.now() - BASELINE_MARGIN);
    let mut url = core.client.endpoint(&[
        "users",
        &member.mailbox,
        "mailFolders",
        "inbox",
        "messages",
        "delta",
    ])?;
    url.set_query(Some(&format!(
        "changeType=created&$select=isRead,receivedDateTime&$filter=receivedDateTime+ge+{since}"
    )));
    let (_, link) = round(core, member, url).await?;
    Ok(link)
}

/// A round from the mailbox's delta link: reports what was not reported, keeps the new link.
/// Without a link (or when Graph no longer has its state) the consumer is told to resync
/// by itself and a new baseline is taken.
pub(crate) async fn resync(core: &Core, member: &Member) -> Result<(), GraphError> {
    Counters::add(&core.counters.resyncs, 1);
    let link = member.state().delta_link.clone();
    let outcome = match &link {
        Some(link) => round(core, member, core.client.rebase(link)?)
            .await
            .map(Some),
        None => Ok(None),
    };
    let (rows, link) = match outcome {
        Ok(Some(found)) => found,
        Ok(None) | Err(GraphError::Status { status: 410, .. }) => {
            let link = baseline(core, member).await?;
            let _emit = member.emit.lock().await;
            {
                let mut state = member.state();
                state.delta_link = Some(link);
                state.work.resync = false;
                state.reported_since_round = 0;
            }
            let reason = "no delta state to replay from: look at the mailbox".to_owned();
            let event = WatchEvent::Resync {
                mailbox: Arc::clone(&member.mailbox),
                reason,
            };
            core.deliver(member, vec![event]).await;
            return Ok(());
        }
        Err(error) => return Err(error),
    };
    let _emit = member.emit.lock().await;
    let mut fresh = Vec::new();
    {
        let mut state = member.state();
        for (id, received) in rows {
            let ews = rest_to_ews(&id);
            if state.first_sight(short(&ews)) {
                fresh.push((ews, received.unwrap_or_else(|| core.settings.clock.now())));
            } else {
                Counters::add(&core.counters.duplicates, 1);
            }
        }
        state.delta_link = Some(link);
        state.work.resync = false;
        state.reported_since_round = 0;
        state.last_round = std::time::Instant::now();
    }
    let mut events = Vec::new();
    if !fresh.is_empty() {
        tracing::info!(mailbox = %member.mailbox, found = fresh.len(), "Graph: delta round found unreported mail");
        let inbox = core.inbox(member).await;
        events.extend(
            fresh
                .iter()
                .map(|(id, at)| new_mail(&member.mailbox, id, *at)),
        );
        if let Some((folder, count)) = inbox {
            events.push(folder_count(&member.mailbox, &folder, count));
        }
    }
    core.deliver(member, events).await;
    Ok(())
}
