//! What the watcher is told: where Graph and the webhook are, lifetimes, budgets, the clock.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use mailbox_watch::WatchError;
use time::OffsetDateTime;
use url::Url;

/// Graph's v1.0 endpoint in the global cloud.
pub const GRAPH_API: &str = "https://graph.microsoft.com/v1.0/";

/// The app-only scope of Graph tokens: `https://graph.microsoft.com/.default`.
pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";

/// Per app and mailbox, Graph serves at most 4 requests at once.
pub const MAILBOX_CONCURRENCY: usize = 4;

/// The wall clock the watcher reads expiries against.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> OffsetDateTime + Send + Sync>);

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Clock({})", (self.0)())
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

impl Clock {
    /// The system's UTC clock.
    pub fn system() -> Self {
        Self(Arc::new(OffsetDateTime::now_utc))
    }

    /// Another clock (a simulator's, in tests).
    pub fn new(now: impl Fn() -> OffsetDateTime + Send + Sync + 'static) -> Self {
        Self(Arc::new(now))
    }

    /// Now.
    pub fn now(&self) -> OffsetDateTime {
        (self.0)()
    }
}

/// How the watcher works.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GraphSettings {
    /// Graph's endpoint, ending in `/v1.0/` ([`GRAPH_API`] in the global cloud). Links Graph
    /// returns are followed on this origin only, so that the token never goes elsewhere.
    pub api: Url,
    /// Where Graph POSTs change notifications (`https`, reachable from Microsoft's cloud).
    pub notification_url: Url,
    /// Where Graph POSTs lifecycle notifications (`https`).
    pub lifecycle_url: Url,
    /// The lifetime asked for each subscription. 4,230 minutes by default: under both
    /// maxima Microsoft has published for messages (4,230 and 10,080); the expiry Graph
    /// answers is the one kept.
    pub lifetime: Duration,
    /// A subscription is renewed once this share of the lifetime Graph granted has passed.
    pub renew_at: f64,
    /// How often subscriptions are checked for renewal and catch-up.
    pub tick: Duration,
    /// Requests in flight per mailbox ([`MAILBOX_CONCURRENCY`]).
    pub mailbox_concurrency: usize,
    /// Subscriptions being created at once, across mailboxes.
    pub subscribe_concurrency: usize,
    /// Timeout of one request.
    pub request_timeout: Duration,
    /// Attempts of one request that is throttled or fails on the way.
    pub max_attempts: u32,
    /// The longest `Retry-After` waited for within a request; longer ones fail the request
    /// (and the mailbox's task retries later).
    pub max_retry_after: Duration,
    /// First wait after a failure; doubled (with jitter) up to `backoff_max`.
    pub backoff_initial: Duration,
    /// Longest wait after failures.
    pub backoff_max: Duration,
    /// Events waiting for the consumer; when full, the watcher waits.
    pub channel_capacity: usize,
    /// Notifications queued for processing; when full, the webhook answers 503 and Graph
    /// delivers again later.
    pub queue_capacity: usize,
    /// After a restart, notifications for subscriptions not yet loaded are answered 503 (Graph
    /// retries) for this long; later ones are counted and ignored.
    pub startup_grace: Duration,
    /// How often the app's subscriptions are listed to delete those of no watched mailbox (one
    /// held by none at two sweeps in a row is deleted; the first sweep is one period after the
    /// start, and never within `startup_grace`).
    pub orphan_sweep: Duration,
    /// After this many new-mail events through the webhook on one subscription, a delta
    /// round moves its delta link forward (and reports what the webhook missed); the inbox's
    /// and each further folder's count apart.
    pub catch_up_after: u32,
    /// A delta round runs on each subscribed mailbox at least this often (1 hour by
    /// default): the bound on how late a notification Graph dropped without telling
    /// (no `missed` lifecycle event) is announced. One request per subscription (the
    /// inbox's, and each further folder's) per period. A further folder Graph refused is
    /// tried again after this long.
    pub catch_up_interval: Duration,
    /// How often records handed on by other nodes are taken (with
    /// [`Peers`](crate::Peers) only; 200 ms by default): the most a notification that
    /// reached another node waits before this one delivers it.
    pub peer_poll: Duration,
    /// Whether the consumer saves the state (`WatchEvent::Checkpoint`) with what the events
    /// produced; otherwise the watcher saves it in its store.
    pub consumer_saves_state: bool,
    /// The wall clock.
    pub clock: Clock,
}

