//! SCP lookup against the real Samba AD DC of `scripts/samba-ad/start.sh` (seeded with
//! `scripts/samba-ad/scp.ldif`).
//!
//! The tests run when `BEMS_SAMBA_AD` is set: to the state directory start.sh prints (holding
//! `tls/ca.pem`), or to `1` for the default `/tmp/bems-samba/ad`. Without it they are skipped
//! with a note on stderr, unless `BEMS_REQUIRE_SERVICES=1`: then a missing `BEMS_SAMBA_AD` or
//! an unreachable DC fails them.
//!
//! ```sh
//! eval "$(scripts/samba-ad/start.sh)"
//! BEMS_REQUIRE_SERVICES=1 cargo test -p autodiscover --test it scp
//! scripts/samba-ad/stop.sh
//! ```

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use autodiscover::scp::{ScpLookup, lookup};
use autodiscover::{Outcome, ScpSettings, SecretString, TraceEntry};

/// The DC listens on 127.0.0.1 and ::1 only (Samba's LDAP ports are fixed).
const DC: &str = "127.0.0.1";
/// The reader account start.sh creates.
const READER_UPN: &str = "bems-scp@corp.example.test";
const READER_NT: &str = r"CORP\bems-scp";
const READER_PASSWORD: &str = "Scp-Reader-Passw0rd!";
const OWN_SITE: &str = "Default-First-Site-Name";
const USER: &str = "alice@corp.example.test";
/// The URL SCPs of scp.ldif: own site, no site, other site.
const OWN_SITE_URL: &str = "https://mail.corp.example.test/Autodiscover/Autodiscover.xml";
const NO_SITE_URL: &str = "https://mail3.corp.example.test/Autodiscover/Autodiscover.xml";
const OTHER_SITE_URL: &str = "https://mail2.corp.example.test/Autodiscover/Autodiscover.xml";
/// EXCH05's `HTTPS://MAIL.CORP.EXAMPLE.TEST/...`, in Branch-Site, as parsed.
const BRANCH_SPELLING: &str = "https://mail.corp.example.test/autodiscover/autodiscover.xml";
const HTTP_URL: &str = "http://legacy.corp.example.test/Autodiscover/Autodiscover.xml";
/// Found only through the pointer SCPs.
const POINTER_URL: &str = "https://mail.pointer.example.test/Autodiscover/Autodiscover.xml";
const POINTER_BASE: &str = "CN=Fabrikam Exchange,DC=corp,DC=example,DC=test";
const TIMEOUT: Duration = Duration::from_secs(5);

struct Samba {
    ca_pem: String,
}

