//! A tenant's authenticator, built from its settings as the seed page describes them; its
//! transport and Autodiscover client ([`connect`]).
//!
//! | authentication type | modern authentication | authenticator |
//! |---|---|---|
//! | Credential | off | Basic (`DOMAIN\user` or UPN) |
//! | Credential | on | bearer tokens from the password grant; Basic as the fallback when "use credentials if modern authentication fails" is set |
//! | Client Certificate | off | the certificate on every TLS connection |
//! | Client Certificate | on | app-only bearer tokens from a certificate assertion (PS256, `x5t#S256`) |
//! | Passive | (always) | bearer tokens from the administrator's sign-in, refreshed, the refresh token kept encrypted in the store |

use std::sync::Arc;

use autodiscover::{Autodiscover, MailboxLocator};
use exchange_auth::{
    AssertionAlgorithm, AuthError, AuthMethod, Authenticator, BasicAuth, BearerAuth,
    CertificateAuth, ClientCertificate, Grant, OAuthTokens, PassiveAuth, RefreshTokenStore,
    TransportSettings,
};
use secrecy::ExposeSecret;
use url::Url;

use crate::adapters::TenantRefreshTokens;
use crate::error::StartError;
use crate::service::Overrides;
use bems_settings::{AuthenticationType, TenantSettings};
use bems_store::{Store, TenantStore};

/// What a tenant authenticates with.
pub struct TenantAuth {
    /// Sends every EWS request.
    pub authenticator: Arc<dyn Authenticator>,
    /// Passive authentication's sign-in, for the admin API.
    pub passive: Option<Arc<PassiveAuth>>,
}

impl std::fmt::Debug for TenantAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantAuth")
            .field("status", &self.authenticator.status())
            .field("passive", &self.passive.is_some())
            .finish()
    }
}

/// Builds `tenant`'s authenticator; `redirect_uri` is passive authentication's, and
/// `refresh_tokens` keeps its refresh token.
pub fn authenticator(
    tenant: &TenantSettings,
    transport: &TransportSettings,
    redirect_uri: Option<Url>,
    refresh_tokens: Arc<dyn RefreshTokenStore>,
) -> Result<TenantAuth, AuthError> {
    let username = || {
        tenant
            .service_account_username
            .clone()
            .ok_or_else(|| config("service_account_username", "is required"))
    };
    let password = || {
        tenant
            .service_account_password
            .clone()
            .ok_or_else(|| config("service_account_password", "is required"))
    };
    let only = |authenticator: Arc<dyn Authenticator>| TenantAuth {
        authenticator,
        passive: None,
    };
    match tenant.authentication {
        AuthenticationType::Credential => {
            let user = username()?;
            let modern = tenant.modern_auth();
            let basic = || -> Result<Arc<dyn Authenticator>, AuthError> {
                Ok(Arc::new(BasicAuth::new(
                    user.clone(),
                    password()?,
                    tenant.username_target(),
                    transport,
                )?))
            };
            let Some(modern) = modern else {
                return Ok(only(basic()?));
            };
            let grant = Grant::Password {
                user: user.clone(),
                password: password()?,
            };
            let tokens = OAuthTokens::new(modern, grant, transport)?;
            let mut bearer = BearerAuth::new(
                Arc::new(tokens),
                AuthMethod::ModernPassword,
                user.clone(),
                transport,
            )?;
            if tenant
                .modern_authentication
                .use_credentials_if_modern_auth_fails
            {
                bearer = bearer.with_fallback(basic()?);
            }
            Ok(only(Arc::new(bearer)))
        }
        AuthenticationType::ClientCertificate => match tenant.modern_auth() {
            Some(modern) => {
                let (grant, subject) = certificate_grant(tenant)?;
                let tokens = OAuthTokens::new(modern, grant, transport)?;
                Ok(only(Arc::new(BearerAuth::new(
                    Arc::new(tokens),
                    AuthMethod::ModernClientCertificate,
                    subject,
                    transport,
                )?)))
            }
            None => Ok(only(Arc::new(CertificateAuth::new(
                client_certificate(tenant)?,
                transport,
            )?))),
        },
        AuthenticationType::Passive => {
            let modern = tenant.modern_auth().ok_or_else(|| {
                config(
                    "passive",
                    "authority and client_application_id are required",
                )
            })?;
            let redirect_uri = redirect_uri.ok_or_else(|| {
                config(
                    "server.public_url",
                    "passive authentication needs it for its redirect URI",
                )
            })?;
            let principal = modern.client_id.clone();
            let passive = Arc::new(PassiveAuth::new(
                modern,
                redirect_uri,
                tenant.passive.client_secret.clone(),
                refresh_tokens,
                transport,
            )?);
            let bearer = BearerAuth::new(
                Arc::clone(&passive) as Arc<dyn exchange_auth::TokenSource>,
                AuthMethod::Passive,
                principal,
                transport,
            )?;
            Ok(TenantAuth {
                authenticator: Arc::new(bearer),
                passive: Some(passive),
            })
        }
    }
}

