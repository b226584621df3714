//! Secrets and certificates given by reference: `*_env` names a variable, `*_file` a file.
//! Loading moves what they point to into the value (`password`, `pem`) and drops the
//! reference; a secret given more than one way is left alone for validation to refuse. Files
//! holding secret material are read only from the secret directories (`secret_dirs`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use secrecy::SecretString;
use zeroize::Zeroizing;

use super::ServiceSettings;
use super::error::{Problems, SettingsError};

/// One secret's three sources: the value itself, a file, an environment variable.
pub(crate) struct Slot<'a> {
    /// The value's path (`tenants[contoso].service_account_password`); the file and variable
    /// are this path with `_file` and `_env`.
    pub(crate) field: String,
    pub(crate) value: &'a mut Option<SecretString>,
    pub(crate) file: &'a mut Option<PathBuf>,
    pub(crate) env: &'a mut Option<String>,
}

impl Slot<'_> {
    /// Whether exactly this one source is given (more than one is left for validation).
    fn only(&self, which: Source) -> bool {
        let given = [
            self.value.is_some(),
            self.file.is_some(),
            self.env.is_some(),
        ];
        given.iter().filter(|g| **g).count() == 1 && given[which as usize]
    }
}

#[derive(Clone, Copy)]
enum Source {
    File = 1,
    Env = 2,
}

