//! `[tenants.directory]` and `[tenants.follow_me]`: one test per rule, each naming its field.

use secrecy::ExposeSecret;

use super::*;
use crate::DirectoryBackendKind;

const LDAP: &str = "[tenants.directory]\nbackends = [\"ews\", \"ldap\"]\n\
                    [tenants.directory.ldap]\nservers = \"dc1.corp.contoso.com\"\n";

#[test]
fn directory_lookup_is_on_by_default_and_valid() {
    let settings = tenant("");
    let directory = &settings.tenants[0].directory;
    assert!(directory.enabled);
    assert_eq!(directory.backends, [DirectoryBackendKind::Ews]);
    assert!(settings.tenants[0].follow_me.enabled);
    assert_problems(&tenant(LDAP), &[]);
}

#[test]
fn an_enabled_directory_names_a_backend_once() {
    assert_problems(
        &tenant("[tenants.directory]\nbackends = []"),
        &[("tenants[contoso].directory.backends", "asks no backend")],
    );
    assert_problems(
        &tenant("[tenants.directory]\nenabled = false\nbackends = []"),
        &[],
    );
    assert_problems(
        &tenant("[tenants.directory]\nbackends = [\"ews\", \"ews\"]"),
        &[("tenants[contoso].directory.backends", "ews is named twice")],
    );
}

#[test]
fn the_graph_backend_needs_microsoft_365_and_modern_authentication() {
    assert_problems(
        &tenant("[tenants.directory]\nbackends = [\"graph\"]"),
        &[
            (
                "tenants[contoso].directory.backends",
                "microsoft365 or hybrid",
            ),
            (
                "tenants[contoso].directory.backends",
                "modern_authentication.enabled",
            ),
        ],
    );
    let mut hybrid = tenant(&format!(
        "{MODERN}[tenants.directory]\nbackends = [\"graph\"]"
    ));
    hybrid.tenants[0].exchange = ExchangeTarget::Hybrid;
    assert_problems(&hybrid, &[]);
    // Passive authentication's sign-in is redeemed for Graph too.
    let mut passive = tenant(&format!(
        "authentication = \"passive\"\n[tenants.passive]\n\
         authority = \"https://login.microsoftonline.com/common\"\n\
         client_application_id = \"{GUID}\"\n[tenants.directory]\nbackends = [\"graph\"]"
    ));
    passive.tenants[0].exchange = ExchangeTarget::Hybrid;
    passive.store.key_file = Some("/etc/bems/store.key".into());
    assert_problems(&passive, &[]);
}

#[test]
fn the_ldap_backend_needs_a_server_and_each_server_is_host_or_host_port() {
    assert_problems(
        &tenant("[tenants.directory]\nbackends = [\"ldap\"]"),
        &[(
            "tenants[contoso].directory.ldap.servers",
            "at least one server",
        )],
    );
    assert_problems(
        &tenant(&LDAP.replace("dc1.corp.contoso.com", "ldap://dc1")),
        &[("tenants[contoso].directory.ldap.servers", "is a URL")],
    );
}

#[test]
fn enable_ssl_ldap_needs_port_636_and_the_ca_chain() {
    let ssl = format!("{LDAP}ssl = true\n");
    assert_problems(
        &tenant(&ssl),
        &[("tenants[contoso].directory.ldap.ssl", "CA chain")],
    );
    assert_problems(&tenant(&format!("{ssl}{AD_CERTIFICATE}")), &[]);
    assert_problems(
        &tenant(&format!("{ssl}port = 389\n{AD_CERTIFICATE}")),
        &[("tenants[contoso].directory.ldap.port", "port 636")],
    );
    assert_problems(
        &tenant(&format!("{LDAP}port = 636\n")),
        &[("tenants[contoso].directory.ldap.port", "set ssl = true")],
    );
}

#[test]
fn query_templates_hold_the_key_and_are_ldap_filters() {
    assert_problems(
        &tenant(&format!("{LDAP}query_template = \"(mail=*)\"\n")),
        &[(
            "tenants[contoso].directory.ldap.query_template",
            "holds no {key}",
        )],
    );
    assert_problems(
        &tenant(&format!("{LDAP}query_template = \"(mail={{key}}\"\n")),
        &[(
            "tenants[contoso].directory.ldap.query_template",
            "not an LDAP filter",
        )],
    );
    assert_problems(
        &tenant(&format!(
            "{LDAP}photo_query_template = \"mail={{key}})(x=y\"\n"
        )),
        &[(
            "tenants[contoso].directory.ldap.photo_query_template",
            "not an LDAP filter",
        )],
    );
}

#[test]
fn the_base_dn_is_a_dn_or_empty() {
    assert_problems(
        &tenant(&format!("{LDAP}base_dn = \"DC=contoso,DC=com\"\n")),
        &[],
    );
    assert_problems(
        &tenant(&format!("{LDAP}base_dn = \"contoso.com\"\n")),
        &[("tenants[contoso].directory.ldap.base_dn", "a DN")],
    );
}

#[test]
fn a_bind_user_comes_with_its_password_and_the_password_with_its_user() {
    assert_problems(
        &tenant(&format!("{LDAP}bind_user = 'CONTOSO\\reader'\n")),
        &[(
            "tenants[contoso].directory.ldap.bind_password",
            "its password is required",
        )],
    );
    assert_problems(
        &tenant(&format!("{LDAP}bind_password = \"Reader-Pa55\"\n")),
        &[(
            "tenants[contoso].directory.ldap.bind_user",
            "without bind_user",
        )],
    );
    assert_problems(
        &tenant(&format!(
            "{LDAP}bind_user = 'CONTOSO\\reader'\nbind_password = \"p\"\nbind_password_env = \"X\"\n"
        )),
        &[(
            "tenants[contoso].directory.ldap.bind_password",
            "give only one of bind_password",
        )],
    );
}

