use secrecy::ExposeSecret;

use super::*;

const FULL: &str = include_str!("../fixtures/full.toml");

fn settings(text: &str) -> ServiceSettings {
    ServiceSettings::from_toml_str(text).unwrap_or_else(|e| panic!("{e}"))
}

const TWO_TENANTS: &str = r#"
    [[tenants]]
    id = "contoso"
    exchange = "on_premises"
    service_account_password_file = "/run/secrets/contoso"
    [[tenants]]
    id = "contoso-eu"
    exchange = "microsoft365"
"#;

/// The settings as `Debug` shows them, with every secret's value beside it (`Debug` redacts
/// them): two settings are the same when these are.
fn shown(settings: &ServiceSettings) -> (String, Vec<(String, Option<String>)>) {
    let mut copy = settings.clone();
    let secrets = copy
        .slots()
        .into_iter()
        .map(|slot| {
            let value = slot.value.as_ref().map(|v| v.expose_secret().to_owned());
            (slot.field, value)
        })
        .collect();
    (format!("{settings:?}"), secrets)
}

fn fields(result: Result<(), SettingsError>) -> Vec<String> {
    match result {
        Ok(()) => Vec::new(),
        Err(error) => error.problems().iter().map(|p| p.field.clone()).collect(),
    }
}

