//! One tenant's rules: the seed page's, then sanity.

use std::path::PathBuf;

use exchange_auth::AuthError;
use secrecy::SecretString;
use url::Url;

use super::checks::{check_https, check_https_origin, is_address, is_guid, is_host_name};
use super::{discovery, secret};
use crate::error::Problems;
use crate::tenant::{AuthenticationType, ExchangeTarget, SubscriptionMode, TenantSettings};

/// Records every rule `tenant` breaks; `public_url` is `server.public_url`.
pub(super) fn check(tenant: &TenantSettings, public_url: Option<&Url>, problems: &mut Problems) {
    let mut at = Field(format!("tenants[{}]", tenant.id), problems);
    authentication(tenant, public_url, &mut at);
    modern_authentication(tenant, &mut at);
    discovery::discovery(tenant, &mut at);
    discovery::scp(tenant, &mut at);
    discovery::certificates(tenant, &mut at);
    if let Some(address) = &tenant.test_email_address
        && !is_address(address)
    {
        at.push(
            "test_email_address",
            format!("{address:?} is not an email address"),
        );
    }
    entitlement(tenant, &mut at);
    subscription(tenant, public_url, &mut at);
    registration(tenant, &mut at);
    super::graph::graph(tenant, public_url, &mut at);
    super::directory::check(tenant, &mut at);
}

/// Devices register with tokens checked against the tenant's identity provider: without
/// `[tenants.registration]` the tenant refuses registrations (and `bems check-config` says
/// so); given, it must be complete.
fn registration(tenant: &TenantSettings, at: &mut Field<'_>) {
    let registration = &tenant.registration;
    let given = [
        registration.issuer.is_some(),
        registration.audience.is_some(),
        registration.jwks_uri.is_some(),
    ];
    if !given.contains(&true) {
        return;
    }
    let why = "issuer, audience and jwks_uri check a registering device's token together";
    if registration
        .issuer
        .as_deref()
        .is_none_or(|i| i.trim().is_empty())
    {
        at.push("registration.issuer", format!("is required: {why}"));
    }
    if registration
        .audience
        .as_deref()
        .is_none_or(|a| a.trim().is_empty())
    {
        at.push("registration.audience", format!("is required: {why}"));
    }
    match &registration.jwks_uri {
        None => at.push("registration.jwks_uri", format!("is required: {why}")),
        Some(uri) if uri.scheme() != "https" => {
            at.push("registration.jwks_uri", "must be an https URL");
        }
        Some(_) => {}
    }
}

/// Problems under one tenant's path (`tenants[contoso]`).
pub(super) struct Field<'a>(String, &'a mut Problems);

impl Field<'_> {
    pub(super) fn push(&mut self, field: &str, rule: impl Into<String>) {
        self.1.push(format!("{}.{field}", self.0), rule);
    }

    /// Checks a secret's sources under this tenant.
    pub(super) fn secret(
        &mut self,
        field: &str,
        sources: (&Option<SecretString>, &Option<PathBuf>, &Option<String>),
        required: Option<&str>,
    ) -> bool {
        secret(self.1, &format!("{}.{field}", self.0), sources, required)
    }
}

fn authentication(tenant: &TenantSettings, public_url: Option<&Url>, at: &mut Field<'_>) {
    let modern = &tenant.modern_authentication;
    let credential = tenant.authentication == AuthenticationType::Credential;
    let fallback = modern.use_credentials_if_modern_auth_fails;
    // The service account's username and password: Credential needs them, and so does
    // "use credentials if modern authentication fails".
    let why = if credential {
        Some("Credential authentication")
    } else if fallback {
        Some("\"use credentials if modern authentication fails\"")
    } else {
        None
    };
    match (&tenant.service_account_username, why) {
        (Some(user), _) => {
            if let Err(error) = exchange_auth::validate_username(user, tenant.username_target()) {
                let rule = match error {
                    AuthError::Config { reason, .. } => reason,
                    other => other.to_string(),
                };
                at.push("service_account_username", rule);
            }
        }
        (None, Some(why)) => at.push(
            "service_account_username",
            format!("{why} needs the service account's username"),
        ),
        (None, None) => {}
    }
    let password = why.map(|why| format!("{why} needs the service account's password"));
    at.secret(
        "service_account_password",
        (
            &tenant.service_account_password,
            &tenant.service_account_password_file,
            &tenant.service_account_password_env,
        ),
        password.as_deref(),
    );
    if credential && tenant.exchange == ExchangeTarget::Microsoft365 && !modern.enabled {
        at.push(
            "modern_authentication.enabled",
            "Microsoft 365 does not accept Basic authentication: Credential authentication to \
             Microsoft 365 requires modern authentication",
        );
    }
    let certificate = &tenant.client_certificate;
    let is_certificate = tenant.authentication == AuthenticationType::ClientCertificate;
    if is_certificate && certificate.pfx_file.is_none() {
        at.push(
            "client_certificate.pfx_file",
            "Client Certificate authentication needs the certificate file (.pfx)",
        );
    }
    at.secret(
        "client_certificate.password",
        (
            &certificate.password,
            &certificate.password_file,
            &certificate.password_env,
        ),
        is_certificate
            .then_some("Client Certificate authentication needs the .pfx file's password"),
    );
    let passive = &tenant.passive;
    at.secret(
        "passive.client_secret",
        (
            &passive.client_secret,
            &passive.client_secret_file,
            &passive.client_secret_env,
        ),
        None,
    );
    if tenant.authentication == AuthenticationType::Passive {
        let why = "passive authentication";
        oauth_fields(
            "passive",
            passive.authority.as_ref(),
            passive.client_application_id.as_deref(),
            &passive.server_name,
            why,
            at,
        );
        if public_url.is_none() {
            at.push(
                "authentication",
                "passive authentication's redirect URI is made from server.public_url, \
                 which is not set",
            );
        }
        if passive.sign_in_lifetime_days == 0 {
            at.push(
                "passive.sign_in_lifetime_days",
                "must be at least 1 (the days a sign-in lasts under the identity provider's policy)",
            );
        }
    }
}

