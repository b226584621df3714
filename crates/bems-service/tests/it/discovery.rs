//! `discovery`, through its public API.

use bems_settings::ServiceSettings;
use bems_settings::TenantSettings;
use secrecy::ExposeSecret;
use url::Url;

use bems_service::discovery::*;

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
fn autodiscover_settings_carry_every_discovery_setting_and_scp() {
    let tenant = tenant(
        r#"
        allow_http_redirection_and_dns_srv = false
        connectivity_node_route = "socks5://cn.corp.contoso.com:1080"
        use_internal_ews_url = true
        scp_lookup = true
        scp_ssl = true
        scp_domain_controllers = "dc1.corp.contoso.com, dc2.corp.contoso.com:3269"
        "#,
    );
    let settings = autodiscover_settings(&tenant);
    assert_eq!(settings.override_url, None);
    assert!(!settings.allow_redirect_and_srv);
    assert!(settings.use_internal_ews_url);
    assert_eq!(
        settings.proxy.as_ref().map(Url::as_str),
        Some("socks5://cn.corp.contoso.com:1080")
    );
    assert_eq!(settings.trusted_ca_pem, [AD_PEM, EXCHANGE_PEM]);
    assert!(!settings.trusted_ca_only);
    let Some(scp) = settings.scp else {
        panic!("SCP lookup is on");
    };
    assert_eq!(
        scp.domain_controllers,
        ["dc1.corp.contoso.com", "dc2.corp.contoso.com:3269"]
    );
    assert!(scp.ldaps);
    assert!(!scp.starttls);
    assert_eq!(scp.bind_user.as_deref(), Some("CONTOSO\\svc-bems"));
    assert_eq!(
        scp.bind_password.as_ref().map(ExposeSecret::expose_secret),
        Some("Passw0rd!")
    );
    // The rest keeps the crate's defaults.
    let defaults = autodiscover::Settings::default();
    assert_eq!(
        settings.credential_allow_list,
        defaults.credential_allow_list
    );
    assert_eq!(settings.https_port, 443);
}

#[test]
fn autodiscover_settings_without_scp_keep_the_override_and_defaults() {
    let tenant = tenant(
        r#"autodiscover_url_override = "https://autodiscover.contoso.com/autodiscover/autodiscover.xml""#,
    );
    let settings = autodiscover_settings(&tenant);
    assert_eq!(
        settings.override_url.as_ref().map(Url::as_str),
        Some("https://autodiscover.contoso.com/autodiscover/autodiscover.xml")
    );
    assert!(settings.allow_redirect_and_srv);
    assert!(!settings.use_internal_ews_url);
    assert_eq!(settings.proxy, None);
    assert!(settings.scp.is_none());
}
