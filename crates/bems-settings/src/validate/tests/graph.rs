//! `[tenants.graph]`: Microsoft 365 only, modern authentication, app-only credentials, an
//! https webhook.

use secrecy::ExposeSecret;

use super::*;

/// A Microsoft 365 tenant on Graph with a client secret.
fn graph(tenant: &str, public_url: &str) -> ServiceSettings {
    let text = format!(
        r#"
[server]
public_url = "{public_url}"

[admin]
token_file = "/etc/bems/admin.token"

[push.fcm]
service_account_file = "/etc/bems/fcm.json"

[[tenants]]
id = "contoso"
{tenant}
"#
    );
    ServiceSettings::from_toml_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

const M365: &str = r#"
exchange = "microsoft365"
authentication = "client_certificate"
[tenants.client_certificate]
pfx_file = "/etc/bems/app.pfx"
password = "pfx-password"
[tenants.modern_authentication]
enabled = true
authority = "https://login.microsoftonline.com/contoso.onmicrosoft.com"
client_application_id = "1b730954-1685-4b74-9bfd-dac224a7b894"
[tenants.graph]
enabled = true
"#;

#[test]
fn a_microsoft_365_tenant_with_app_credentials_may_use_graph() {
    assert_problems(&graph(M365, "https://bems.contoso.com"), &[]);
    let secret = M365
        .replace("authentication = \"client_certificate\"", "authentication = \"credential\"\nservice_account_username = \"svc@contoso.com\"\nservice_account_password = \"pw\"")
        + "client_secret = \"app-secret\"\n";
    assert_problems(&graph(&secret, "https://bems.contoso.com"), &[]);
}

#[test]
fn graph_reaches_exchange_online_only_with_modern_authentication() {
    let on_premises = M365.replace("microsoft365", "on_premises");
    assert_problems(
        &graph(&on_premises, "https://bems.contoso.com"),
        &[("tenants[contoso].graph.enabled", "Exchange Online")],
    );
    let modern_off = M365.replacen("enabled = true", "enabled = false", 1);
    assert_problems(
        &graph(&modern_off, "https://bems.contoso.com"),
        &[
            (
                "tenants[contoso].modern_authentication.enabled",
                "Microsoft Graph needs modern",
            ),
            // Client Certificate without modern authentication is TLS: no Entra app either.
        ],
    );
}

#[test]
fn graph_needs_app_only_credentials() {
    let credential = M365.replace(
        "authentication = \"client_certificate\"",
        "authentication = \"credential\"\nservice_account_username = \"svc@contoso.com\"\nservice_account_password = \"pw\"",
    );
    assert_problems(
        &graph(&credential, "https://bems.contoso.com"),
        &[("tenants[contoso].graph.client_secret", "app-only")],
    );
}

#[test]
fn graph_calls_an_https_webhook() {
    assert_problems(
        &graph(M365, "http://127.0.0.1:8443"),
        &[("tenants[contoso].graph.notification_url", "https only")],
    );
    let proxied = format!("{M365}notification_url = \"https://proxy.contoso.com/graph/contoso\"\n");
    assert_problems(&graph(&proxied, "http://127.0.0.1:8443"), &[]);
    let plain = format!("{M365}notification_url = \"http://proxy.contoso.com/graph\"\n");
    assert_problems(
        &graph(&plain, "https://bems.contoso.com"),
        &[("tenants[contoso].graph.notification_url", "https")],
    );
    let batch = format!("{M365}migration_batch = 0\n");
    assert_problems(
        &graph(&batch, "https://bems.contoso.com"),
        &[("tenants[contoso].graph.migration_batch", "outside 1-1000")],
    );
}

#[test]
fn the_graph_secret_comes_from_the_environment_and_an_override_enables_graph() {
    let mut settings = graph(M365, "https://bems.contoso.com");
    settings.tenants[0].graph.enabled = false;
    settings
        .apply_env([
            ("BEMS_TENANTS__CONTOSO__GRAPH__ENABLED", "true"),
            (
                "BEMS_TENANTS__CONTOSO__GRAPH__CLIENT_SECRET_ENV",
                "GRAPH_SECRET",
            ),
            ("GRAPH_SECRET", "s3cret"),
        ])
        .expect("overrides apply");
    let graph = &settings.tenants[0].graph;
    assert!(graph.enabled);
    assert_eq!(
        graph
            .client_secret
            .as_ref()
            .map(|s| s.expose_secret().to_owned()),
        Some("s3cret".into())
    );
    assert!(!format!("{graph:?}").contains("s3cret"));
}
