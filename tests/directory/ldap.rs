//! LDAP and LDAPS against Samba AD: BEMS's default query template, photos, the merge with
//! EWS, and injection attempts.

use std::io::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use bems::exchange_auth::SecretString;
use bems::exchange_directory::{DirectoryBackend, SearchQuery};
use bems::service::directory::ldap_directory;
use bems::settings::{CertificatePurpose, TrustedCertificate};

use super::*;

struct Samba {
    ca_pem: String,
}

/// The running, seeded DC; `None` (with a note) when not asked for; a panic when required and
/// missing.
fn samba(test: &str) -> Option<Samba> {
    let Some(dir) = std::env::var_os("BEMS_SAMBA_AD") else {
        if std::env::var("BEMS_REQUIRE_SERVICES").is_ok_and(|v| v == "1") {
            panic!(
                "BEMS_REQUIRE_SERVICES=1 but BEMS_SAMBA_AD is not set: run \
                 eval \"$(scripts/samba-ad/start.sh)\" first"
            );
        }
        let _ = writeln!(
            std::io::stderr(),
            "note: directory::ldap::{test} skipped: BEMS_SAMBA_AD is not set (see scripts/samba-ad/start.sh)"
        );
        return None;
    };
    let dir = match dir.to_str() {
        Some("1") => PathBuf::from("/tmp/bems-samba/ad"),
        _ => PathBuf::from(dir),
    };
    let ca = dir.join("tls/ca.pem");
    let ca_pem = std::fs::read_to_string(&ca).unwrap_or_else(|e| {
        panic!(
            "BEMS_SAMBA_AD is set but {} is unreadable: {e}",
            ca.display()
        )
    });
    let ldap: SocketAddr = "127.0.0.1:389".parse().expect("address");
    if let Err(e) = TcpStream::connect_timeout(&ldap, Duration::from_secs(2)) {
        panic!(
            "BEMS_SAMBA_AD is set but nothing answers on {ldap} ({e}): run scripts/samba-ad/start.sh"
        );
    }
    Some(Samba { ca_pem })
}

/// The tenant asks `backends`, LDAP being the DC (LDAPS when `ssl`) bound as the reader.
fn ldap(
    samba: &Samba,
    ssl: bool,
    backends: Vec<DirectoryBackendKind>,
) -> impl FnOnce(&mut TenantSettings) {
    let ca = samba.ca_pem.clone();
    move |tenant| {
        let directory = &mut tenant.directory;
        directory.backends = backends;
        directory.ldap.servers = CommaList::parse("127.0.0.1").expect("list");
        directory.ldap.ssl = ssl;
        directory.ldap.bind_user = Some(READER.to_owned());
        directory.ldap.bind_password = Some(SecretString::from(READER_PASSWORD));
        directory.max_photo_bytes = 2048;
        tenant.trusted_certificates.push(TrustedCertificate {
            name: "samba-test-ca".into(),
            purpose: CertificatePurpose::ActiveDirectory,
            pem_file: None,
            pem: Some(ca),
        });
    }
}

fn seeded(found: &[String]) {
    assert!(
        !found.is_empty(),
        "the DC lacks the people of directory.ldif: run scripts/samba-ad/start.sh (or seed-directory.sh)"
    );
}

#[tokio::test]
async fn ldap_and_ldaps_find_enabled_people_by_bems_default_template() {
    let Some(samba) = samba("ldap_and_ldaps_find_enabled_people_by_bems_default_template") else {
        return;
    };
    for ssl in [false, true] {
        let service = start(ldap(&samba, ssl, vec![DirectoryBackendKind::Ldap])).await;
        let found = service.found("ma").await;
        seeded(&found);
        // Not Martha (disabled) nor Mallory (a contact), though both match "ma".
        assert_eq!(
            found,
            ["mara@contoso.com", "marek@contoso.com"],
            "ssl {ssl}"
        );
        assert_eq!(service.found("Lindqvist").await, ["marek@contoso.com"]);
        assert_eq!(
            service.found("pnataraj").await,
            ["priya@contoso.com"],
            "sAMAccountName"
        );
        assert_eq!(
            service.found("priya@contoso").await,
            ["priya@contoso.com"],
            "mail"
        );
        assert_eq!(service.found("(Night)").await, ["ops-night@contoso.com"]);
        let (_, answer) = service.search(SADIE, "Whitley").await;
        let all = people(&answer);
        let mara = person(&all, MARA);
        assert_eq!(mara["job_title"], "Principal Engineer");
        assert_eq!(mara["department"], "Platform");
        assert_eq!(mara["sources"], serde_json::json!(["ldap"]));
        let link = mara["photo"].as_str().expect("a photo link").to_owned();
        let photo = service.get(&link, SADIE).await;
        assert_eq!(photo.status(), 200);
        let expected = base64::engine::general_purpose::STANDARD
            .decode(MARA_LDAP_PHOTO)
            .expect("base64");
        assert_eq!(photo.bytes().await.expect("bytes").to_vec(), expected);
        service.running.stop().await;
    }
}