impl GraphSettings {
    /// Settings for a webhook whose base is `webhook` (`https://bems.contoso.com/graph/contoso`):
    /// notifications at `<base>/notifications`, lifecycle notifications at `<base>/lifecycle`.
    pub fn new(webhook: &Url) -> Result<Self, WatchError> {
        let base = webhook.as_str().trim_end_matches('/');
        let url = |leaf: &str| {
            Url::parse(&format!("{base}/{leaf}")).map_err(|e| WatchError::Config {
                field: "notification_url",
                rule: e.to_string(),
            })
        };
        Ok(Self {
            api: Url::parse(GRAPH_API).map_err(|e| WatchError::Config {
                field: "api",
                rule: e.to_string(),
            })?,
            notification_url: url("notifications")?,
            lifecycle_url: url("lifecycle")?,
            lifetime: Duration::from_secs(4230 * 60),
            renew_at: 0.5,
            tick: Duration::from_secs(60),
            mailbox_concurrency: MAILBOX_CONCURRENCY,
            subscribe_concurrency: 16,
            request_timeout: Duration::from_secs(30),
            max_attempts: 5,
            max_retry_after: Duration::from_secs(300),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            channel_capacity: 4096,
            queue_capacity: 10_000,
            startup_grace: Duration::from_secs(120),
            orphan_sweep: Duration::from_secs(15 * 60),
            catch_up_after: 64,
            catch_up_interval: Duration::from_secs(3600),
            peer_poll: Duration::from_millis(200),
            consumer_saves_state: false,
            clock: Clock::system(),
        })
    }

    /// Checks the rules; the error names the setting.
    pub fn validate(&self) -> Result<(), WatchError> {
        let fail = |field: &'static str, rule: &str| {
            Err(WatchError::Config {
                field,
                rule: rule.to_owned(),
            })
        };
        for (field, url) in [
            ("notification_url", &self.notification_url),
            ("lifecycle_url", &self.lifecycle_url),
            ("api", &self.api),
        ] {
            if url.scheme() != "https" {
                return fail(field, "Graph takes only https URLs");
            }
        }
        if !self.api.path().ends_with('/') {
            return fail("api", "must end with / (https://graph.microsoft.com/v1.0/)");
        }
        if self.lifetime < Duration::from_secs(45 * 60) {
            return fail("lifetime", "Graph raises lifetimes under 45 minutes to 45");
        }
        if !(self.renew_at > 0.0 && self.renew_at < 1.0) {
            return fail("renew_at", "must be between 0 and 1 (renew before expiry)");
        }
        if !(1..=MAILBOX_CONCURRENCY).contains(&self.mailbox_concurrency) {
            return fail(
                "mailbox_concurrency",
                "Graph serves 1 to 4 requests at once per app and mailbox",
            );
        }
        let zero = [
            ("subscribe_concurrency", self.subscribe_concurrency == 0),
            ("channel_capacity", self.channel_capacity == 0),
            ("queue_capacity", self.queue_capacity == 0),
            ("max_attempts", self.max_attempts == 0),
            ("tick", self.tick.is_zero()),
            ("orphan_sweep", self.orphan_sweep.is_zero()),
            ("catch_up_interval", self.catch_up_interval.is_zero()),
            ("request_timeout", self.request_timeout.is_zero()),
            ("catch_up_after", self.catch_up_after == 0),
            ("peer_poll", self.peer_poll.is_zero()),
        ];
        for (field, is_zero) in zero {
            if is_zero {
                return fail(field, "must be more than zero");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> GraphSettings {
        GraphSettings::new(&Url::parse("https://bems.contoso.com/graph/contoso/").expect("url"))
            .expect("settings")
    }

    #[test]
    fn urls_follow_the_webhook_base() {
        let s = settings();
        assert_eq!(
            s.notification_url.as_str(),
            "https://bems.contoso.com/graph/contoso/notifications"
        );
        assert_eq!(
            s.lifecycle_url.as_str(),
            "https://bems.contoso.com/graph/contoso/lifecycle"
        );
        s.validate().expect("defaults are valid");
    }

    #[test]
    fn broken_rules_name_their_setting() {
        let field = |s: GraphSettings| match s.validate() {
            Err(WatchError::Config { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        let mut s = settings();
        s.notification_url = Url::parse("http://bems.contoso.com/n").expect("url");
        assert_eq!(field(s), "notification_url");
        let mut s = settings();
        s.mailbox_concurrency = 5;
        assert_eq!(field(s), "mailbox_concurrency");
        let mut s = settings();
        s.renew_at = 1.0;
        assert_eq!(field(s), "renew_at");
        let mut s = settings();
        s.lifetime = Duration::from_secs(60);
        assert_eq!(field(s), "lifetime");
    }
}
