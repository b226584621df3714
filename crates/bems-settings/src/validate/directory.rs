//! The rules of `[tenants.directory]`, `[tenants.follow_me]` and `[tenants.alerts]`: BEMS's "User Directory
//! Lookup" page (Enable SSL LDAP needs port 636 and the CA chain), the backends' needs, and
//! the bounds.

use std::collections::BTreeSet;
use std::ops::RangeInclusive;

use super::checks::{check_host_port, check_https_origin};
use super::tenant::Field;
use crate::directory::{DirectoryBackendKind, QUERY_KEY};
use crate::tenant::{AuthenticationType, CertificatePurpose, ExchangeTarget};
use crate::{DirectorySettings, TenantSettings};

/// Records every rule the tenant's directory and Follow-Me settings break.
pub(super) fn check(tenant: &TenantSettings, at: &mut Field<'_>) {
    let directory = &tenant.directory;
    bounds(directory, at);
    backends(tenant, at);
    ldap(tenant, at);
    if let Err(rule) = check_https_origin(&directory.graph.base_url) {
        at.push("directory.graph.base_url", rule);
    }
    let follow_me = &tenant.follow_me;
    within(
        at,
        "follow_me.max_document_bytes",
        follow_me.max_document_bytes,
        1..=1024 * 1024,
    );
    within(
        at,
        "follow_me.max_documents",
        follow_me.max_documents,
        1..=1000,
    );
    let alerts = &tenant.alerts;
    within(
        at,
        "alerts.details_timeout_ms",
        alerts.details_timeout_ms,
        50..=5000,
    );
    within(
        at,
        "alerts.details_per_second",
        alerts.details_per_second,
        1..=10_000,
    );
}

fn within(at: &mut Field<'_>, field: &str, value: u32, range: RangeInclusive<u32>) {
    if !range.contains(&value) {
        at.push(
            field,
            format!(
                "must be between {} and {}, not {value}",
                range.start(),
                range.end()
            ),
        );
    }
}

fn bounds(directory: &DirectorySettings, at: &mut Field<'_>) {
    within(at, "directory.max_results", directory.max_results, 1..=100);
    within(
        at,
        "directory.min_query_length",
        directory.min_query_length,
        1..=16,
    );
    within(
        at,
        "directory.max_photo_bytes",
        directory.max_photo_bytes,
        1024..=4 * 1024 * 1024,
    );
    within(
        at,
        "directory.cache_ttl_seconds",
        directory.cache_ttl_seconds,
        0..=86_400,
    );
    within(
        at,
        "directory.timeout_seconds",
        directory.timeout_seconds,
        1..=120,
    );
}

fn backends(tenant: &TenantSettings, at: &mut Field<'_>) {
    let directory = &tenant.directory;
    if directory.enabled && directory.backends.is_empty() {
        at.push(
            "directory.backends",
            "Directory Lookup is enabled but asks no backend: name ews, graph or ldap",
        );
    }
    let mut seen = BTreeSet::new();
    for backend in &directory.backends {
        if !seen.insert(*backend) {
            at.push(
                "directory.backends",
                format!("{} is named twice", backend.as_str()),
            );
        }
    }
    if !directory.backends.contains(&DirectoryBackendKind::Graph) {
        return;
    }
    if tenant.exchange == ExchangeTarget::OnPremises {
        at.push(
            "directory.backends",
            "the graph backend searches Microsoft 365's directory: exchange must be \
             microsoft365 or hybrid",
        );
    }
    // Passive authentication's sign-in is redeemed for Graph as it is for EWS.
    let delegated = tenant.authentication == AuthenticationType::Passive
        || tenant.modern_authentication.enabled;
    if !delegated {
        at.push(
            "directory.backends",
            "the graph backend takes its token from modern authentication with Credential or \
             Client Certificate authentication (modern_authentication.enabled), or from passive \
             authentication's sign-in",
        );
    }
}

fn ldap(tenant: &TenantSettings, at: &mut Field<'_>) {
    let ldap = &tenant.directory.ldap;
    let asked = tenant
        .directory
        .backends
        .contains(&DirectoryBackendKind::Ldap);
    if asked && ldap.servers.is_empty() {
        at.push(
            "directory.ldap.servers",
            "the ldap backend needs at least one server (dc1.example.com,dc2.example.com)",
        );
    }
    for server in &ldap.servers {
        if let Err(rule) = check_host_port(server) {
            at.push("directory.ldap.servers", rule);
        }
    }
    match (ldap.ssl, ldap.port) {
        (_, Some(0)) => at.push("directory.ldap.port", "0 is not a port (1-65535)"),
        (true, Some(389)) => at.push(
            "directory.ldap.port",
            "Enable SSL LDAP uses LDAPS, port 636; 389 is plain LDAP",
        ),
        (false, Some(636)) => at.push(
            "directory.ldap.port",
            "636 is the LDAPS port: set ssl = true, or use 389",
        ),
        _ => {}
    }
    if ldap.ssl {
        let has_ca = tenant
            .trusted_certificates
            .iter()
            .any(|c| c.purpose == CertificatePurpose::ActiveDirectory);
        if !has_ca {
            at.push(
                "directory.ldap.ssl",
                "Enable SSL LDAP requires the directory's CA chain: add a \
                 [[tenants.trusted_certificates]] with purpose = \"active_directory\"",
            );
        }
    }
    for (field, template) in [
        ("directory.ldap.query_template", &ldap.query_template),
        (
            "directory.ldap.photo_query_template",
            &ldap.photo_query_template,
        ),
    ] {
        if let Err(rule) = check_template(template) {
            at.push(field, rule);
        }
    }
    let base = ldap.base_dn.trim();
    if !base.is_empty() && (!base.contains('=') || base.len() > 1024) {
        at.push(
            "directory.ldap.base_dn",
            "a DN (DC=contoso,DC=com) of at most 1024 characters, or empty for the \
             directory's default naming context",
        );
    }
    let password = (
        &ldap.bind_password,
        &ldap.bind_password_file,
        &ldap.bind_password_env,
    );
    let given = at.secret("directory.ldap.bind_password", password, None);
    match (&ldap.bind_user, given) {
        (Some(user), false) if !user.trim().is_empty() => at.push(
            "directory.ldap.bind_password",
            "bind_user is set: its password is required (an empty one would bind anonymously)",
        ),
        (Some(user), _) if user.trim().is_empty() => {
            at.push("directory.ldap.bind_user", "is empty");
        }
        (None, true) => at.push(
            "directory.ldap.bind_user",
            "bind_password is set without bind_user",
        ),
        _ => {}
    }
}

/// A query template: holds `{key}` and is an LDAP filter once it is replaced.
pub(crate) fn check_template(template: &str) -> Result<(), String> {
    if !template.contains(QUERY_KEY) {
        return Err(format!(
            "holds no {QUERY_KEY}: the user's text would not be searched"
        ));
    }
    if template.len() > 4096 {
        return Err("is longer than 4096 characters".into());
    }
    let sample = template.replace(QUERY_KEY, "x");
    ldap3::parse_filter(&sample)
        .map(drop)
        .map_err(|()| format!("{template:?} is not an LDAP filter (RFC 4515)"))
}
