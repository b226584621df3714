//! `BEMS_TENANTS__<ID>__GRAPH__<FIELD>`: overrides of a tenant's `[tenants.graph]`.

use super::{
    SetError, boolean, number, optional, path, set_secret_env, set_secret_file, set_secret_value,
    url,
};
use crate::graph::GraphTenantSettings;

pub(super) fn set_graph(
    graph: &mut GraphTenantSettings,
    field: &str,
    value: &str,
) -> Result<(), SetError> {
    let (secret, file, env) = (
        &mut graph.client_secret,
        &mut graph.client_secret_file,
        &mut graph.client_secret_env,
    );
    match field {
        "enabled" => graph.enabled = boolean(value)?,
        "notification_url" => graph.notification_url = optional(value, url)?,
        "endpoint" => graph.endpoint = url(value)?,
        "client_secret" => set_secret_value(secret, file, env, value),
        "client_secret_file" => set_secret_file(secret, file, env, value)?,
        "client_secret_env" => set_secret_env(secret, file, env, value),
        "migration_batch" => graph.migration_batch = number(value)?,
        "migration_interval_seconds" => graph.migration_interval_seconds = number(value)?,
        "spool_dir" => graph.spool_dir = optional(value, path)?,
        _ => return Err(SetError::Unknown),
    }
    Ok(())
}
