//! Autodiscover as the watchers' [`Relocate`]: the service answers "where is this mailbox
//! now" for `ews-subscriptions`, which knows nothing of Autodiscover.

use std::sync::Arc;

use async_trait::async_trait;
use autodiscover::{Discovery, MailboxLocator};
use mailbox_watch::{Relocate, WatchError, WatchTarget};

/// `mailbox` where Autodiscover `found` it: its EWS URL and `GroupingInformation`, under the
/// address the service watches it by (an answer may name another, after a `redirectAddr`).
pub fn target(mailbox: &str, found: &Discovery) -> WatchTarget {
    let mut target = WatchTarget::new(mailbox, found.ews_url.clone());
    target.grouping_information = found.grouping_information.clone();
    target
}

/// Asks a tenant's locator where a moved mailbox went.
pub struct Rediscover {
    locator: Arc<dyn MailboxLocator>,
}

impl Rediscover {
    /// Relocates through `locator`.
    pub fn new(locator: Arc<dyn MailboxLocator>) -> Self {
        Self { locator }
    }
}

impl std::fmt::Debug for Rediscover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rediscover").finish_non_exhaustive()
    }
}

#[async_trait]
impl Relocate for Rediscover {
    async fn locate(&self, mailbox: &str) -> Result<WatchTarget, WatchError> {
        let found = self
            .locator
            .locate(mailbox)
            .await
            .map_err(|e| WatchError::locate(mailbox, e))?;
        Ok(target(mailbox, &found))
    }

    fn forget(&self, mailbox: &str) {
        self.locator.invalidate(mailbox);
    }
}
