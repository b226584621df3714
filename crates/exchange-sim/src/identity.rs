//! A mock Microsoft identity platform (v2 endpoints): token issuance for every grant the
//! project uses, an authorize endpoint that signs in test users, and discovery (JWKS and the
//! OpenID configuration).
//!
//! | Route | File |
//! |---|---|
//! | `POST /{tenant}/oauth2/v2.0/token` | [`token`]: client credentials (secret or certificate assertion), password (ROPC), authorization code with PKCE, refresh token |
//! | `GET`/`POST /{tenant}/oauth2/v2.0/authorize` | [`authorize`]: non-interactive sign-in for tests, or a minimal login page |
//! | `GET /{tenant}/discovery/v2.0/keys`, `GET /{tenant}/v2.0/.well-known/openid-configuration` | [`metadata`] |
//!
//! `{tenant}` is the scenario's tenant (name or derived GUID), `common` or `organizations`.
//! Access tokens are RS256 JWTs ([`jwt`]) with issuer `https://{login_host}/{tenant}/v2.0`;
//! errors carry Entra's `AADSTS` codes ([`errors`]).
//!
//! Time here is the real wall clock, not the simulated one: clients sign assertions and cache
//! tokens by their own clock, so `Sim::advance_clock` must not expire them. Short-lived tokens
//! come from [`IdentityHandle::set_token_lifetime`] instead.

mod assertion;
mod authorize;
mod client;
mod errors;
mod grant;
mod handle;
mod jwt;
mod keys;
mod metadata;
pub(crate) mod scope;
mod store;
mod token;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use sha2::{Digest as _, Sha256};

use crate::SimError;
use crate::sim::Ctx;
use crate::tls::Pki;
use crate::world::World;
use crate::world::directory::Principal;
use errors::AadError;
use grant::Subject;
use keys::RsaCredential;
use store::Store;

pub(crate) use handle::IdentityHandle;

/// What a resource learns from a valid bearer token.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenClaims {
    /// `appid` / `azp`: the client the token was issued to.
    pub app_id: String,
    /// `roles`: application permissions (`full_access_as_app`).
    pub roles: Vec<String>,
    /// `scp`: delegated permissions (`EWS.AccessAsUser.All`), space separated in the token.
    pub scopes: Vec<String>,
    /// `upn` / `preferred_username` of a delegated token.
    pub upn: Option<String>,
}

/// The identity platform's state.
#[derive(Debug)]
pub(crate) struct Identity {
    /// The token-signing key.
    signing: RsaCredential,
    /// Its `kid` (the certificate's `x5t`, as Entra's keys have).
    kid: String,
    /// `iss` of every token.
    issuer: String,
    /// `tid`: the scenario's tenant if it is a GUID, else one derived from its name.
    tenant_id: String,
    /// Certificate credentials of apps registered with `certificate = true`, by client id.
    apps: HashMap<String, RsaCredential>,
    /// Codes, refresh tokens, seen assertions, lifetimes, counters.
    store: Store,
    /// Access tokens whose signature was checked.
    verified: jwt::Verified,
}

impl Identity {
    /// A signing key, and a certificate for every app with `certificate = true`.
    ///
    /// The simulator CA (`_pki`) is not used: it issues P-256 keys, and Entra takes only RSA
    /// certificates for client assertions (see [`keys`]).
    pub(crate) fn new(world: &World, _pki: &Pki) -> Result<Self, SimError> {
        let scenario = &world.scenario;
        let signing = RsaCredential::generate(&format!("{} token signing", scenario.login_host))?;
        let mut apps = HashMap::new();
        for app in scenario.apps.iter().filter(|a| a.certificate) {
            apps.insert(
                app.client_id.clone(),
                RsaCredential::generate(&app.client_id)?,
            );
        }
        let tenant_id = match uuid::Uuid::parse_str(&scenario.tenant) {
            Ok(id) => id.to_string(),
            Err(_) => derived_guid(&format!("tenant:{}", scenario.tenant.to_ascii_lowercase())),
        };
        Ok(Self {
            kid: signing.x5t.clone(),
            issuer: format!("https://{}/{}/v2.0", scenario.login_host, scenario.tenant),
            signing,
            tenant_id,
            apps,
            store: Store::default(),
            verified: jwt::Verified::default(),
        })
    }

    /// `tid`: the tenant's GUID (Graph's notifications carry it as `tenantId`).
    pub(crate) fn tenant_id(&self) -> &str {
        &self.tenant_id
    }

    /// Validates an access token for EWS: signature, issuer, audience (one of `audiences`),
    /// `nbf` and `exp`. The error says why, for `x-ms-diagnostics`.
    pub(crate) fn verify_access_token(
        &self,
        token: &str,
        audiences: &[String],
    ) -> Result<TokenClaims, String> {
        jwt::verify(self, token, audiences, now())
    }
}

/// Seconds since the epoch, by the real clock.
fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A stable GUID derived from `seed` (object ids, the tenant id).
pub(crate) fn derived_guid(seed: &str) -> String {
    let digest = Sha256::digest(seed.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

fn is_multi_tenant(tenant: &str) -> bool {
    tenant.eq_ignore_ascii_case("common") || tenant.eq_ignore_ascii_case("organizations")
}

/// Refuses a tenant in the path that is not ours (AADSTS90002).
fn check_tenant(ctx: &Ctx, tenant: &str) -> Result<(), AadError> {
    let ours = tenant.eq_ignore_ascii_case(&ctx.world.scenario.tenant)
        || tenant.eq_ignore_ascii_case(&ctx.identity.tenant_id)
        || is_multi_tenant(tenant);
    if ours {
        Ok(())
    } else {
        Err(AadError::unknown_tenant(tenant))
    }
}

/// Checks a user's (or service account's) password: AADSTS50034 for an unknown name,
/// AADSTS50126 for a wrong password.
fn sign_in(ctx: &Ctx, tenant: &str, login: &str, password: &str) -> Result<Subject, AadError> {
    let directory = &ctx.world.directory;
    match directory.check_password(login, password) {
        Some(Principal::User(i)) => Ok(Subject {
            upn: directory.users[i].smtp.clone(),
            name: directory.users[i].display_name.clone(),
        }),
        Some(Principal::Account(i)) => {
            let account = &directory.accounts[i];
            let upn = if account.upn.is_empty() {
                &account.name
            } else {
                &account.upn
            };
            Ok(Subject {
                upn: upn.clone(),
                name: account.name.clone(),
            })
        }
        Some(_) => Err(AadError::bad_password()),
        None if directory.user_by_logon(login).is_none()
            && directory.account_by_logon(login).is_none() =>
        {
            Err(AadError::unknown_user(tenant))
        }
        None => Err(AadError::bad_password()),
    }
}

/// The identity platform's routes.
pub(crate) fn routes() -> Router<Arc<Ctx>> {
    Router::new()
        .route(
            "/{tenant}/oauth2/v2.0/token",
            get(token::token_get).post(token::token),
        )
        .route(
            "/{tenant}/oauth2/v2.0/authorize",
            get(authorize::get).post(authorize::post),
        )
        .route("/{tenant}/discovery/v2.0/keys", get(metadata::keys))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(metadata::openid_configuration),
        )
}
