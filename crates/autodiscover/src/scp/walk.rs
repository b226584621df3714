//! The search of one domain controller: its configuration naming context first, then wherever
//! pointer SCPs for the email's domain lead (at most [`MAX_POINTER_HOPS`], never twice to the
//! same place). Written against [`Directory`] so that it is tested without sockets.

use std::collections::HashSet;
use std::future::Future;
use std::time::{Duration, Instant};

use super::entry::{self, Scp};
use super::path::{Pointer, Security, Server};
use crate::trace::{Method, Outcome, TraceEntry};

/// How many pointer SCPs one lookup follows, as Exchange's own (`maxHops`).
pub(crate) const MAX_POINTER_HOPS: usize = 10;

/// What a directory said to one search.
#[derive(Debug)]
pub(crate) struct Answer {
    /// The SCPs found, or what went wrong (never holding the password).
    pub(crate) result: Result<Vec<Scp>, String>,
    /// Whether the search ran on a connection bound with a password.
    pub(crate) credentials_sent: bool,
}

/// Searches for SCPs.
pub(crate) trait Directory {
    /// How connections are protected (for trace targets and loop detection).
    fn security(&self) -> Security;

    /// Searches `base` on `server` (`None`: its configuration naming context) for SCPs.
    fn search(
        &mut self,
        server: &Server,
        base: Option<&str>,
    ) -> impl Future<Output = Answer> + Send;
}

/// The outcome of [`walk`].
#[derive(Debug, Default)]
pub(crate) struct Walk {
    /// Whether the domain controller answered its first search (then no other is asked).
    pub(crate) answered: bool,
    /// The URLs of the deepest search that found any, best first.
    pub(crate) urls: Vec<url::Url>,
    /// One entry per search, and one per refused URL, pointer or loop.
    pub(crate) trace: Vec<TraceEntry>,
}

/// Searches `dc` for the SCPs of `email` (in `domain`), for a host in `site`.
///
/// A pointer SCP for `domain` restarts the search where it points; its URLs replace those
/// found so far, unless it yields none. A pointer without any `Domain=` keyword is followed
/// only when a search found no URL.
pub(crate) async fn walk<D: Directory>(
    dir: &mut D,
    dc: &Server,
    email: &str,
    domain: &str,
    site: Option<&str>,
) -> Walk {
    let security = dir.security();
    let mut out = Walk::default();
    let mut found: Vec<Vec<url::Url>> = Vec::new();
    let mut visited = HashSet::new();
    let mut server = dc.clone();
    let mut base: Option<String> = None;
    let mut hops = 0;
    loop {
        let target = match &base {
            Some(base) => format!("{}/{base}", server.url(security)),
            None => server.url(security),
        };
        let place = (server.key(security), base.as_deref().map(str::to_lowercase));
        if !visited.insert(place) {
            out.trace.push(entry(
                &target,
                email,
                refused("pointer loop: searched here already"),
                Duration::ZERO,
            ));
            break;
        }
        let started = Instant::now();
        let answer = dir.search(&server, base.as_deref()).await;
        let elapsed = started.elapsed();
        let scps = match answer.result {
            Ok(scps) => scps,
            Err(error) => {
                out.trace.push(
                    entry(&target, email, Outcome::Failed { error }, elapsed)
                        .with_credentials(answer.credentials_sent),
                );
                break;
            }
        };
        out.answered = true;
        let level = entry::sort_out(&scps, domain, site);
        let candidates = level.urls.iter().map(|u| u.to_string()).collect();
        out.trace.push(
            entry(&target, email, Outcome::Listed { candidates }, elapsed)
                .with_credentials(answer.credentials_sent),
        );
        for refusal in &level.refused {
            out.trace.push(entry(
                &refusal.value,
                email,
                refused(&refusal.reason),
                Duration::ZERO,
            ));
        }
        let next = match (level.pointer, level.fallback_pointer) {
            (Some(pointer), _) => Some(pointer),
            (None, Some(fallback)) if level.urls.is_empty() => Some(fallback),
            _ => None,
        };
        found.push(level.urls);
        let Some(path) = next else { break };
        let pointer = match Pointer::parse(&path) {
            Ok(pointer) => pointer,
            Err(reason) => {
                out.trace
                    .push(entry(&path, email, refused(&reason), Duration::ZERO));
                break;
            }
        };
        if hops == MAX_POINTER_HOPS {
            let reason = format!("more than {MAX_POINTER_HOPS} pointer SCPs");
            out.trace
                .push(entry(&path, email, refused(&reason), Duration::ZERO));
            break;
        }
        hops += 1;
        if let Some(next) = pointer.server {
            server = next;
        }
        base = pointer.base;
    }
    out.urls = found
        .into_iter()
        .rev()
        .find(|urls| !urls.is_empty())
        .unwrap_or_default();
    out
}

fn entry(target: &str, email: &str, outcome: Outcome, elapsed: Duration) -> TraceEntry {
    TraceEntry::new(Method::Scp, target, email, outcome, elapsed)
}

fn refused(reason: &str) -> Outcome {
    Outcome::Refused {
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests;
