//! The discovery loop: candidates in phases, parallel probing in which the answer of highest
//! precedence wins (not the first to arrive; the table is in [`crate::precedence`]), redirects
//! with a hop limit and loop detection, and the safety rules of [`crate::safety`] applied to
//! every URL before anything is sent.

use std::collections::BTreeSet;
use std::sync::Arc;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use url::Url;

use crate::credentials::Credentials;
use crate::dns::Dns;
use crate::email::Email;
use crate::error::Error;
use crate::precedence::Ranked;
use crate::probe::{self, Answer, Found, Probe};
use crate::safety::{self, Trust};
use crate::settings::Settings;
use crate::trace::{Method, Outcome, TraceEntry};
use crate::{Discovery, scp};

/// At most this many redirects (addresses and URLs together), as Exchange clients allow.
pub(crate) const MAX_HOPS: usize = 10;

/// What a discovery needs.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub(crate) settings: Settings,
    pub(crate) http: reqwest::Client,
    pub(crate) dns: Dns,
    pub(crate) credentials: Option<Arc<dyn Credentials>>,
    /// Where credentials may go besides the mailbox's own domain (from the settings).
    pub(crate) trust: Trust,
}

/// One discovery's state.
struct Run<'a> {
    ctx: &'a Ctx,
    requested: Email,
    trace: Vec<TraceEntry>,
    hops: usize,
    seen_addresses: BTreeSet<String>,
    seen_urls: BTreeSet<String>,
}

/// Where the next round starts.
enum Next {
    Address(Email),
    /// Ask this URL, found by this method (a redirect URL counts as its referrer's method).
    Url(Email, Method, Url),
}

/// The end of a round.
enum Round {
    Found(Found, Method, Url),
    /// Go on at another address or URL; `hop` says whether it counts against the limit (the
    /// plain-HTTP redirect only names where to ask, it does not redirect a mailbox).
    Redirect {
        next: Next,
        hop: bool,
    },
    /// A redirect came back to an address or URL already asked.
    Loop(String),
    Nothing,
}

impl Ctx {
    /// Discovers `email` (no cache).
    pub(crate) async fn discover(&self, email: Email) -> Result<Discovery, Error> {
        self.discover_from(email, None).await
    }

    /// Asks one known endpoint for `email` (the domain's last good answer), following its
    /// redirects as a full discovery would.
    pub(crate) async fn discover_at(
        &self,
        email: Email,
        method: Method,
        url: Url,
    ) -> Result<Discovery, Error> {
        self.discover_from(email, Some((method, url))).await
    }

    async fn discover_from(
        &self,
        email: Email,
        start: Option<(Method, Url)>,
    ) -> Result<Discovery, Error> {
        let mut run = Run {
            ctx: self,
            requested: email.clone(),
            trace: Vec::new(),
            hops: 0,
            seen_addresses: BTreeSet::from([email.address().to_ascii_lowercase()]),
            seen_urls: BTreeSet::new(),
        };
        let overall = self.settings.timeouts.overall;
        let outcome = tokio::time::timeout(overall, run.go(start)).await;
        match outcome {
            Ok(result) => result,
            Err(_) => Err(Error::Timeout {
                email: email.address().to_owned(),
                trace: run.trace,
            }),
        }
    }
}