fn modern_authentication(tenant: &TenantSettings, at: &mut Field<'_>) {
    let modern = &tenant.modern_authentication;
    if modern.enabled {
        oauth_fields(
            "modern_authentication",
            modern.authority.as_ref(),
            modern.client_application_id.as_deref(),
            &modern.server_name,
            "modern authentication",
            at,
        );
    } else if modern.use_credentials_if_modern_auth_fails {
        at.push(
            "modern_authentication.use_credentials_if_modern_auth_fails",
            "has no effect unless modern authentication is enabled",
        );
    }
}

/// Authority (an https URL naming the directory), client application id (a GUID), server
/// name (`https://host`).
fn oauth_fields(
    table: &str,
    authority: Option<&Url>,
    client_id: Option<&str>,
    server: &Url,
    why: &str,
    at: &mut Field<'_>,
) {
    match authority {
        None => at.push(
            &format!("{table}.authority"),
            format!(
                "{why} needs the authentication authority \
                 (https://login.microsoftonline.com/<tenant>)"
            ),
        ),
        Some(url) => {
            let rule = check_https(url).and_then(|()| match url.path().trim_matches('/') {
                "" => Err(format!(
                    "{url} must name the directory (https://login.microsoftonline.com/<tenant>)"
                )),
                _ => Ok(()),
            });
            if let Err(rule) = rule {
                at.push(&format!("{table}.authority"), rule);
            }
        }
    }
    match client_id {
        None => at.push(
            &format!("{table}.client_application_id"),
            format!("{why} needs the client application id (the Entra app's id)"),
        ),
        Some(id) if !is_guid(id) => at.push(
            &format!("{table}.client_application_id"),
            format!(
                "{id:?} is not an application id (a GUID: 00000000-0000-0000-0000-000000000000)"
            ),
        ),
        Some(_) => {}
    }
    if let Err(rule) = check_https_origin(server) {
        at.push(&format!("{table}.server_name"), rule);
    }
}

/// The listed mailboxes and domains are addresses and domains. Listing none is the seed's
/// default (no one is entitled), not a mistake: `check-config` says so.
fn entitlement(tenant: &TenantSettings, at: &mut Field<'_>) {
    let entitlement = &tenant.entitlement;
    for mailbox in &entitlement.mailboxes {
        if !is_address(mailbox) {
            at.push(
                "entitlement.mailboxes",
                format!("{mailbox:?} is not an email address"),
            );
        }
    }
    for domain in &entitlement.domains {
        if !(domain.contains('.') && is_host_name(domain)) {
            at.push(
                "entitlement.domains",
                format!("{domain:?} is not a mail domain"),
            );
        }
    }
}

fn subscription(tenant: &TenantSettings, public_url: Option<&Url>, at: &mut Field<'_>) {
    let subscription = &tenant.subscription;
    if subscription.mode == SubscriptionMode::Push && public_url.is_none() {
        at.push(
            "subscription.mode",
            "push subscriptions need server.public_url, where Exchange sends notifications",
        );
    }
    let ranges = [
        (
            "status_frequency_minutes",
            subscription.status_frequency_minutes,
            1..=1440,
        ),
        (
            "connection_timeout_minutes",
            subscription.connection_timeout_minutes,
            1..=30,
        ),
        (
            "pull_interval_seconds",
            subscription.pull_interval_seconds,
            1..=3600,
        ),
    ];
    for (field, value, range) in ranges {
        if !range.contains(&value) {
            at.push(
                &format!("subscription.{field}"),
                format!("{value} is outside {}-{}", range.start(), range.end()),
            );
        }
    }
}
