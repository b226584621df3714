//! HTTP headers that keep a group of subscriptions on one mailbox server.
//!
//! Exchange 2013 and later route a request by `X-AnchorMailbox`, unless
//! `X-PreferServerAffinity: true` is sent with the `X-BackEndOverrideCookie` the first
//! `Subscribe` of the group received: then they route by the cookie. Without it a later
//! `GetStreamingEvents` may land on a server that does not hold the subscriptions and get
//! `ErrorSubscriptionNotFound`.
//!
//! Spec: [Maintain affinity between a group of subscriptions and the Mailbox server](https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/how-to-maintain-affinity-between-group-of-subscriptions-and-mailbox-server).

/// `X-AnchorMailbox`: the mailbox that routes the request.
pub const ANCHOR_MAILBOX: &str = "X-AnchorMailbox";
/// `X-PreferServerAffinity`: route by the back-end cookie when it is present.
pub const PREFER_SERVER_AFFINITY: &str = "X-PreferServerAffinity";
/// The cookie that names the mailbox server of a group.
pub const BACK_END_OVERRIDE_COOKIE: &str = "X-BackEndOverrideCookie";

/// The value of `X-BackEndOverrideCookie` in one `Set-Cookie` header value, if it sets it.
///
/// ```
/// let header = "X-BackEndOverrideCookie=CO1PR06MB222.namprd06.prod.outlook.com~1941996295; path=/; secure; HttpOnly";
/// assert_eq!(
///     ews_proto::affinity::back_end_override_cookie(header),
///     Some("CO1PR06MB222.namprd06.prod.outlook.com~1941996295"),
/// );
/// ```
pub fn back_end_override_cookie(set_cookie: &str) -> Option<&str> {
    let pair = set_cookie.split(';').next()?.trim();
    let (name, value) = pair.split_once('=')?;
    (name.trim() == BACK_END_OVERRIDE_COOKIE).then(|| value.trim())
}

/// The value of `X-BackEndOverrideCookie` in a `Cookie` request header, if it carries it.
pub fn cookie_value<'a>(cookie_header: &'a str, name: &str) -> Option<&'a str> {
    cookie_header.split(';').find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        (key.trim() == name).then(|| value.trim())
    })
}

/// The `Cookie` header value that replays the back-end cookie.
pub fn cookie_header(value: &str) -> String {
    format!("{BACK_END_OVERRIDE_COOKIE}={value}")
}