#[tokio::test]
async fn photos_over_the_bound_and_of_hidden_people_are_not_served() {
    let Some(samba) = samba("photos_over_the_bound_and_of_hidden_people_are_not_served") else {
        return;
    };
    let service = start(ldap(&samba, true, vec![DirectoryBackendKind::Ldap])).await;
    let (_, answer) = service.search(MARA, "Bruno").await;
    let all = people(&answer);
    seeded(&all.iter().map(|p| p.to_string()).collect::<Vec<_>>());
    // 3 KiB in the directory, 2 KiB allowed: no link, and no bytes when asked anyway.
    assert_eq!(person(&all, "bruno@contoso.com")["photo"], Value::Null);
    let base = "/v1/tenants/contoso/directory/photos";
    let big = service
        .get(&format!("{base}/bruno@contoso.com"), MARA)
        .await;
    assert_eq!(big.status(), 404);
    // Martha is disabled: the photo template's person restriction hides her photo too.
    let hidden = service
        .get(&format!("{base}/martha@contoso.com"), MARA)
        .await;
    assert_eq!(hidden.status(), 404);
    service.running.stop().await;
}

#[tokio::test]
async fn ews_and_ldap_hits_of_one_person_merge_by_alias() {
    let Some(samba) = samba("ews_and_ldap_hits_of_one_person_merge_by_alias") else {
        return;
    };
    let backends = vec![DirectoryBackendKind::Ews, DirectoryBackendKind::Ldap];
    let service = start(ldap(&samba, false, backends)).await;
    let (status, answer) = service.search(SADIE, "Mara").await;
    assert_eq!(status, 200, "{answer}");
    let all = people(&answer);
    assert_eq!(
        all.iter().filter(|p| p["email"] == MARA).count(),
        1,
        "{all:#?}"
    );
    let mara = person(&all, MARA);
    assert_eq!(mara["sources"], serde_json::json!(["ews", "ldap"]));
    // EWS comes first: its job title wins; LDAP fills what EWS lacks.
    assert_eq!(mara["job_title"], "Engineer");
    assert_eq!(mara["department"], "Platform");
    service.running.stop().await;
}

/// How many people a naive substitution of `text` (no escaping) would find: what the service
/// must not show. A filter the naive substitution breaks finds nobody.
async fn naive(template: &str, text: &str) -> usize {
    let filter = template.replace("{key}", text);
    let (conn, mut ldap) = ldap3::LdapConnAsync::new("ldap://127.0.0.1:389")
        .await
        .expect("connect");
    tokio::spawn(conn.drive());
    ldap.simple_bind(READER, READER_PASSWORD)
        .await
        .and_then(|r| r.success())
        .expect("bind");
    let base = "OU=People,DC=corp,DC=example,DC=test";
    match ldap
        .search(base, ldap3::Scope::Subtree, &filter, vec!["mail"])
        .await
    {
        Ok(result) => result.0.len(),
        Err(_) => 0,
    }
}

