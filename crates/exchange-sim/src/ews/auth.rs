//! Who is calling: HTTP Basic, NTLM (which authenticates the connection), a bearer token
//! from the identity platform, or a TLS client certificate mapped to a service account by
//! its common name.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::net::ConnInfo;
use crate::sim::Ctx;
use crate::world::directory::Principal;

/// The audiences EWS accepts tokens for: Exchange Online's resource and app id, and the
/// simulator's own EWS hosts (hybrid modern authentication).
pub(crate) fn audiences(ctx: &Ctx) -> Vec<String> {
    let mut audiences = vec![
        "https://outlook.office365.com".to_owned(),
        "00000002-0000-0ff1-ce00-000000000000".to_owned(),
    ];
    for domain in &ctx.world.scenario.domains {
        audiences.push(format!("https://{}", domain.external_host()));
        audiences.push(format!("https://{}", domain.internal_host()));
    }
    audiences
}

/// Authenticates a request, or answers `401` with the schemes Exchange offers.
pub(crate) fn authenticate(
    ctx: &Ctx,
    headers: &HeaderMap,
    conn: Option<&ConnInfo>,
) -> Result<Principal, Box<Response>> {
    if let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let (scheme, credentials) = value.split_once(' ').unwrap_or((value, ""));
        let credentials = credentials.trim();
        if scheme.eq_ignore_ascii_case("Basic") {
            return basic(ctx, credentials).ok_or_else(|| unauthorized(ctx, "invalid credentials"));
        }
        if scheme.eq_ignore_ascii_case("Bearer") {
            return bearer(ctx, credentials).map_err(|reason| unauthorized(ctx, &reason));
        }
        if let Some(scheme) = super::ntlm::scheme(ctx, scheme) {
            return super::ntlm::authenticate(ctx, conn, scheme, credentials);
        }
        return Err(unauthorized(ctx, "unsupported authorization scheme"));
    }
    if let Some(principal) = conn.and_then(|c| c.ntlm.principal()) {
        return Ok(principal);
    }
    if let Some(cert) = conn.and_then(|c| c.client_cert.as_ref()) {
        return certificate(ctx, cert)
            .ok_or_else(|| unauthorized(ctx, "certificate not mapped to an account"));
    }
    Err(unauthorized(ctx, "no credentials"))
}

fn basic(ctx: &Ctx, credentials: &str) -> Option<Principal> {
    let decoded = STANDARD.decode(credentials).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    ctx.world.directory.check_password(user, password)
}

fn bearer(ctx: &Ctx, token: &str) -> Result<Principal, String> {
    let claims = ctx.identity.verify_access_token(token, &audiences(ctx))?;
    if !claims.roles.is_empty() {
        return Ok(Principal::App {
            client_id: claims.app_id,
            roles: claims.roles,
        });
    }
    if claims
        .scopes
        .iter()
        .any(|s| s == "EWS.AccessAsUser.All" || s.ends_with("/EWS.AccessAsUser.All"))
    {
        let user = claims
            .upn
            .as_deref()
            .and_then(|upn| ctx.world.directory.user_by_smtp(upn))
            .ok_or("token user has no mailbox")?;
        return Ok(Principal::Delegated {
            user,
            client_id: claims.app_id,
        });
    }
    Err("token grants neither full_access_as_app nor EWS.AccessAsUser.All".into())
}

fn certificate(ctx: &Ctx, der: &[u8]) -> Option<Principal> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let common_name = cert
        .subject()
        .iter_common_name()
        .next()?
        .as_str()
        .ok()?
        .to_owned();
    let directory = &ctx.world.directory;
    directory
        .accounts
        .iter()
        .position(|a| a.client_certificate && a.name == common_name)
        .map(Principal::Account)
}

/// `401` with `WWW-Authenticate` for every scheme the simulator accepts.
pub(super) fn unauthorized(ctx: &Ctx, reason: &str) -> Box<Response> {
    tracing::debug!(reason, "EWS request not authenticated");
    let scenario = &ctx.world.scenario;
    let mut response = StatusCode::UNAUTHORIZED.into_response();
    let headers = response.headers_mut();
    let realm = scenario
        .domains
        .first()
        .map_or("exchange", |d| d.name.as_str());
    let windows = scenario
        .windows_auth_providers
        .iter()
        .map(|provider| provider.scheme().to_owned());
    for value in windows.chain([
        format!("Basic realm=\"{realm}\""),
        format!(
            "Bearer client_id=\"00000002-0000-0ff1-ce00-000000000000\", trusted_issuers=\"https://{}/{}\", authorization_uri=\"https://{}/common/oauth2/authorize\"",
            scenario.login_host, scenario.tenant, scenario.login_host
        ),
    ]) {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.append(header::WWW_AUTHENTICATE, value);
        }
    }
    Box::new(response)
}
