//! Subscriptions of this app that notify this watcher but belong to no watched mailbox (the
//! service stopped between creating one and saving it; a deletion failed): they cost quota and
//! notifications until they expire, so they are deleted. They are found by listing the app's
//! subscriptions, never from what reaches the webhook: a notification is unauthenticated
//! until its `clientState` matches, so nothing in it decides a request to Graph.
//!
//! | when | what happens |
//! |---|---|
//! | a notification names a subscription the watcher does not know | during `startup_grace`: 503, Graph delivers again (its mailbox may not be loaded yet); later: counted (`unknown`) and ignored, never a request to Graph |
//! | every `orphan_sweep` (15 minutes), not within `startup_grace` of the start | `GET /subscriptions`, every page (at most [`MAX_PAGES`]) |
//! | a listed subscription notifies our `notificationUrl`, no mailbox here holds it and no other node published it ([`Peers`](crate::Peers)) | a suspect |
//! | a suspect of the sweep before is still held by no mailbox | `DELETE /subscriptions/{id}` |
//!
//! The second sweep spares a subscription whose creation was still being answered during the
//! first.

use std::collections::HashSet;
use std::time::Duration;

use crate::client::Verb;
use crate::core::{Core, lock};
use crate::error::GraphError;
use crate::wire::subscription::SubscriptionList;

/// Pages of `GET /subscriptions` read in one sweep.
pub(crate) const MAX_PAGES: usize = 1000;

/// Lists the app's subscriptions and deletes those that were suspects already; returns how
/// many were deleted.
pub(crate) async fn sweep(core: &Core) -> Result<usize, GraphError> {
    let ours = core.settings.notification_url.as_str();
    let never = |_: Duration, _: &GraphError| {};
    let mut url = core.client.endpoint(&["subscriptions"])?;
    let mut listed = Vec::new();
    for _ in 0..MAX_PAGES {
        let answer = core.client.call(Verb::Get, url, None, &never).await?;
        let page = SubscriptionList::parse(&answer.body).map_err(GraphError::Protocol)?;
        listed.extend(
            page.subscriptions
                .into_iter()
                .filter(|(_, notify)| notify.as_deref() == Some(ours))
                .map(|(id, _)| id),
        );
        match page.next_link {
            Some(link) => url = core.client.rebase(&link)?,
            None => break,
        }
    }
    // Another node's subscriptions notify the same URL: they are no orphans.
    if let Some(peers) = core.peers.as_deref() {
        let held = crate::peers::find(peers, listed.clone()).await?;
        listed.retain(|id| !held.contains_key(id));
    }
    let (suspects, orphans) = {
        let registry = lock(&core.registry);
        let mut before = lock(&core.suspects);
        let suspects: HashSet<String> = listed
            .into_iter()
            .filter(|id| !registry.subscriptions.contains_key(id))
            .collect();
        let orphans: Vec<String> = suspects
            .iter()
            .filter(|id| before.contains(*id))
            .cloned()
            .collect();
        before.clone_from(&suspects);
        (suspects.len(), orphans)
    };
    let mut deleted = 0;
    for id in orphans {
        let url = core.client.endpoint(&["subscriptions", &id])?;
        match core.client.call(Verb::Delete, url, None, &never).await {
            Ok(_) => deleted += 1,
            Err(error) if error.is_not_found() => {}
            Err(error) => {
                tracing::info!(subscription = %id, %error, "Graph: orphan subscription not deleted");
                continue;
            }
        }
        lock(&core.suspects).remove(&id);
        tracing::info!(subscription = %id, "Graph: deleted a subscription of no watched mailbox");
    }
    tracing::debug!(suspects, deleted, "Graph: orphan sweep done");
    Ok(deleted)
}