#[test]
fn the_bind_password_is_redacted_in_debug_output() {
    let settings = tenant(&format!(
        "{LDAP}bind_user = 'CONTOSO\\reader'\nbind_password = \"Reader-Pa55w0rd\"\n"
    ));
    let shown = format!("{settings:?}");
    assert!(!shown.contains("Reader-Pa55w0rd"), "{shown}");
    assert!(
        shown.contains("bind_password"),
        "the field is shown, redacted"
    );
}

#[test]
fn directory_bounds_are_checked() {
    for (field, value, words) in [
        ("max_results", "0", "between 1 and 100"),
        ("max_results", "101", "between 1 and 100"),
        ("min_query_length", "0", "between 1 and 16"),
        ("max_photo_bytes", "100", "between 1024 and 4194304"),
        ("cache_ttl_seconds", "86401", "between 0 and 86400"),
        ("timeout_seconds", "0", "between 1 and 120"),
    ] {
        let settings = tenant(&format!("[tenants.directory]\n{field} = {value}\n"));
        let field = format!("tenants[contoso].directory.{field}");
        assert_problems(&settings, &[(&field, words)]);
    }
}

#[test]
fn the_graph_base_url_is_an_https_origin() {
    assert_problems(
        &tenant("[tenants.directory.graph]\nbase_url = \"https://graph.microsoft.com/v1.0\""),
        &[(
            "tenants[contoso].directory.graph.base_url",
            "without a path",
        )],
    );
}

#[test]
fn follow_me_bounds_are_checked() {
    assert_problems(
        &tenant("[tenants.follow_me]\nmax_document_bytes = 0"),
        &[(
            "tenants[contoso].follow_me.max_document_bytes",
            "between 1 and 1048576",
        )],
    );
    assert_problems(
        &tenant("[tenants.follow_me]\nmax_documents = 1001"),
        &[(
            "tenants[contoso].follow_me.max_documents",
            "between 1 and 1000",
        )],
    );
}

#[test]
fn alert_settings_default_to_no_content_and_keep_their_bounds() {
    let alerts = &tenant("").tenants[0].alerts;
    assert_eq!(alerts.content, crate::AlertContent::None);
    assert!(alerts.rules && !alerts.sealed_only);
    assert_eq!(alerts.details_timeout_ms, 500);
    let chosen = tenant("[tenants.alerts]\ncontent = \"sender_and_subject\"\nsealed_only = true");
    assert_eq!(
        chosen.tenants[0].alerts.content,
        crate::AlertContent::SenderAndSubject
    );
    assert!(chosen.tenants[0].alerts.sealed_only);
    assert_problems(
        &tenant("[tenants.alerts]\ndetails_timeout_ms = 10"),
        &[(
            "tenants[contoso].alerts.details_timeout_ms",
            "between 50 and 5000",
        )],
    );
    assert_problems(
        &tenant("[tenants.alerts]\ndetails_per_second = 0"),
        &[(
            "tenants[contoso].alerts.details_per_second",
            "between 1 and 10000",
        )],
    );
    let mut settings = tenant("");
    settings
        .apply_env([("BEMS_TENANTS__CONTOSO__ALERTS__CONTENT", "sender")])
        .unwrap();
    assert_eq!(
        settings.tenants[0].alerts.content,
        crate::AlertContent::Sender
    );
    assert!(
        settings
            .apply_env([("BEMS_TENANTS__CONTOSO__ALERTS__CONTENT", "everything")])
            .is_err()
    );
}

#[test]
fn directory_settings_are_set_from_the_environment() {
    let mut settings = tenant(LDAP);
    settings
        .apply_env([
            ("BEMS_TENANTS__CONTOSO__DIRECTORY__BACKENDS", "ldap,ews"),
            ("BEMS_TENANTS__CONTOSO__DIRECTORY__LDAP__SSL", "true"),
            (
                "BEMS_TENANTS__CONTOSO__DIRECTORY__LDAP__BIND_USER",
                "reader",
            ),
            (
                "BEMS_TENANTS__CONTOSO__DIRECTORY__LDAP__BIND_PASSWORD_ENV",
                "LDAP_PW",
            ),
            ("LDAP_PW", "from-the-env"),
            ("BEMS_TENANTS__CONTOSO__FOLLOW_ME__MAX_DOCUMENTS", "5"),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
    let tenant = &settings.tenants[0];
    assert_eq!(
        tenant.directory.backends,
        [DirectoryBackendKind::Ldap, DirectoryBackendKind::Ews]
    );
    assert!(tenant.directory.ldap.ssl);
    let password = tenant.directory.ldap.bind_password.as_ref();
    assert_eq!(
        password.map(ExposeSecret::expose_secret),
        Some("from-the-env")
    );
    assert_eq!(tenant.follow_me.max_documents, 5);
    let error = settings
        .apply_env([("BEMS_TENANTS__CONTOSO__DIRECTORY__LDAP__COLOUR", "blue")])
        .unwrap_err();
    assert_eq!(
        error.problems()[0].field,
        "BEMS_TENANTS__CONTOSO__DIRECTORY__LDAP__COLOUR"
    );
}

#[test]
fn the_admin_api_refuses_an_inline_bind_password() {
    let id = bems_store::model::TenantId::new("contoso").unwrap_or_else(|e| panic!("{e}"));
    let body = "id = \"contoso\"\nexchange = \"on_premises\"\n\
                [tenants.directory.ldap]\nbind_user = \"reader\"\nbind_password = \"inline\"\n";
    let error = crate::tenant_from_admin(&id, body).unwrap_err();
    assert_eq!(
        error.problems()[0].field,
        "tenants[contoso].directory.ldap.bind_password"
    );
}
