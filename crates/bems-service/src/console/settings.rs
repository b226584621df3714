//! "Settings > Email notifications" for one tenant: the seed's fields in the seed's order, which
//! of them apply by the seed's rules, and Save through the admin API's validator and store.
//!
//! The page works without JavaScript: changing the authentication type or a check box that
//! decides which fields apply, then "Update the form", shows the fields that now apply
//! without saving. Fields that do not apply are left out of what is saved (their defaults
//! apply), as the seed's console does.
//!
//! Secrets are entered, never shown: a password typed here is written to a file of its own in
//! the first secret directory (mode 0600), and the settings name that file, as the admin API
//! requires; left blank, the password already set is kept.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// What kind of input a field is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Text,
    Check,
    /// Entered, never shown; stored as `<key>_file`.
    Secret,
    /// One of these `(value, label)`, as radio buttons.
    Choice(&'static [(&'static str, &'static str)]),
}

/// One field of the page: its settings key (dotted into sections), its label as the seed
/// words it, and when it applies.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    pub(crate) key: &'static str,
    pub(crate) label: &'static str,
    pub(crate) kind: Kind,
    pub(crate) applies: fn(&Values) -> bool,
}

/// A section of the page.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Section {
    pub(crate) title: &'static str,
    pub(crate) fields: &'static [Field],
}

const AUTHENTICATION_TYPES: &[(&str, &str)] = &[
    ("credential", "Credential"),
    ("client_certificate", "Client Certificate"),
    ("passive", "Passive authentication"),
];

const ALERT_CONTENT: &[(&str, &str)] = &[
    ("none", "Nothing but \"new message\""),
    ("sender", "The sender"),
    ("sender_and_subject", "The sender and the subject"),
];

const EXCHANGE: &[(&str, &str)] = &[
    ("on_premises", "Microsoft Exchange Server (on-premises)"),
    ("microsoft365", "Microsoft 365"),
    ("hybrid", "Hybrid (on-premises and Microsoft 365)"),
];

fn always(_: &Values) -> bool {
    true
}

fn credential(v: &Values) -> bool {
    v.text("authentication") == "credential"
}

fn passive(v: &Values) -> bool {
    v.text("authentication") == "passive"
}

fn not_passive(v: &Values) -> bool {
    !passive(v)
}

fn modern(v: &Values) -> bool {
    not_passive(v) && v.checked("modern_authentication.enabled")
}

fn route(v: &Values) -> bool {
    !v.text("connectivity_node_route").is_empty()
}

/// "This setting requires that the Use BlackBerry Connectivity Node route setting is enabled.
/// This option is not available if modern authentication is enabled."
fn internal_ews(v: &Values) -> bool {
    route(v) && !modern(v)
}

/// "Valid only if the Credential authentication is selected and a BlackBerry Connectivity Node
/// is installed ... not available when the Autodiscover URL override is specified."
fn scp(v: &Values) -> bool {
    credential(v) && route(v) && v.text("autodiscover_url_override").is_empty()
}

fn scp_on(v: &Values) -> bool {
    scp(v) && v.checked("scp_lookup")
}

