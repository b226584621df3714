//! Graph's authenticators: a Graph tenant's (app-only tokens of the tenant's Entra app for
//! `https://graph.microsoft.com`, scope `.../.default`, signed with the client certificate
//! under Client Certificate authentication, else with `graph.client_secret`), and Directory
//! Lookup's (delegated or app-only, from the tenant's own authentication).

use std::sync::Arc;

use exchange_auth::{
    AuthError, AuthMethod, Authenticator, BearerAuth, Grant, ModernAuth, OAuthTokens, PassiveAuth,
    RefreshTokenStore, TokenSource, TransportSettings,
};
use url::Url;

use crate::compose::certificate_grant;
use bems_settings::{AuthenticationType, TenantSettings};

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

/// The tenant's Entra app aimed at Graph (`endpoint`'s resource, without a port): its modern
/// authentication, or passive authentication's app; a delegated token asks for
/// `<resource>/.default`, the permissions the app was consented for on Graph (Graph has no
/// `EWS.AccessAsUser.All`).
fn graph_app(tenant: &TenantSettings, endpoint: &Url) -> Result<ModernAuth, AuthError> {
    let app = tenant.modern_auth().ok_or_else(|| {
        let setting = match tenant.authentication {
            AuthenticationType::Passive => "passive",
            _ => "modern_authentication",
        };
        config(
            setting,
            "Graph needs modern authentication (enabled, with authority and client_application_id)",
        )
    })?;
    let resource = graph_resource(endpoint);
    let scope = format!("{resource}/.default");
    Ok(ModernAuth::new(app.authority, app.client_id, resource).with_delegated_scope(scope))
}

/// Bearer tokens from `tokens`, as `principal`.
fn bearer(
    tokens: Arc<dyn TokenSource>,
    method: AuthMethod,
    principal: String,
    transport: &TransportSettings,
) -> Result<Arc<dyn Authenticator>, AuthError> {
    Ok(Arc::new(BearerAuth::new(
        tokens, method, principal, transport,
    )?))
}

/// The authenticator Graph requests are sent with: app-only tokens of the tenant's Entra app,
/// signed with the client certificate under Client Certificate authentication, else with
/// `graph.client_secret`.
pub fn graph_authenticator(
    tenant: &TenantSettings,
    transport: &TransportSettings,
) -> Result<Arc<dyn Authenticator>, AuthError> {
    let app = graph_app(tenant, &tenant.graph.endpoint)?;
    let client_id = app.client_id.clone();
    let (grant, method) = match tenant.authentication {
        AuthenticationType::ClientCertificate => (
            certificate_grant(tenant)?.0,
            AuthMethod::ModernClientCertificate,
        ),
        _ => {
            let secret = tenant
                .graph
                .client_secret
                .clone()
                .ok_or_else(|| config("graph.client_secret", "is required for Graph"))?;
            (Grant::ClientSecret(secret), AuthMethod::ModernClientSecret)
        }
    };
    let tokens = OAuthTokens::new(app, grant, transport)?;
    bearer(Arc::new(tokens), method, client_id, transport)
}

/// Graph tokens for Directory Lookup of a tenant under "Credential" or "Client Certificate"
/// authentication, for `endpoint`'s resource, from the tenant's modern authentication: the
/// service account's password grant for `<resource>/.default` (the delegated permissions the app
/// was consented for on Graph, `User.ReadBasic.All`; Graph has no `EWS.AccessAsUser.All`), or
/// the app's certificate (app-only). Never Basic nor a TLS client certificate, which Graph
/// refuses: without modern authentication there is no Graph authenticator, and
/// `use_credentials_if_modern_auth_fails` stays EWS's.
pub fn directory_graph_authenticator(
    tenant: &TenantSettings,
    transport: &TransportSettings,
    endpoint: &Url,
) -> Result<Arc<dyn Authenticator>, AuthError> {
    let app = graph_app(tenant, endpoint)?;
    let (grant, method, principal) = match tenant.authentication {
        AuthenticationType::Credential => {
            let user = tenant
                .service_account_username
                .clone()
                .ok_or_else(|| config("service_account_username", "is required"))?;
            let password = tenant
                .service_account_password
                .clone()
                .ok_or_else(|| config("service_account_password", "is required"))?;
            let grant = Grant::Password {
                user: user.clone(),
                password,
            };
            (grant, AuthMethod::ModernPassword, user)
        }
        AuthenticationType::ClientCertificate => {
            let (grant, subject) = certificate_grant(tenant)?;
            (grant, AuthMethod::ModernClientCertificate, subject)
        }
        AuthenticationType::Passive => {
            return Err(config(
                "authentication",
                "passive tenants use passive_graph_authenticator",
            ));
        }
    };
    let tokens = OAuthTokens::new(app, grant, transport)?;
    bearer(Arc::new(tokens), method, principal, transport)
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
    let app = graph_app(tenant, endpoint)?;
    let client_id = app.client_id.clone();
    let redirect_uri = redirect_uri.ok_or_else(|| {
        config(
            "server.public_url",
            "passive authentication needs it for its redirect URI",
        )
    })?;
    let tokens = PassiveAuth::new(
        app,
        redirect_uri,
        tenant.passive.client_secret.clone(),
        refresh_tokens,
        transport,
    )?;
    bearer(Arc::new(tokens), AuthMethod::Passive, client_id, transport)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bems_settings::ServiceSettings;

    /// A Microsoft 365 tenant under Credential authentication, with the fallback to Basic on.
    fn credential_tenant(modern: bool) -> TenantSettings {
        let text = format!(
            r#"
            [[tenants]]
            id = "contoso"
            exchange = "microsoft365"
            service_account_username = "svc-bems@contoso.com"
            service_account_password = "Svc-Pa55w.rd"
            [tenants.modern_authentication]
            enabled = {modern}
            authority = "https://login.microsoftonline.com/contoso.com"
            client_application_id = "11111111-1111-1111-1111-111111111111"
            use_credentials_if_modern_auth_fails = true
            "#
        );
        let settings = ServiceSettings::from_toml_str(&text).unwrap_or_else(|e| panic!("{e}"));
        settings.tenants.into_iter().next().expect("a tenant")
    }

    #[test]
    fn directory_graph_tokens_of_a_credential_tenant_never_fall_back_to_basic() {
        let graph = Url::parse("https://graph.microsoft.com").expect("url");
        let transport = TransportSettings::default();
        let auth = directory_graph_authenticator(&credential_tenant(true), &transport, &graph)
            .expect("an authenticator");
        let status = auth.status();
        assert_eq!(status.method, AuthMethod::ModernPassword);
        assert_eq!(status.principal, "svc-bems@contoso.com");
        assert!(!format!("{status:?}").contains("Svc-Pa55w.rd"));
        let Err(error) =
            directory_graph_authenticator(&credential_tenant(false), &transport, &graph)
        else {
            panic!("no Graph without modern authentication");
        };
        assert!(
            error.to_string().contains("modern_authentication"),
            "{error}"
        );
    }

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
