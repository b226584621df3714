//! Delta rounds on the inbox, and on each further folder: what the notifications may have
//! missed. Each subscription has its own delta link; a further folder's round reads that
//! folder's messages, and what it finds is marked `in_further_folder()`, with no unread count
//! after it (the badge is the inbox's).
//!
//! The first round after a subscription is made (the baseline) asks only for messages
//! created from a few minutes before (`changeType=created`, `$filter=receivedDateTime ge`),
//! reports nothing, and keeps the `@odata.deltaLink` with the time its round began. Later
//! rounds follow the link: every unread message created since, not yet reported, becomes a
//! new-mail event. Rounds run after `missed`, `subscriptionRemoved` and
//! `reauthorizationRequired`, after a restart that found the subscription expired, every
//! `catch_up_after` reported messages (so that the link stays close and the set of reported
//! messages covers the round), and at least every `catch_up_interval` (a notification Graph
//! dropped without a `missed` is found then). When Graph no longer has a link's state, the
//! round is read again from the time the link's round began ([`resync`]).

use std::sync::Arc;
use std::time::Duration;

use mailbox_watch::WatchEvent;

use crate::client::Verb;
use crate::core::{Core, Counters, folder_count, new_mail};
use crate::error::GraphError;
use crate::folders::FolderName;
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

/// The first round of the folder's messages received from `since` on.
fn from(
    core: &Core,
    member: &Member,
    folder: Option<&FolderName>,
    since: time::OffsetDateTime,
) -> Result<url::Url, GraphError> {
    let mut url = core.client.endpoint(&[
        "users",
        &member.mailbox,
        "mailFolders",
        folder.map_or("inbox", FolderName::as_str),
        "messages",
        "delta",
    ])?;
    let since = format_datetime(since);
    url.set_query(Some(&format!(
        "changeType=created&$select=isRead,receivedDateTime&$filter=receivedDateTime+ge+{since}"
    )));
    Ok(url)
}

/// A first round from a few minutes ago, reporting nothing; keeps its delta link.
pub(crate) async fn baseline(
    core: &Core,
    member: &Member,
    folder: Option<&FolderName>,
) -> Result<(), GraphError> {
    let started = core.settings.clock.now();
    let url = from(core, member, folder, started - BASELINE_MARGIN)?;
    let (_, link) = round(core, member, url).await?;
    if let Some(slot) = member.state().slot_mut(folder) {
        slot.delta_link = Some(link);
        slot.round_at = Some(started);
    }
    Ok(())
}

/// A round from the mailbox's delta link: reports what was not reported, keeps the new link.
///
/// | the link | what is read |
/// |---|---|
/// | answers | what changed since the round that gave it |
/// | Graph no longer has its state (`410`, or a 4xx `syncStateNotFound`, `syncStateInvalid`, `resyncRequired`) | a first round of the messages received since that round began (a few minutes' margin): what was missed is announced, what was reported before is known by its id and not announced again |
/// | none saved, or its round's start unknown (state saved by an older version) | a new baseline; for the inbox the consumer is told to resync by itself (`WatchEvent::Resync`); for a further folder the gap is logged (what arrived there meanwhile is not announced: the consumer's resync is about the inbox's badge) |
pub(crate) async fn resync(
    core: &Core,
    member: &Member,
    folder: Option<&FolderName>,
) -> Result<(), GraphError> {
    Counters::add(&core.counters.resyncs, 1);
    let Some((link, round_at)) = member
        .state()
        .slot(folder)
        .map(|slot| (slot.delta_link.clone(), slot.round_at))
    else {
        return Ok(());
    };
    let started = core.settings.clock.now();
    let outcome = match (&link, round_at) {
        (Some(link), since) => match round(core, member, core.client.rebase(link)?).await {
            Ok(found) => Some(found),
            Err(error) if error.is_sync_state_gone() => match since {
                Some(since) => {
                    tracing::info!(mailbox = %member.mailbox, folder = folder.map_or("inbox", FolderName::as_str), %error, "Graph: the delta link's state is gone; reading the folder again from its round");
                    let url = from(core, member, folder, since - BASELINE_MARGIN)?;
                    Some(round(core, member, url).await?)
                }
                None => None,
            },
            Err(error) => return Err(error),
        },
        (None, _) => None,
    };
    let Some((rows, link)) = outcome else {
        baseline(core, member, folder).await?;
        let _emit = member.emit.lock().await;
        if let Some(slot) = member.state().slot_mut(folder) {
            slot.work.resync = false;
            slot.reported_since_round = 0;
            slot.last_round = std::time::Instant::now();
        }
        let events = match folder {
            None => vec![WatchEvent::Resync {
                mailbox: Arc::clone(&member.mailbox),
                reason: "no delta state to replay from: look at the mailbox".to_owned(),
            }],
            Some(folder) => {
                tracing::warn!(mailbox = %member.mailbox, %folder, "Graph: no delta state to replay a further folder from; what arrived there meanwhile is not announced");
                Vec::new()
            }
        };
        core.deliver(member, events).await;
        return Ok(());
    };
    let _emit = member.emit.lock().await;
    let mut fresh = Vec::new();
    {
        let mut state = member.state();
        if state.slot(folder).is_none() {
            // The target no longer names the folder.
            return Ok(());
        }
        for (id, received) in rows {
            let ews = rest_to_ews(&id);
            if state.first_sight(short(&ews)) {
                fresh.push((ews, received.unwrap_or_else(|| core.settings.clock.now())));
            } else {
                Counters::add(&core.counters.duplicates, 1);
            }
        }
        if let Some(slot) = state.slot_mut(folder) {
            slot.delta_link = Some(link);
            slot.round_at = Some(started);
            slot.work.resync = false;
            slot.reported_since_round = 0;
            slot.last_round = std::time::Instant::now();
        }
    }
    let mut events = Vec::new();
    if !fresh.is_empty() {
        tracing::info!(mailbox = %member.mailbox, folder = folder.map_or("inbox", FolderName::as_str), found = fresh.len(), "Graph: delta round found unreported mail");
        let further = folder.is_some();
        // The badge is the inbox's: a further folder's mail has no count after it.
        let inbox = if further {
            None
        } else {
            core.inbox(member).await
        };
        events.extend(
            fresh
                .iter()
                .map(|(id, at)| new_mail(&member.mailbox, id, *at, further)),
        );
        if let Some((inbox, count)) = inbox {
            events.push(folder_count(&member.mailbox, &inbox, count));
        }
    }
    core.deliver(member, events).await;
    Ok(())
}
