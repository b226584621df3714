//! The service's own rules: URLs, secrets, ids, certificates, entitlement, subscriptions,
//! and the service-wide sections.

use super::*;
use crate::{ApnsSettings, FcmSettings};
use bems_store::model::TenantId;

fn url(text: &str) -> Url {
    text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[test]
fn the_autodiscover_override_is_https() {
    let settings = tenant(
        "autodiscover_url_override = \"http://autodiscover.contoso.com/autodiscover/autodiscover.xml\"",
    );
    assert_problems(
        &settings,
        &[(
            "tenants[contoso].autodiscover_url_override",
            "must be an https URL",
        )],
    );
}

#[test]
fn the_connectivity_node_route_is_an_http_or_socks5_proxy() {
    for good in [
        "http://cn:3128",
        "socks5://cn.corp.contoso.com:1080",
        "socks5h://10.0.0.5:1080",
    ] {
        assert_problems(&tenant(&format!("connectivity_node_route = {good:?}")), &[]);
    }
    for (bad, words) in [
        ("https://cn:3128", "not https://"),
        ("http://user:secret@cn:3128", "carries credentials"),
        ("http://cn:3128/route", "just scheme://host:port"),
    ] {
        let settings = tenant(&format!("connectivity_node_route = {bad:?}"));
        assert_problems(
            &settings,
            &[("tenants[contoso].connectivity_node_route", words)],
        );
    }
}

#[test]
fn the_test_email_address_is_an_address() {
    assert_problems(&tenant("test_email_address = \"alice@contoso.com\""), &[]);
    assert_problems(
        &tenant("test_email_address = \"alice\""),
        &[(
            "tenants[contoso].test_email_address",
            "is not an email address",
        )],
    );
}

#[test]
fn there_is_a_tenant_and_tenant_ids_are_unique() {
    let mut settings = tenant("");
    let mut other = settings.tenants[0].clone();
    settings.tenants.push(other.clone());
    assert_problems(
        &settings,
        &[("tenants[contoso].id", "another tenant has the same id")],
    );
    other.id = TenantId::new("fabrikam").unwrap_or_else(|e| panic!("{e}"));
    settings.tenants[1] = other;
    assert_problems(&settings, &[]);
    settings.tenants.clear();
    assert_problems(&settings, &[("tenants", "at least one [[tenants]] table")]);
}

#[test]
fn a_secret_is_given_one_way_and_is_not_empty() {
    let settings = tenant("service_account_password_file = \"/run/secrets/contoso\"");
    assert_problems(
        &settings,
        &[(
            "tenants[contoso].service_account_password",
            "give only one of service_account_password, service_account_password_file and service_account_password_env",
        )],
    );
    let mut settings = tenant("");
    settings.tenants[0].service_account_password = Some("".into());
    assert_problems(
        &settings,
        &[("tenants[contoso].service_account_password", "is empty")],
    );
}

#[test]
fn secret_directories_are_named() {
    let mut settings = tenant("");
    settings.secrets.directories = vec!["/etc/bems".into(), "".into()];
    assert_problems(&settings, &[("secrets.directories", "an entry is empty")]);
}

#[test]
fn trusted_certificates_have_one_valid_pem_and_unique_names() {
    let settings = tenant(&format!("{AD_CERTIFICATE}{AD_CERTIFICATE}"));
    assert_problems(
        &settings,
        &[(
            "tenants[contoso].trusted_certificates[contoso-ad-ca].name",
            "another trusted certificate",
        )],
    );
    let mut settings = tenant(AD_CERTIFICATE);
    let certificate = &mut settings.tenants[0].trusted_certificates[0];
    certificate.pem_file = Some("/etc/bems/ad.pem".into());
    assert_problems(
        &settings,
        &[(
            "tenants[contoso].trusted_certificates[contoso-ad-ca]",
            "not both",
        )],
    );
    let certificate = &mut settings.tenants[0].trusted_certificates[0];
    certificate.pem = None;
    assert_problems(&settings, &[]);
    let certificate = &mut settings.tenants[0].trusted_certificates[0];
    certificate.pem_file = None;
    assert_problems(
        &settings,
        &[(
            "tenants[contoso].trusted_certificates[contoso-ad-ca]",
            "pem or pem_file",
        )],
    );
    let certificate = &mut settings.tenants[0].trusted_certificates[0];
    certificate.pem = Some("MIIB".into());
    certificate.name = String::new();
    assert_problems(
        &settings,
        &[
            (
                "tenants[contoso].trusted_certificates[0].name",
                "needs a name",
            ),
            (
                "tenants[contoso].trusted_certificates[0].pem",
                "holds no PEM certificate",
            ),
        ],
    );
}

#[test]
fn an_entitlement_list_lists_addresses_and_domains() {
    assert_problems(
        &tenant("[tenants.entitlement]\nmode = \"list\"\ndomains = \"contoso.com\""),
        &[],
    );
    // Listing no one is the seed's default (no one is entitled), not a broken rule.
    assert_problems(&tenant("[tenants.entitlement]\nmode = \"list\""), &[]);
    assert_problems(
        &tenant(
            "[tenants.entitlement]\nmode = \"list\"\nmailboxes = \"ceo\"\ndomains = \"contoso\"",
        ),
        &[
            (
                "tenants[contoso].entitlement.mailboxes",
                "\"ceo\" is not an email address",
            ),
            (
                "tenants[contoso].entitlement.domains",
                "\"contoso\" is not a mail domain",
            ),
        ],
    );
}

#[test]
fn push_subscriptions_need_the_public_url_and_timings_stay_in_range() {
    let mut settings = tenant("[tenants.subscription]\nmode = \"push\"");
    assert_problems(&settings, &[]);
    settings.server.public_url = None;
    assert_problems(
        &settings,
        &[(
            "tenants[contoso].subscription.mode",
            "need server.public_url",
        )],
    );
    let settings = tenant(
        "[tenants.subscription]\nstatus_frequency_minutes = 0\nconnection_timeout_minutes = 31\npull_interval_seconds = 3601",
    );
    assert_problems(
        &settings,
        &[
            (
                "tenants[contoso].subscription.status_frequency_minutes",
                "0 is outside 1-1440",
            ),
            (
                "tenants[contoso].subscription.connection_timeout_minutes",
                "31 is outside 1-30",
            ),
            (
                "tenants[contoso].subscription.pull_interval_seconds",
                "3601 is outside 1-3600",
            ),
        ],
    );
}

#[test]
fn the_public_url_is_https_except_on_loopback() {
    let mut settings = tenant("");
    for good in [
        "https://bems.contoso.com/bems/",
        "http://127.0.0.1:8443",
        "http://localhost:1",
    ] {
        settings.server.public_url = Some(url(good));
        assert_problems(&settings, &[]);
    }
    for (bad, words) in [
        ("http://bems.contoso.com", "must be an https URL"),
        ("https://bems.contoso.com/?tenant=1", "has a query"),
    ] {
        settings.server.public_url = Some(url(bad));
        assert_problems(&settings, &[("server.public_url", words)]);
    }
}

#[test]
fn tls_needs_both_certificate_and_key() {
    let mut settings = tenant("");
    settings.server.tls_cert_file = Some("/etc/bems/tls.crt".into());
    assert_problems(&settings, &[("server.tls_key_file", "both or neither")]);
    settings.server.tls_key_file = Some("/etc/bems/tls.key".into());
    assert_problems(&settings, &[]);
    settings.server.tls_cert_file = None;
    assert_problems(&settings, &[("server.tls_cert_file", "both or neither")]);
}

#[test]
fn a_postgres_store_needs_a_postgres_url_and_a_key_and_its_rule_never_quotes_the_url() {
    let mut settings = tenant("");
    settings.store.url = Some("mysql://bems:Secret-Pa55@db:3306/bems".into());
    settings.store.key = Some("ab".repeat(32).as_str().into());
    assert_problems(&settings, &[("store.url", "must be a PostgreSQL URL")]);
    assert!(
        problems(&settings)
            .iter()
            .all(|p| !p.to_string().contains("Secret-Pa55")),
        "the password stays out of the problem"
    );
    settings.store.url = Some("postgres://bems:Secret-Pa55@db:5432/bems".into());
    assert_problems(&settings, &[]);
    settings.store.key = None;
    assert_problems(&settings, &[("store.key", "the same on every node")]);
    settings.store.key_env = Some("STORE_KEY".into());
    settings.store.url_env = Some("STORE_URL".into());
    assert_problems(
        &settings,
        &[("store.url", "give only one of url, url_file and url_env")],
    );
}

#[test]
fn the_cluster_node_capacity_and_lease_are_bounded() {
    let mut settings = tenant("");
    settings.cluster.node = Some("bems 1/eu".into());
    settings.cluster.capacity = 0;
    settings.cluster.lease_seconds = 2;
    assert_problems(
        &settings,
        &[
            ("cluster.node", "bems 1/eu"),
            ("cluster.capacity", "1 to 1,000,000"),
            ("cluster.lease_seconds", "3 to 600"),
        ],
    );
    settings.cluster.node = Some("bems-1.eu_west".into());
    settings.cluster.capacity = 10_000;
    settings.cluster.lease_seconds = 600;
    assert_problems(&settings, &[]);
}

#[test]
fn the_store_key_is_required_for_passive_authentication_and_well_formed() {
    let mut settings = tenant(&format!(
        "authentication = \"passive\"\n[tenants.passive]\nauthority = \"https://login.microsoftonline.com/common\"\nclient_application_id = \"{GUID}\""
    ));
    assert_problems(
        &settings,
        &[("store.key", "tenant contoso uses passive authentication")],
    );
    settings.store.key_file = Some("/etc/bems/store.key".into());
    assert_problems(&settings, &[]);
    settings.store.key_file = None;
    settings.store.key = Some("not-a-key".into());
    assert_problems(
        &settings,
        &[("store.key", "64 hexadecimal digits or 32 bytes in base64")],
    );
    settings.store.key = Some("ab".repeat(32).as_str().into());
    assert_problems(&settings, &[]);
}

#[test]
fn the_admin_token_is_required_and_long() {
    let mut settings = tenant("");
    settings.admin.token_file = None;
    assert_problems(&settings, &[("admin.token", "bearer token is required")]);
    settings.admin.token = Some("short".into());
    assert_problems(&settings, &[("admin.token", "at least 32 characters")]);
    settings.admin.token = Some("x".repeat(MIN_ADMIN_TOKEN_LEN).as_str().into());
    assert_problems(&settings, &[]);
}

#[test]
fn a_push_provider_is_configured_completely() {
    let mut settings = tenant("");
    settings.push.fcm = None;
    assert_problems(&settings, &[("push", "no push provider")]);
    settings.push.apns = Some(ApnsSettings::default());
    assert_problems(
        &settings,
        &[
            ("push.apns.team_id", "10 letters or digits"),
            ("push.apns.key_id", "10 letters or digits"),
            ("push.apns.key_file", ".p8 file"),
            ("push.apns.topic", "bundle id"),
        ],
    );
    settings.push.apns = Some(ApnsSettings {
        endpoint: url("http://api.push.apple.com"),
        team_id: "ABCDE12345".into(),
        key_id: "KEY1234567".into(),
        key_file: Some("/etc/bems/AuthKey.p8".into()),
        topic: "com.contoso.mail".into(),
        ca_file: None,
    });
    assert_problems(&settings, &[("push.apns.endpoint", "must be an https URL")]);
    settings.push.apns = None;
    settings.push.fcm = Some(FcmSettings {
        token_url: Some(url("http://oauth.test/token")),
        ..FcmSettings::default()
    });
    assert_problems(
        &settings,
        &[
            ("push.fcm.service_account_file", "JSON key file is required"),
            ("push.fcm.token_url", "must be an https URL"),
        ],
    );
}

#[test]
fn falling_back_to_credentials_needs_modern_authentication() {
    let settings =
        tenant("[tenants.modern_authentication]\nuse_credentials_if_modern_auth_fails = true");
    assert_problems(
        &settings,
        &[(
            "tenants[contoso].modern_authentication.use_credentials_if_modern_auth_fails",
            "no effect unless modern authentication is enabled",
        )],
    );
}

#[test]
fn registration_is_complete_and_fetched_over_https() {
    assert_problems(&tenant(""), &[]);
    let partial = tenant("[tenants.registration]\nissuer = \"https://login.contoso.com\"\n");
    assert_problems(
        &partial,
        &[
            ("tenants[contoso].registration.audience", "is required"),
            ("tenants[contoso].registration.jwks_uri", "is required"),
        ],
    );
    let plain = tenant(
        "[tenants.registration]\nissuer = \"i\"\naudience = \"a\"\njwks_uri = \"http://login.contoso.com/keys\"\n",
    );
    assert_problems(
        &plain,
        &[("tenants[contoso].registration.jwks_uri", "https")],
    );
}
