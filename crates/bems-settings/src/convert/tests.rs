use super::*;
use crate::ServiceSettings;

const AD_PEM: &str = "-----BEGIN CERTIFICATE-----\nQUQ=\n-----END CERTIFICATE-----\n";
const EXCHANGE_PEM: &str = "-----BEGIN CERTIFICATE-----\nRVg=\n-----END CERTIFICATE-----\n";

fn tenant(extra: &str) -> TenantSettings {
    let text = format!(
        r#"
        [[tenants]]
        id = "contoso"
        exchange = "on_premises"
        service_account_username = 'CONTOSO\svc-bems'
        service_account_password = "Passw0rd!"
        {extra}
        [[tenants.trusted_certificates]]
        name = "ad"
        purpose = "active_directory"
        pem = {AD_PEM:?}
        [[tenants.trusted_certificates]]
        name = "exchange"
        purpose = "exchange"
        pem = {EXCHANGE_PEM:?}
        "#
    );
    let settings = ServiceSettings::from_toml_str(&text).unwrap_or_else(|e| panic!("{e}"));
    settings
        .tenants
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no tenant"))
}

#[test]
fn the_transport_trusts_the_exchange_cas_and_uses_the_route() {
    let transport = tenant(r#"connectivity_node_route = "http://cn:3128""#).transport();
    assert_eq!(transport.trusted_ca_pem, [EXCHANGE_PEM]);
    assert!(!transport.trusted_ca_only);
    assert_eq!(
        transport.proxy.as_ref().map(Url::as_str),
        Some("http://cn:3128/")
    );
    assert_eq!(tenant("").transport().proxy, None);
}

#[test]
fn the_username_target_follows_the_exchange() {
    let mut tenant = tenant("");
    for (exchange, target) in [
        (ExchangeTarget::OnPremises, Target::OnPremises),
        (ExchangeTarget::Microsoft365, Target::Microsoft365),
        (ExchangeTarget::Hybrid, Target::Hybrid),
    ] {
        tenant.exchange = exchange;
        assert_eq!(tenant.username_target(), target);
    }
}

#[test]
fn modern_auth_comes_from_the_table_the_authentication_uses() {
    let modern = r#"
        [tenants.modern_authentication]
        enabled = true
        authority = "https://login.microsoftonline.com/contoso.onmicrosoft.com"
        client_application_id = "1b730954-1685-4b74-9bfd-dac224a7b894"
        [tenants.passive]
        authority = "https://login.microsoftonline.com/common"
        client_application_id = "2c1a7e0f-9d63-4c1b-8f0a-6f3e2b9d1c44"
        server_name = "https://mail.contoso.com"
    "#;
    let mut tenant = tenant(modern);
    let Some(config) = tenant.modern_auth() else {
        panic!("modern authentication is enabled");
    };
    assert_eq!(
        config.authority.as_str(),
        "https://login.microsoftonline.com/contoso.onmicrosoft.com"
    );
    assert_eq!(config.client_id, "1b730954-1685-4b74-9bfd-dac224a7b894");
    assert_eq!(config.resource(), "https://outlook.office365.com");

    tenant.authentication = AuthenticationType::Passive;
    let Some(config) = tenant.modern_auth() else {
        panic!("passive authentication");
    };
    assert_eq!(config.client_id, "2c1a7e0f-9d63-4c1b-8f0a-6f3e2b9d1c44");
    assert_eq!(config.resource(), "https://mail.contoso.com");
    assert_eq!(
        config.delegated_scope(),
        "https://mail.contoso.com/EWS.AccessAsUser.All"
    );

    tenant.authentication = AuthenticationType::Credential;
    tenant.modern_authentication.enabled = false;
    assert_eq!(tenant.modern_auth(), None);
}

#[test]
fn the_redirect_uri_is_derived_from_the_public_url_and_the_tenant() {
    let tenant = tenant("");
    for (public, expected) in [
        (
            "https://bems.contoso.com",
            "https://bems.contoso.com/oauth/contoso/callback",
        ),
        (
            "https://bems.contoso.com:8443/",
            "https://bems.contoso.com:8443/oauth/contoso/callback",
        ),
        (
            "https://contoso.com/bems/",
            "https://contoso.com/bems/oauth/contoso/callback",
        ),
        (
            "https://contoso.com/bems?x=1#y",
            "https://contoso.com/bems/oauth/contoso/callback",
        ),
    ] {
        let public = Url::parse(public).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            tenant.redirect_uri(&public).as_ref().map(Url::as_str),
            Some(expected)
        );
    }
}
