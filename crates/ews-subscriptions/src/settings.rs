//! What the watcher is told: the mode, the folders and events, the timings and the budgets.

use std::time::Duration;

use ews_proto::soap::ExchangeVersion;
use ews_proto::{BaseFolderId, EventType};
use url::Url;

use mailbox_watch::WatchError;

/// The most subscription ids one `GetStreamingEvents` or affinity group may carry.
pub const MAX_GROUP: usize = 200;

/// How Exchange tells us about changes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mode {
    /// Exchange POSTs `SendNotification` to our listener (what BEMS uses on-premises).
    Push(PushSettings),
    /// One hanging `GetStreamingEvents` connection per group of at most 200 mailboxes.
    Streaming(StreamingSettings),
    /// `GetEvents` with the mailbox's watermark at a fixed interval.
    Pull(PullSettings),
}

impl Mode {
    /// The mode's name, as in logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Push(_) => "push",
            Self::Streaming(_) => "streaming",
            Self::Pull(_) => "pull",
        }
    }
}

/// Push subscriptions.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PushSettings {
    /// The URL Exchange calls back: our [`PushListener`](crate::PushListener) as Exchange
    /// reaches it (through a reverse proxy, perhaps).
    pub callback_url: Url,
    /// `StatusFrequency`, 1-1440 minutes: Exchange sends a heartbeat after this much silence.
    pub status_frequency_minutes: u32,
    /// How long one `StatusFrequency` lasts on the clock we watch it with (the minutes
    /// above; shorter only against a time-scaled simulator).
    pub status_frequency: Duration,
    /// Extra silence tolerated after a missed heartbeat before the subscription counts as lost.
    pub grace: Duration,
}

impl PushSettings {
    /// Push to `callback_url` with a heartbeat every 15 minutes (VMware's ENS2 choice: a lost
    /// subscription is noticed within 16 minutes, at 4 heartbeats an hour per mailbox).
    pub fn new(callback_url: Url) -> Self {
        Self {
            callback_url,
            status_frequency_minutes: 15,
            status_frequency: Duration::from_secs(15 * 60),
            grace: Duration::from_secs(60),
        }
    }
}

/// Streaming subscriptions.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamingSettings {
    /// `ConnectionTimeout`, 1-30 minutes: each connection is reopened after this long.
    pub connection_timeout_minutes: u32,
    /// The server's heartbeat interval (Exchange: 45 s); silence for twice this long means the
    /// connection is dead.
    pub heartbeat: Duration,
}

impl Default for StreamingSettings {
    fn default() -> Self {
        Self {
            connection_timeout_minutes: 30,
            heartbeat: Duration::from_secs(45),
        }
    }
}

/// Pull subscriptions.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PullSettings {
    /// Time between two `GetEvents` for a mailbox.
    pub interval: Duration,
    /// `Timeout`, 1-1440 minutes of inactivity before Exchange drops the subscription.
    pub timeout_minutes: u32,
}

impl Default for PullSettings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(30),
            timeout_minutes: 30,
        }
    }
}

/// Budgets the watcher keeps to, so that Exchange's throttling never has to.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Limits {
    /// `Subscribe` requests per second across the watcher (a cold start of 100,000 mailboxes
    /// at the default 200/s takes about 8 minutes and stays far below Exchange's budgets).
    pub subscribes_per_second: f64,
    /// Non-streaming requests in flight at once (`EWSMaxConcurrency` is 27).
    pub concurrent_requests: usize,
    /// First wait after a failure that gives no `BackOffMilliseconds`; doubled per failure.
    pub backoff_initial: Duration,
    /// The longest wait between retries.
    pub backoff_max: Duration,
    /// Timeout of one non-streaming request.
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            subscribes_per_second: 200.0,
            concurrent_requests: 27,
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            request_timeout: Duration::from_secs(100),
        }
    }
}

/// Everything the watcher needs besides credentials and mailboxes.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct WatchSettings {
    /// Push, streaming or pull.
    pub mode: Mode,
    /// The folders to watch (the inbox by default).
    pub folders: Vec<BaseFolderId>,
    /// The events to subscribe to.
    pub event_types: Vec<EventType>,
    /// `RequestServerVersion` of every request the watcher sends (Exchange 2013 by default:
    /// streaming, affinity and `CallerData`).
    pub version: ExchangeVersion,
    /// Act as each mailbox (`ExchangeImpersonation`): a service account with
    /// ApplicationImpersonation, or an app with `full_access_as_app`. Off only when the
    /// credentials are the mailbox's own.
    pub impersonation: bool,
    /// Mailboxes per affinity group and streaming connection (at most 200).
    pub group_size: usize,
    /// Budgets.
    pub limits: Limits,
    /// Events buffered for the consumer before the watcher stops reading from Exchange.
    pub channel_capacity: usize,
    /// Recent events remembered per mailbox to drop duplicates after a replay.
    pub dedupe_window: usize,
    /// Hand watermarks to the consumer as [`WatchEvent::Checkpoint`](mailbox_watch::WatchEvent::Checkpoint)
    /// events instead of saving them: a consumer that turns events into durable work saves
    /// each checkpoint in the same transaction, so a crash can never skip an event whose work
    /// was not yet written. The store is still read at subscription.
    pub consumer_saves_watermarks: bool,
}

