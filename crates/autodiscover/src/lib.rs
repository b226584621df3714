//! # autodiscover
//!
//! Find the Exchange Web Services endpoint of a mailbox the way Exchange documents it: every
//! method, in parallel, and safer than the clients it learned from.
//!
//! Given an address and [`Settings`] (they mirror the email-notification page of BlackBerry's
//! BEMS: override URL, "allow HTTP redirection and DNS SRV record", SCP lookup, internal EWS
//! URL, the Connectivity Node proxy route, trusted CAs), [`Autodiscover::discover`] tries:
//!
//! 1. the **override URL** when set (and nothing else: SCP is not used);
//! 2. else **SCP**: service connection points in Active Directory, own site first;
//! 3. then, **in parallel**, SOAP, POX and unauthenticated v2 JSON at
//!    `https://autodiscover.<domain>`, then the same at `https://<domain>`;
//! 4. then, if allowed, the unauthenticated plain-HTTP redirect GET and DNS SRV
//!    (`_autodiscover._tcp.<domain>`, RFC 2782 order), in parallel too.
//!
//! **Parallel probing decides how long discovery takes, never which answer wins.** Within a
//! phase the candidates are listed in precedence order (the table is in the `precedence`
//! module's docs and the README): the answer used is that of the first candidate whose
//! answer is usable, and a candidate's answer is weighed only once every candidate before it
//! has failed. So a priority-10 SRV target is used only when every priority-0 target failed,
//! however fast it answers; a black-holed candidate costs at most one candidate timeout.
//!
//! Redirects (`redirectAddr`, `redirectUrl`, `RedirectAddress`, `RedirectUrl`) restart
//! discovery, at most 10 times, and a loop is reported. Credentials never go over plain HTTP,
//! and never to a host outside the mailbox domain's registrable domain, unless it is on the
//! allow-list (Microsoft's Exchange Online hosts by default) or it is the administrator's own
//! **override URL** (its exact origin; what the override redirects to is judged like any
//! redirect). Every request goes through the Connectivity Node route when one is set. Nothing
//! goes to `autodiscover.<public suffix>`. Every candidate and its outcome is in the
//! [`Discovery::trace`] (or in the [`Error`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), autodiscover::Error> {
//! use std::sync::Arc;
//! use autodiscover::{Autodiscover, Basic, Settings};
//!
//! let locator = Autodiscover::new(
//!     Settings::default(),
//!     Some(Arc::new(Basic::new("CONTOSO\\svc-bems", "secret"))),
//! )?;
//! let found = locator.discover("mara@contoso.com").await?;
//! println!("EWS at {} (group {:?}) via {:?}", found.ews_url, found.grouping_information, found.method);
//! # Ok(()) }
//! ```

mod cache;
mod credentials;
mod dns;
mod email;
mod engine;
mod error;
mod http;
mod precedence;
mod probe;
mod safety;
pub mod scp;
mod settings;
mod trace;

use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;
use url::Url;

pub use credentials::{Basic, Credentials};
pub use dns::SrvRecord;
pub use error::Error;
pub use secrecy::{ExposeSecret, SecretString};
pub use settings::{CacheSettings, MICROSOFT_HOSTS, Protocols, ScpSettings, Settings, Timeouts};
pub use trace::{Method, Outcome, TraceEntry};

/// Where a mailbox's EWS endpoint is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Discovery {
    /// The address asked about.
    pub email: String,
    /// The address the answer is for (different after a `redirectAddr`).
    pub mailbox: String,
    /// The URL to use: the internal one when "use internal EWS URL" is set and there is one,
    /// else the external one.
    pub ews_url: Url,
    /// `ExternalEwsUrl` (or POX `EXPR`'s).
    pub external_ews_url: Option<Url>,
    /// `InternalEwsUrl` (or POX `EXCH`'s).
    pub internal_ews_url: Option<Url>,
    /// `GroupingInformation`: mailboxes with the same value (and EWS URL) share a streaming
    /// connection.
    pub grouping_information: Option<String>,
    /// The server version, when given.
    pub server_version: Option<String>,
    /// How the answer was found.
    pub method: Method,
    /// The Autodiscover URL that answered.
    pub source: Url,
    /// Every candidate tried and its outcome.
    pub trace: Vec<TraceEntry>,
    /// Whether this answer came from the cache (its `trace` is then empty: nobody was
    /// asked).
    pub from_cache: bool,
}

