//! The rules of the seed page, "Configure email notifications for BlackBerry Work".

use super::*;

#[test]
fn microsoft365_with_credential_requires_modern_authentication() {
    let settings = ServiceSettings::from_toml_str(
        &VALID
            .replace("exchange = \"on_premises\"", "exchange = \"microsoft365\"")
            .replace("'CONTOSO\\svc-bems'", "\"svc-bems@contoso.com\""),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_problems(
        &settings,
        &[(
            "tenants[contoso].modern_authentication.enabled",
            "Credential authentication to Microsoft 365 requires modern authentication",
        )],
    );
    let mut enabled = settings.clone();
    enabled.tenants[0].modern_authentication =
        tenant(MODERN).tenants[0].modern_authentication.clone();
    assert_problems(&enabled, &[]);
    // On-premises Exchange takes Basic authentication.
    assert_problems(&tenant(""), &[]);
}

#[test]
fn the_username_format_follows_the_exchange_target() {
    let mut settings = tenant(MODERN);
    settings.tenants[0].exchange = ExchangeTarget::Microsoft365;
    assert_problems(
        &settings,
        &[(
            "tenants[contoso].service_account_username",
            "Microsoft 365 needs a user principal name",
        )],
    );
    settings.tenants[0].service_account_username = Some("svc-bems@contoso.com".into());
    assert_problems(&settings, &[]);
    for target in [ExchangeTarget::OnPremises, ExchangeTarget::Hybrid] {
        settings.tenants[0].exchange = target;
        assert_problems(&settings, &[]);
        settings.tenants[0].service_account_username = Some("svc-bems".into());
        assert_problems(
            &settings,
            &[("tenants[contoso].service_account_username", "DOMAIN\\user")],
        );
        settings.tenants[0].service_account_username = Some("svc-bems@contoso.com".into());
    }
}

#[test]
fn falling_back_to_credentials_requires_the_service_account() {
    let certificate = r#"
        authentication = "client_certificate"
        [tenants.client_certificate]
        pfx_file = "/etc/bems/contoso.pfx"
        password = "pfx"
    "#;
    let mut settings = tenant(&format!("{certificate}{MODERN}"));
    settings.tenants[0].service_account_username = None;
    settings.tenants[0].service_account_password = None;
    assert_problems(&settings, &[]);
    settings.tenants[0]
        .modern_authentication
        .use_credentials_if_modern_auth_fails = true;
    assert_problems(
        &settings,
        &[
            (
                "tenants[contoso].service_account_username",
                "\"use credentials if modern authentication fails\" needs the service account's username",
            ),
            (
                "tenants[contoso].service_account_password",
                "\"use credentials if modern authentication fails\" needs the service account's password",
            ),
        ],
    );
}

#[test]
fn modern_authentication_requires_authority_client_id_and_server_name() {
    let mut settings = tenant("[tenants.modern_authentication]\nenabled = true");
    assert_problems(
        &settings,
        &[
            (
                "tenants[contoso].modern_authentication.authority",
                "needs the authentication authority",
            ),
            (
                "tenants[contoso].modern_authentication.client_application_id",
                "needs the client application id",
            ),
        ],
    );
    let modern = &mut settings.tenants[0].modern_authentication;
    modern.authority = Some(
        "http://login.microsoftonline.com/contoso"
            .parse()
            .unwrap_or_else(|e| panic!("{e}")),
    );
    modern.client_application_id = Some("my-app".into());
    modern.server_name = "https://outlook.office365.com/EWS/Exchange.asmx"
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_problems(
        &settings,
        &[
            (
                "tenants[contoso].modern_authentication.authority",
                "must be an https URL",
            ),
            (
                "tenants[contoso].modern_authentication.client_application_id",
                "a GUID",
            ),
            (
                "tenants[contoso].modern_authentication.server_name",
                "without a path",
            ),
        ],
    );
    let modern = &mut settings.tenants[0].modern_authentication;
    modern.authority = Some(
        "https://login.microsoftonline.com"
            .parse()
            .unwrap_or_else(|e| panic!("{e}")),
    );
    modern.client_application_id = Some(GUID.into());
    modern.server_name = "https://outlook.office365.com"
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_problems(
        &settings,
        &[(
            "tenants[contoso].modern_authentication.authority",
            "must name the directory",
        )],
    );
}

#[test]
fn the_internal_ews_url_requires_the_connectivity_node_route() {
    let settings = tenant("use_internal_ews_url = true");
    assert_problems(
        &settings,
        &[(
            "tenants[contoso].use_internal_ews_url",
            "requires the Connectivity Node route",
        )],
    );
    let routed =
        tenant("use_internal_ews_url = true\nconnectivity_node_route = \"http://cn:3128\"");
    assert_problems(&routed, &[]);
}

#[test]
fn the_internal_ews_url_is_not_available_with_modern_authentication() {
    let settings = tenant(&format!(
        "use_internal_ews_url = true\nconnectivity_node_route = \"http://cn:3128\"\n{MODERN}"
    ));
    assert_problems(
        &settings,
        &[(
            "tenants[contoso].use_internal_ews_url",
            "not available when modern authentication is enabled",
        )],
    );
}

const SCP: &str = r#"
scp_lookup = true
connectivity_node_route = "socks5://cn.corp.contoso.com:1080"
scp_domain_controllers = "dc1.corp.contoso.com,dc2.corp.contoso.com"
"#;

#[test]
fn scp_lookup_requires_credential_authentication() {
    assert_problems(&tenant(SCP), &[]);
    let mut settings = tenant(SCP);
    settings.tenants[0].authentication = AuthenticationType::ClientCertificate;
    settings.tenants[0].client_certificate.pfx_file = Some("/etc/bems/c.pfx".into());
    settings.tenants[0].client_certificate.password = Some("pfx".into());
    assert_problems(
        &settings,
        &[(
            "tenants[contoso].scp_lookup",
            "requires Credential authentication",
        )],
    );
}

#[test]
fn scp_lookup_requires_the_connectivity_node_route() {
    let mut settings = tenant(SCP);
    settings.tenants[0].connectivity_node_route = None;
    assert_problems(
        &settings,
        &[(
            "tenants[contoso].scp_lookup",
            "requires the Connectivity Node route",
        )],
    );
}

#[test]
fn scp_lookup_is_not_available_with_an_autodiscover_url_override() {
    let settings = tenant(&format!(
        "{SCP}autodiscover_url_override = \"https://autodiscover.contoso.com/autodiscover/autodiscover.xml\""
    ));
    assert_problems(
        &settings,
        &[(
            "tenants[contoso].scp_lookup",
            "not available when an Autodiscover URL override is set",
        )],
    );
}

#[test]
fn ssl_for_scp_requires_scp_lookup() {
    let settings = tenant(&format!("scp_ssl = true\n{AD_CERTIFICATE}"));
    assert_problems(
        &settings,
        &[("tenants[contoso].scp_ssl", "requires SCP lookup")],
    );
}

#[test]
fn ssl_for_scp_requires_the_active_directory_certificate() {
    assert_problems(
        &tenant(&format!("{SCP}scp_ssl = true\n{AD_CERTIFICATE}")),
        &[],
    );
    let exchange_only = AD_CERTIFICATE.replace("\"active_directory\"", "\"exchange\"");
    let settings = tenant(&format!("{SCP}scp_ssl = true\n{exchange_only}"));
    assert_problems(
        &settings,
        &[(
            "tenants[contoso].scp_ssl",
            "requires the Active Directory SSL certificate",
        )],
    );
}

#[test]
fn scp_lookup_requires_a_domain_controller() {
    let settings = tenant(&SCP.replace("dc1.corp.contoso.com,dc2.corp.contoso.com", ""));
    assert_problems(
        &settings,
        &[(
            "tenants[contoso].scp_domain_controllers",
            "at least one domain controller",
        )],
    );
}

#[test]
fn domain_controllers_are_host_names() {
    let settings = tenant(&SCP.replace("dc2.corp.contoso.com", "ldap://dc2.corp.contoso.com"));
    assert_problems(
        &settings,
        &[(
            "tenants[contoso].scp_domain_controllers",
            "is a URL: give host or host:port",
        )],
    );
    let settings = tenant(&SCP.replace("dc2.corp.contoso.com", "dc2.corp.contoso.com:636"));
    assert_problems(&settings, &[]);
    let settings = tenant(&SCP.replace("dc2.corp.contoso.com", "dc2_corp"));
    assert_problems(
        &settings,
        &[(
            "tenants[contoso].scp_domain_controllers",
            "\"dc2_corp\" is not a host name",
        )],
    );
}

#[test]
fn client_certificate_requires_the_pfx_file_and_its_password() {
    let mut settings = tenant("authentication = \"client_certificate\"");
    settings.tenants[0].service_account_username = None;
    settings.tenants[0].service_account_password = None;
    assert_problems(
        &settings,
        &[
            (
                "tenants[contoso].client_certificate.pfx_file",
                "needs the certificate file (.pfx)",
            ),
            (
                "tenants[contoso].client_certificate.password",
                "needs the .pfx file's password",
            ),
        ],
    );
    settings.tenants[0].client_certificate.pfx_file = Some("/etc/bems/c.pfx".into());
    settings.tenants[0].client_certificate.password_file = Some("/run/secrets/pfx".into());
    assert_problems(&settings, &[]);
}

#[test]
fn passive_requires_authority_client_id_server_name_and_public_url() {
    let mut settings = tenant("authentication = \"passive\"");
    settings.store.key = Some(SecretString::from("a".repeat(64)));
    settings.tenants[0].passive.server_name = "https://outlook.office365.com/ews"
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_problems(
        &settings,
        &[
            (
                "tenants[contoso].passive.authority",
                "passive authentication needs the authentication authority",
            ),
            (
                "tenants[contoso].passive.client_application_id",
                "passive authentication needs the client application id",
            ),
            ("tenants[contoso].passive.server_name", "without a path"),
        ],
    );
    let passive = &mut settings.tenants[0].passive;
    passive.authority = Some(
        "https://login.microsoftonline.com/common"
            .parse()
            .unwrap_or_else(|e| panic!("{e}")),
    );
    passive.client_application_id = Some(GUID.into());
    passive.server_name = "https://outlook.office365.com"
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_problems(&settings, &[]);
    settings.tenants[0].passive.sign_in_lifetime_days = 0;
    assert_problems(
        &settings,
        &[(
            "tenants[contoso].passive.sign_in_lifetime_days",
            "at least 1",
        )],
    );
    settings.tenants[0].passive.sign_in_lifetime_days = 90;
    settings.server.public_url = None;
    assert_problems(
        &settings,
        &[(
            "tenants[contoso].authentication",
            "redirect URI is made from server.public_url",
        )],
    );
}

#[test]
fn credential_requires_the_username_and_password() {
    let mut settings = tenant("");
    settings.tenants[0].service_account_username = None;
    settings.tenants[0].service_account_password = None;
    assert_problems(
        &settings,
        &[
            (
                "tenants[contoso].service_account_username",
                "Credential authentication needs the service account's username",
            ),
            (
                "tenants[contoso].service_account_password",
                "Credential authentication needs the service account's password",
            ),
        ],
    );
    settings.tenants[0].service_account_username = Some("svc@contoso.com".into());
    settings.tenants[0].service_account_password_env = Some("CONTOSO_PASSWORD".into());
    assert_problems(&settings, &[]);
}