impl WatchSettings {
    /// Settings for `mode` with the defaults: the inbox, new mail and the changes that move
    /// the unread count, impersonation, groups of 200.
    pub fn new(mode: Mode) -> Self {
        Self {
            mode,
            folders: vec![BaseFolderId::inbox()],
            event_types: vec![
                EventType::NewMail,
                EventType::Created,
                EventType::Deleted,
                EventType::Modified,
                EventType::Moved,
            ],
            version: ExchangeVersion::Exchange2013,
            impersonation: true,
            group_size: MAX_GROUP,
            limits: Limits::default(),
            channel_capacity: 4096,
            dedupe_window: 32,
            consumer_saves_watermarks: false,
        }
    }

    /// Refuses settings Exchange would refuse, or that cannot work, naming the field.
    pub fn validate(&self) -> Result<(), WatchError> {
        match &self.mode {
            Mode::Push(push) => {
                in_range(
                    "push.status_frequency_minutes",
                    push.status_frequency_minutes,
                    1..=1440,
                )?;
                if !matches!(push.callback_url.scheme(), "http" | "https") {
                    return Err(WatchError::config(
                        "push.callback_url",
                        "must be an http or https URL",
                    ));
                }
                nonzero("push.status_frequency", push.status_frequency)?;
            }
            Mode::Streaming(streaming) => {
                in_range(
                    "streaming.connection_timeout_minutes",
                    streaming.connection_timeout_minutes,
                    1..=30,
                )?;
                nonzero("streaming.heartbeat", streaming.heartbeat)?;
            }
            Mode::Pull(pull) => {
                in_range("pull.timeout_minutes", pull.timeout_minutes, 1..=1440)?;
                nonzero("pull.interval", pull.interval)?;
                if pull.interval >= Duration::from_secs(u64::from(pull.timeout_minutes) * 60) {
                    return Err(WatchError::config(
                        "pull.interval",
                        "must be shorter than pull.timeout_minutes, or every subscription expires between two polls",
                    ));
                }
            }
        }
        if self.folders.is_empty() {
            return Err(WatchError::config("folders", "name at least one folder"));
        }
        if self.event_types.is_empty() {
            return Err(WatchError::config(
                "event_types",
                "name at least one event type",
            ));
        }
        if self.event_types.contains(&EventType::Status) {
            return Err(WatchError::config(
                "event_types",
                "StatusEvent is sent by the server and cannot be subscribed to",
            ));
        }
        if !(1..=MAX_GROUP).contains(&self.group_size) {
            return Err(WatchError::config(
                "group_size",
                format!("must be between 1 and {MAX_GROUP}"),
            ));
        }
        let limits = &self.limits;
        if !(limits.subscribes_per_second.is_finite() && limits.subscribes_per_second > 0.0) {
            return Err(WatchError::config(
                "limits.subscribes_per_second",
                "must be a positive number",
            ));
        }
        if limits.concurrent_requests == 0 {
            return Err(WatchError::config(
                "limits.concurrent_requests",
                "must be at least 1",
            ));
        }
        nonzero("limits.backoff_initial", limits.backoff_initial)?;
        nonzero("limits.request_timeout", limits.request_timeout)?;
        if limits.backoff_max < limits.backoff_initial {
            return Err(WatchError::config(
                "limits.backoff_max",
                "must not be shorter than limits.backoff_initial",
            ));
        }
        if self.channel_capacity == 0 {
            return Err(WatchError::config("channel_capacity", "must be at least 1"));
        }
        Ok(())
    }
}

fn in_range(
    field: &'static str,
    value: u32,
    range: std::ops::RangeInclusive<u32>,
) -> Result<(), WatchError> {
    if range.contains(&value) {
        Ok(())
    } else {
        Err(WatchError::config(
            field,
            format!(
                "must be between {} and {} (got {value})",
                range.start(),
                range.end()
            ),
        ))
    }
}

fn nonzero(field: &'static str, value: Duration) -> Result<(), WatchError> {
    if value.is_zero() {
        Err(WatchError::config(field, "must be longer than zero"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(settings: &WatchSettings) -> &'static str {
        match settings.validate() {
            Err(WatchError::Config { field, .. }) => field,
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn defaults_are_valid_in_every_mode() {
        let url: Url = "https://bems.contoso.com/ews/notify".parse().unwrap();
        for mode in [
            Mode::Push(PushSettings::new(url)),
            Mode::Streaming(StreamingSettings::default()),
            Mode::Pull(PullSettings::default()),
        ] {
            WatchSettings::new(mode).validate().unwrap();
        }
    }

    #[test]
    fn refusals_name_the_field() {
        let mut s = WatchSettings::new(Mode::Streaming(StreamingSettings {
            connection_timeout_minutes: 31,
            ..StreamingSettings::default()
        }));
        assert_eq!(field(&s), "streaming.connection_timeout_minutes");
        s.mode = Mode::Pull(PullSettings {
            interval: Duration::from_secs(3600),
            timeout_minutes: 30,
        });
        assert_eq!(field(&s), "pull.interval");
        s.mode = Mode::Streaming(StreamingSettings::default());
        s.group_size = 201;
        assert_eq!(field(&s), "group_size");
        s.group_size = 200;
        s.event_types = vec![EventType::Status];
        assert_eq!(field(&s), "event_types");
        s.event_types = vec![EventType::NewMail];
        s.limits.subscribes_per_second = f64::NAN;
        assert_eq!(field(&s), "limits.subscribes_per_second");
        s.limits = Limits::default();
        s.folders.clear();
        assert_eq!(field(&s), "folders");
    }
}
