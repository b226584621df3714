//! A tenant's settings through the admin API: what `PUT /admin/tenants/{tenant}/settings`
//! takes, and the JSON `GET` answers.
//!
//! The administrator changes its tenants' settings, but never reads secrets back nor points
//! the service at files outside the secret directories (the design's trust boundaries). So a
//! tenant's table given through the API is refused, each field named, when it holds:
//!
//! | given | why refused |
//! |---|---|
//! | a secret's value (`service_account_password = "..."`) | it would be stored in the clear |
//! | an environment reference (`*_env`) | variables are the configuration file's: a reference could name the store key's and send it to a URL the administrator chose |
//! | a file outside the secret directories (`*_file`, `pfx_file`, `pem_file`) | the administrator may not make the service read arbitrary files; it is not opened |
//! | a file another part of the settings uses (the store key's, the APNs key, another tenant's password, the configuration file) | a tenant's password goes to the tenant's Exchange: the others' secrets are not the tenant's to send |
//! | a `graph.spool_dir` other than the configuration file's | the service writes there |
//!
//! A refused table changes nothing stored. [`tenant_json`] shows a tenant in the shape `PUT`
//! takes (the same keys, as JSON), without any secret's value; [`redacted`] names the secrets
//! that are set but not shown.

use serde_json::Value;

use super::error::{Problems, SettingsError};
use super::{ServiceSettings, TenantSettings};
use bems_store::model::TenantId;

/// A tenant's settings as the admin API takes them: the body of one `[[tenants]]` table in
/// TOML (its keys, then `[tenants.<section>]` tables), for tenant `id`. Secrets are given by
/// file (`*_file`), never by value (it would be stored in the clear) nor by environment
/// variable (variables are the configuration file's: one could name the store key's). The
/// files are checked by [`ServiceSettings::with_admin_tenant`].
pub fn tenant_from_admin(id: &TenantId, body: &str) -> Result<TenantSettings, SettingsError> {
    let mut problems = Problems::default();
    let mut document = ServiceSettings::from_toml_str(&format!("[[tenants]]\n{body}"))?;
    if document.tenants.len() != 1 {
        let mut wrong = Problems::default();
        wrong.push(
            format!("tenants[{id}]"),
            "the body holds exactly one tenant's table",
        );
        wrong.finish()?;
    }
    let parsed = document.tenants.remove(0);
    let at = |field: &str| format!("tenants[{id}].{field}");
    if parsed.id != *id {
        problems.push(
            at("id"),
            format!("is {:?}; the URL names {id:?}", parsed.id.as_str()),
        );
    }
    for (field, value, env) in secrets(&parsed) {
        if value {
            problems.push(
                at(field),
                "give it as a file (_file) through the admin API: inline secrets would be stored in the clear",
            );
        }
        if env {
            problems.push(
                at(&format!("{field}_env")),
                "environment references are for the configuration file: give a file (_file) in a secret directory through the admin API",
            );
        }
    }
    problems.finish().map(|()| parsed)
}

/// Every file `tenant` names that holds secrets, with its field under the tenant.
fn files(tenant: &TenantSettings) -> Vec<(String, &std::path::PathBuf)> {
    let certificate = &tenant.client_certificate;
    let mut files: Vec<(String, &std::path::PathBuf)> = [
        (
            "service_account_password_file",
            &tenant.service_account_password_file,
        ),
        ("client_certificate.pfx_file", &certificate.pfx_file),
        (
            "client_certificate.password_file",
            &certificate.password_file,
        ),
        (
            "passive.client_secret_file",
            &tenant.passive.client_secret_file,
        ),
        ("graph.client_secret_file", &tenant.graph.client_secret_file),
        (
            "directory.ldap.bind_password_file",
            &tenant.directory.ldap.bind_password_file,
        ),
    ]
    .into_iter()
    .filter_map(|(field, path)| Some((field.to_owned(), path.as_ref()?)))
    .collect();
    for trusted in &tenant.trusted_certificates {
        if let Some(path) = &trusted.pem_file {
            files.push((
                format!("trusted_certificates[{}].pem_file", trusted.name),
                path,
            ));
        }
    }
    files
}