/// The page, in the seed's order.
pub(crate) const SECTIONS: &[Section] = &[
    Section {
        title: "Authentication type",
        fields: &[
            Field {
                key: "exchange",
                label: "Exchange",
                kind: Kind::Choice(EXCHANGE),
                applies: always,
            },
            Field {
                key: "authentication",
                label: "Authentication type",
                kind: Kind::Choice(AUTHENTICATION_TYPES),
                applies: always,
            },
        ],
    },
    Section {
        title: "Passive authentication",
        fields: &[
            Field {
                key: "passive.authority",
                label: "Authentication Authority",
                kind: Kind::Text,
                applies: passive,
            },
            Field {
                key: "passive.client_application_id",
                label: "Client Application ID",
                kind: Kind::Text,
                applies: passive,
            },
            Field {
                key: "passive.server_name",
                label: "Server Name",
                kind: Kind::Text,
                applies: passive,
            },
        ],
    },
    Section {
        title: "Modern authentication",
        fields: &[
            Field {
                key: "modern_authentication.enabled",
                label: "Enable Modern Authentication",
                kind: Kind::Check,
                applies: not_passive,
            },
            Field {
                key: "modern_authentication.authority",
                label: "Authentication authority",
                kind: Kind::Text,
                applies: modern,
            },
            Field {
                key: "modern_authentication.client_application_id",
                label: "Client application ID",
                kind: Kind::Text,
                applies: modern,
            },
            Field {
                key: "modern_authentication.server_name",
                label: "Server name",
                kind: Kind::Text,
                applies: modern,
            },
            Field {
                key: "modern_authentication.use_credentials_if_modern_auth_fails",
                label: "Use credentials if modern authentication fails",
                kind: Kind::Check,
                applies: modern,
            },
        ],
    },
    Section {
        title: "Service account",
        fields: &[
            Field {
                key: "service_account_username",
                label: "Service account username",
                kind: Kind::Text,
                applies: credential,
            },
            Field {
                key: "service_account_password",
                label: "Service account password",
                kind: Kind::Secret,
                applies: credential,
            },
        ],
    },
    Section {
        title: "Autodiscover and connections",
        fields: &[
            Field {
                key: "autodiscover_url_override",
                label: "Autodiscover URL override",
                kind: Kind::Text,
                applies: always,
            },
            Field {
                key: "allow_http_redirection_and_dns_srv",
                label: "Allow HTTP redirection and DNS SRV record",
                kind: Kind::Check,
                applies: always,
            },
            Field {
                key: "connectivity_node_route",
                label: "Use BlackBerry Connectivity Node route",
                kind: Kind::Text,
                applies: always,
            },
            Field {
                key: "use_internal_ews_url",
                label: "Use internal Exchange Web Services URL",
                kind: Kind::Check,
                applies: internal_ews,
            },
            Field {
                key: "scp_lookup",
                label: "Enable SCP Lookup",
                kind: Kind::Check,
                applies: scp,
            },
            Field {
                key: "scp_ssl",
                label: "Enable SSL for SCP",
                kind: Kind::Check,
                applies: scp_on,
            },
            Field {
                key: "scp_domain_controllers",
                label: "Domain Controllers for SCP",
                kind: Kind::Text,
                applies: scp_on,
            },
        ],
    },
    // Not on the seed's page: what bems's alerts carry (`[tenants.alerts]`).
    Section {
        title: "Notification content",
        fields: &[
            Field {
                key: "alerts.content",
                label: "What an alert shows",
                kind: Kind::Choice(ALERT_CONTENT),
                applies: always,
            },
            Field {
                key: "alerts.sealed_only",
                label: "Only to devices that registered a key (sealed: Apple and Google see ciphertext)",
                kind: Kind::Check,
                applies: always,
            },
            Field {
                key: "alerts.rules",
                label: "Honour the users' alert rules (VIP senders, Important mail, quiet hours, mute)",
                kind: Kind::Check,
                applies: always,
            },
        ],
    },
];

/// Every field of the page.
pub(crate) fn fields() -> impl Iterator<Item = &'static Field> {
    SECTIONS.iter().flat_map(|s| s.fields)
}

/// The page's values: from the settings (as the admin API's JSON), or as a form posted them.
#[derive(Clone, Default)]
pub(crate) struct Values {
    text: HashMap<&'static str, String>,
    /// Secrets already set (their `_file` is): shown as set, never as their value.
    set: Vec<&'static str>,
}

/// Names the fields that have a value, never the values: a form's may hold a typed secret.
impl std::fmt::Debug for Values {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut keys: Vec<&str> = self.text.keys().copied().collect();
        keys.sort_unstable();
        f.debug_struct("Values")
            .field("fields", &keys)
            .field("secrets_set", &self.set)
            .finish()
    }
}

