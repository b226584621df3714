//! What the watcher yields: mailbox changes, and the lifecycle of each subscription.

use std::sync::Arc;
use std::time::Duration;

use ews_proto::{Event, EventType, ResponseCode, Watermark};
use serde::{Serialize, Serializer};

/// One event of the watcher's stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
#[expect(
    clippy::large_enum_variant,
    reason = "mail is nearly every event: boxing it would allocate once per event to save bytes on rare lifecycle events"
)]
pub enum WatchEvent {
    /// A change in a watched mailbox.
    Mail(MailboxEvent),
    /// The mailbox is subscribed: for the first time, or again after a loss.
    Subscribed {
        /// The mailbox.
        #[serde(serialize_with = "arc_str")]
        mailbox: Arc<str>,
        /// Whether the subscription resumed from a saved watermark (nothing missed).
        resumed: bool,
    },
    /// The subscription was lost; the watcher is recovering it.
    Lost {
        /// The mailbox.
        #[serde(serialize_with = "arc_str")]
        mailbox: Arc<str>,
        /// What happened (a response code and its text, or the connection's fate).
        reason: String,
    },
    /// The mailbox was subscribed again with nothing to replay from: changes since the loss
    /// may be missing, so the consumer should look at the mailbox (unread count) itself.
    Resync {
        /// The mailbox.
        #[serde(serialize_with = "arc_str")]
        mailbox: Arc<str>,
        /// Why replay was impossible.
        reason: String,
    },
    /// Exchange asked us to wait (`ErrorServerBusy`, too many connections).
    Throttled {
        /// The mailbox whose request was refused.
        #[serde(serialize_with = "arc_str")]
        mailbox: Arc<str>,
        /// How long the watcher waits before the next try.
        #[serde(serialize_with = "millis")]
        wait: Duration,
        /// The code that said so.
        #[serde(serialize_with = "response_code")]
        code: ResponseCode,
    },
    /// The mailbox has a new endpoint or group (it moved; see [`Relocate`](crate::Relocate)).
    Moved {
        /// The mailbox.
        #[serde(serialize_with = "arc_str")]
        mailbox: Arc<str>,
        /// The EWS URL now in use.
        ews_url: String,
    },
    /// When the consumer saves watermarks (a setting of the watcher): the events of this
    /// mailbox before this one are all delivered, and a restarted watcher should resume from
    /// `watermark`. Save it together with what those events produced.
    Checkpoint {
        /// The mailbox.
        #[serde(serialize_with = "arc_str")]
        mailbox: Arc<str>,
        /// Where to resume.
        watermark: Watermark,
    },
    /// The mailbox cannot be watched with these credentials or settings; the watcher tries
    /// again after the longest backoff.
    Failed {
        /// The mailbox.
        #[serde(serialize_with = "arc_str")]
        mailbox: Arc<str>,
        /// Why.
        reason: String,
    },
}

impl WatchEvent {
    /// The mailbox the event is about.
    pub fn mailbox(&self) -> &str {
        match self {
            Self::Mail(event) => &event.mailbox,
            Self::Subscribed { mailbox, .. }
            | Self::Lost { mailbox, .. }
            | Self::Resync { mailbox, .. }
            | Self::Throttled { mailbox, .. }
            | Self::Moved { mailbox, .. }
            | Self::Checkpoint { mailbox, .. }
            | Self::Failed { mailbox, .. } => mailbox,
        }
    }
}

/// A change in a mailbox, as Exchange reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct MailboxEvent {
    /// The mailbox.
    #[serde(serialize_with = "arc_str")]
    pub mailbox: Arc<str>,
    /// The event: kind, item, folders, time stamp, watermark, unread count.
    #[serde(flatten)]
    pub event: Event,
    /// Whether it happened in one of the target's [further folders](crate::WatchTarget::folders)
    /// rather than the watcher's own (the inbox): its new mail is not the inbox's, and its
    /// unread count not the inbox's.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub further_folder: bool,
}

impl MailboxEvent {
    /// A mailbox event.
    pub fn new(mailbox: Arc<str>, event: Event) -> Self {
        Self {
            mailbox,
            event,
            further_folder: false,
        }
    }

    /// The same event, marked as one of a further folder.
    pub fn in_further_folder(mut self) -> Self {
        self.further_folder = true;
        self
    }

    /// The kind of change.
    pub fn kind(&self) -> &EventType {
        &self.event.kind
    }

    /// Whether it is new mail.
    pub fn is_new_mail(&self) -> bool {
        self.event.kind == EventType::NewMail
    }
}

fn arc_str<S: Serializer>(value: &Arc<str>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(value)
}

fn millis<S: Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(value.as_millis()).unwrap_or(u64::MAX))
}

fn response_code<S: Serializer>(value: &ResponseCode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(value.as_str())
}