/// Each secret of `tenant`: its field, whether its value is given, whether an environment
/// reference is.
fn secrets(tenant: &TenantSettings) -> [(&'static str, bool, bool); 5] {
    [
        (
            "service_account_password",
            tenant.service_account_password.is_some(),
            tenant.service_account_password_env.is_some(),
        ),
        (
            "client_certificate.password",
            tenant.client_certificate.password.is_some(),
            tenant.client_certificate.password_env.is_some(),
        ),
        (
            "passive.client_secret",
            tenant.passive.client_secret.is_some(),
            tenant.passive.client_secret_env.is_some(),
        ),
        (
            "graph.client_secret",
            tenant.graph.client_secret.is_some(),
            tenant.graph.client_secret_env.is_some(),
        ),
        (
            "directory.ldap.bind_password",
            tenant.directory.ldap.bind_password.is_some(),
            tenant.directory.ldap.bind_password_env.is_some(),
        ),
    ]
}

impl ServiceSettings {
    /// These settings with tenant `id` replaced by (or added as) the table `body` the admin
    /// API took: parsed by [`tenant_from_admin`], its files checked against the secret
    /// directories and read ([`read_files`](Self::read_files)), then everything
    /// [validated](Self::validate). Every problem is reported at once; `self` is unchanged.
    pub fn with_admin_tenant(&self, id: &TenantId, body: &str) -> Result<Self, SettingsError> {
        let mut tenant = tenant_from_admin(id, body)?;
        let mut problems = Problems::default();
        for certificate in &mut tenant.trusted_certificates {
            let Some(path) = &certificate.pem_file else {
                continue;
            };
            match self.secrets.admit(path) {
                Ok(real) => certificate.pem_file = Some(real),
                Err(rule) => problems.push(
                    format!(
                        "tenants[{id}].trusted_certificates[{}].pem_file",
                        certificate.name
                    ),
                    rule,
                ),
            }
        }
        let owner = format!("tenants[{id}].");
        for (field, path) in files(&tenant) {
            let Ok(real) = self.secrets.admit(path) else {
                continue; // refused, naming the field, by read_files
            };
            if let Some(other) = self.secrets.used_by_other(&real, &owner) {
                problems.push(
                    format!("{owner}{field}"),
                    format!(
                        "{} is {other}'s: a tenant's settings name only files of its own",
                        path.display()
                    ),
                );
            }
        }
        let configured = self.tenant(id).and_then(|t| t.graph.spool_dir.as_ref());
        if tenant.graph.spool_dir.is_some() && tenant.graph.spool_dir.as_ref() != configured {
            problems.push(
                format!("tenants[{id}].graph.spool_dir"),
                "the spool's directory is set in the configuration file only",
            );
        }
        let mut candidate = self.clone();
        candidate.replace_tenant(tenant);
        for step in [candidate.read_files(), candidate.validate()] {
            if let Err(error) = step {
                problems.0.extend(error.problems().iter().cloned());
            }
        }
        problems.finish().map(|()| candidate)
    }

    /// Puts `tenant` in place of the tenant with its id (or adds it).
    pub fn replace_tenant(&mut self, tenant: TenantSettings) {
        match self.tenants.iter_mut().find(|t| t.id == tenant.id) {
            Some(slot) => *slot = tenant,
            None => self.tenants.push(tenant),
        }
    }
}

/// `tenant` as JSON in the shape the admin API's `PUT` takes: the keys of its TOML table,
/// unset values left out, and no secret's value (see [`redacted`]).
pub fn tenant_json(tenant: &TenantSettings) -> Value {
    let mut json = serde_json::to_value(tenant).unwrap_or_else(|error| {
        serde_json::json!({ "error": format!("the settings do not convert to JSON: {error}") })
    });
    drop_nulls(&mut json);
    json
}

/// The secrets of `tenant` that are set, which [`tenant_json`] leaves out.
pub fn redacted(tenant: &TenantSettings) -> Vec<&'static str> {
    secrets(tenant)
        .into_iter()
        .filter_map(|(field, value, _)| value.then_some(field))
        .collect()
}

/// Removes every `null` member (TOML has no null: an unset value is an absent key).
fn drop_nulls(value: &mut Value) {
    match value {
        Value::Object(members) => {
            members.retain(|_, v| !v.is_null());
            members.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contoso() -> TenantId {
        TenantId::new("contoso").unwrap_or_else(|e| panic!("{e}"))
    }

    const BASE: &str = "id = \"contoso\"\nexchange = \"on_premises\"\n";

    fn fields(result: Result<TenantSettings, SettingsError>) -> Vec<String> {
        match result {
            Ok(_) => Vec::new(),
            Err(error) => error.problems().iter().map(|p| p.field.clone()).collect(),
        }
    }

    #[test]
    fn values_and_environment_references_are_refused_files_taken() {
        let given = format!(
            "{BASE}service_account_password = \"x\"\n\
             [tenants.passive]\nclient_secret_env = \"BEMS_STORE_KEY\"\n"
        );
        assert_eq!(
            fields(tenant_from_admin(&contoso(), &given)),
            [
                "tenants[contoso].service_account_password",
                "tenants[contoso].passive.client_secret_env"
            ]
        );
        let by_file = format!("{BASE}service_account_password_file = \"/run/secrets/svc\"\n");
        assert!(tenant_from_admin(&contoso(), &by_file).is_ok());
    }

    #[test]
    fn the_json_has_the_tables_keys_and_no_secret() {
        let text = format!(
            "{BASE}service_account_username = 'CONTOSO\\svc'\n\
             service_account_password = \"Pa55-in-the-file\"\n\
             [tenants.entitlement]\nmailboxes = [\"ceo@contoso.com\"]\n"
        );
        let settings = ServiceSettings::from_toml_str(&format!("[[tenants]]\n{text}"))
            .unwrap_or_else(|e| panic!("{e}"));
        let tenant = &settings.tenants[0];
        let json = tenant_json(tenant);
        assert!(!json.to_string().contains("Pa55-in-the-file"), "{json}");
        assert_eq!(json["service_account_username"], "CONTOSO\\svc");
        assert_eq!(json["entitlement"]["mailboxes"][0], "ceo@contoso.com");
        assert!(json.get("autodiscover_url_override").is_none(), "{json}");
        assert_eq!(redacted(tenant), ["service_account_password"]);
        // The JSON, as a TOML `[[tenants]]` table, reads back as the same tenant (secrets
        // aside).
        let toml = toml::to_string(&serde_json::json!({ "tenants": [json] }))
            .unwrap_or_else(|e| panic!("{e}"));
        let back = ServiceSettings::from_toml_str(&toml).unwrap_or_else(|e| panic!("{e}\n{toml}"));
        let mut expected = tenant.clone();
        expected.service_account_password = None;
        // No secret is left on either side, and `Debug` shows every other field.
        assert_eq!(format!("{:?}", back.tenants[0]), format!("{expected:?}"));
    }
}