/// The tenant's client certificate: its `.pfx` read and opened with its password; errors name
/// `client_certificate.pfx_file`. `serve` and `check-config` both open it here.
pub(crate) fn client_certificate(tenant: &TenantSettings) -> Result<ClientCertificate, AuthError> {
    let settings = &tenant.client_certificate;
    let path = settings
        .pfx_file
        .as_ref()
        .ok_or_else(|| config("client_certificate.pfx_file", "is required"))?;
    let pfx = std::fs::read(path).map_err(|e| {
        config(
            "client_certificate.pfx_file",
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    let password = settings.password.clone().unwrap_or_default();
    // The file is named with what is wrong with it (its password, its format, its dates).
    ClientCertificate::from_pfx(&pfx, &password).map_err(|e| {
        config(
            "client_certificate.pfx_file",
            format!("{}: {e}", path.display()),
        )
    })
}

/// The app's client-certificate grant (a PS256 assertion with `x5t#S256`), and the
/// certificate's subject.
pub(crate) fn certificate_grant(tenant: &TenantSettings) -> Result<(Grant, String), AuthError> {
    let certificate = client_certificate(tenant)?;
    let subject = certificate.subject().to_owned();
    let grant = Grant::ClientCertificate {
        certificate,
        algorithm: AssertionAlgorithm::Ps256,
    };
    Ok((grant, subject))
}

fn config(setting: &'static str, reason: impl Into<String>) -> AuthError {
    AuthError::Config {
        setting,
        reason: reason.into(),
    }
}

/// A tenant's transport: its settings', with the overrides' trusted CAs and fixed addresses.
pub fn transport(settings: &TenantSettings, overrides: &Overrides) -> TransportSettings {
    let mut transport = settings.transport();
    transport
        .trusted_ca_pem
        .extend(overrides.trusted_ca_pem.iter().cloned());
    transport.resolve.extend(overrides.resolve.iter().cloned());
    transport
}

/// A tenant's Autodiscover client and authenticator, from its settings and the overrides.
pub fn connect(
    settings: &TenantSettings,
    store: &Arc<dyn Store>,
    public_url: Option<&Url>,
    overrides: &Overrides,
) -> Result<(Arc<dyn MailboxLocator>, TenantAuth), StartError> {
    let transport = transport(settings, overrides);
    let mut discovery = crate::discovery::autodiscover_settings(settings);
    discovery
        .trusted_ca_pem
        .extend(overrides.trusted_ca_pem.iter().cloned());
    if overrides.dns_server.is_some() {
        discovery.dns_server = overrides.dns_server;
    }
    if let Some(port) = overrides.https_port {
        discovery.https_port = port;
    }
    if let Some(port) = overrides.http_port {
        discovery.http_port = port;
    }
    let credentials = settings.service_account_username.clone().zip(
        settings
            .service_account_password
            .as_ref()
            .map(|p| p.expose_secret().to_owned()),
    );
    let credentials = credentials.map(|(user, password)| {
        Arc::new(autodiscover::Basic::new(user, password)) as Arc<dyn autodiscover::Credentials>
    });
    let locator: Arc<dyn MailboxLocator> = Arc::new(
        Autodiscover::new(discovery, credentials)
            .map_err(|e| StartError::part("autodiscover", e))?,
    );
    let redirect = public_url.and_then(|u| settings.redirect_uri(u));
    let refresh = Arc::new(TenantRefreshTokens::new(
        Arc::clone(store) as Arc<dyn TenantStore>,
        settings.id.clone(),
    ));
    let auth = authenticator(settings, &transport, redirect, refresh)
        .map_err(|e| StartError::part("authentication", e))?;
    Ok((locator, auth))
}
