use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};

use super::*;

const EXAMPLE: &str = include_str!("../config/bems.example.toml");
const FULL: &str = include_str!("fixtures/full.toml");

fn example_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/bems.example.toml")
}

#[test]
fn the_example_file_loads_and_validates() {
    let mut settings =
        ServiceSettings::from_file(&example_path()).unwrap_or_else(|e| panic!("{e}"));
    settings.validate().unwrap_or_else(|e| panic!("{e}"));
    let tenant = &settings.tenants[0];
    assert_eq!(tenant.id.as_str(), "contoso");
    assert!(tenant.scp_lookup && tenant.scp_ssl);
    // It shows how entitlement is granted (no one is entitled without it) and where secret
    // files may be.
    assert!(tenant.entitlement.allows("alice@contoso.com"));
    assert!(!tenant.entitlement.allows("eve@example.com"));
    assert_eq!(
        settings.secrets.directories,
        [PathBuf::from("/etc/bems"), PathBuf::from("/run/secrets")]
    );
    assert_eq!(tenant.scp_domain_controllers.as_slice().len(), 2);
    settings
        .apply_env([("BEMS_CONTOSO_SVC_PASSWORD", "Passw0rd!")])
        .unwrap_or_else(|e| panic!("{e}"));
    let password = settings.tenants[0].service_account_password.as_ref();
    assert_eq!(password.map(ExposeSecret::expose_secret), Some("Passw0rd!"));
}

#[test]
fn the_example_microsoft365_tenant_validates_once_uncommented() {
    let (head, tail) = EXAMPLE
        .split_once("# To add it, remove the leading \"# \"")
        .unwrap_or_else(|| panic!("the example lost its Microsoft 365 tenant"));
    let uncommented: String = tail
        .lines()
        .skip(1)
        .map(|line| {
            line.strip_prefix("# ")
                .unwrap_or(line.trim_start_matches('#'))
        })
        .collect::<Vec<_>>()
        .join("\n");
    let settings = ServiceSettings::from_toml_str(&format!("{head}\n{uncommented}"))
        .unwrap_or_else(|e| panic!("{e}"));
    settings.validate().unwrap_or_else(|e| panic!("{e}"));
    let fabrikam = &settings.tenants[1];
    assert_eq!(fabrikam.exchange, ExchangeTarget::Microsoft365);
    assert!(fabrikam.modern_authentication.enabled);
    assert!(
        fabrikam.graph.enabled,
        "the example shows \"use Microsoft Graph\""
    );
    assert_eq!(fabrikam.entitlement.describe(), "all mailboxes");
}

#[test]
fn unknown_keys_are_refused_with_their_name_and_position() {
    let text = "[server]\nlisten = \"127.0.0.1:8443\"\ncolour = \"blue\"\n";
    let error = ServiceSettings::from_toml_str(text).unwrap_err();
    let SettingsError::Parse {
        line,
        column,
        message,
        ..
    } = &error
    else {
        panic!("{error}");
    };
    assert_eq!((*line, *column), (Some(3), Some(1)));
    assert!(message.contains("unknown field `colour`"), "{message}");

    let text = "[[tenants]]\nid = \"contoso\"\nexchange = \"on_premises\"\n\
                [tenants.modern_authentication]\n  enable = true\n";
    let error = ServiceSettings::from_toml_str(text)
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("settings:5:3: unknown field `enable`"),
        "{error}"
    );
}

#[test]
fn bad_values_are_refused_with_their_position() {
    for (text, position, words) in [
        (
            "[[tenants]]\nid = \"con toso\"\nexchange = \"hybrid\"",
            "2:6",
            "not a tenant id",
        ),
        (
            "[[tenants]]\nid = \"contoso\"\nexchange = \"cloud\"",
            "3:12",
            "unknown variant `cloud`",
        ),
        (
            "[[tenants]]\nid = \"contoso\"\nexchange = \"hybrid\"\nscp_domain_controllers = \"a,,b\"",
            "4:26",
            "entry 2 of the list is empty",
        ),
        (
            "[server]\nlisten = \"localhost\"",
            "2:10",
            "invalid socket address",
        ),
        (
            "[[tenants]]\nid = \"contoso\"",
            "1:1",
            "missing field `exchange`",
        ),
    ] {
        let error = ServiceSettings::from_toml_str(text)
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with(&format!("settings:{position}: ")),
            "{error}"
        );
        assert!(error.contains(words), "{error}");
    }
}

