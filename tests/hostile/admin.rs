//! The administrator's side (issue 14, items 4, 6, 9 and 10): secret references stay inside
//! the secret directories, the settings read back are JSON without secrets, no one is entitled
//! until the tenant says so, the store and the Graph spool are private files, and
//! test-connection names a failed TLS handshake for what it is.
//!
//! | test | hole |
//! |---|---|
//! | `a_secret_file_outside_the_secret_directories_is_refused_unopened` | the admin API read any file as a secret |
//! | `symlinks_and_dot_dot_do_not_leave_the_secret_directories` | the same, through a link or `..` |
//! | `every_file_an_admin_names_stays_in_the_secret_directories` | .pfx and CA files outside |
//! | `a_tenant_may_not_name_the_services_own_secret_files` | the APNs key sent as a tenant's password |
//! | `env_references_are_refused_through_the_admin_api` | an admin naming the store key's variable |
//! | `a_refused_put_keeps_what_was_stored` | nothing stored is lost |
//! | `the_configuration_files_references_stay_in_the_secret_directories` | the file's own `.p8` |
//! | `settings_read_back_are_json_in_the_put_shape_without_secrets` | a `Debug` dump |
//! | `without_an_entitlement_no_one_is_entitled` | everyone entitled by default |
//! | `the_store_and_its_journal_are_private_files_in_a_private_directory` | a `0644` store |
//! | `the_running_service_keeps_its_store_and_graph_spool_private` | the same, composed |
//! | `a_failed_tls_handshake_is_not_labelled_credentials_sent` | test-connection's label |
//!
//! File modes and symbolic links make these Unix tests.
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bems::service::server::{self, Running};
use bems::settings::{
    CommaList, EntitlementMode, EntitlementSettings, ServiceSettings, SubscriptionMode,
};
use bems::store::model::TenantId;
use bems::store::{SqliteStore, StoreKey, TenantStore};
use bems_demo::{self as demo, ADMIN_TOKEN, TENANT, TOPIC, World};
use serde_json::Value;

const MARA: &str = "mara@contoso.com";
const SADIE: &str = "sadie@contoso.com";
/// The demo's store key (the admin must never see it).
const STORE_KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

fn tenant() -> TenantId {
    TenantId::new(TENANT).expect("tenant id")
}

async fn world(fast: bool) -> World {
    World::start(SubscriptionMode::Streaming, None, fast)
        .await
        .expect("world starts")
}

async fn serve(world: &World) -> (Running, String) {
    let running = server::start(&world.settings, &world.overrides)
        .await
        .expect("service starts");
    let base = format!("http://{}", running.addr);
    (running, base)
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("file written");
    path
}

/// A path as a TOML string.
fn quoted(path: &Path) -> String {
    format!("{:?}", path.display().to_string())
}

/// A tenant's table as `PUT /admin/tenants/contoso/settings` takes it, with `extra` lines.
fn tenant_body(extra: &str) -> String {
    format!(
        "id = \"{TENANT}\"\nexchange = \"on_premises\"\n\
         service_account_username = \"svc-bems@contoso.com\"\n{extra}"
    )
}

async fn put_settings(base: &str, body: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .put(format!("{base}/admin/tenants/{TENANT}/settings"))
        .bearer_auth(ADMIN_TOKEN)
        .body(body.to_owned())
        .send()
        .await
        .expect("the API answers");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a body"))
}

