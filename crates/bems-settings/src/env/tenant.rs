//! `BEMS_TENANTS__<ID>__<FIELD>`: overrides of one tenant's settings.

use super::{
    SetError, boolean, list, number, optional, path, set_secret_env, set_secret_file,
    set_secret_value, url, variant,
};
use crate::tenant::{
    ClientCertificateSettings, EntitlementSettings, ModernAuthSettings, PassiveSettings,
    RegistrationSettings, SubscriptionSettings, TenantSettings,
};

/// Sets `rest` (`<id>__<field>`, lower case) of the tenant whose id it starts with.
pub(super) fn set(tenants: &mut [TenantSettings], rest: &str, value: &str) -> Result<(), SetError> {
    let mut found = tenants.iter_mut().filter_map(|tenant| {
        let key = env_key(tenant.id.as_str());
        let field = rest.strip_prefix(&key)?.strip_prefix("__")?;
        Some((tenant, field))
    });
    let Some((tenant, field)) = found.next() else {
        return Err(SetError::Invalid(
            "names no tenant of the settings file (tenants are declared in the file; \
             BEMS_TENANTS__<ID>__<FIELD> with the id in upper case, '-' as '_')"
                .into(),
        ));
    };
    if let Some((other, _)) = found.next() {
        return Err(SetError::Invalid(format!(
            "matches tenants {} and {}: set them in the file",
            tenant.id, other.id
        )));
    }
    let segments: Vec<&str> = field.split("__").collect();
    match segments.as_slice() {
        [field] => set_tenant(tenant, field, value),
        ["client_certificate", field] => {
            set_client_certificate(&mut tenant.client_certificate, field, value)
        }
        ["passive", field] => set_passive(&mut tenant.passive, field, value),
        ["modern_authentication", field] => {
            set_modern(&mut tenant.modern_authentication, field, value)
        }
        ["entitlement", field] => set_entitlement(&mut tenant.entitlement, field, value),
        ["subscription", field] => set_subscription(&mut tenant.subscription, field, value),
        ["registration", field] => set_registration(&mut tenant.registration, field, value),
        ["graph", field] => super::graph::set_graph(&mut tenant.graph, field, value),
        ["directory", rest @ ..] => {
            super::directory::set_directory(&mut tenant.directory, rest, value)
        }
        ["follow_me", field] => {
            super::directory::set_follow_me(&mut tenant.follow_me, field, value)
        }
        ["alerts", field] => super::directory::set_alerts(&mut tenant.alerts, field, value),
        _ => Err(SetError::Unknown),
    }
}

/// How a tenant id is written in a variable's name (lower case here, as the whole name is
/// compared in lower case): `contoso-eu` is `CONTOSO_EU`.
fn env_key(id: &str) -> String {
    id.to_ascii_lowercase().replace('-', "_")
}

fn set_tenant(tenant: &mut TenantSettings, field: &str, value: &str) -> Result<(), SetError> {
    let (password, file, env) = (
        &mut tenant.service_account_password,
        &mut tenant.service_account_password_file,
        &mut tenant.service_account_password_env,
    );
    match field {
        "exchange" => tenant.exchange = variant(value)?,
        "authentication" => tenant.authentication = variant(value)?,
        "service_account_username" => {
            tenant.service_account_username = (!value.is_empty()).then(|| value.to_owned());
        }
        "service_account_password" => set_secret_value(password, file, env, value),
        "service_account_password_file" => set_secret_file(password, file, env, value)?,
        "service_account_password_env" => set_secret_env(password, file, env, value),
        "autodiscover_url_override" => tenant.autodiscover_url_override = optional(value, url)?,
        "allow_http_redirection_and_dns_srv" => {
            tenant.allow_http_redirection_and_dns_srv = boolean(value)?;
        }
        "connectivity_node_route" => tenant.connectivity_node_route = optional(value, url)?,
        "use_internal_ews_url" => tenant.use_internal_ews_url = boolean(value)?,
        "scp_lookup" => tenant.scp_lookup = boolean(value)?,
        "scp_ssl" => tenant.scp_ssl = boolean(value)?,
        "scp_domain_controllers" => tenant.scp_domain_controllers = list(value)?,
        "test_email_address" => {
            tenant.test_email_address = (!value.is_empty()).then(|| value.to_owned());
        }
        _ => return Err(SetError::Unknown),
    }
    Ok(())
}