impl ServiceSettings {
    /// Every secret of the settings, with its sources.
    pub(crate) fn slots(&mut self) -> Vec<Slot<'_>> {
        let mut slots = vec![
            Slot {
                field: "store.key".into(),
                value: &mut self.store.key,
                file: &mut self.store.key_file,
                env: &mut self.store.key_env,
            },
            Slot {
                field: "store.url".into(),
                value: &mut self.store.url,
                file: &mut self.store.url_file,
                env: &mut self.store.url_env,
            },
            Slot {
                field: "admin.token".into(),
                value: &mut self.admin.token,
                file: &mut self.admin.token_file,
                env: &mut self.admin.token_env,
            },
        ];
        for tenant in &mut self.tenants {
            let at = format!("tenants[{}]", tenant.id);
            slots.push(Slot {
                field: format!("{at}.service_account_password"),
                value: &mut tenant.service_account_password,
                file: &mut tenant.service_account_password_file,
                env: &mut tenant.service_account_password_env,
            });
            let certificate = &mut tenant.client_certificate;
            slots.push(Slot {
                field: format!("{at}.client_certificate.password"),
                value: &mut certificate.password,
                file: &mut certificate.password_file,
                env: &mut certificate.password_env,
            });
            let passive = &mut tenant.passive;
            slots.push(Slot {
                field: format!("{at}.passive.client_secret"),
                value: &mut passive.client_secret,
                file: &mut passive.client_secret_file,
                env: &mut passive.client_secret_env,
            });
            let graph = &mut tenant.graph;
            slots.push(Slot {
                field: format!("{at}.graph.client_secret"),
                value: &mut graph.client_secret,
                file: &mut graph.client_secret_file,
                env: &mut graph.client_secret_env,
            });
            let ldap = &mut tenant.directory.ldap;
            slots.push(Slot {
                field: format!("{at}.directory.ldap.bind_password"),
                value: &mut ldap.bind_password,
                file: &mut ldap.bind_password_file,
                env: &mut ldap.bind_password_env,
            });
        }
        slots
    }

    /// Every file holding secret material that is read when it is used (not by
    /// [`read_files`](Self::read_files)), with its field.
    fn secret_files(&mut self) -> Vec<(String, &mut Option<PathBuf>)> {
        let mut files = vec![(
            "server.tls_key_file".to_owned(),
            &mut self.server.tls_key_file,
        )];
        if let Some(apns) = &mut self.push.apns {
            files.push(("push.apns.key_file".into(), &mut apns.key_file));
        }
        if let Some(fcm) = &mut self.push.fcm {
            files.push((
                "push.fcm.service_account_file".into(),
                &mut fcm.service_account_file,
            ));
        }
        for tenant in &mut self.tenants {
            files.push((
                format!("tenants[{}].client_certificate.pfx_file", tenant.id),
                &mut tenant.client_certificate.pfx_file,
            ));
        }
        files
    }

    /// Resolves every `*_env` reference from `vars`.
    pub(crate) fn resolve_env_refs(
        &mut self,
        vars: &BTreeMap<String, Zeroizing<String>>,
        problems: &mut Problems,
    ) {
        for slot in self.slots() {
            let Some(name) = slot.env.as_deref() else {
                continue;
            };
            if !slot.only(Source::Env) {
                continue;
            }
            match vars.get(name) {
                Some(value) if !value.is_empty() => {
                    *slot.value = Some(SecretString::from(value.as_str()));
                    *slot.env = None;
                }
                Some(_) => problems.push(
                    format!("{}_env", slot.field),
                    format!("the environment variable {name} is empty"),
                ),
                None => problems.push(
                    format!("{}_env", slot.field),
                    format!("the environment variable {name} is not set"),
                ),
            }
        }
    }

    /// Reads every file a secret (`*_file`) or a trusted certificate (`pem_file`) names, and
    /// keeps its content in place of the path. Trailing line breaks of a secret file are
    /// dropped. Paths are relative to the working directory.
    ///
    /// Files holding secret material (every `*_file` secret, a tenant's `.pfx`, the APNs
    /// `.p8`, the FCM service account, the TLS private key) must lie inside the secret
    /// directories ([`SecretsSettings`](super::SecretsSettings)); those read later keep their
    /// real path in place of the one written.
    ///
    /// The real paths are kept, with their fields, in
    /// [`SecretsSettings::in_use`](super::SecretsSettings::in_use).
    ///
    /// Every file that is outside, cannot be read, or is empty, is a problem naming the field.
    pub fn read_files(&mut self) -> Result<(), SettingsError> {
        let mut problems = Problems::default();
        let secrets = self.secrets.clone();
        let mut admitted = Vec::new();
        for slot in self.slots() {
            let Some(path) = slot.file.as_ref() else {
                continue;
            };
            if !slot.only(Source::File) {
                continue;
            }
            let field = format!("{}_file", slot.field);
            let real = match secrets.admit(path) {
                Ok(real) => real,
                Err(rule) => {
                    problems.push(field, rule);
                    continue;
                }
            };
            admitted.push((field.clone(), real.clone()));
            match std::fs::read_to_string(&real) {
                Ok(mut text) => {
                    let kept = text.trim_end_matches(['\r', '\n']).len();
                    text.truncate(kept);
                    if text.is_empty() {
                        problems.push(field, format!("{} is empty", path.display()));
                    } else {
                        *slot.value = Some(SecretString::from(text));
                        *slot.file = None;
                    }
                }
                Err(error) => {
                    problems.push(field, format!("cannot read {}: {error}", path.display()));
                }
            }
        }
        for (field, path) in self.secret_files() {
            let Some(written) = path.as_ref() else {
                continue;
            };
            match secrets.admit(written) {
                Ok(real) => {
                    admitted.push((field, real.clone()));
                    *path = Some(real);
                }
                Err(rule) => problems.push(field, rule),
            }
        }
        for (field, real) in admitted {
            self.secrets.record(field, real);
        }
        for tenant in &mut self.tenants {
            for certificate in &mut tenant.trusted_certificates {
                let Some(path) = certificate.pem_file.as_ref() else {
                    continue;
                };
                if certificate.pem.is_some() {
                    continue;
                }
                let field = format!(
                    "tenants[{}].trusted_certificates[{}].pem_file",
                    tenant.id, certificate.name
                );
                match std::fs::read_to_string(path) {
                    Ok(pem) => {
                        certificate.pem = Some(pem);
                        certificate.pem_file = None;
                    }
                    Err(error) => {
                        problems.push(field, format!("cannot read {}: {error}", path.display()));
                    }
                }
            }
        }
        problems.finish()
    }
}
