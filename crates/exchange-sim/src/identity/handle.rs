//! [`IdentityHandle`]: the identity platform as tests and integrators drive it.

use std::time::Duration;

use crate::SimError;
use crate::sim::Ctx;
use crate::tls::CertifiedKey;

use super::grant::Subject;
use super::jwt::{ClientAuth, Grant, mint};
use super::{TokenClaims, now, scope};

/// Access to the identity platform from tests: endpoint URLs, app certificates, token
/// lifetimes, revocation, counters, and tokens minted without HTTP.
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

    /// The v2 token endpoint; also the `aud` client assertions must carry.
    pub fn token_endpoint(&self) -> String {
        format!("{}/oauth2/v2.0/token", self.authority())
    }

    /// The v2 authorize endpoint.
    pub fn authorize_endpoint(&self) -> String {
        format!("{}/oauth2/v2.0/authorize", self.authority())
    }

    /// The JWKS with the token-signing key.
    pub fn jwks_uri(&self) -> String {
        format!("{}/discovery/v2.0/keys", self.authority())
    }

    /// The OpenID Connect discovery document.
    pub fn openid_configuration_url(&self) -> String {
        format!("{}/v2.0/.well-known/openid-configuration", self.authority())
    }

    /// The `iss` of every token: `https://<login host>/<tenant>/v2.0`.
    pub fn issuer(&self) -> &str {
        &self.ctx.identity.issuer
    }

    /// `tid` of every token: the tenant's GUID.
    pub fn tenant_id(&self) -> &str {
        &self.ctx.identity.tenant_id
    }

    /// The certificate (and PKCS#8 key) an app signs client assertions with: a self-signed RSA
    /// 2048 certificate, made at start for every app with `certificate = true`.
    pub fn app_certificate(&self, client_id: &str) -> Result<CertifiedKey, SimError> {
        self.ctx
            .identity
            .apps
            .get(client_id)
            .map(|credential| credential.cert.clone())
            .ok_or_else(|| SimError::NotFound(format!("app {client_id} with certificate = true")))
    }

    /// Revokes every refresh token of a user (`subject` is a UPN / SMTP address, any case) or
    /// issued to an app (`subject` is a client id); returns how many were revoked. Redeeming
    /// one then fails with `invalid_grant` AADSTS70008. Access tokens already issued stay
    /// valid until they expire, as Entra's do.
    pub fn revoke_refresh_tokens(&self, subject: &str) -> usize {
        self.ctx.identity.store.revoke(subject)
    }

    /// The lifetime of access tokens issued from now on (whole seconds; default one hour).
    /// `Duration::ZERO` issues tokens that are already expired.
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.ctx.identity.store.set_access_lifetime(lifetime);
    }

    /// The lifetime of refresh tokens issued from now on (whole seconds; default 90 days).
    /// An expired one fails with `invalid_grant` AADSTS700082.
    pub fn set_refresh_token_lifetime(&self, lifetime: Duration) {
        self.ctx.identity.store.set_refresh_lifetime(lifetime);
    }

    /// Requests to the token endpoint so far (every `POST`, whatever its outcome).
    pub fn token_requests(&self) -> u64 {
        self.ctx.identity.store.token_requests()
    }

    /// Access tokens issued so far (by the token endpoint or by this handle).
    pub fn tokens_issued(&self) -> u64 {
        self.ctx.identity.store.tokens_issued()
    }

    /// Validates an access token as EWS does: signature, issuer, `aud` among `audiences`,
    /// `nbf` and `exp`.
    pub fn verify_access_token(
        &self,
        token: &str,
        audiences: &[&str],
    ) -> Result<TokenClaims, String> {
        let audiences: Vec<String> = audiences.iter().map(|a| (*a).to_owned()).collect();
        self.ctx.identity.verify_access_token(token, &audiences)
    }

    /// An app-only access token for a registered app and a known resource
    /// (`https://outlook.office365.com`, an EWS host, or Exchange's app id), without HTTP and
    /// without checking consent.
    pub fn issue_app_token(&self, client_id: &str, resource: &str) -> Result<String, SimError> {
        let app = self.app(client_id)?;
        let resource = self.resource(resource)?;
        let grant = Grant {
            client_id,
            client_auth: ClientAuth::Secret,
            resource: &resource,
            subject: None,
            roles: &app.roles,
            permissions: &[],
        };
        self.mint(&grant)
    }

    /// A delegated access token for a user (by SMTP address) through a registered app, with
    /// the app's delegated permissions, without HTTP and without a password.
    pub fn issue_user_token(
        &self,
        client_id: &str,
        smtp: &str,
        resource: &str,
    ) -> Result<String, SimError> {
        let app = self.app(client_id)?;
        let resource = self.resource(resource)?;
        let directory = &self.ctx.world.directory;
        let user = directory
            .user_by_smtp(smtp)
            .and_then(|i| directory.users.get(i))
            .ok_or_else(|| SimError::NotFound(format!("user {smtp}")))?;
        let subject = Subject {
            upn: user.smtp.clone(),
            name: user.display_name.clone(),
        };
        let grant = Grant {
            client_id,
            client_auth: ClientAuth::None,
            resource: &resource,
            subject: Some(&subject),
            roles: &[],
            permissions: &app.scopes,
        };
        self.mint(&grant)
    }

    fn app(&self, client_id: &str) -> Result<&'a crate::scenario::App, SimError> {
        self.ctx
            .world
            .directory
            .app(client_id)
            .ok_or_else(|| SimError::NotFound(format!("app {client_id}")))
    }

    fn resource(&self, raw: &str) -> Result<String, SimError> {
        scope::resource(&self.ctx.world, raw)
            .ok_or_else(|| SimError::NotFound(format!("resource {raw}")))
    }

    fn mint(&self, grant: &Grant<'_>) -> Result<String, SimError> {
        mint(&self.ctx.identity, grant, now())
            .map(|minted| minted.token)
            .map_err(|error| SimError::Tls(error.text()))
    }
}
