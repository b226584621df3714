//! What to watch, and where a mailbox went: [`WatchTarget`] and [`Relocate`].

use async_trait::async_trait;
use ews_proto::BaseFolderId;
use url::Url;

use crate::error::WatchError;

/// A mailbox to watch and where it is (what Autodiscover found for it).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WatchTarget {
    /// The mailbox's primary SMTP address.
    pub mailbox: String,
    /// Its EWS endpoint.
    pub ews_url: Url,
    /// Its `GroupingInformation`: mailboxes with the same value and URL share a group.
    pub grouping_information: Option<String>,
    /// Folders to watch besides the watcher's own (the inbox), as the mailbox's user asked:
    /// distinguished folders or folder ids. Their events are marked
    /// [`further_folder`](crate::MailboxEvent::further_folder).
    pub folders: Vec<BaseFolderId>,
}

impl WatchTarget {
    /// `mailbox` at `ews_url`, in no particular group.
    pub fn new(mailbox: impl Into<String>, ews_url: Url) -> Self {
        Self {
            mailbox: mailbox.into(),
            ews_url,
            grouping_information: None,
            folders: Vec::new(),
        }
    }

    /// The same target with further folders to watch.
    pub fn folders(mut self, folders: Vec<BaseFolderId>) -> Self {
        self.folders = folders;
        self
    }

    /// The same target with its `GroupingInformation`.
    pub fn grouping(mut self, grouping_information: impl Into<String>) -> Self {
        self.grouping_information = Some(grouping_information.into());
        self
    }
}

/// Says where a mailbox is now, when Exchange says it moved (`ErrorInvalidSubscription`,
/// `ErrorMailboxMoveInProgress` and the other codes of a move).
///
/// The watcher owns this trait and its consumer implements it: `bems-service` implements it
/// over Autodiscover, so a watcher depends on no locator. Held as `Arc<dyn Relocate>`.
#[async_trait]
pub trait Relocate: Send + Sync {
    /// Where `mailbox` is now: its EWS URL and `GroupingInformation`, as a target for the
    /// same address. The watcher calls [`forget`](Self::forget) first, so the answer is
    /// not one remembered from before the move.
    async fn locate(&self, mailbox: &str) -> Result<WatchTarget, WatchError>;

    /// Forgets what is remembered about `mailbox` (an answer that is no longer true).
    fn forget(&self, mailbox: &str);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_has_no_group_until_given_one() {
        let url: Url = "https://mail.contoso.com/EWS/Exchange.asmx"
            .parse()
            .unwrap();
        let target = WatchTarget::new("mara@contoso.com", url.clone());
        assert_eq!(target.grouping_information, None);
        let grouped = target.clone().grouping("CONTOSO-1");
        assert_eq!(grouped.grouping_information.as_deref(), Some("CONTOSO-1"));
        assert_eq!(grouped.ews_url, url);
        assert_ne!(grouped, target);
    }
}