impl Values {
    /// The values of `tenant` (the admin API's JSON of its settings).
    pub(crate) fn of_settings(tenant: &Value) -> Self {
        let mut values = Self::default();
        if lookup(tenant, "client_certificate.pfx_file").is_some() {
            values.set.push("client_certificate.pfx");
        }
        for field in fields() {
            let value = lookup(tenant, field.key);
            match field.kind {
                Kind::Secret => {
                    if lookup(tenant, &format!("{}_file", field.key)).is_some() {
                        values.set.push(field.key);
                    }
                }
                Kind::Check => {
                    if value.and_then(Value::as_bool) == Some(true) {
                        values.text.insert(field.key, "on".into());
                    }
                }
                Kind::Text | Kind::Choice(_) => {
                    let text = match value {
                        Some(Value::String(s)) => s.clone(),
                        Some(other) if !other.is_null() => other.to_string(),
                        _ => String::new(),
                    };
                    values.text.insert(field.key, text);
                }
            }
        }
        values
    }

    /// The values a form posted (`name=value` pairs; a check box is present when checked).
    pub(crate) fn of_form(pairs: &[(String, String)]) -> Self {
        let mut values = Self::default();
        for field in fields() {
            if let Some((_, value)) = pairs.iter().find(|(name, _)| name == field.key) {
                values.text.insert(field.key, value.trim().to_owned());
            }
        }
        values
    }

    pub(crate) fn text(&self, key: &str) -> &str {
        self.text.get(key).map_or("", String::as_str)
    }

    pub(crate) fn checked(&self, key: &str) -> bool {
        self.text.get(key).is_some_and(|v| !v.is_empty())
    }

    /// Sets the field `key` (one of the page's) to `value`.
    pub(crate) fn set_text(&mut self, key: &'static str, value: &str) {
        self.text.insert(key, value.to_owned());
    }

    /// Takes which secrets are set from `settings` (a form never says).
    pub(crate) fn mark_set(&mut self, settings: &Self) {
        self.set.clone_from(&settings.set);
    }

    /// Whether the secret `key` is set already.
    pub(crate) fn is_set(&self, key: &str) -> bool {
        self.set.contains(&key)
    }
}

/// The member at a dotted `key`.
fn lookup<'v>(value: &'v Value, key: &str) -> Option<&'v Value> {
    key.split('.').try_fold(value, |v, part| v.get(part))
}

fn remove(value: &mut Value, key: &str) {
    let (parent, last) = match key.rsplit_once('.') {
        Some((parent, last)) => (
            parent.split('.').try_fold(&mut *value, |v, p| v.get_mut(p)),
            last,
        ),
        None => (Some(value), key),
    };
    if let Some(Value::Object(members)) = parent {
        members.remove(last);
    }
}

fn insert(value: &mut Value, key: &str, new: Value) {
    let mut at = value;
    let mut parts = key.split('.').peekable();
    while let Some(part) = parts.next() {
        let Value::Object(members) = at else { return };
        if parts.peek().is_none() {
            members.insert(part.to_owned(), new);
            return;
        }
        at = members
            .entry(part.to_owned())
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
    }
}

