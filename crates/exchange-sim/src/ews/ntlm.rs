//! NTLM on EWS, as IIS does it: the handshake authenticates the **connection**.
//!
//! A request with `Authorization: NTLM <NEGOTIATE>` (or `Negotiate` with a raw NTLM token)
//! gets `401` and `WWW-Authenticate: NTLM <CHALLENGE>` (under the scheme of the request:
//! `Negotiate <CHALLENGE>` for a token sent under `Negotiate`; a random server challenge; target
//! information with the NetBIOS and DNS names of the domain and the server, and
//! `MsvAvTimestamp`), remembered on the connection. The same request with
//! `Authorization: NTLM <AUTHENTICATE>` on that connection is checked ([`verify`]): the
//! NTLMv2 response against the password of the account or user the message names
//! (`DOMAIN\name`, or a UPN with an empty domain), the MIC when announced, and the TLS
//! channel binding per the scenario's `extended_protection` (`none`, `allow` — a binding,
//! when sent, must match our certificate — or `require`). On success the connection stays
//! authenticated: later requests on it need no `Authorization`. NTLMv1, OEM strings, key
//! exchange and Kerberos are refused. Only the schemes of the scenario's
//! `windows_auth_providers` are offered and accepted (both by default; `["Negotiate"]` is IIS
//! with the NTLM provider removed, which refuses `Authorization: NTLM`).
//!
//! This is a server written from the specification, sharing no code with the bems client.

mod verify;
mod wire;

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::auth::unauthorized;
use crate::net::ConnInfo;
use crate::sim::Ctx;
use crate::world::directory::{Directory, Principal};
use wire::{Authenticate, Challenge, Negotiate, av_id, flags};

/// The NTLM state of one connection.
#[derive(Default)]
pub(crate) struct ConnNtlm(Mutex<State>);

#[derive(Default)]
enum State {
    #[default]
    Idle,
    /// A CHALLENGE was sent; the next AUTHENTICATE answers it.
    Challenged {
        negotiate: Vec<u8>,
        challenge: Vec<u8>,
        server_challenge: [u8; 8],
    },
    /// The connection is authenticated as this principal.
    Authenticated(Principal),
}

impl fmt::Debug for ConnNtlm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &*self.lock() {
            State::Idle => "idle",
            State::Challenged { .. } => "challenged",
            State::Authenticated(_) => "authenticated",
        };
        f.debug_tuple("ConnNtlm").field(&state).finish()
    }
}

impl ConnNtlm {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Who the connection is authenticated as, if NTLM authenticated it.
    pub(crate) fn principal(&self) -> Option<Principal> {
        match &*self.lock() {
            State::Authenticated(principal) => Some(principal.clone()),
            _ => None,
        }
    }
}

/// `NTLM` or `Negotiate`, the schemes that carry NTLM tokens, when the scenario's
/// `windows_auth_providers` offer it.
pub(crate) fn scheme(ctx: &Ctx, name: &str) -> Option<&'static str> {
    ctx.world
        .scenario
        .windows_auth_providers
        .iter()
        .map(|provider| provider.scheme())
        .find(|s| s.eq_ignore_ascii_case(name))
}

/// One leg of the handshake: a challenge (`Err` with the 401 that carries it), the
/// authenticated principal, or a refusal.
pub(crate) fn authenticate(
    ctx: &Ctx,
    conn: Option<&ConnInfo>,
    scheme: &'static str,
    token: &str,
) -> Result<Principal, Box<Response>> {
    let Some(conn) = conn else {
        return Err(unauthorized(ctx, "NTLM needs a connection"));
    };
    let Ok(bytes) = STANDARD.decode(token) else {
        return Err(unauthorized(ctx, "NTLM token is not base64"));
    };
    let mut state = conn.ntlm.lock();
    let previous = std::mem::take(&mut *state);
    match bytes.get(8..12) {
        Some([1, 0, 0, 0]) if bytes.starts_with(&wire::SIGNATURE) => {
            let Ok(negotiate) = Negotiate::parse(&bytes) else {
                return Err(unauthorized(ctx, "malformed NTLM NEGOTIATE"));
            };
            if negotiate.flags & flags::UNICODE == 0 {
                return Err(unauthorized(ctx, "NTLM without Unicode"));
            }
            let server_challenge: [u8; 8] = rand::random();
            let challenge = challenge(ctx, negotiate.flags, server_challenge);
            let value = format!("{scheme} {}", STANDARD.encode(&challenge));
            *state = State::Challenged {
                negotiate: bytes,
                challenge,
                server_challenge,
            };
            Err(challenge_response(&value))
        }
        Some([3, 0, 0, 0]) if bytes.starts_with(&wire::SIGNATURE) => {
            let State::Challenged {
                negotiate,
                challenge,
                server_challenge,
            } = previous
            else {
                return Err(unauthorized(ctx, "NTLM AUTHENTICATE without a challenge"));
            };
            let message = match Authenticate::parse(&bytes) {
                Ok(message) => message,
                Err(wire::Bad(reason)) => return Err(unauthorized(ctx, reason)),
            };
            let Some((principal, password)) =
                credentials(&ctx.world.directory, &message.user, &message.domain)
            else {
                return Err(unauthorized(ctx, "NTLM user unknown"));
            };
            let exchange = verify::Exchange {
                negotiate: &negotiate,
                challenge: &challenge,
                server_challenge,
                binding: conn
                    .tls
                    .then(|| verify::channel_binding(ctx.pki.server_cert_der())),
                extended_protection: ctx.world.scenario.extended_protection,
            };
            if let Err(reason) = verify::check(&message, &bytes, password, &exchange) {
                return Err(unauthorized(ctx, reason));
            }
            tracing::debug!(user = %message.user, domain = %message.domain, "NTLM authenticated the connection");
            ctx.world
                .ews_counters
                .ntlm_handshakes
                .fetch_add(1, Ordering::Relaxed);
            *state = State::Authenticated(principal.clone());
            Ok(principal)
        }
        _ => Err(unauthorized(
            ctx,
            "not an NTLM token (Kerberos is not supported)",
        )),
    }
}

