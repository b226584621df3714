//! A Graph tenant's authenticator: app-only tokens of the tenant's Entra app for
//! `https://graph.microsoft.com` (scope `.../.default`), signed with the client certificate
//! under Client Certificate authentication, else with `graph.client_secret`.

use std::sync::Arc;

use exchange_auth::{
    AssertionAlgorithm, AuthError, AuthMethod, Authenticator, BearerAuth, Grant, ModernAuth,
    OAuthTokens, PassiveAuth, RefreshTokenStore, TransportSettings,
};
use url::Url;

use crate::settings::{AuthenticationType, TenantSettings};

fn config(setting: &'static str, reason: impl Into<String>) -> AuthError {
    AuthError::Config {
        setting,
        reason: reason.into(),
    }
}

/// Graph's resource: the endpoint's scheme and host (`https://graph.microsoft.com`), without
/// a port, whatever port the endpoint is reached on.
pub fn graph_resource(endpoint: &Url) -> String {
    format!(
        "{}://{}",
        endpoint.scheme(),
        endpoint.host_str().unwrap_or_default()
    )
}

/// The authenticator Graph requests are sent with.
pub fn graph_authenticator(
    tenant: &TenantSettings,
    transport: &TransportSettings,
) -> Result<Arc<dyn Authenticator>, AuthError> {
    let modern = &tenant.modern_authentication;
    let authority = modern
        .authority
        .clone()
        .ok_or_else(|| config("modern_authentication.authority", "is required for Graph"))?;
    let client_id = modern.client_application_id.clone().ok_or_else(|| {
        config(
            "modern_authentication.client_application_id",
            "is required for Graph",
        )
    })?;
    let auth = ModernAuth::new(
        authority,
        client_id.clone(),
        graph_resource(&tenant.graph.endpoint),
    );
    let (grant, method) = match tenant.authentication {
        AuthenticationType::ClientCertificate => {
            let certificate = crate::compose::client_certificate(tenant)?;
            let grant = Grant::ClientCertificate {
                certificate,
                algorithm: AssertionAlgorithm::Ps256,
            };
            (grant, AuthMethod::ModernClientCertificate)
        }
        _ => {
            let secret = tenant
                .graph
                .client_secret
                .clone()
                .ok_or_else(|| config("graph.client_secret", "is required for Graph"))?;
            (Grant::ClientSecret(secret), AuthMethod::ModernClientSecret)
        }
    };
    let tokens = OAuthTokens::new(auth, grant, transport)?;
    Ok(Arc::new(BearerAuth::new(
        Arc::new(tokens),
        method,
        client_id,
        transport,
    )?))
}

/// Delegated Graph tokens of a passive tenant, for `endpoint`'s resource: the refresh token the
/// administrator's sign-in left in `refresh_tokens` (the one EWS uses; the identity platform's
/// refresh tokens are multi-resource) redeemed for `<resource>/.default`, the delegated
/// permissions the app was consented for on Graph. Until the administrator signs in, every
/// request fails with "sign-in required".
pub fn passive_graph_authenticator(
    tenant: &TenantSettings,
    transport: &TransportSettings,
    redirect_uri: Option<Url>,
    refresh_tokens: Arc<dyn RefreshTokenStore>,
    endpoint: &Url,
) -> Result<Arc<dyn Authenticator>, AuthError> {
    let passive = &tenant.passive;
    let authority = passive
        .authority
        .clone()
        .ok_or_else(|| config("passive.authority", "is required for Graph"))?;
    let client_id = passive
        .client_application_id
        .clone()
        .ok_or_else(|| config("passive.client_application_id", "is required for Graph"))?;
    let redirect_uri = redirect_uri.ok_or_else(|| {
        config(
            "server.public_url",
            "passive authentication needs it for its redirect URI",
        )
    })?;
    let resource = graph_resource(endpoint);
    let scope = format!("{resource}/.default");
    let auth = ModernAuth::new(authority, client_id.clone(), resource);
    let tokens = PassiveAuth::new(
        auth,
        redirect_uri,
        passive.client_secret.clone(),
        refresh_tokens,
        transport,
    )?
    .with_scope(scope);
    Ok(Arc::new(BearerAuth::new(
        Arc::new(tokens),
        AuthMethod::Passive,
        client_id,
        transport,
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resource_has_no_port() {
        let url = |s: &str| Url::parse(s).expect("url");
        assert_eq!(
            graph_resource(&url("https://graph.microsoft.com:8443")),
            "https://graph.microsoft.com"
        );
        assert_eq!(
            graph_resource(&url("https://graph.microsoft.us/")),
            "https://graph.microsoft.us"
        );
    }
}