/// `base` (the tenant's settings as JSON) with the page's fields taken from `form`: those
/// that apply set as posted, those that do not removed (their defaults apply), and each
/// secret typed written to `secret_files` by `write_secret` (its `_file` set, other ways of
/// giving it removed).
pub(crate) fn apply(
    base: &Value,
    form: &Values,
    mut write_secret: impl FnMut(&str, &str) -> Result<PathBuf, String>,
) -> Result<Value, (String, String)> {
    let mut out = base.clone();
    for field in fields() {
        let applies = (field.applies)(form);
        match field.kind {
            Kind::Secret => {
                let typed = form.text(field.key);
                if !applies {
                    for suffix in ["", "_file", "_env"] {
                        remove(&mut out, &format!("{}{suffix}", field.key));
                    }
                } else if !typed.is_empty() {
                    let path = write_secret(field.key, typed)
                        .map_err(|rule| (field.key.to_owned(), rule))?;
                    remove(&mut out, &format!("{}_env", field.key));
                    remove(&mut out, field.key);
                    insert(
                        &mut out,
                        &format!("{}_file", field.key),
                        Value::String(path.display().to_string()),
                    );
                }
            }
            _ if !applies => remove(&mut out, field.key),
            Kind::Check => insert(&mut out, field.key, Value::Bool(form.checked(field.key))),
            Kind::Text | Kind::Choice(_) => {
                let text = form.text(field.key);
                if text.is_empty() {
                    remove(&mut out, field.key);
                } else {
                    insert(&mut out, field.key, Value::String(text.to_owned()));
                }
            }
        }
    }
    Ok(out)
}

/// A tenant's settings (JSON) as the admin API's TOML body: the keys of one `[[tenants]]`
/// table, then its `[tenants.<section>]` tables.
pub(crate) fn to_admin_toml(tenant: &Value) -> Result<String, String> {
    let document = serde_json::json!({ "tenants": [tenant] });
    let text = toml::to_string(&document).map_err(|e| e.to_string())?;
    Ok(text
        .strip_prefix("[[tenants]]\n")
        .unwrap_or(&text)
        .to_owned())
}

/// The page field a validator problem names (`tenants[<id>].<key>`), if it is one.
pub(crate) fn field_of(problem: &str, tenant: &str) -> Option<&'static str> {
    let key = problem.strip_prefix(&format!("tenants[{tenant}]."))?;
    let key = key.strip_suffix("_file").unwrap_or(key);
    let key = key.strip_suffix("_env").unwrap_or(key);
    fields().map(|f| f.key).find(|k| *k == key)
}

/// Writes `secret` to a new file for `tenant`'s `key` in `directory`, readable by this user
/// only; its path.
pub(crate) fn write_secret_file(
    directory: &Path,
    tenant: &str,
    key: &str,
    secret: &[u8],
) -> Result<PathBuf, String> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let suffix =
        super::session::random_token().ok_or("the system's random number generator failed")?;
    let name = format!("{}{}", secret_prefix(tenant, key), &suffix[..16]);
    let path = directory.join(name);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    file.write_all(secret)
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