/// Our CHALLENGE: the flags we grant of those asked (never key exchange, signing or
/// sealing), the domain as target name, and the target information.
fn challenge(ctx: &Ctx, asked: u32, server_challenge: [u8; 8]) -> Vec<u8> {
    let mut granted = flags::UNICODE | flags::NTLM | flags::TARGET_TYPE_DOMAIN | flags::TARGET_INFO;
    for optional in [
        flags::REQUEST_TARGET,
        flags::ALWAYS_SIGN,
        flags::EXTENDED_SESSIONSECURITY,
        flags::VERSION,
        flags::N128,
        flags::N56,
    ] {
        granted |= asked & optional;
    }
    let scenario = &ctx.world.scenario;
    let dns_domain = scenario
        .domains
        .first()
        .map_or("exchange.test", |d| d.name.as_str());
    let netbios_domain = dns_domain
        .split('.')
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase();
    let server = scenario.servers.first().map_or("exch", |s| s.name.as_str());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let filetime = 116_444_736_000_000_000u64
        .saturating_add(u64::try_from(now.as_nanos() / 100).unwrap_or(u64::MAX));
    let info = [
        (av_id::NB_DOMAIN_NAME, wire::utf16le(&netbios_domain)),
        (
            av_id::NB_COMPUTER_NAME,
            wire::utf16le(&server.to_ascii_uppercase()),
        ),
        (av_id::DNS_DOMAIN_NAME, wire::utf16le(dns_domain)),
        (
            av_id::DNS_COMPUTER_NAME,
            wire::utf16le(&format!("{server}.{dns_domain}")),
        ),
        (av_id::DNS_TREE_NAME, wire::utf16le(dns_domain)),
        (av_id::TIMESTAMP, filetime.to_le_bytes().to_vec()),
    ];
    Challenge {
        flags: granted,
        server_challenge,
        target_name: &netbios_domain,
        target_info: &info,
    }
    .to_bytes()
}

fn challenge_response(value: &str) -> Box<Response> {
    let mut response = StatusCode::UNAUTHORIZED.into_response();
    if let Ok(value) = HeaderValue::from_str(value) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    Box::new(response)
}

/// The principal an AUTHENTICATE message names and its password: `DOMAIN\user`, or the
/// user name alone (a UPN, sent with an empty domain), service accounts first.
fn credentials<'a>(
    directory: &'a Directory,
    user: &str,
    domain: &str,
) -> Option<(Principal, &'a str)> {
    let logon = if domain.is_empty() {
        user.to_owned()
    } else {
        format!("{domain}\\{user}")
    };
    if let Some(i) = directory.account_by_logon(&logon) {
        let password = directory.accounts.get(i)?.password.as_str();
        return (!password.is_empty()).then_some((Principal::Account(i), password));
    }
    let i = directory.user_by_logon(&logon)?;
    let password = directory.users.get(i)?.password.as_str();
    (!password.is_empty()).then_some((Principal::User(i), password))
}

impl crate::Sim {
    /// How many NTLM handshakes have authenticated a connection to EWS: a client that
    /// keeps its authenticated connections adds one per connection, not one per request.
    pub fn ntlm_handshakes(&self) -> u64 {
        self.ctx
            .world
            .ews_counters
            .ntlm_handshakes
            .load(Ordering::Relaxed)
    }
}
