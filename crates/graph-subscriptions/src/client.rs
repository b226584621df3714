//! Requests to Graph through the tenant's [`Authenticator`] (app-only bearer tokens):
//! at most `mailbox_concurrency` in flight per mailbox, `Retry-After` honoured on 429 and
//! 503, jittered backoff on other failures, a bounded number of attempts.

use std::sync::Arc;
use std::time::Duration;

use exchange_auth::{Authenticator, HttpRequest};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use rand::Rng as _;
use tokio::sync::Semaphore;
use url::Url;

use crate::error::GraphError;
use crate::settings::{Clock, GraphSettings};
use crate::wire::error::{parse_error, parse_retry_after};

/// The largest answer read.
const MAX_ANSWER: usize = 8 << 20;

/// A request.
#[derive(Debug, Clone)]
pub(crate) enum Verb {
    Get,
    Post(Vec<u8>),
    Patch(Vec<u8>),
    Delete,
}

/// A successful answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) body: Vec<u8>,
}

/// Sends Graph requests.
pub(crate) struct GraphClient {
    auth: Arc<dyn Authenticator>,
    api: Url,
    timeout: Duration,
    max_attempts: u32,
    max_retry_after: Duration,
    backoff_initial: Duration,
    backoff_max: Duration,
    clock: Clock,
}

impl std::fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphClient")
            .field("api", &self.api.as_str())
            .finish_non_exhaustive()
    }
}

/// Told when Graph asks to wait: how long, and the error that said so.
pub(crate) type OnThrottle<'a> = &'a (dyn Fn(Duration, &GraphError) + Send + Sync);

impl GraphClient {
    pub(crate) fn new(auth: Arc<dyn Authenticator>, settings: &GraphSettings) -> Self {
        Self {
            auth,
            api: settings.api.clone(),
            timeout: settings.request_timeout,
            max_attempts: settings.max_attempts,
            max_retry_after: settings.max_retry_after,
            backoff_initial: settings.backoff_initial,
            backoff_max: settings.backoff_max,
            clock: settings.clock.clone(),
        }
    }

    /// `<api>/<segments>`: each segment is one path segment, percent-encoded ([`segment`]),
    /// so that no value in it (a mailbox address, an id) can name another path.
    pub(crate) fn endpoint(&self, segments: &[&str]) -> Result<Url, GraphError> {
        let mut path = self.api.path().trim_end_matches('/').to_owned();
        for raw in segments {
            path.push('/');
            path.push_str(&segment(raw)?);
        }
        let mut url = self.api.clone();
        url.set_path(&path);
        url.set_query(None);
        Ok(url)
    }

    /// A link Graph returned (`@odata.nextLink`, `@odata.deltaLink`), on our API's origin:
    /// the token is never sent to another host, whatever a link says.
    pub(crate) fn rebase(&self, link: &str) -> Result<Url, GraphError> {
        let given = Url::parse(link).map_err(|e| GraphError::Protocol(format!("link: {e}")))?;
        let mut url = self.api.clone();
        url.set_path(given.path());
        url.set_query(given.query());
        Ok(url)
    }

    /// A jittered wait after `failures` failures in a row.
    pub(crate) fn backoff(&self, failures: u32) -> Duration {
        backoff(self.backoff_initial, self.backoff_max, failures)
    }

