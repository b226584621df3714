//! Console sessions: a random id in a cookie, a CSRF token per session, and the checks every
//! form submission passes.
//!
//! - **The cookie** is `__Host-bems-console`: `HttpOnly`, `Secure`, `SameSite=Strict`,
//!   `Path=/`, no `Domain` (the `__Host-` prefix makes browsers refuse it otherwise). Its value
//!   is 256 random bits; the session behind it ends after [`IDLE`] without a request, or
//!   [`LIFETIME`] after sign-in, whichever comes first.
//! - **CSRF**: each session has a token of its own, put in every form as a hidden field and
//!   compared in constant time on every POST (the synchronizer token pattern). Before sign-in,
//!   the sign-in form's token is a cookie of its own, `__Host-bems-console-pre`, which the
//!   form must repeat (double submit), so no other site can sign a browser in.
//! - **Origin**: a POST whose `Origin` (or, without one, `Referer`) names another host than
//!   the request's `Host` is refused, and so is one with neither.
//! - **Guessing**: after [`FAILURES`] wrong admin tokens within [`FAILURE_WINDOW`], sign-in is
//!   refused until the window has passed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, Uri, header};

/// The session cookie's name.
pub(crate) const COOKIE: &str = "__Host-bems-console";

/// The sign-in form's CSRF cookie.
pub(crate) const PRE_COOKIE: &str = "__Host-bems-console-pre";

/// A session ends after this long without a request.
pub(crate) const IDLE: Duration = Duration::from_secs(30 * 60);

/// A session ends this long after sign-in.
pub(crate) const LIFETIME: Duration = Duration::from_secs(8 * 3600);

/// Wrong admin tokens allowed within [`FAILURE_WINDOW`].
pub(crate) const FAILURES: u32 = 5;

/// The window [`FAILURES`] counts in.
pub(crate) const FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// Sessions kept at once; the one idle longest is ended to make room.
const MAX_SESSIONS: usize = 256;

/// A signed-in administrator.
#[derive(Clone)]
pub(crate) struct Session {
    /// The token every form of this session carries.
    pub(crate) csrf: String,
    started: Instant,
    seen: Instant,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("started", &self.started)
            .finish_non_exhaustive()
    }
}

/// The sessions of this node.
#[derive(Default)]
pub(crate) struct Sessions {
    by_id: Mutex<HashMap<String, Session>>,
    /// The start of the current failure window and the wrong tokens in it.
    failures: Mutex<Option<(Instant, u32)>>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions").finish_non_exhaustive()
    }
}

impl Sessions {
    /// Starts a session; its id, for the cookie (`None`: no randomness to make one with).
    pub(crate) fn start(&self) -> Option<String> {
        let id = random_token()?;
        let now = Instant::now();
        let session = Session {
            csrf: random_token()?,
            started: now,
            seen: now,
        };
        let mut sessions = lock(&self.by_id);
        sessions.retain(|_, s| live(s, now));
        if sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, s)| s.seen)
                .map(|(id, _)| id.clone())
        {
            sessions.remove(&oldest);
        }
        sessions.insert(id.clone(), session);
        Some(id)
    }

    /// The live session the request's cookie names, marked as seen.
    pub(crate) fn find(&self, headers: &HeaderMap) -> Option<(String, Session)> {
        let id = cookie(headers, COOKIE)?;
        let now = Instant::now();
        let mut sessions = lock(&self.by_id);
        let session = sessions.get_mut(id)?;
        if !live(session, now) {
            sessions.remove(id);
            return None;
        }
        session.seen = now;
        Some((id.to_owned(), session.clone()))
    }

    /// Ends the session `id`.
    pub(crate) fn end(&self, id: &str) {
        lock(&self.by_id).remove(id);
    }

    /// Whether sign-in is refused for now, after too many wrong tokens.
    pub(crate) fn locked_out(&self) -> bool {
        lock(&self.failures)
            .is_some_and(|(since, n)| n >= FAILURES && since.elapsed() < FAILURE_WINDOW)
    }

    /// Counts a wrong admin token.
    pub(crate) fn failed(&self) {
        let mut failures = lock(&self.failures);
        *failures = match *failures {
            Some((since, n)) if since.elapsed() < FAILURE_WINDOW => Some((since, n + 1)),
            _ => Some((Instant::now(), 1)),
        };
    }
}

