//! One test per rule, each asserting the field the problem names; the seed page's rules in
//! `seed`, the service's own in `sanity`.

mod directory;
mod graph;
mod sanity;
mod seed;

use super::*;
use crate::Problem;
use crate::{AuthenticationType, ExchangeTarget, PushSettings};

/// A valid on-premises tenant with Credential authentication; `extra` is appended to the
/// tenant's table (keys, then its sub-tables).
const VALID: &str = r#"
[server]
public_url = "https://bems.contoso.com"

[admin]
token_file = "/etc/bems/admin.token"

[push.fcm]
service_account_file = "/etc/bems/fcm.json"

[[tenants]]
id = "contoso"
exchange = "on_premises"
service_account_username = 'CONTOSO\svc-bems'
service_account_password = "Passw0rd!"
"#;

/// The valid settings with `extra` appended to the tenant.
fn tenant(extra: &str) -> ServiceSettings {
    ServiceSettings::from_toml_str(&format!("{VALID}\n{extra}"))
        .unwrap_or_else(|e| panic!("{e}\n{extra}"))
}

fn problems(settings: &ServiceSettings) -> Vec<Problem> {
    match settings.validate() {
        Ok(()) => Vec::new(),
        Err(error) => error.problems().to_vec(),
    }
}

/// Asserts the problems are exactly `expected`: each a field and words of its rule.
#[track_caller]
fn assert_problems(settings: &ServiceSettings, expected: &[(&str, &str)]) {
    let found = problems(settings);
    let matches = found.len() == expected.len()
        && expected.iter().all(|(field, words)| {
            found
                .iter()
                .any(|p| p.field == *field && p.rule.contains(words))
        });
    assert!(
        matches,
        "expected {expected:#?}\nfound {:#?}",
        found.iter().map(ToString::to_string).collect::<Vec<_>>()
    );
}

const GUID: &str = "1b730954-1685-4b74-9bfd-dac224a7b894";

const MODERN: &str = r#"
[tenants.modern_authentication]
enabled = true
authority = "https://login.microsoftonline.com/contoso.onmicrosoft.com"
client_application_id = "1b730954-1685-4b74-9bfd-dac224a7b894"
"#;

const AD_CERTIFICATE: &str = r#"
[[tenants.trusted_certificates]]
name = "contoso-ad-ca"
purpose = "active_directory"
pem = """
-----BEGIN CERTIFICATE-----
TUlJQg==
-----END CERTIFICATE-----
"""
"#;

#[test]
fn the_valid_base_has_no_problem() {
    assert_problems(&tenant(""), &[]);
    assert_problems(&tenant(MODERN), &[]);
}

#[test]
fn every_problem_is_reported_at_once() {
    let mut settings = tenant("scp_ssl = true\nuse_internal_ews_url = true");
    settings.push = PushSettings::default();
    let found = problems(&settings);
    let fields: Vec<&str> = found.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "push",
            "tenants[contoso].use_internal_ews_url",
            "tenants[contoso].scp_ssl",
            "tenants[contoso].scp_ssl",
        ],
        "{found:#?}"
    );
}