impl Run<'_> {
    async fn go(&mut self, start: Option<(Method, Url)>) -> Result<Discovery, Error> {
        let mut next = match start {
            Some((method, url)) => Next::Url(self.requested.clone(), method, url),
            None => Next::Address(self.requested.clone()),
        };
        let mut first_pass = true;
        loop {
            let round = match &next {
                Next::Address(email) => self.address_round(email, first_pass).await,
                Next::Url(email, method, url) => {
                    let probes = self.probes_for_url(*method, url);
                    self.race(email, probes).await
                }
            };
            first_pass = false;
            let email = match &next {
                Next::Address(email) | Next::Url(email, _, _) => email.clone(),
            };
            match round {
                Round::Found(found, method, source) => {
                    return Ok(self.finish(&email, found, method, source).await);
                }
                Round::Loop(at) => {
                    return Err(Error::RedirectLoop {
                        at,
                        trace: std::mem::take(&mut self.trace),
                    });
                }
                Round::Redirect { next: to, hop } => {
                    self.hops += usize::from(hop);
                    if self.hops > MAX_HOPS {
                        return Err(Error::TooManyRedirects {
                            email: self.requested.address().to_owned(),
                            limit: MAX_HOPS,
                            trace: std::mem::take(&mut self.trace),
                        });
                    }
                    next = to;
                }
                Round::Nothing => {
                    return Err(Error::NotFound {
                        email: self.requested.address().to_owned(),
                        trace: std::mem::take(&mut self.trace),
                    });
                }
            }
        }
    }

    /// Everything for an address: the override, or SCP, then the parallel probes, then the
    /// HTTP redirect and SRV.
    async fn address_round(&mut self, email: &Email, first_pass: bool) -> Round {
        let settings = &self.ctx.settings;
        if safety::is_public_suffix(email.domain()) {
            let reason = format!("{} is a public suffix, not a mail domain", email.domain());
            self.refuse(Method::Pox, email.domain(), email, reason);
            return Round::Nothing;
        }
        if let Some(url) = settings.override_url.clone() {
            let probes = self.probes_for_url(Method::Override, &url);
            return self.race(email, probes).await;
        }
        if first_pass && let Some(scp_settings) = &settings.scp {
            let lookup = scp::lookup(
                scp_settings,
                &settings.trusted_ca_pem,
                settings.trusted_ca_only,
                email.address(),
                settings.timeouts.ldap,
            )
            .await;
            self.trace.extend(lookup.trace);
            // SCP URLs are ranked: ask them in order.
            for url in lookup.urls {
                let probes = self.probes_for_url(Method::Scp, &url);
                match self.race(email, probes).await {
                    Round::Nothing => continue,
                    decided => return decided,
                }
            }
        }
        let probes = self.standard_probes(email);
        match self.race(email, probes).await {
            Round::Nothing => {}
            decided => return decided,
        }
        if !settings.allow_redirect_and_srv {
            return Round::Nothing;
        }
        let mut fallback = Vec::new();
        let domain = email.domain();
        if let Some(reason) = safety::forbidden_host(&format!("autodiscover.{domain}")) {
            self.refuse(
                Method::HttpRedirect,
                &format!("http://autodiscover.{domain}"),
                email,
                reason,
            );
        } else if let Ok(url) = Url::parse(&format!(
            "http://autodiscover.{domain}:{}/autodiscover/autodiscover.xml",
            settings.http_port
        )) {
            fallback.push(Probe::redirect_get(url));
        }
        fallback.extend(self.srv_probes(email).await);
        self.race(email, fallback).await
    }

    /// The standard candidates, in precedence order: SOAP, POX and v2 at
    /// `https://autodiscover.<domain>`, then the same at `https://<domain>`.
    fn standard_probes(&mut self, email: &Email) -> Vec<Probe> {
        let settings = &self.ctx.settings;
        let domain = email.domain().to_owned();
        let mut probes = Vec::new();
        for host in [format!("autodiscover.{domain}"), domain.clone()] {
            if let Some(reason) = safety::forbidden_host(&host) {
                self.refuse(Method::Pox, &host, email, reason);
                continue;
            }
            let base = self.https_base(&host);
            let protocols = settings.protocols;
            for (enabled, method, path) in [
                (
                    protocols.soap,
                    Method::Soap,
                    "/autodiscover/autodiscover.svc",
                ),
                (protocols.pox, Method::Pox, "/autodiscover/autodiscover.xml"),
                (protocols.v2, Method::V2, "/autodiscover/autodiscover.json"),
            ] {
                if let (true, Ok(url)) = (enabled, Url::parse(&format!("{base}{path}"))) {
                    let mut probe = Probe::new(method, url);
                    probe.method = method;
                    probes.push(probe);
                }
            }
        }
        probes
    }

    fn https_base(&self, host: &str) -> String {
        match self.ctx.settings.https_port {
            443 => format!("https://{host}"),
            port => format!("https://{host}:{port}"),
        }
    }

    /// The probes for one Autodiscover URL: POX at it, and SOAP at its `.svc` twin (or the
    /// other way round), as Microsoft's candidate-list procedure does.
    fn probes_for_url(&self, method: Method, url: &Url) -> Vec<Probe> {
        let path = url.path().to_ascii_lowercase();
        let mut probes = vec![Probe::new(method, url.clone())];
        if self.ctx.settings.protocols.soap && path.ends_with("/autodiscover.xml") {
            let mut svc = url.clone();
            svc.set_path(&format!("{}svc", &url.path()[..url.path().len() - 3]));
            probes.push(Probe::new(method, svc));
        }
        probes
    }

    /// SRV `_autodiscover._tcp.<domain>`: each target in RFC 2782 order becomes a POX URL on
    /// the HTTPS port (the SRV port is not used, as Exchange clients do).
    async fn srv_probes(&mut self, email: &Email) -> Vec<Probe> {
        let name = format!("_autodiscover._tcp.{}", email.domain());
        let started = std::time::Instant::now();
        match self.ctx.dns.srv(&name).await {
            Ok(records) => {
                let mut probes = Vec::new();
                let mut listed = Vec::new();
                for record in records {
                    let base = self.https_base(&record.target);
                    if let Ok(url) = Url::parse(&format!("{base}/autodiscover/autodiscover.xml")) {
                        listed.push(url.to_string());
                        probes.push(Probe::new(Method::Srv, url));
                    }
                }
                self.trace.push(TraceEntry::new(
                    Method::Srv,
                    name,
                    email.address(),
                    Outcome::Listed { candidates: listed },
                    started.elapsed(),
                ));
                probes
            }
            Err(error) => {
                self.trace.push(TraceEntry::new(
                    Method::Srv,
                    name,
                    email.address(),
                    Outcome::Failed { error },
                    started.elapsed(),
                ));
                Vec::new()
            }
        }
    }

    fn refuse(&mut self, method: Method, target: &str, email: &Email, reason: String) {
        tracing::debug!(%target, %reason, "autodiscover candidate refused");
        self.trace.push(TraceEntry::new(
            method,
            target,
            email.address(),
            Outcome::Refused { reason },
            std::time::Duration::ZERO,
        ));
    }

    /// Asks every probe at once. The probes come in precedence order, and the answer used is
    /// that of the first probe whose answer is usable, weighed only once every probe before
    /// it has failed (see [`crate::precedence`]); the probes still running are then
    /// cancelled.
    async fn race(&mut self, email: &Email, probes: Vec<Probe>) -> Round {
        let ctx = self.ctx;
        let mut running = FuturesUnordered::new();
        // The probes asked, in precedence order, and whether credentials went with each.
        let mut asked: Vec<(Probe, bool)> = Vec::new();
        for probe in probes {
            if !self
                .seen_urls
                .insert(probe.url.as_str().to_ascii_lowercase())
                && probe.kind != probe::Kind::V2
            {
                continue;
            }
            if let Some(reason) = probe.url.host_str().and_then(safety::forbidden_host) {
                self.refuse(probe.method, probe.url.as_str(), email, reason);
                continue;
            }
            let authorization = if probe.authenticated() {
                if let Some(reason) = ctx.trust.refusal(&probe.url, email.domain()) {
                    self.refuse(probe.method, probe.url.as_str(), email, reason);
                    continue;
                }
                match &ctx.credentials {
                    Some(credentials) => match credentials.authorization(&probe.url).await {
                        Ok(value) => value,
                        Err(error) => {
                            self.trace.push(TraceEntry::new(
                                probe.method,
                                probe.url.as_str(),
                                email.address(),
                                Outcome::Failed {
                                    error: format!("no credentials: {error}"),
                                },
                                std::time::Duration::ZERO,
                            ));
                            continue;
                        }
                    },
                    None => None,
                }
            } else {
                None
            };
            let index = asked.len();
            asked.push((probe.clone(), authorization.is_some()));
            let email = email.clone();
            running.push(async move {
                let (entry, answer) = probe::run(ctx, &probe, &email, authorization).await;
                (index, entry, answer)
            });
        }
        let mut ranked = Ranked::new(asked.len());
        while let Some((index, entry, answer)) = running.next().await {
            self.trace.push(entry);
            match answer {
                Some(answer) => ranked.answered(index, answer),
                None => ranked.failed(index),
            }
            while let Some((index, answer)) = ranked.next() {
                let Some((probe, _)) = asked.get(index) else {
                    continue;
                };
                let Some(round) = self.decide(email, answer, probe.method, probe.url.as_str())
                else {
                    continue;
                };
                drop(running);
                for index in ranked.running() {
                    let Some((probe, credentials)) = asked.get(index) else {
                        continue;
                    };
                    // A cancelled request may already have sent its credentials.
                    self.trace.push(
                        TraceEntry::new(
                            probe.method,
                            probe.url.as_str(),
                            email.address(),
                            Outcome::Cancelled,
                            std::time::Duration::ZERO,
                        )
                        .with_credentials(*credentials),
                    );
                }
                return round;
            }
        }
        Round::Nothing
    }

    /// What an answer means; `None` when it is not usable (the race goes on).
    fn decide(
        &mut self,
        email: &Email,
        answer: Answer,
        method: Method,
        from: &str,
    ) -> Option<Round> {
        match answer {
            Answer::Settings(found) => {
                let source = Url::parse(from).ok()?;
                Some(Round::Found(found, method, source))
            }
            Answer::RedirectAddr(to) => {
                let Ok(next) = Email::parse(&to) else {
                    self.refuse(
                        method,
                        from,
                        email,
                        format!("redirect to an invalid address {to:?}"),
                    );
                    return None;
                };
                if !self
                    .seen_addresses
                    .insert(next.address().to_ascii_lowercase())
                {
                    return Some(Round::Loop(to));
                }
                Some(Round::Redirect {
                    next: Next::Address(next),
                    hop: true,
                })
            }
            Answer::RedirectUrl(url) | Answer::Location(url) => {
                let via_http = method == Method::HttpRedirect;
                let check = if via_http {
                    safety::redirect_target_refusal(&url)
                } else {
                    self.ctx.trust.refusal(&url, email.domain())
                };
                if let Some(reason) = check {
                    self.refuse(method, url.as_str(), email, reason);
                    return None;
                }
                if self.seen_urls.contains(&url.as_str().to_ascii_lowercase()) {
                    return Some(Round::Loop(url.to_string()));
                }
                let next_method = match method {
                    Method::V2 => Method::Pox,
                    other => other,
                };
                Some(Round::Redirect {
                    next: Next::Url(email.clone(), next_method, url),
                    hop: !via_http,
                })
            }
        }
    }

    /// Builds the answer; when the winner gave no `GroupingInformation` (POX and v2 do not),
    /// asks SOAP at the same host for it, if credentials may go there.
    async fn finish(
        &mut self,
        email: &Email,
        mut found: Found,
        method: Method,
        source: Url,
    ) -> Discovery {
        let settings = &self.ctx.settings;
        if found.grouping.is_none()
            && settings.protocols.soap
            && self.ctx.credentials.is_some()
            && method != Method::Soap
            && let Ok(svc) = source.join("/autodiscover/autodiscover.svc")
            && self.ctx.trust.refusal(&svc, email.domain()).is_none()
        {
            let probe = Probe::new(Method::Soap, svc);
            let authorization = match &self.ctx.credentials {
                Some(credentials) => credentials.authorization(&probe.url).await.ok().flatten(),
                None => None,
            };
            let (entry, answer) = probe::run(self.ctx, &probe, email, authorization).await;
            self.trace.push(entry);
            if let Some(Answer::Settings(extra)) = answer {
                found.grouping = extra.grouping;
                found.internal = found.internal.or(extra.internal);
                found.external = found.external.or(extra.external);
                found.version = found.version.or(extra.version);
            }
        }
        let ews_url = match (&found.internal, &found.external) {
            (Some(internal), _) if settings.use_internal_ews_url => internal.clone(),
            (_, Some(external)) => external.clone(),
            (Some(internal), None) => internal.clone(),
            (None, None) => source.clone(),
        };
        Discovery {
            email: self.requested.address().to_owned(),
            mailbox: email.address().to_owned(),
            ews_url,
            external_ews_url: found.external,
            internal_ews_url: found.internal,
            grouping_information: found.grouping,
            server_version: found.version,
            method,
            source,
            trace: std::mem::take(&mut self.trace),
            from_cache: false,
        }
    }
}