#[test]
fn file_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("bems.toml");
    let error = ServiceSettings::from_file(&path).unwrap_err().to_string();
    assert!(
        error.starts_with(&format!("cannot read settings file {}", path.display())),
        "{error}"
    );
    std::fs::write(&path, "[server]\nlisten = 8443\n").unwrap_or_else(|e| panic!("{e}"));
    let error = ServiceSettings::from_file(&path).unwrap_err().to_string();
    assert!(
        error.starts_with(&format!("{}:2:10: ", path.display())),
        "{error}"
    );
}

#[test]
fn debug_output_holds_no_secret() {
    let mut settings = ServiceSettings::from_toml_str(FULL).unwrap_or_else(|e| panic!("{e}"));
    let store_key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    let admin_token = "admin-token-0123456789abcdef0123456789";
    // The result's problems are the unset variables the fixture's tenants name.
    let _ = settings.apply_env([
        ("BEMS_STORE_KEY", store_key),
        ("BEMS_ADMIN_TOKEN", admin_token),
        ("FABRIKAM_PASSWORD", "fabrikam-service-password"),
        ("FABRIKAM_PFX_PASSWORD", "fabrikam-pfx-password"),
        ("FABRIKAM_CLIENT_SECRET", "fabrikam-client-secret"),
    ]);
    let secrets = [
        store_key,
        admin_token,
        "inline-service-password",
        "inline-pfx-password",
        "inline-client-secret",
        "fabrikam-service-password",
        "fabrikam-pfx-password",
        "fabrikam-client-secret",
    ];
    let fabrikam = &settings.tenants[2];
    assert!(fabrikam.service_account_password.is_some());
    assert!(fabrikam.client_certificate.password.is_some());
    assert!(fabrikam.passive.client_secret.is_some());
    assert!(settings.store.key.is_some() && settings.admin.token.is_some());
    for text in [format!("{settings:?}"), format!("{settings:#?}")] {
        for secret in secrets {
            assert!(!text.contains(secret), "Debug shows {secret}");
        }
        assert!(
            text.contains("[REDACTED]"),
            "secrets are shown as secrecy redacts them"
        );
    }
}

#[test]
fn load_reads_files_and_reports_every_problem_at_once() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
        path
    };
    let token = write("admin.token", "0123456789abcdef0123456789abcdef\n");
    let password = write("password", "Passw0rd!\r\n");
    let pem = write(
        "ad.pem",
        "-----BEGIN CERTIFICATE-----\nQUQ=\n-----END CERTIFICATE-----\n",
    );
    let fcm = write("fcm.json", "{}");
    let text = format!(
        r#"
        [admin]
        token_file = {token:?}
        [push.fcm]
        service_account_file = {fcm:?}
        [[tenants]]
        id = "contoso"
        exchange = "on_premises"
        service_account_username = 'CONTOSO\svc-bems'
        service_account_password_file = {password:?}
        [[tenants.trusted_certificates]]
        name = "ad"
        purpose = "active_directory"
        pem_file = {pem:?}
        "#
    );
    let config = write("bems.toml", &text);
    let settings = ServiceSettings::load(&config).unwrap_or_else(|e| panic!("{e}"));
    let tenant = &settings.tenants[0];
    let secret = |s: &Option<SecretString>| s.as_ref().map(|s| s.expose_secret().to_owned());
    assert_eq!(
        secret(&tenant.service_account_password).as_deref(),
        Some("Passw0rd!")
    );
    assert_eq!(tenant.service_account_password_file, None);
    assert_eq!(
        secret(&settings.admin.token).as_deref(),
        Some("0123456789abcdef0123456789abcdef")
    );
    assert!(
        tenant.trusted_certificates[0]
            .pem
            .as_deref()
            .is_some_and(|p| p.contains("QUQ="))
    );
    assert_eq!(tenant.trusted_pems(|_| true).len(), 1);

    std::fs::remove_file(&password).unwrap_or_else(|e| panic!("{e}"));
    let broken = text.replace(
        "[[tenants.trusted_certificates]]",
        "scp_ssl = true\n[[tenants.trusted_certificates]]",
    );
    write("bems.toml", &broken);
    let error = ServiceSettings::load(&config).unwrap_err();
    let fields: Vec<&str> = error.problems().iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "tenants[contoso].service_account_password_file",
            "tenants[contoso].scp_ssl",
        ],
        "{error}"
    );
}

#[test]
fn tenants_are_found_by_id() {
    let settings = ServiceSettings::from_toml_str(FULL).unwrap_or_else(|e| panic!("{e}"));
    let id = TenantId::new("contoso-eu").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        settings.tenant(&id).map(|t| t.exchange),
        Some(ExchangeTarget::Microsoft365)
    );
    let other = TenantId::new("nobody").unwrap_or_else(|e| panic!("{e}"));
    assert!(settings.tenant(&other).is_none());
}