/// The start of the names of the files this console writes for `tenant`'s `key`.
pub(crate) fn secret_prefix(tenant: &str, key: &str) -> String {
    format!("console-{tenant}-{}-", key.replace(['.', '_'], "-"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn form(pairs: &[(&str, &str)]) -> Values {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Values::of_form(&pairs)
    }

    #[test]
    fn the_seed_rules_decide_which_fields_apply() {
        let applies = |values: &Values, key: &str| {
            let field = fields().find(|f| f.key == key).expect("a field");
            (field.applies)(values)
        };
        let cn = "socks5://cn.corp.contoso.com:1080";
        let credential = form(&[
            ("authentication", "credential"),
            ("connectivity_node_route", cn),
        ]);
        assert!(applies(&credential, "scp_lookup"));
        assert!(applies(&credential, "use_internal_ews_url"));
        assert!(!applies(&credential, "scp_ssl"), "only with SCP lookup on");
        let with_override = form(&[
            ("authentication", "credential"),
            ("connectivity_node_route", cn),
            (
                "autodiscover_url_override",
                "https://autodiscover.contoso.com/x",
            ),
        ]);
        assert!(!applies(&with_override, "scp_lookup"));
        let certificate = form(&[
            ("authentication", "client_certificate"),
            ("connectivity_node_route", cn),
        ]);
        assert!(
            !applies(&certificate, "scp_lookup"),
            "SCP only with Credential"
        );
        let modern = form(&[
            ("authentication", "credential"),
            ("connectivity_node_route", cn),
            ("modern_authentication.enabled", "on"),
        ]);
        assert!(!applies(&modern, "use_internal_ews_url"));
        assert!(applies(&modern, "modern_authentication.authority"));
        let no_route = form(&[("authentication", "credential")]);
        assert!(!applies(&no_route, "use_internal_ews_url"));
        let passive = form(&[("authentication", "passive")]);
        assert!(applies(&passive, "passive.authority"));
        assert!(!applies(&passive, "modern_authentication.enabled"));
        assert!(!applies(&passive, "service_account_username"));
    }

    #[test]
    fn saving_keeps_other_sections_drops_fields_that_do_not_apply_and_files_secrets() {
        let base = json!({
            "id": "contoso",
            "exchange": "on_premises",
            "authentication": "credential",
            "service_account_username": "old",
            "service_account_password_env": "OLD_VAR",
            "scp_lookup": true,
            "entitlement": {"mode": "all"},
        });
        let posted = form(&[
            ("exchange", "microsoft365"),
            ("authentication", "credential"),
            ("service_account_username", "svc@contoso.com"),
            ("service_account_password", "typed secret"),
            ("modern_authentication.enabled", "on"),
            (
                "modern_authentication.authority",
                "https://login.microsoftonline.com/contoso",
            ),
        ]);
        let mut written = Vec::new();
        let out = apply(&base, &posted, |key, secret| {
            written.push((key.to_owned(), secret.to_owned()));
            Ok(PathBuf::from("/secrets/pw"))
        })
        .expect("applied");
        assert_eq!(
            written,
            [(
                "service_account_password".to_owned(),
                "typed secret".to_owned()
            )]
        );
        assert_eq!(out["service_account_password_file"], "/secrets/pw");
        assert!(out.get("service_account_password_env").is_none());
        assert!(
            out.get("scp_lookup").is_none(),
            "no route: SCP does not apply"
        );
        assert_eq!(out["entitlement"]["mode"], "all", "other sections kept");
        assert_eq!(out["modern_authentication"]["enabled"], true);
        assert_eq!(out["exchange"], "microsoft365");
        let text = to_admin_toml(&out).expect("TOML");
        assert!(text.contains("\nid = \"contoso\"\n"), "{text}");
        assert!(text.contains("[tenants.modern_authentication]"), "{text}");
        assert!(!text.contains("typed secret"), "{text}");
    }

    #[test]
    fn a_blank_password_keeps_the_one_set_and_is_never_read_back() {
        let base =
            json!({"authentication": "credential", "service_account_password_file": "/s/pw"});
        let values = Values::of_settings(&base);
        assert!(values.is_set("service_account_password"));
        assert_eq!(values.text("service_account_password"), "");
        let out = apply(&base, &form(&[("authentication", "credential")]), |_, _| {
            Err("not called".into())
        })
        .expect("applied");
        assert_eq!(out["service_account_password_file"], "/s/pw");
    }

    #[test]
    fn a_typed_secret_stays_out_of_debug_output() {
        let values = form(&[
            ("authentication", "credential"),
            ("service_account_password", "typed secret"),
        ]);
        let debug = format!("{values:?}");
        assert!(debug.contains("service_account_password"), "{debug}");
        assert!(!debug.contains("typed secret"), "{debug}");
        assert!(!debug.contains("credential\""), "no value at all: {debug}");
    }

    #[test]
    fn problems_are_matched_to_their_fields() {
        assert_eq!(
            field_of("tenants[contoso].modern_authentication.enabled", "contoso"),
            Some("modern_authentication.enabled")
        );
        assert_eq!(
            field_of("tenants[contoso].service_account_password_file", "contoso"),
            Some("service_account_password")
        );
        assert_eq!(field_of("tenants[other].scp_lookup", "contoso"), None);
        assert_eq!(field_of("tenants[contoso].graph.enabled", "contoso"), None);
    }
}