fn live(session: &Session, now: Instant) -> bool {
    now.duration_since(session.seen) < IDLE && now.duration_since(session.started) < LIFETIME
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// 256 random bits from the operating system's generator (through aws-lc), as hex; `None` if
/// the generator failed.
pub(crate) fn random_token() -> Option<String> {
    let mut bytes = [0u8; 32];
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    provider.secure_random.fill(&mut bytes).ok()?;
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Whether `given` is `expected`, compared in constant time (for equal lengths).
pub(crate) fn same_secret(given: &str, expected: &str) -> bool {
    given.len() == expected.len()
        && given
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub(crate) fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value for cookie `name` with the console's attributes; `max_age` zero
/// removes it.
pub(crate) fn set_cookie(name: &str, value: &str, max_age: Duration) -> String {
    format!(
        "{name}={value}; Path=/; Max-Age={}; HttpOnly; Secure; SameSite=Strict",
        max_age.as_secs()
    )
}

/// Whether a POST comes from a page of this host: its `Origin`, or without one its `Referer`,
/// names the host the request was sent to (its `Host` header, or over HTTP/2, which has none,
/// the authority of its URI).
pub(crate) fn same_origin(headers: &HeaderMap, uri: &Uri) -> bool {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()));
    let Some(host) = host else {
        return false;
    };
    let source = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|v| v.to_str().ok());
    let Some(source) = source.and_then(|s| url::Url::parse(s).ok()) else {
        return false;
    };
    let Some(source_host) = source.host_str() else {
        return false;
    };
    let authority = match source.port() {
        Some(port) => format!("{source_host}:{port}"),
        None => source_host.to_owned(),
    };
    authority.eq_ignore_ascii_case(host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(name, HeaderValue::from_str(value).expect("value"));
        }
        headers
    }

    #[test]
    fn a_cookie_is_found_by_its_exact_name_across_headers() {
        let h = headers(&[
            (header::COOKIE, "a=1; __Host-bems-console-pre=p"),
            (header::COOKIE, "__Host-bems-console=s"),
        ]);
        assert_eq!(cookie(&h, COOKIE), Some("s"));
        assert_eq!(cookie(&h, PRE_COOKIE), Some("p"));
        assert_eq!(cookie(&h, "b"), None);
    }

    #[test]
    fn only_a_post_from_this_host_passes_the_origin_check() {
        let from = |origin: Option<(header::HeaderName, &str)>| {
            let mut pairs = vec![(header::HOST, "console.contoso.com:8443")];
            pairs.extend(origin);
            same_origin(&headers(&pairs), &Uri::from_static("/console"))
        };
        assert!(from(Some((
            header::ORIGIN,
            "https://console.contoso.com:8443"
        ))));
        assert!(from(Some((
            header::REFERER,
            "https://console.contoso.com:8443/console"
        ))));
        assert!(!from(Some((header::ORIGIN, "https://evil.example:8443"))));
        assert!(!from(Some((header::ORIGIN, "https://console.contoso.com"))));
        assert!(!from(Some((header::ORIGIN, "null"))));
        assert!(!from(None));
        // HTTP/2: no Host header, the authority in the URI.
        let mut h2 = HeaderMap::new();
        h2.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://console.contoso.com:8443"),
        );
        let uri = Uri::from_static("https://console.contoso.com:8443/console/sign-in");
        assert!(same_origin(&h2, &uri));
        assert!(!same_origin(
            &h2,
            &Uri::from_static("https://other.example/console")
        ));
    }

    #[test]
    fn sessions_are_found_by_cookie_and_ended() {
        let sessions = Sessions::default();
        let id = sessions.start().expect("random");
        assert_eq!(id.len(), 64);
        let h = headers(&[(header::COOKIE, &format!("{COOKIE}={id}"))]);
        let (found, session) = sessions.find(&h).expect("live");
        assert_eq!(found, id);
        assert_eq!(session.csrf.len(), 64);
        assert_ne!(session.csrf, id);
        sessions.end(&id);
        assert!(sessions.find(&h).is_none());
        let guessed = headers(&[(
            header::COOKIE,
            &format!("{COOKIE}={}", random_token().expect("random")),
        )]);
        assert!(sessions.find(&guessed).is_none());
    }

    #[test]
    fn too_many_wrong_tokens_lock_sign_in_out() {
        let sessions = Sessions::default();
        for _ in 0..FAILURES - 1 {
            sessions.failed();
        }
        assert!(!sessions.locked_out());
        sessions.failed();
        assert!(sessions.locked_out());
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abd", "abc"));
        assert!(!same_secret("ab", "abc"));
        assert!(!same_secret("", "abc"));
    }
}