    /// Sends `verb` to `url`, holding a place of `permits` while it is in flight.
    pub(crate) async fn call(
        &self,
        verb: Verb,
        url: Url,
        permits: Option<&Semaphore>,
        on_throttle: OnThrottle<'_>,
    ) -> Result<Answer, GraphError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let error = match self.once(&verb, &url, permits).await {
                Ok(answer) => return Ok(answer),
                Err(error) => error,
            };
            if !error.is_retryable() || attempt >= self.max_attempts {
                return Err(error);
            }
            let wait = match error.retry_after() {
                Some(wait) if wait > self.max_retry_after => return Err(error),
                Some(wait) => wait,
                None => self.backoff(attempt),
            };
            if matches!(error.status(), Some(429 | 503)) {
                on_throttle(wait, &error);
            }
            tracing::debug!(url = %url.path(), attempt, ?wait, %error, "Graph request failed; trying again");
            tokio::time::sleep(wait).await;
        }
    }

    /// Sends `verb` once, whatever the answer.
    pub(crate) async fn call_once(
        &self,
        verb: Verb,
        url: Url,
        permits: Option<&Semaphore>,
    ) -> Result<Answer, GraphError> {
        self.once(&verb, &url, permits).await
    }

    async fn once(
        &self,
        verb: &Verb,
        url: &Url,
        permits: Option<&Semaphore>,
    ) -> Result<Answer, GraphError> {
        let _permit = match permits {
            Some(permits) => Some(permits.acquire().await.map_err(|_| GraphError::Stopped)?),
            None => None,
        };
        let request = match verb {
            Verb::Get => HttpRequest::get(url.clone()),
            Verb::Post(body) => HttpRequest::post(url.clone(), body.clone()),
            Verb::Patch(body) => HttpRequest::patch(url.clone(), body.clone()),
            Verb::Delete => HttpRequest::delete(url.clone()),
        };
        let mut request = request
            .header("Accept", "application/json")
            .timeout(Some(self.timeout));
        if matches!(verb, Verb::Post(_) | Verb::Patch(_)) {
            request = request.header("Content-Type", "application/json");
        }
        if let Verb::Get = verb {
            request = request.header("Prefer", "odata.maxpagesize=100");
        }
        let response = self
            .auth
            .send(request)
            .await
            .map_err(GraphError::transport)?;
        let status = response.status;
        let retry_after = response
            .header("Retry-After")
            .and_then(|v| parse_retry_after(v, self.clock.now()));
        let body = response
            .bytes(MAX_ANSWER)
            .await
            .map_err(GraphError::transport)?;
        if (200..300).contains(&status) {
            return Ok(Answer { body });
        }
        let (code, message) = parse_error(&body);
        Err(GraphError::Status {
            status,
            code,
            message,
            retry_after,
        })
    }
}

/// What a path segment leaves as it is: letters, digits, `-._~` and `@`; everything else
/// (`/ ? # % '` and the rest) is percent-encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'@');

/// `value` as one percent-encoded path segment. An empty, `.` or `..` value is refused: URL
/// parsers take `%2e%2e` as `..`, so encoding cannot make those safe.
pub(crate) fn segment(value: &str) -> Result<String, GraphError> {
    if matches!(value, "" | "." | "..") {
        return Err(GraphError::Invalid(format!(
            "{value:?} cannot be a segment of a Graph URL"
        )));
    }
    Ok(utf8_percent_encode(value, SEGMENT).to_string())
}

/// `initial × 2^(failures-1)`, at most `max`, with ±25 % jitter.
pub(crate) fn backoff(initial: Duration, max: Duration, failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(20);
    let base = initial.saturating_mul(1 << exponent).min(max);
    let jitter = rand::rng().random_range(0.75..1.25);
    base.mul_f64(jitter).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_stay_segments() {
        assert_eq!(
            segment("mara@contoso.com").ok().as_deref(),
            Some("mara@contoso.com")
        );
        assert_eq!(
            segment("../users/x?$select=y#z%2e'").ok().as_deref(),
            Some("..%2Fusers%2Fx%3F%24select%3Dy%23z%252e%27")
        );
        for bad in ["", ".", ".."] {
            assert!(
                matches!(segment(bad), Err(GraphError::Invalid(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn backoff_grows_and_stays_bounded() {
        let (initial, max) = (Duration::from_millis(100), Duration::from_secs(2));
        for failures in 0..40 {
            let wait = backoff(initial, max, failures);
            assert!(wait <= max, "{failures}: {wait:?}");
            assert!(wait >= initial.mul_f64(0.75), "{failures}: {wait:?}");
        }
        assert!(backoff(initial, max, 4) >= Duration::from_millis(600));
    }
}