/// The running DC, `None` (with a note) when the tests are not asked for, or a panic when
/// they are required and the DC is missing.
fn samba(test: &str) -> Option<Samba> {
    let Some(dir) = std::env::var_os("BEMS_SAMBA_AD") else {
        if std::env::var("BEMS_REQUIRE_SERVICES").is_ok_and(|v| v == "1") {
            panic!(
                "BEMS_REQUIRE_SERVICES=1 but BEMS_SAMBA_AD is not set: run \
                 eval \"$(scripts/samba-ad/start.sh)\" first"
            );
        }
        // Straight to stderr: the test harness captures print macros of passing tests.
        let _ = writeln!(
            std::io::stderr(),
            "note: scp::{test} skipped: BEMS_SAMBA_AD is not set (see scripts/samba-ad/start.sh)"
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
            "BEMS_SAMBA_AD is set but the test CA {} is unreadable: {e}",
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

/// Plain LDAP to the DC, bound as the reader (UPN), in the DC's own site.
fn settings(domain_controllers: &[&str]) -> ScpSettings {
    let mut settings = ScpSettings::default();
    settings.domain_controllers = domain_controllers
        .iter()
        .map(|dc| (*dc).to_owned())
        .collect();
    settings.bind_user = Some(READER_UPN.to_owned());
    settings.bind_password = Some(SecretString::from(READER_PASSWORD));
    settings.site = Some(OWN_SITE.to_owned());
    settings
}

/// Looks up `email`, trusting only the test CA.
async fn find(samba: &Samba, settings: &ScpSettings, email: &str) -> ScpLookup {
    lookup(
        settings,
        std::slice::from_ref(&samba.ca_pem),
        true,
        email,
        TIMEOUT,
    )
    .await
}

fn urls(found: &ScpLookup) -> Vec<&str> {
    found.urls.iter().map(url::Url::as_str).collect()
}

fn listed(outcome: &Outcome) -> Vec<&str> {
    match outcome {
        Outcome::Listed { candidates } => candidates.iter().map(String::as_str).collect(),
        other => panic!("not Listed: {other:?}"),
    }
}

fn failure(outcome: &Outcome) -> &str {
    match outcome {
        Outcome::Failed { error } => error,
        other => panic!("not Failed: {other:?}"),
    }
}

#[tokio::test]
async fn ldap_bound_lookup_ranks_own_site_then_no_site_then_other_sites() {
    let Some(samba) = samba("ldap_bound_lookup_ranks_own_site_then_no_site_then_other_sites")
    else {
        return;
    };
    let found = find(&samba, &settings(&[DC]), USER).await;
    // EXCH05 repeats EXCH01's URL in capitals, in another site: it is dropped.
    assert_eq!(
        urls(&found),
        [OWN_SITE_URL, NO_SITE_URL, OTHER_SITE_URL],
        "{found:#?}"
    );
    let first = &found.trace[0];
    assert_eq!(first.target, "ldap://127.0.0.1:389");
    assert_eq!(first.email, USER);
    assert!(first.credentials_sent);
    assert_eq!(
        listed(&first.outcome),
        [OWN_SITE_URL, NO_SITE_URL, OTHER_SITE_URL]
    );
}

#[tokio::test]
async fn the_hosts_site_decides_the_order_and_no_site_still_finds_urls() {
    let Some(samba) = samba("the_hosts_site_decides_the_order_and_no_site_still_finds_urls") else {
        return;
    };
    let mut branch = settings(&[DC]);
    branch.site = Some("branch-site".to_owned());
    let found = find(&samba, &branch, USER).await;
    // In Branch-Site, EXCH05's spelling of EXCH01's URL ranks first and is the one kept.
    // Within one rank the directory's order holds, which differs from one provision to another.
    let mut branch_site = urls(&found)[..2].to_vec();
    branch_site.sort_unstable();
    assert_eq!(branch_site, [BRANCH_SPELLING, OTHER_SITE_URL], "{found:#?}");
    assert_eq!(urls(&found)[2..], [NO_SITE_URL]);
    let mut unknown = settings(&[DC]);
    unknown.site = None;
    let found = find(&samba, &unknown, USER).await;
    assert_eq!(urls(&found).len(), 3, "{found:#?}");
    assert_eq!(urls(&found)[0], NO_SITE_URL);
    assert!(urls(&found).contains(&OTHER_SITE_URL));
    assert!(
        urls(&found)
            .iter()
            .any(|u| u.eq_ignore_ascii_case(OWN_SITE_URL))
    );
}

#[tokio::test]
async fn an_http_scp_is_refused_not_listed() {
    let Some(samba) = samba("an_http_scp_is_refused_not_listed") else {
        return;
    };
    let found = find(&samba, &settings(&[DC]), USER).await;
    assert!(!urls(&found).iter().any(|u| u.starts_with("http:")));
    let refused: Vec<_> = found
        .trace
        .iter()
        .filter_map(|e| match &e.outcome {
            Outcome::Refused { reason } => Some((e.target.as_str(), reason.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].0, HTTP_URL);
    assert!(refused[0].1.contains("http"), "{}", refused[0].1);
}

#[tokio::test]
async fn an_anonymous_search_is_refused_by_active_directory() {
    let Some(samba) = samba("an_anonymous_search_is_refused_by_active_directory") else {
        return;
    };
    let mut anonymous = settings(&[DC]);
    anonymous.bind_user = None;
    anonymous.bind_password = None;
    let found = find(&samba, &anonymous, USER).await;
    assert!(found.urls.is_empty());
    // The RootDSE answers anonymously; the configuration NC does not (as in AD).
    let error = failure(&found.trace[0].outcome);
    assert!(
        error.starts_with("search:") && error.contains("operationsError"),
        "{error}"
    );
    assert!(!found.trace[0].credentials_sent);
}

#[tokio::test]
async fn ldaps_and_starttls_verify_the_dc_with_the_test_ca() {
    let Some(samba) = samba("ldaps_and_starttls_verify_the_dc_with_the_test_ca") else {
        return;
    };
    for (dc, ldaps, user, target) in [
        (DC, true, READER_NT, "ldaps://127.0.0.1:636"),
        ("localhost", true, READER_UPN, "ldaps://localhost:636"),
        ("localhost:636", true, READER_UPN, "ldaps://localhost:636"),
        (DC, false, READER_NT, "ldap://127.0.0.1:389"),
        ("localhost", false, READER_UPN, "ldap://localhost:389"),
    ] {
        let mut tls = settings(&[dc]);
        tls.ldaps = ldaps;
        tls.starttls = !ldaps;
        tls.bind_user = Some(user.to_owned());
        let found = find(&samba, &tls, USER).await;
        assert_eq!(
            urls(&found),
            [OWN_SITE_URL, NO_SITE_URL, OTHER_SITE_URL],
            "{target}: {found:#?}"
        );
        assert_eq!(found.trace[0].target, target);
    }
}

#[tokio::test]
async fn tls_fails_before_the_password_when_the_ca_is_not_trusted() {
    let Some(_samba) = samba("tls_fails_before_the_password_when_the_ca_is_not_trusted") else {
        return;
    };
    for ldaps in [true, false] {
        let mut tls = settings(&[DC]);
        tls.ldaps = ldaps;
        tls.starttls = !ldaps;
        // The system's roots only, which do not hold the test CA.
        let found = lookup(&tls, &[], false, USER, TIMEOUT).await;
        assert!(found.urls.is_empty());
        assert_eq!(found.trace.len(), 1, "{found:#?}");
        let error = failure(&found.trace[0].outcome);
        assert!(
            error.starts_with("connect:") && error.contains("certificate"),
            "{error}"
        );
        assert!(!found.trace[0].credentials_sent, "ldaps {ldaps}");
    }
}

#[tokio::test]
async fn a_pointer_scp_restarts_the_search_for_its_domain() {
    let Some(samba) = samba("a_pointer_scp_restarts_the_search_for_its_domain") else {
        return;
    };
    // LDAP://<DN>: the same DC, another base.
    let found = find(&samba, &settings(&[DC]), "bob@pointer.example.test").await;
    assert_eq!(urls(&found), [POINTER_URL], "{found:#?}");
    let hop = pointer_search(&found);
    assert_eq!(hop.target, format!("ldap://127.0.0.1:389/{POINTER_BASE}"));
    assert_eq!(listed(&hop.outcome), [POINTER_URL]);
    // LDAP://localhost/<DN>: another server, reached with the same protection and account.
    let mut ldaps = settings(&[DC]);
    ldaps.ldaps = true;
    let found = find(&samba, &ldaps, "bob@Pointer-Host.example.test").await;
    assert_eq!(urls(&found), [POINTER_URL], "{found:#?}");
    let hop = pointer_search(&found);
    assert_eq!(hop.target, format!("ldaps://localhost:636/{POINTER_BASE}"));
    assert!(hop.credentials_sent);
}

/// The search a pointer led to: the one with a base DN in its target.
fn pointer_search(found: &ScpLookup) -> &TraceEntry {
    let mut searches = found.trace.iter().filter(|e| e.target.starts_with("ldap"));
    assert!(
        !searches.next().is_some_and(|e| e.target.contains(",DC=")),
        "{found:#?}"
    );
    let hop = searches
        .next()
        .unwrap_or_else(|| panic!("no second search: {found:#?}"));
    assert!(searches.next().is_none(), "{found:#?}");
    hop
}

#[tokio::test]
async fn a_pointer_loop_ends_with_the_urls_found_before() {
    let Some(samba) = samba("a_pointer_loop_ends_with_the_urls_found_before") else {
        return;
    };
    let found = find(&samba, &settings(&[DC]), "carol@loop.example.test").await;
    assert_eq!(urls(&found), [OWN_SITE_URL, NO_SITE_URL, OTHER_SITE_URL]);
    let last = found.trace.last().expect("trace");
    assert!(
        matches!(&last.outcome, Outcome::Refused { reason } if reason.contains("loop")),
        "{last:?}"
    );
}

#[tokio::test]
async fn dead_domain_controllers_are_passed_over_within_the_timeout() {
    let Some(samba) = samba("dead_domain_controllers_are_passed_over_within_the_timeout") else {
        return;
    };
    // Accepts connections (the kernel does) but never answers.
    let black_hole = TcpListener::bind("127.0.0.1:0").expect("listener");
    let black_hole = format!(
        "127.0.0.1:{}",
        black_hole.local_addr().expect("address").port()
    );
    let timeout = Duration::from_secs(1);
    for ldaps in [false, true] {
        // Nothing listens on 127.0.0.2 (Samba binds 127.0.0.1 only): refused at once.
        let mut dead_first = settings(&[&black_hole, "127.0.0.2", DC]);
        dead_first.ldaps = ldaps;
        let found = lookup(
            &dead_first,
            std::slice::from_ref(&samba.ca_pem),
            true,
            USER,
            timeout,
        )
        .await;
        assert_eq!(
            urls(&found),
            [OWN_SITE_URL, NO_SITE_URL, OTHER_SITE_URL],
            "{found:#?}"
        );
        let Some([hole, refused, answered]) = found.trace.get(..3) else {
            panic!("{found:#?}")
        };
        // Plain LDAP: connected, then the bind has no answer. LDAPS: the TLS handshake hangs.
        let error = failure(&hole.outcome);
        assert!(error.contains("within 1s"), "{error}");
        assert!(hole.elapsed < timeout * 2, "{:?}", hole.elapsed);
        assert_eq!(hole.credentials_sent, !ldaps);
        assert!(
            failure(&refused.outcome).starts_with("connect:"),
            "{refused:?}"
        );
        assert!(!refused.credentials_sent);
        assert_eq!(listed(&answered.outcome).len(), 3);
    }
}

#[tokio::test]
async fn a_wrong_password_fails_cleanly() {
    let Some(samba) = samba("a_wrong_password_fails_cleanly") else {
        return;
    };
    const WRONG: &str = "Wrong-Passw0rd-4711";
    for ldaps in [false, true] {
        let mut wrong = settings(&[DC]);
        wrong.ldaps = ldaps;
        wrong.bind_password = Some(SecretString::from(WRONG));
        let found = find(&samba, &wrong, USER).await;
        assert!(found.urls.is_empty());
        let error = failure(&found.trace[0].outcome);
        assert!(
            error.starts_with("bind as bems-scp@corp.example.test:"),
            "{error}"
        );
        assert!(error.contains("invalidCredentials"), "{error}");
        assert!(found.trace[0].credentials_sent);
        let everything = format!(
            "{found:?} {:?} {}",
            wrong,
            serde_json::to_string(&found.trace).expect("json")
        );
        assert!(!everything.contains(WRONG), "{everything}");
    }
}
