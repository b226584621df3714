//! A mock Microsoft identity platform (v2 endpoints): token issuance for every grant the
//! project uses, an authorize endpoint that signs in test users, and JWKS.
//!
//! STUB: the full implementation lands in this module's files.

use std::sync::Arc;

use axum::Router;

use crate::SimError;
use crate::sim::Ctx;
use crate::tls::{CertifiedKey, Pki};
use crate::world::World;

/// The claims EWS checks on a bearer token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenClaims {
    /// `appid` / `azp`: the client the token was issued to.
    pub(crate) app_id: String,
    /// `roles`: application permissions (`full_access_as_app`).
    pub(crate) roles: Vec<String>,
    /// `scp`: delegated permissions (`EWS.AccessAsUser.All`), space separated in the token.
    pub(crate) scopes: Vec<String>,
    /// `upn` / `preferred_username` of a delegated token.
    pub(crate) upn: Option<String>,
}

/// The identity platform's state.
#[derive(Debug)]
pub(crate) struct Identity {}

impl Identity {
    pub(crate) fn new(_world: &World, _pki: &Pki) -> Result<Self, SimError> {
        Ok(Self {})
    }

    /// Validates an access token for EWS: signature, issuer, audience, expiry.
    pub(crate) fn verify_access_token(
        &self,
        _token: &str,
        _audiences: &[String],
    ) -> Result<TokenClaims, String> {
        Err("bearer tokens are not supported yet".into())
    }
}

/// The identity platform's routes.
pub(crate) fn routes() -> Router<Arc<Ctx>> {
    Router::new()
}

/// Access to the identity platform from tests.
#[derive(Debug)]
pub struct IdentityHandle<'a> {
    ctx: &'a Ctx,
    port: u16,
}

impl<'a> IdentityHandle<'a> {
    pub(crate) fn new(ctx: &'a Ctx, port: u16) -> Self {
        Self { ctx, port }
    }

    /// The authority: `https://<login host>:<port>/<tenant>`.
    pub fn authority(&self) -> String {
        let scenario = &self.ctx.world.scenario;
        format!(
            "https://{}:{}/{}",
            scenario.login_host, self.port, scenario.tenant
        )
    }

    /// The v2 token endpoint.
    pub fn token_endpoint(&self) -> String {
        format!("{}/oauth2/v2.0/token", self.authority())
    }

    /// A certificate an app signs client assertions with.
    pub fn app_certificate(&self, client_id: &str) -> Result<CertifiedKey, SimError> {
        Err(SimError::NotFound(format!("app {client_id}")))
    }
}