impl Discovery {
    /// `email`'s answer: EWS at `ews_url`, found by `method` at `source`; no other URL, group,
    /// version or trace (for another [`MailboxLocator`], and for tests of its callers).
    pub fn new(email: impl Into<String>, ews_url: Url, method: Method, source: Url) -> Self {
        let email = email.into();
        Self {
            mailbox: email.clone(),
            email,
            ews_url,
            external_ews_url: None,
            internal_ews_url: None,
            grouping_information: None,
            server_version: None,
            method,
            source,
            trace: Vec::new(),
            from_cache: false,
        }
    }
}

/// Finds mailboxes' EWS endpoints; what `bems-service` holds as `Arc<dyn MailboxLocator>`.
#[async_trait]
pub trait MailboxLocator: Send + Sync {
    /// Where `email`'s EWS endpoint is.
    async fn locate(&self, email: &str) -> Result<Discovery, Error>;

    /// Forgets what is known about `email` (call it when EWS later fails for the mailbox).
    fn invalidate(&self, email: &str);
}

/// The Autodiscover client, with its cache.
#[derive(Debug)]
pub struct Autodiscover {
    ctx: engine::Ctx,
    cache: cache::Cache,
}

impl Autodiscover {
    /// A client with these settings; `credentials` authenticate POX and SOAP requests.
    pub fn new(
        settings: Settings,
        credentials: Option<Arc<dyn Credentials>>,
    ) -> Result<Self, Error> {
        let dns = dns::Dns::new(settings.dns_server, settings.timeouts.dns)?;
        let http = http::client(&settings, &dns)?;
        let cache = cache::Cache::new(settings.cache);
        Ok(Self {
            ctx: engine::Ctx {
                trust: safety::Trust::new(&settings),
                settings,
                http,
                dns,
                credentials,
            },
            cache,
        })
    }

    /// The settings in use.
    pub fn settings(&self) -> &Settings {
        &self.ctx.settings
    }

    /// Finds `email`'s EWS endpoint: from the cache when a fresh answer is there, else by
    /// discovery.
    pub async fn discover(&self, email: &str) -> Result<Discovery, Error> {
        let email = email::Email::parse(email)?;
        if let Some(mut cached) = self.cache.mailbox(email.address()) {
            cached.from_cache = true;
            return Ok(cached);
        }
        if let Some(reason) = self.cache.failure(email.domain()) {
            return Err(Error::NotFound {
                email: email.address().to_owned(),
                trace: vec![TraceEntry::new(
                    Method::Override,
                    email.domain(),
                    email.address(),
                    Outcome::Failed {
                        error: format!("cached failure for the domain: {reason}"),
                    },
                    std::time::Duration::ZERO,
                )],
            });
        }
        let result = self.discover_uncached(&email).await;
        match &result {
            Ok(discovery) => self.cache.store(email.domain(), discovery),
            Err(error) if error.is_retryable() => {
                self.cache.store_failure(email.domain(), error.to_string())
            }
            Err(_) => {}
        }
        result
    }

    async fn discover_uncached(&self, email: &email::Email) -> Result<Discovery, Error> {
        // A domain whose endpoint answered recently is asked there first.
        if let Some((method, url)) = self.cache.endpoint(email.domain())
            && let Ok(found) = self.ctx.discover_at(email.clone(), method, url).await
        {
            return Ok(found);
        }
        self.ctx.discover(email.clone()).await
    }

    /// Forgets `email` and its domain's endpoint.
    pub fn invalidate(&self, email: &str) {
        if let Ok(email) = email::Email::parse(email) {
            self.cache.invalidate(email.address(), email.domain());
        }
    }

    /// Forgets everything remembered.
    pub fn clear_cache(&self) {
        self.cache.clear();
    }
}

#[async_trait]
impl MailboxLocator for Autodiscover {
    async fn locate(&self, email: &str) -> Result<Discovery, Error> {
        self.discover(email).await
    }

    fn invalidate(&self, email: &str) {
        Self::invalidate(self, email);
    }
}
