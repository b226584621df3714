//! Authentication of POX and SOAP Autodiscover, as Exchange checks it: HTTP Basic against the
//! directory, or an OAuth bearer token from the identity platform; anything else gets `401`
//! with both challenges.

use axum::response::{IntoResponse as _, Response};
use base64::Engine as _;
use http::{HeaderValue, StatusCode, header};

use super::incoming::Incoming;
use crate::sim::Ctx;

/// The Office 365 Exchange Online application id: the `client_id` of Exchange's challenge and
/// an accepted token audience.
const EXCHANGE_APP_ID: &str = "00000002-0000-0ff1-ce00-000000000000";

/// Token audiences Exchange accepts besides its own host names.
const EXCHANGE_AUDIENCES: [&str; 4] = [
    "https://outlook.office365.com",
    "https://outlook.office365.com/",
    "https://outlook.office.com",
    EXCHANGE_APP_ID,
];

/// Checks the request's credentials: `None` when they are accepted, else the `401` to send.
///
/// Neither the header value nor the password is ever logged.
pub(crate) fn challenge(ctx: &Ctx, incoming: &Incoming) -> Option<Response> {
    let Some(value) = incoming.authorization() else {
        return Some(unauthorized(ctx, incoming, false));
    };
    let (scheme, credentials) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    let credentials = credentials.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        if check_basic(ctx, credentials) {
            return None;
        }
        tracing::debug!(host = %incoming.host, scheme = "Basic", "autodiscover: credentials refused");
        return Some(unauthorized(ctx, incoming, false));
    }
    if scheme.eq_ignore_ascii_case("bearer") {
        let audiences = audiences(ctx, &incoming.host);
        return match ctx.identity.verify_access_token(credentials, &audiences) {
            Ok(_) => None,
            Err(reason) => {
                tracing::debug!(host = %incoming.host, scheme = "Bearer", %reason, "autodiscover: token refused");
                Some(unauthorized(ctx, incoming, true))
            }
        };
    }
    tracing::debug!(host = %incoming.host, "autodiscover: unsupported authorization scheme");
    Some(unauthorized(ctx, incoming, false))
}

/// Whether `user:password` (base64) names a service account or a user with that password.
fn check_basic(ctx: &Ctx, credentials: &str) -> bool {
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(credentials) else {
        return false;
    };
    let Ok(text) = std::str::from_utf8(&decoded) else {
        return false;
    };
    let Some((user, password)) = text.split_once(':') else {
        return false;
    };
    !user.is_empty() && ctx.world.directory.check_password(user, password).is_some()
}

/// The audiences a bearer token for Exchange may carry: Exchange Online's resource ids, the
/// simulated organisation's external hosts, and the host the request came to.
fn audiences(ctx: &Ctx, host: &str) -> Vec<String> {
    let mut out: Vec<String> = EXCHANGE_AUDIENCES.iter().map(|a| (*a).to_owned()).collect();
    let hosts = ctx
        .world
        .scenario
        .domains
        .iter()
        .map(|d| d.external_host())
        .chain(std::iter::once(host.to_owned()));
    for host in hosts {
        out.push(format!("https://{host}"));
        out.push(format!("https://{host}/"));
    }
    out
}

/// `401` with Exchange's challenges: `Bearer` (pointing at the identity platform) and
/// `Basic`, plus the `X-*-Enabled` headers the EWS Managed API probes for.
fn unauthorized(ctx: &Ctx, incoming: &Incoming, invalid_token: bool) -> Response {
    let login = ctx.world.authority(&ctx.world.scenario.login_host);
    let mut bearer = format!(
        "Bearer client_id=\"{EXCHANGE_APP_ID}\", \
         trusted_issuers=\"00000001-0000-0000-c000-000000000000@*\", \
         token_types=\"app_asserted_user_v1 service_asserted_app_v1\", \
         authorization_uri=\"https://{login}/common/oauth2/authorize\""
    );
    if invalid_token {
        bearer.push_str(", error=\"invalid_token\"");
    }
    let realm = incoming.host.replace(['"', '\\'], "");
    let basic = format!("Basic realm=\"{realm}\"");
    let mut response = (
        StatusCode::UNAUTHORIZED,
        [(header::CONTENT_TYPE, "text/html")],
        "<html><body>401 - Unauthorized: Access is denied due to invalid credentials.</body></html>",
    )
        .into_response();
    let headers = response.headers_mut();
    for challenge in [bearer, basic] {
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            headers.append(header::WWW_AUTHENTICATE, value);
        }
    }
    headers.insert("x-soap-enabled", HeaderValue::from_static("True"));
    headers.insert("x-oauth-enabled", HeaderValue::from_static("True"));
    response
}