fn set_client_certificate(
    certificate: &mut ClientCertificateSettings,
    field: &str,
    value: &str,
) -> Result<(), SetError> {
    let (password, file, env) = (
        &mut certificate.password,
        &mut certificate.password_file,
        &mut certificate.password_env,
    );
    match field {
        "pfx_file" => certificate.pfx_file = optional(value, path)?,
        "password" => set_secret_value(password, file, env, value),
        "password_file" => set_secret_file(password, file, env, value)?,
        "password_env" => set_secret_env(password, file, env, value),
        _ => return Err(SetError::Unknown),
    }
    Ok(())
}

fn set_passive(passive: &mut PassiveSettings, field: &str, value: &str) -> Result<(), SetError> {
    let (secret, file, env) = (
        &mut passive.client_secret,
        &mut passive.client_secret_file,
        &mut passive.client_secret_env,
    );
    match field {
        "authority" => passive.authority = optional(value, url)?,
        "client_application_id" => {
            passive.client_application_id = (!value.is_empty()).then(|| value.to_owned());
        }
        "server_name" => passive.server_name = url(value)?,
        "client_secret" => set_secret_value(secret, file, env, value),
        "client_secret_file" => set_secret_file(secret, file, env, value)?,
        "client_secret_env" => set_secret_env(secret, file, env, value),
        "sign_in_lifetime_days" => passive.sign_in_lifetime_days = number(value)?,
        _ => return Err(SetError::Unknown),
    }
    Ok(())
}

fn set_modern(modern: &mut ModernAuthSettings, field: &str, value: &str) -> Result<(), SetError> {
    match field {
        "enabled" => modern.enabled = boolean(value)?,
        "authority" => modern.authority = optional(value, url)?,
        "client_application_id" => {
            modern.client_application_id = (!value.is_empty()).then(|| value.to_owned());
        }
        "server_name" => modern.server_name = url(value)?,
        "use_credentials_if_modern_auth_fails" => {
            modern.use_credentials_if_modern_auth_fails = boolean(value)?;
        }
        _ => return Err(SetError::Unknown),
    }
    Ok(())
}

fn set_entitlement(
    entitlement: &mut EntitlementSettings,
    field: &str,
    value: &str,
) -> Result<(), SetError> {
    match field {
        "mode" => entitlement.mode = variant(value)?,
        "mailboxes" => entitlement.mailboxes = list(value)?,
        "domains" => entitlement.domains = list(value)?,
        _ => return Err(SetError::Unknown),
    }
    Ok(())
}

fn set_subscription(
    subscription: &mut SubscriptionSettings,
    field: &str,
    value: &str,
) -> Result<(), SetError> {
    match field {
        "mode" => subscription.mode = variant(value)?,
        "status_frequency_minutes" => subscription.status_frequency_minutes = number(value)?,
        "connection_timeout_minutes" => subscription.connection_timeout_minutes = number(value)?,
        "pull_interval_seconds" => subscription.pull_interval_seconds = number(value)?,
        _ => return Err(SetError::Unknown),
    }
    Ok(())
}

fn set_registration(
    registration: &mut RegistrationSettings,
    field: &str,
    value: &str,
) -> Result<(), SetError> {
    match field {
        "issuer" => registration.issuer = (!value.is_empty()).then(|| value.to_owned()),
        "audience" => registration.audience = (!value.is_empty()).then(|| value.to_owned()),
        "jwks_uri" => registration.jwks_uri = optional(value, url)?,
        _ => return Err(SetError::Unknown),
    }
    Ok(())
}