/// A scalar of the TOML file as an environment value.
fn env_value(value: &toml::Value) -> String {
    match value {
        toml::Value::String(text) => text.clone(),
        toml::Value::Array(items) => items.iter().map(env_value).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// Every leaf of `table` under `path`: (TOML path, value). Tables of arrays are skipped.
fn leaves(table: &toml::Table, path: &[String], out: &mut Vec<(Vec<String>, toml::Value)>) {
    for (key, value) in table {
        let mut here = path.to_vec();
        here.push(key.clone());
        match value {
            toml::Value::Table(inner) => leaves(inner, &here, out),
            toml::Value::Array(items) if items.iter().all(toml::Value::is_table) => {}
            _ => out.push((here, value.clone())),
        }
    }
}

/// Writes `value` at `path` of `table`, creating tables on the way.
fn insert(table: &mut toml::Table, path: &[String], value: toml::Value) {
    match path {
        [last] => {
            table.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let inner = table
                .entry(first.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if let toml::Value::Table(inner) = inner {
                insert(inner, rest, value);
            }
        }
        [] => {}
    }
}

#[test]
fn every_key_of_the_file_can_be_set_from_the_environment_with_the_same_effect() {
    let full: toml::Table = toml::from_str(FULL).unwrap_or_else(|e| panic!("{e}"));
    let mut cases = Vec::new();
    let mut service = full.clone();
    service.remove("tenants");
    leaves(&service, &[], &mut cases);
    let tenants = full.get("tenants").and_then(toml::Value::as_array);
    for tenant in tenants
        .into_iter()
        .flatten()
        .filter_map(toml::Value::as_table)
    {
        let mut own = Vec::new();
        leaves(tenant, &[], &mut own);
        let id = tenant.get("id").map(env_value).unwrap_or_default();
        for (path, value) in own.into_iter().filter(|(path, _)| path[0] != "id") {
            cases.push(([vec!["tenants".into(), id.clone()], path].concat(), value));
        }
    }
    assert!(cases.len() > 50, "{} keys", cases.len());
    for (path, value) in cases {
        // The same setting, once written in the file and once set from the environment.
        let mut written = toml::Table::new();
        let mut base = settings("");
        let name;
        if path[0] == "tenants" {
            let id = path[1].clone();
            let mut tenant = toml::Table::new();
            tenant.insert("id".into(), toml::Value::String(id.clone()));
            tenant.insert("exchange".into(), "on_premises".into());
            base = settings(&format!(
                "[[tenants]]\nid = {id:?}\nexchange = \"on_premises\""
            ));
            insert(&mut tenant, &path[2..], value.clone());
            written.insert("tenants".into(), toml::Value::Array(vec![tenant.into()]));
            let rest = path[2..].join("__").to_uppercase();
            name = format!(
                "BEMS_TENANTS__{}__{rest}",
                id.to_uppercase().replace('-', "_")
            );
        } else {
            insert(&mut written, &path, value.clone());
            name = format!("BEMS_{}", path.join("__").to_uppercase());
        }
        let expected: ServiceSettings = toml::Value::Table(written)
            .try_into()
            .unwrap_or_else(|e| panic!("{path:?}: {e}"));
        let Some(key) = override_path(&name) else {
            panic!("{name} is not an override");
        };
        match base.set(&key, &env_value(&value)) {
            Ok(()) => {}
            Err(SetError::Unknown) => panic!("{name} names no setting"),
            Err(SetError::Invalid(rule)) => panic!("{name}: {rule}"),
        }
        assert_eq!(shown(&base), shown(&expected), "{name}");
    }
}

#[test]
fn overrides_replace_what_the_file_says() {
    let mut s = settings(&format!(
        "[server]\nlisten = \"127.0.0.1:1\"\n{TWO_TENANTS}"
    ));
    let result = s.apply_env([
        ("BEMS_SERVER__LISTEN", "0.0.0.0:8443"),
        ("bems_push__apns__topic", "com.contoso.mail"),
        (
            "BEMS_TENANTS__CONTOSO_EU__MODERN_AUTHENTICATION__ENABLED",
            "TRUE",
        ),
        (
            "BEMS_TENANTS__CONTOSO__SCP_DOMAIN_CONTROLLERS",
            "dc1.contoso.com, dc2.contoso.com",
        ),
        ("BEMS_TENANTS__CONTOSO__EXCHANGE", "hybrid"),
    ]);
    assert_eq!(fields(result), Vec::<String>::new());
    assert_eq!(s.server.listen.to_string(), "0.0.0.0:8443");
    assert_eq!(
        s.push.apns.map(|a| a.topic).as_deref(),
        Some("com.contoso.mail")
    );
    assert!(s.tenants[1].modern_authentication.enabled);
    assert!(!s.tenants[0].modern_authentication.enabled);
    assert_eq!(
        s.tenants[0].scp_domain_controllers.as_slice(),
        ["dc1.contoso.com", "dc2.contoso.com"]
    );
    assert_eq!(s.tenants[0].exchange, crate::ExchangeTarget::Hybrid);
}

#[test]
fn a_secret_from_the_environment_replaces_the_files_reference() {
    let mut s = settings(TWO_TENANTS);
    let result = s.apply_env([(
        "BEMS_TENANTS__CONTOSO__SERVICE_ACCOUNT_PASSWORD",
        "from-env",
    )]);
    assert_eq!(fields(result), Vec::<String>::new());
    let tenant = &s.tenants[0];
    assert_eq!(
        tenant
            .service_account_password
            .as_ref()
            .map(ExposeSecret::expose_secret),
        Some("from-env")
    );
    assert_eq!(tenant.service_account_password_file, None);
}

#[test]
fn store_key_and_admin_token_come_from_their_variables() {
    let mut s = settings("[store]\nkey_file = \"/etc/bems/store.key\"");
    let key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    let result = s.apply_env([("BEMS_STORE_KEY", key), ("BEMS_ADMIN_TOKEN", "t0k3n")]);
    assert_eq!(fields(result), Vec::<String>::new());
    assert_eq!(
        s.store.key.as_ref().map(ExposeSecret::expose_secret),
        Some(key)
    );
    assert_eq!(s.store.key_file, None);
    assert_eq!(
        s.admin.token.as_ref().map(ExposeSecret::expose_secret),
        Some("t0k3n")
    );
}

#[test]
fn the_store_url_and_the_cluster_come_from_variables() {
    let mut s = settings("[store]\nurl_file = \"/etc/bems/store.url\"");
    let url = "postgres://bems:Pa55@db.contoso.com/bems";
    let result = s.apply_env([
        ("BEMS_STORE__URL", url),
        ("BEMS_CLUSTER__NODE", "bems-3"),
        ("BEMS_CLUSTER__CAPACITY", "2500"),
        ("BEMS_CLUSTER__LEASE_SECONDS", "12"),
    ]);
    assert_eq!(fields(result), Vec::<String>::new());
    assert_eq!(
        s.store.url.as_ref().map(ExposeSecret::expose_secret),
        Some(url)
    );
    assert_eq!(s.store.url_file, None);
    assert_eq!(s.cluster.node.as_deref(), Some("bems-3"));
    assert_eq!((s.cluster.capacity, s.cluster.lease_seconds), (2500, 12));
    assert!(
        !format!("{s:?}").contains("Pa55"),
        "Debug keeps the URL's password out"
    );
    let result = s.apply_env([("BEMS_CLUSTER__CAPACITY", "many")]);
    assert_eq!(fields(result), vec!["BEMS_CLUSTER__CAPACITY".to_owned()]);
}

#[test]
fn env_references_are_resolved_and_missing_ones_named() {
    let mut s = settings(
        r#"
        [admin]
        token_env = "MY_ADMIN_TOKEN"
        [[tenants]]
        id = "contoso"
        exchange = "on_premises"
        service_account_password_env = "CONTOSO_PASSWORD"
        [tenants.client_certificate]
        password_env = "CONTOSO_PFX_PASSWORD"
    "#,
    );
    let result = s.apply_env([("MY_ADMIN_TOKEN", "t0k3n"), ("CONTOSO_PFX_PASSWORD", "")]);
    assert_eq!(
        fields(result),
        [
            "tenants[contoso].service_account_password_env",
            "tenants[contoso].client_certificate.password_env"
        ]
    );
    assert_eq!(
        s.admin.token.as_ref().map(ExposeSecret::expose_secret),
        Some("t0k3n")
    );
    assert_eq!(s.admin.token_env, None);
    assert!(s.tenants[0].service_account_password.is_none());
}

#[test]
fn variables_naming_no_setting_are_refused_by_name() {
    let mut s = settings(TWO_TENANTS);
    let result = s.apply_env([
        ("BEMS_SERVER__COLOUR", "blue"),
        ("BEMS_TENANTS__NOPE__SCP_LOOKUP", "true"),
        ("BEMS_TENANTS__CONTOSO__ID", "other"),
        (
            "BEMS_TENANTS__CONTOSO__PASSIVE__REDIRECT_URI",
            "https://x.test",
        ),
        ("BEMS_LOG", "debug"),
        ("OTHER__THING", "x"),
    ]);
    let error = result.map_err(|e| e.to_string()).unwrap_err();
    assert!(error.starts_with("4 invalid settings"), "{error}");
    assert!(
        error.contains("BEMS_SERVER__COLOUR: names no setting"),
        "{error}"
    );
    assert!(error.contains("(server.colour)"), "{error}");
    assert!(
        error.contains("BEMS_TENANTS__NOPE__SCP_LOOKUP: names no tenant"),
        "{error}"
    );
    assert!(
        error.contains("BEMS_TENANTS__CONTOSO__ID: names no setting"),
        "{error}"
    );
    assert!(
        error.contains("BEMS_TENANTS__CONTOSO__PASSIVE__REDIRECT_URI: names"),
        "{error}"
    );
}

#[test]
fn values_that_do_not_fit_name_the_variable_and_the_rule() {
    let mut s = settings(TWO_TENANTS);
    let result = s.apply_env([
        ("BEMS_SERVER__LISTEN", "localhost"),
        ("BEMS_TENANTS__CONTOSO__SCP_SSL", "yes"),
        ("BEMS_TENANTS__CONTOSO__EXCHANGE", "cloud"),
        ("BEMS_TENANTS__CONTOSO__SCP_DOMAIN_CONTROLLERS", "dc1,,dc2"),
        (
            "BEMS_TENANTS__CONTOSO__SUBSCRIPTION__PULL_INTERVAL_SECONDS",
            "-1",
        ),
    ]);
    let problems = result.unwrap_err().problems().to_vec();
    let rules: Vec<(&str, &str)> = problems
        .iter()
        .map(|p| (p.field.as_str(), p.rule.as_str()))
        .collect();
    assert_eq!(rules.len(), 5, "{rules:?}");
    assert!(rules.contains(&(
        "BEMS_SERVER__LISTEN",
        "\"localhost\" is not an address and port (127.0.0.1:8443, [::]:8443)"
    )));
    assert!(rules.contains(&(
        "BEMS_TENANTS__CONTOSO__SCP_SSL",
        "\"yes\" is not true or false"
    )));
    let exchange = rules
        .iter()
        .find(|(field, _)| *field == "BEMS_TENANTS__CONTOSO__EXCHANGE");
    assert!(
        exchange.is_some_and(|(_, rule)| rule.contains("on_premises")),
        "{rules:?}"
    );
}

#[test]
fn one_secret_set_two_ways_is_refused() {
    let mut s = settings(TWO_TENANTS);
    let result = s.apply_env([
        ("BEMS_TENANTS__CONTOSO__SERVICE_ACCOUNT_PASSWORD", "a"),
        (
            "BEMS_TENANTS__CONTOSO__SERVICE_ACCOUNT_PASSWORD_FILE",
            "/run/b",
        ),
    ]);
    assert_eq!(
        fields(result),
        ["BEMS_TENANTS__CONTOSO__SERVICE_ACCOUNT_PASSWORD_FILE"]
    );
    let mut s = settings(TWO_TENANTS);
    let result = s.apply_env([("BEMS_STORE_KEY", "a"), ("BEMS_STORE__KEY_ENV", "B")]);
    assert_eq!(fields(result), ["BEMS_STORE__KEY_ENV"]);
}

#[test]
fn an_empty_value_clears_an_optional_setting() {
    let mut s = settings(&format!(
        "[server]\npublic_url = \"https://bems.contoso.com\"\n{TWO_TENANTS}"
    ));
    let result = s.apply_env([
        ("BEMS_SERVER__PUBLIC_URL", ""),
        ("BEMS_TENANTS__CONTOSO__SERVICE_ACCOUNT_PASSWORD_FILE", ""),
    ]);
    assert_eq!(fields(result), Vec::<String>::new());
    assert_eq!(s.server.public_url, None);
    assert_eq!(s.tenants[0].service_account_password_file, None);
}

#[test]
fn tenants_whose_ids_read_alike_are_not_guessed() {
    let mut s = settings(
        r#"
        [[tenants]]
        id = "a-b"
        exchange = "on_premises"
        [[tenants]]
        id = "a_b"
        exchange = "on_premises"
    "#,
    );
    let error = s
        .apply_env([("BEMS_TENANTS__A_B__SCP_LOOKUP", "true")])
        .unwrap_err();
    assert!(
        error.problems()[0]
            .rule
            .contains("matches tenants a-b and a_b"),
        "{error}"
    );
    assert!(!s.tenants[0].scp_lookup && !s.tenants[1].scp_lookup);
}
