//! Front-end routing: which back end a request lands on, and the affinity cookie.
//!
//! `X-PreferServerAffinity: true` with a known `X-BackEndOverrideCookie` routes to the
//! cookie's back end. Otherwise the request goes to the anchor mailbox's server
//! (`X-AnchorMailbox`, else the mailbox acted as) and to its back ends in turn. When the
//! client prefers affinity and has no cookie yet, the answer sets one naming the back end.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use ews_proto::affinity;

use crate::world::World;

/// Where a request was routed.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    pub(crate) server: usize,
    pub(crate) backend: usize,
    /// Set when the answer should carry `Set-Cookie` for this back end.
    pub(crate) set_cookie: Option<String>,
}

/// A header's value as text.
pub(crate) fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// Routes a request acting as `mailbox`.
pub(crate) fn route(world: &World, headers: &HeaderMap, mailbox: usize) -> Route {
    let prefer = header(headers, affinity::PREFER_SERVER_AFFINITY)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if prefer {
        let cookie = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| affinity::cookie_value(v, affinity::BACK_END_OVERRIDE_COOKIE));
        if let Some(cookie) = cookie {
            for (s, server) in world.servers.iter().enumerate() {
                if let Some(b) = server.backends.iter().position(|b| b.cookie == cookie) {
                    // Injected fault: the cookie is lost on the way (a load balancer drops
                    // it) and the request lands on the server's next back end instead.
                    let b = if world.faults.take_ignore_affinity() {
                        (b + 1) % server.backends.len()
                    } else {
                        b
                    };
                    return Route {
                        server: s,
                        backend: b,
                        set_cookie: None,
                    };
                }
            }
        }
    }
    let anchor = header(headers, affinity::ANCHOR_MAILBOX)
        .and_then(|smtp| world.directory.user_by_smtp(smtp))
        .unwrap_or(mailbox);
    let server = world.mailboxes.get(anchor).map_or(0, |m| m.server());
    let backend = world.servers.get(server).map_or(0, |s| s.next_backend());
    let set_cookie = prefer.then(|| world.servers[server].backends[backend].cookie.clone());
    Route {
        server,
        backend,
        set_cookie,
    }
}

/// Adds `Set-Cookie: X-BackEndOverrideCookie=...` when the route asks for it.
pub(crate) fn with_affinity_cookie(mut response: Response, route: &Route) -> Response {
    if let Some(cookie) = &route.set_cookie {
        let value = format!(
            "{}={cookie}; path=/; secure; HttpOnly",
            affinity::BACK_END_OVERRIDE_COOKIE
        );
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}