#[tokio::test]
async fn injection_attempts_find_nothing_they_should_not() {
    let Some(samba) = samba("injection_attempts_find_nothing_they_should_not") else {
        return;
    };
    // An exact-match template: the only way to list people with it is to inject.
    let exact = "(&(objectCategory=person)(objectClass=user)\
                 (!(userAccountControl:1.2.840.113556.1.4.803:=2))(sAMAccountName={key}))";
    let service = start(|tenant| {
        ldap(&samba, true, vec![DirectoryBackendKind::Ldap])(tenant);
        tenant.directory.ldap.query_template = exact.to_owned();
        tenant.directory.min_query_length = 1;
    })
    .await;
    assert_eq!(
        service.found("mwhitley").await,
        [MARA],
        "the template works"
    );
    // (attack, whether it lists people when substituted unescaped)
    for (attack, would_list) in [
        ("*", true),
        ("*)(objectClass=*", true),
        ("mw*", true),
        ("*)(|(objectClass=*", false),
        ("\\2a", false),
    ] {
        let listed = naive(exact, attack).await;
        assert_eq!(
            listed > 0,
            would_list,
            "unescaped, {attack:?} lists {listed}"
        );
        assert_eq!(
            service.found(attack).await,
            Vec::<String>::new(),
            "{attack:?}"
        );
    }
    service.running.stop().await;
    // BEMS's default template: the text stays inside every one of its assertion values.
    let service = start(ldap(&samba, false, vec![DirectoryBackendKind::Ldap])).await;
    for attack in [
        "*)(objectClass=*",
        "*))(|(mail=*",
        "Martha)(userAccountControl=546",
    ] {
        assert_eq!(
            service.found(attack).await,
            Vec::<String>::new(),
            "{attack:?}"
        );
    }
    assert_eq!(service.found("**").await, Vec::<String>::new());
    // A literal '*' in a name is found as itself, and only it.
    assert_eq!(service.found("r * t").await, ["star@contoso.com"]);
    service.running.stop().await;
}

#[tokio::test]
async fn a_wrong_bind_password_is_reported_without_the_password() {
    let Some(samba) = samba("a_wrong_bind_password_is_reported_without_the_password") else {
        return;
    };
    let service = start(|tenant| {
        ldap(
            &samba,
            true,
            vec![DirectoryBackendKind::Ews, DirectoryBackendKind::Ldap],
        )(tenant);
        tenant.directory.ldap.bind_password = Some(SecretString::from("Not-The-Passw0rd"));
    })
    .await;
    let (status, answer) = service.search(MARA, "Sadie").await;
    assert_eq!(status, 200, "EWS still answers: {answer}");
    assert_eq!(answer["failed"], serde_json::json!(["ldap"]), "{answer}");
    // What the log gets: the bind that failed, never the password.
    let backend = ldap_directory(&service.world.settings.tenants[0]).expect("backend");
    let query = SearchQuery::parse("Sadie", 2).expect("query");
    let error = backend
        .search(MARA, &query, 5)
        .await
        .expect_err("the bind fails");
    let text = format!("{error} {error:?}");
    assert!(
        text.contains("bind as bems-scp@corp.example.test"),
        "{text}"
    );
    assert!(
        text.contains("invalidCredentials") || text.contains("rc=49"),
        "{text}"
    );
    assert!(!text.contains("Not-The-Passw0rd"), "{text}");
    assert!(!format!("{backend:?}").contains("Not-The-Passw0rd"));
    service.running.stop().await;
}

/// A TCP relay to the DC whose connections can be cut, as a DC restart or a firewall would.
struct Relay {
    port: u16,
    connections: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Relay {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("address").port();
        let connections = std::sync::Arc::<std::sync::Mutex<Vec<_>>>::default();
        let kept = std::sync::Arc::clone(&connections);
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let relay = tokio::spawn(async move {
                    if let Ok(mut dc) = tokio::net::TcpStream::connect("127.0.0.1:389").await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut dc).await;
                    }
                });
                kept.lock().unwrap_or_else(|p| p.into_inner()).push(relay);
            }
        });
        Self { port, connections }
    }

    fn cut(&self) -> usize {
        let mut connections = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        let open = connections.iter().filter(|c| !c.is_finished()).count();
        connections.drain(..).for_each(|c| c.abort());
        open
    }
}

#[tokio::test]
async fn a_dropped_ldap_connection_is_replaced_without_failing_a_search() {
    let Some(samba) = samba("a_dropped_ldap_connection_is_replaced_without_failing_a_search")
    else {
        return;
    };
    let relay = Relay::start().await;
    let server = format!("127.0.0.1:{}", relay.port);
    let service = start(|tenant| {
        ldap(&samba, false, vec![DirectoryBackendKind::Ldap])(tenant);
        tenant.directory.ldap.servers = CommaList::parse(&server).expect("list");
    })
    .await;
    assert_eq!(service.found("Lindqvist").await, ["marek@contoso.com"]);
    assert_eq!(relay.cut(), 1, "one connection was kept and shared");
    // The kept connection is dead: the next search connects again instead of failing.
    assert_eq!(service.found("Natarajan").await, ["priya@contoso.com"]);
    service.running.stop().await;
}
