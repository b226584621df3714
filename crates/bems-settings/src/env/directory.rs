//! `BEMS_TENANTS__<ID>__DIRECTORY__...` and `BEMS_TENANTS__<ID>__FOLLOW_ME__...`.

use super::{
    SetError, boolean, list, number, optional, set_secret_env, set_secret_file, set_secret_value,
    url, variant,
};
use crate::AlertSettings;
use crate::directory::{
    DirectorySettings, FollowMeSettings, GraphDirectorySettings, LdapDirectorySettings,
};

/// Sets `segments` (after `directory`) of a tenant's directory settings.
pub(super) fn set_directory(
    directory: &mut DirectorySettings,
    segments: &[&str],
    value: &str,
) -> Result<(), SetError> {
    match segments {
        ["ldap", field] => set_ldap(&mut directory.ldap, field, value),
        ["graph", field] => set_graph(&mut directory.graph, field, value),
        [field] => {
            match *field {
                "enabled" => directory.enabled = boolean(value)?,
                "backends" => {
                    directory.backends = list(value)?
                        .iter()
                        .map(|name| variant(name))
                        .collect::<Result<_, _>>()?;
                }
                "user_id_property" => directory.user_id_property = variant(value)?,
                "max_results" => directory.max_results = number(value)?,
                "min_query_length" => directory.min_query_length = number(value)?,
                "max_photo_bytes" => directory.max_photo_bytes = number(value)?,
                "cache_ttl_seconds" => directory.cache_ttl_seconds = number(value)?,
                "timeout_seconds" => directory.timeout_seconds = number(value)?,
                _ => return Err(SetError::Unknown),
            }
            Ok(())
        }
        _ => Err(SetError::Unknown),
    }
}

fn set_ldap(ldap: &mut LdapDirectorySettings, field: &str, value: &str) -> Result<(), SetError> {
    let (password, file, env) = (
        &mut ldap.bind_password,
        &mut ldap.bind_password_file,
        &mut ldap.bind_password_env,
    );
    match field {
        "servers" => ldap.servers = list(value)?,
        "port" => {
            ldap.port = optional(value, |v| {
                v.parse::<u16>()
                    .map_err(|_| format!("{v:?} is not a port (1-65535)"))
            })?;
        }
        "ssl" => ldap.ssl = boolean(value)?,
        "base_dn" => value.clone_into(&mut ldap.base_dn),
        "query_template" => value.clone_into(&mut ldap.query_template),
        "photo_query_template" => value.clone_into(&mut ldap.photo_query_template),
        "bind_user" => ldap.bind_user = (!value.is_empty()).then(|| value.to_owned()),
        "bind_password" => set_secret_value(password, file, env, value),
        "bind_password_file" => set_secret_file(password, file, env, value)?,
        "bind_password_env" => set_secret_env(password, file, env, value),
        _ => return Err(SetError::Unknown),
    }
    Ok(())
}

fn set_graph(graph: &mut GraphDirectorySettings, field: &str, value: &str) -> Result<(), SetError> {
    match field {
        "base_url" => graph.base_url = url(value)?,
        _ => return Err(SetError::Unknown),
    }
    Ok(())
}

/// Sets `field` of a tenant's alert settings.
pub(super) fn set_alerts(
    alerts: &mut AlertSettings,
    field: &str,
    value: &str,
) -> Result<(), SetError> {
    match field {
        "content" => alerts.content = variant(value)?,
        "sealed_only" => alerts.sealed_only = boolean(value)?,
        "rules" => alerts.rules = boolean(value)?,
        "details_timeout_ms" => alerts.details_timeout_ms = number(value)?,
        "details_per_second" => alerts.details_per_second = number(value)?,
        _ => return Err(SetError::Unknown),
    }
    Ok(())
}

/// Sets `field` of a tenant's Follow-Me settings.
pub(super) fn set_follow_me(
    follow_me: &mut FollowMeSettings,
    field: &str,
    value: &str,
) -> Result<(), SetError> {
    match field {
        "enabled" => follow_me.enabled = boolean(value)?,
        "max_document_bytes" => follow_me.max_document_bytes = number(value)?,
        "max_documents" => follow_me.max_documents = number(value)?,
        _ => return Err(SetError::Unknown),
    }
    Ok(())
}