async fn get_settings(base: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .get(format!("{base}/admin/tenants/{TENANT}/settings"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("the API answers");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a body"))
}

/// The (field, rule) pairs of a refusal.
fn problems(body: &str) -> Vec<(String, String)> {
    let json: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    json["problems"]
        .as_array()
        .unwrap_or_else(|| panic!("no problems listed: {body}"))
        .iter()
        .map(|p| {
            (
                p["field"].as_str().unwrap_or_default().to_owned(),
                p["rule"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn fields(body: &str) -> Vec<String> {
    problems(body).into_iter().map(|(field, _)| field).collect()
}

async fn stored(running: &Running) -> Option<String> {
    running
        .service
        .store
        .tenant(&tenant())
        .await
        .expect("the store answers")
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn a_secret_file_outside_the_secret_directories_is_refused_unopened() {
    let world = world(false).await;
    let (running, base) = serve(&world).await;
    let outside = tempfile::tempdir().expect("a directory");
    let secret = write(outside.path(), "password", "outside-secret-7f3a");
    let missing = outside.path().join("missing");
    let mut rules = Vec::new();
    for path in [
        secret.as_path(),
        missing.as_path(),
        Path::new("/etc/passwd"),
    ] {
        let line = format!("service_account_password_file = {}\n", quoted(path));
        let (status, body) = put_settings(&base, &tenant_body(&line)).await;
        assert_eq!(status, 422, "{}: {body}", path.display());
        assert!(!body.contains("outside-secret-7f3a"), "{body}");
        assert!(!body.contains("root:"), "{body}");
        let problems = problems(&body);
        assert_eq!(
            fields(&body),
            ["tenants[contoso].service_account_password_file"],
            "{body}"
        );
        let rule = problems[0].1.replace(&path.display().to_string(), "<path>");
        assert!(rule.contains("secret directories"), "{rule}");
        rules.push(rule);
    }
    // The same answer whether the file exists or not: it was not opened to decide.
    assert_eq!(rules[0], rules[1]);
    assert_eq!(rules[0], rules[2]);
    assert_eq!(stored(&running).await, None, "nothing stored");
    running.stop().await;
}

#[tokio::test]
async fn symlinks_and_dot_dot_do_not_leave_the_secret_directories() {
    let world = world(false).await;
    let (running, base) = serve(&world).await;
    let inside = world.dir.path();
    let outside = tempfile::tempdir().expect("a directory");
    let secret = write(outside.path(), "password", "outside-secret-7f3a");
    let link = inside.join("link-to-outside");
    std::os::unix::fs::symlink(&secret, &link).expect("symlink");
    let name = outside.path().file_name().expect("a name");
    let dot_dot = inside.join("..").join(name).join("password");
    assert_eq!(
        std::fs::read_to_string(&dot_dot).ok().as_deref(),
        Some("outside-secret-7f3a"),
        "the path leads outside"
    );
    for path in [&link, &dot_dot] {
        let line = format!("service_account_password_file = {}\n", quoted(path));
        let (status, body) = put_settings(&base, &tenant_body(&line)).await;
        assert_eq!(status, 422, "{}: {body}", path.display());
        assert_eq!(
            fields(&body),
            ["tenants[contoso].service_account_password_file"],
            "{body}"
        );
        assert!(!body.contains("outside-secret-7f3a"), "{body}");
    }
    // A file inside the secret directory is taken.
    let password = write(inside, "svc-password", "Svc-Pa55w.rd\n");
    let line = format!("service_account_password_file = {}\n", quoted(&password));
    let (status, body) = put_settings(&base, &tenant_body(&line)).await;
    assert_eq!(status, 200, "{body}");
    running.stop().await;
}

#[tokio::test]
async fn every_file_an_admin_names_stays_in_the_secret_directories() {
    let world = world(false).await;
    let (running, base) = serve(&world).await;
    let outside = tempfile::tempdir().expect("a directory");
    let pfx = write(outside.path(), "client.pfx", "not read");
    let pem = write(
        outside.path(),
        "ca.pem",
        "-----BEGIN CERTIFICATE-----\nQUQ=\n-----END CERTIFICATE-----\n",
    );
    let password = write(world.dir.path(), "pfx-password", "pw\n");
    let body = format!(
        "id = \"{TENANT}\"\nexchange = \"on_premises\"\nauthentication = \"client_certificate\"\n\
         [tenants.client_certificate]\npfx_file = {}\npassword_file = {}\n\
         [[tenants.trusted_certificates]]\nname = \"ca\"\npurpose = \"exchange\"\npem_file = {}\n",
        quoted(&pfx),
        quoted(&password),
        quoted(&pem),
    );
    let (status, body) = put_settings(&base, &body).await;
    assert_eq!(status, 422, "{body}");
    let fields = fields(&body);
    for field in [
        "tenants[contoso].client_certificate.pfx_file",
        "tenants[contoso].trusted_certificates[ca].pem_file",
    ] {
        assert!(fields.iter().any(|f| f == field), "{field}: {body}");
    }
    assert_eq!(stored(&running).await, None, "nothing stored");
    running.stop().await;
}

#[tokio::test]
async fn a_tenant_may_not_name_the_services_own_secret_files() {
    let world = world(false).await;
    let (running, base) = serve(&world).await;
    // Inside the secret directory, but the service's: the APNs key and the FCM account would
    // go to the tenant's Exchange as its password.
    for own in ["apns.p8", "fcm.json"] {
        let path = world.dir.path().join(own);
        assert!(path.exists(), "{}", path.display());
        let line = format!("service_account_password_file = {}\n", quoted(&path));
        let (status, body) = put_settings(&base, &tenant_body(&line)).await;
        assert_eq!(status, 422, "{own}: {body}");
        assert_eq!(
            fields(&body),
            ["tenants[contoso].service_account_password_file"],
            "{body}"
        );
        assert!(!body.contains("PRIVATE KEY"), "{body}");
    }
    assert_eq!(stored(&running).await, None, "nothing stored");
    running.stop().await;
}

#[tokio::test]
async fn env_references_are_refused_through_the_admin_api() {
    let world = world(false).await;
    let (running, base) = serve(&world).await;
    // The store key's variable, or any other: the admin may not read the environment.
    let body = tenant_body(
        "service_account_password_env = \"BEMS_STORE_KEY\"\n\
         [tenants.directory.ldap]\nbind_user = \"svc-ldap\"\nbind_password_env = \"HOME\"\n",
    );
    let (status, body) = put_settings(&base, &body).await;
    assert_eq!(status, 422, "{body}");
    let fields = fields(&body);
    for field in [
        "tenants[contoso].service_account_password_env",
        "tenants[contoso].directory.ldap.bind_password_env",
    ] {
        assert!(fields.iter().any(|f| f == field), "{field}: {body}");
    }
    assert_eq!(stored(&running).await, None, "nothing stored");
    running.stop().await;
}

#[tokio::test]
async fn a_refused_put_keeps_what_was_stored() {
    let world = world(false).await;
    let (running, base) = serve(&world).await;
    let password = write(world.dir.path(), "svc-password", "Svc-Pa55w.rd\n");
    let good = tenant_body(&format!(
        "service_account_password_file = {}\n",
        quoted(&password)
    ));
    let (status, body) = put_settings(&base, &good).await;
    assert_eq!(status, 200, "{body}");
    let before = stored(&running).await.expect("stored");
    for bad in [
        "service_account_password_file = \"/etc/passwd\"\n",
        "service_account_password_env = \"BEMS_STORE_KEY\"\n",
    ] {
        let (status, body) = put_settings(&base, &tenant_body(bad)).await;
        assert_eq!(status, 422, "{bad}: {body}");
        assert_eq!(stored(&running).await.as_ref(), Some(&before), "{bad}");
    }
    let (status, body) = get_settings(&base).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&password.display().to_string()), "{body}");
    assert!(!body.contains("/etc/passwd"), "{body}");
    running.stop().await;
}

#[test]
fn the_configuration_files_references_stay_in_the_secret_directories() {
    let config_dir = tempfile::tempdir().expect("a directory");
    let keys = tempfile::tempdir().expect("a directory");
    let c = config_dir.path();
    let token = write(c, "admin.token", "0123456789abcdef0123456789abcdef\n");
    let password = write(c, "password", "Passw0rd!\n");
    let p8 = write(keys.path(), "apns.p8", "-----BEGIN PRIVATE KEY-----\n");
    let text = format!(
        "[admin]\ntoken_file = {}\n\
         [push.apns]\nteam_id = \"ABCDE12345\"\nkey_id = \"KEY1234567\"\nkey_file = {}\n\
         topic = \"com.contoso.mail\"\n\
         [[tenants]]\nid = \"contoso\"\nexchange = \"on_premises\"\n\
         service_account_username = \"svc@contoso.com\"\nservice_account_password_file = {}\n",
        quoted(&token),
        quoted(&p8),
        quoted(&password),
    );
    let config = write(c, "bems.toml", &text);
    // By default the secret directory is the configuration file's.
    let error = ServiceSettings::load(&config).expect_err("the .p8 is outside");
    let problems = error.problems();
    assert_eq!(problems.len(), 1, "{error}");
    assert_eq!(problems[0].field, "push.apns.key_file", "{error}");
    assert!(problems[0].rule.contains("secret directories"), "{error}");
    // Named as a secret directory, its files are taken.
    let granted = format!(
        "[secrets]\ndirectories = [{}, {}]\n{text}",
        quoted(c),
        quoted(keys.path())
    );
    let config = write(c, "bems.toml", &granted);
    ServiceSettings::load(&config).unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn settings_read_back_are_json_in_the_put_shape_without_secrets() {
    let world = world(false).await;
    let (running, base) = serve(&world).await;
    let password = write(world.dir.path(), "svc-password", "Stored-Pa55\n");
    let line = format!("service_account_password_file = {}\n", quoted(&password));
    let (status, body) = put_settings(&base, &tenant_body(&line)).await;
    assert_eq!(status, 200, "{body}");

    let (status, body) = get_settings(&base).await;
    assert_eq!(status, 200, "{body}");
    for secret in ["Svc-Pa55w.rd", "Stored-Pa55", ADMIN_TOKEN, STORE_KEY] {
        assert!(!body.contains(secret), "a secret is shown: {body}");
    }
    let json: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    let in_force = json["in_force"].clone();
    assert!(in_force.is_object(), "in force: {body}");
    assert_eq!(in_force["id"], TENANT);
    assert_eq!(in_force["exchange"], "on_premises");
    assert_eq!(in_force["authentication"], "credential");
    assert_eq!(in_force["service_account_username"], "svc-bems@contoso.com");
    assert_eq!(in_force["subscription"]["mode"], "streaming");
    assert_eq!(in_force["entitlement"]["mode"], "all");
    assert!(in_force["registration"]["jwks_uri"].is_string(), "{body}");
    assert!(in_force.get("service_account_password").is_none(), "{body}");
    let redacted: Vec<&str> = json["redacted"]
        .as_array()
        .unwrap_or_else(|| panic!("no redacted list: {body}"))
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(redacted, ["service_account_password"], "{body}");
    let stored = &json["stored"];
    assert_eq!(
        stored["service_account_password_file"],
        password.display().to_string(),
        "{body}"
    );

    // The shape PUT takes: the settings in force, given a password reference, go back in.
    let mut again = in_force;
    again["service_account_password_file"] = Value::from(password.display().to_string());
    let toml = toml::to_string(&serde_json::json!({ "tenants": [again] }))
        .unwrap_or_else(|e| panic!("{e}"));
    let table = toml
        .strip_prefix("[[tenants]]\n")
        .expect("one tenant's table");
    let (status, body) = put_settings(&base, table).await;
    assert_eq!(status, 200, "{toml}\n{body}");
    running.stop().await;
}

#[tokio::test]
async fn without_an_entitlement_no_one_is_entitled() {
    let mut world = world(false).await;
    world.settings.tenants[0].entitlement = EntitlementSettings::default();
    let (running, base) = serve(&world).await;
    let bearer = world.user_token(MARA).expect("user token");
    let http = reqwest::Client::new();
    let (status, body) = demo::register(
        &http,
        &base,
        &bearer,
        MARA,
        "apns",
        &demo::apns_token(1),
        TOPIC,
    )
    .await
    .expect("the API answers");
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("[tenants.entitlement]"), "{body}");
    assert!(
        running
            .service
            .store
            .devices(&tenant())
            .await
            .expect("devices")
            .is_empty()
    );
    running.stop().await;
}

#[tokio::test]
async fn an_entitlement_list_entitles_its_mailboxes_and_they_alone_get_pushes() {
    let mut world = world(true).await;
    world.settings.tenants[0].entitlement = EntitlementSettings {
        mode: EntitlementMode::List,
        mailboxes: CommaList::parse(MARA).expect("a list"),
        domains: CommaList::default(),
    };
    let (running, base) = serve(&world).await;
    let http = reqwest::Client::new();
    let mut answers = Vec::new();
    for (n, mailbox) in [(1, MARA), (2, SADIE)] {
        let bearer = world.user_token(mailbox).expect("user token");
        let token = demo::apns_token(n);
        let answer = demo::register(&http, &base, &bearer, mailbox, "apns", &token, TOPIC)
            .await
            .expect("the API answers");
        answers.push(answer);
    }
    assert_eq!(answers[0].0, 201, "{answers:?}");
    assert_eq!(answers[1].0, 403, "{answers:?}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while running.service.status().await[0].subscriptions.subscribed < 1 {
        assert!(
            Instant::now() < deadline,
            "mara's mailbox is not subscribed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for mailbox in [MARA, SADIE] {
        world
            .sim
            .deliver_mail(mailbox, "Hello", "boss@contoso.com")
            .expect("mail delivered");
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while super::support::mails(&super::support::delivered(&world, &demo::apns_token(1))) < 1 {
        assert!(Instant::now() < deadline, "mara got no push");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(super::support::delivered(&world, &demo::apns_token(2)).is_empty());
    running.stop().await;
}

#[tokio::test]
async fn the_store_and_its_journal_are_private_files_in_a_private_directory() {
    let dir = tempfile::tempdir().expect("a directory");
    for path in [
        dir.path().join("bems.db"),
        dir.path().join("state").join("bems.db"),
    ] {
        let key = StoreKey::generate().expect("a key");
        let store = SqliteStore::open(&path, key)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        store.put_tenant(&tenant(), "{}").await.expect("written");
        assert_eq!(mode(&path), 0o600, "{}", path.display());
        let mut journal = 0;
        for suffix in ["-wal", "-shm"] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            let file = PathBuf::from(name);
            if file.exists() {
                journal += 1;
                assert_eq!(mode(&file), 0o600, "{}", file.display());
            }
        }
        assert!(journal > 0, "the WAL journal is in use");
    }
    // The directory the store made is its own.
    assert_eq!(mode(&dir.path().join("state")), 0o700);
}

#[tokio::test]
async fn the_running_service_keeps_its_store_and_graph_spool_private() {
    let mut world = world(false).await;
    world.use_graph(true).expect("Microsoft 365 settings");
    let running = server::start(&world.settings, &world.overrides)
        .await
        .expect("service starts");
    let store = world.settings.store.path.clone();
    assert_eq!(mode(&store), 0o600);
    let mut graph = store.as_os_str().to_owned();
    graph.push(".graph");
    let graph = PathBuf::from(graph);
    assert_eq!(mode(&graph), 0o700, "{}", graph.display());
    let spool = graph.join(TENANT);
    assert_eq!(mode(&spool), 0o700, "{}", spool.display());
    assert_eq!(mode(&spool.join("spool.jsonl")), 0o600);
    running.stop().await;
}

/// A TLS server on loopback whose certificate nobody trusts; it counts handshakes tried.
async fn untrusted_tls_server() -> (u16, Arc<std::sync::atomic::AtomicUsize>) {
    use tokio_rustls::rustls;
    let certified = rcgen::generate_simple_self_signed(vec!["autodiscover.contoso.com".into()])
        .expect("a certificate");
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .expect("a server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bound");
    let port = listener.local_addr().expect("an address").port();
    let tried = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = Arc::clone(&tried);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = acceptor.accept(stream).await;
            });
        }
    });
    (port, tried)
}

#[tokio::test]
async fn a_failed_tls_handshake_is_not_labelled_credentials_sent() {
    let mut world = world(false).await;
    let (port, tried) = untrusted_tls_server().await;
    let url = format!("https://autodiscover.contoso.com:{port}/autodiscover/autodiscover.xml");
    world.settings.tenants[0].autodiscover_url_override = Some(url.parse().expect("a URL"));
    let (running, base) = serve(&world).await;
    let report: Value = reqwest::Client::new()
        .post(format!("{base}/admin/tenants/{TENANT}/test-connection"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({ "email": MARA }))
        .send()
        .await
        .expect("the API answers")
        .json()
        .await
        .expect("a report");
    assert!(
        tried.load(std::sync::atomic::Ordering::SeqCst) > 0,
        "{report:#}"
    );
    let lines: Vec<&str> = report["steps"][0]["trace"]
        .as_array()
        .unwrap_or_else(|| panic!("no trace: {report:#}"))
        .iter()
        .filter_map(Value::as_str)
        .filter(|line| line.contains(&format!(":{port}/")))
        .collect();
    assert!(!lines.is_empty(), "{report:#}");
    for line in lines {
        assert!(line.contains("TLS handshake failed"), "{line}");
        assert!(line.contains("no credentials sent"), "{line}");
        assert!(!line.contains(", credentials sent"), "{line}");
    }
    running.stop().await;
}
