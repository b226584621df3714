//! NTLM against an acceptor that is not ours: Python's `pyspnego` behind `http.server`
//! (`scripts/ntlm-acceptor/server.py`), IIS-like, over TLS with the channel binding
//! required. Right and wrong passwords, `DOMAIN\user` and a UPN, a binding of another
//! certificate, a server offering `Negotiate` only, a connection closed between the
//! challenge and the AUTHENTICATE message, and many fresh handshakes in a row.
//!
//! The tests run when `BEMS_NTLM_ACCEPTOR` names the state directory start.sh prints (with
//! `port` and `tls/ca.pem`), or is `1` for the default `/tmp/bems-ntlm-acceptor`. Without it
//! they are skipped with a note on stderr, unless `BEMS_REQUIRE_SERVICES=1`: then a missing
//! `BEMS_NTLM_ACCEPTOR` or an acceptor that does not answer fails them.
//!
//! ```sh
//! eval "$(scripts/ntlm-acceptor/start.sh)"
//! BEMS_REQUIRE_SERVICES=1 cargo test -p exchange-auth --test it ntlm_acceptor
//! scripts/ntlm-acceptor/stop.sh
//! ```

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use exchange_auth::*;

/// The accounts start.sh writes into the acceptor's `NTLM_USER_FILE`.
const DOWN_LEVEL: &str = r"CONTOSO\svc-bems";
const UPN: &str = "svc-bems@contoso.com";
const PASSWORD: &str = "Ntlm-Acceptor-Pa55!";
const WRONG_PASSWORD: &str = "Not-The-Acceptor-Pa55!";
/// The name the acceptor's certificate is for (resolved to its loopback address).
const HOST: &str = "mail.contoso.test";

struct Acceptor {
    addr: SocketAddr,
    ca_pem: String,
}

/// The running acceptor, `None` (with a note) when the tests are not asked for, or a panic
/// when they are required and it is missing.
fn acceptor(test: &str) -> Option<Acceptor> {
    let Some(dir) = std::env::var_os("BEMS_NTLM_ACCEPTOR") else {
        if std::env::var("BEMS_REQUIRE_SERVICES").is_ok_and(|v| v == "1") {
            panic!(
                "BEMS_REQUIRE_SERVICES=1 but BEMS_NTLM_ACCEPTOR is not set: run \
                 eval \"$(scripts/ntlm-acceptor/start.sh)\" first"
            );
        }
        // Straight to stderr: the test harness captures print macros of passing tests.
        let _ = writeln!(
            std::io::stderr(),
            "note: ntlm_acceptor::{test} skipped: BEMS_NTLM_ACCEPTOR is not set (see scripts/ntlm-acceptor/start.sh)"
        );
        return None;
    };
    let dir = match dir.to_str() {
        Some("1") => PathBuf::from("/tmp/bems-ntlm-acceptor"),
        _ => PathBuf::from(dir),
    };
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "BEMS_NTLM_ACCEPTOR is set but {} is unreadable ({e}): run scripts/ntlm-acceptor/start.sh",
                path.display()
            )
        })
    };
    let port: u16 = read("port")
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("the acceptor's port file holds no port: {e}"));
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    if let Err(e) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
        panic!(
            "BEMS_NTLM_ACCEPTOR is set but nothing answers on {addr} ({e}): run scripts/ntlm-acceptor/start.sh"
        );
    }
    Some(Acceptor {
        addr,
        ca_pem: read("tls/ca.pem"),
    })
}

impl Acceptor {
    fn transport(&self) -> TransportSettings {
        let mut transport = TransportSettings::default();
        transport.trusted_ca_pem = vec![self.ca_pem.clone()];
        transport.trusted_ca_only = true;
        transport.resolve.push((HOST.to_owned(), self.addr));
        transport.connect_timeout = Duration::from_secs(5);
        transport
    }

    fn auth(&self, user: &str, password: &str) -> NtlmAuth {
        NtlmAuth::new(user, SecretString::from(password), &self.transport())
            .expect("valid settings")
    }

    /// A `POST` to the acceptor in `mode` (the first path segment, see server.py).
    fn request(&self, mode: &str) -> HttpRequest {
        let url = format!(
            "https://{HOST}:{}/{mode}/EWS/Exchange.asmx",
            self.addr.port()
        );
        HttpRequest::post(url.parse().expect("URL"), b"<soap/>".to_vec())
            .header("Content-Type", "text/xml; charset=utf-8")
    }
}

/// Sends to `mode`; the acceptor's 200 body (who it authenticated, and the request's number
/// on its connection).
async fn authenticated(auth: &NtlmAuth, acceptor: &Acceptor, mode: &str) -> String {
    let response = auth
        .send(acceptor.request(mode))
        .await
        .unwrap_or_else(|e| panic!("{mode}: {e}"));
    let status = response.status;
    let body = response.bytes(4096).await.expect("body");
    let body = String::from_utf8_lossy(&body).trim().to_owned();
    assert_eq!(status, 200, "{mode}: {body}");
    body
}

/// Asserts the acceptor refused `account`'s credentials, and the error says so.
fn assert_refused(error: &AuthError, account: &str) {
    assert!(matches!(error, AuthError::Refused { .. }), "{error:?}");
    assert!(
        error.credentials_refused() && !error.is_retryable(),
        "{error}"
    );
    let (text, debug) = (error.to_string(), format!("{error:?}"));
    assert!(text.contains(account), "names the account: {text}");
    assert!(
        !text.contains(WRONG_PASSWORD) && !debug.contains(WRONG_PASSWORD),
        "{debug}"
    );
}

#[tokio::test]
async fn the_right_password_as_down_level_name_and_upn() {
    let Some(acceptor) = acceptor("the_right_password_as_down_level_name_and_upn") else {
        return;
    };
    let down_level = acceptor.auth(DOWN_LEVEL, PASSWORD);
    assert_eq!(
        authenticated(&down_level, &acceptor, "ntlm").await,
        format!("authenticated {DOWN_LEVEL}; request 1 on this connection")
    );
    // The next request rides the authenticated connection, without a handshake.
    assert_eq!(
        authenticated(&down_level, &acceptor, "ntlm").await,
        format!("authenticated {DOWN_LEVEL}; request 2 on this connection")
    );
    let upn = acceptor.auth(UPN, PASSWORD);
    assert_eq!(
        authenticated(&upn, &acceptor, "ntlm").await,
        format!("authenticated {UPN}; request 1 on this connection")
    );
}

#[tokio::test]
async fn a_wrong_password_or_unknown_account_is_refused_credentials() {
    let Some(acceptor) = acceptor("a_wrong_password_or_unknown_account_is_refused_credentials")
    else {
        return;
    };
    for user in [DOWN_LEVEL, UPN] {
        let wrong = acceptor.auth(user, WRONG_PASSWORD);
        let error = wrong
            .send(acceptor.request("ntlm"))
            .await
            .expect_err("refused");
        assert_refused(&error, user);
    }
    let unknown = acceptor.auth(r"CONTOSO\nobody", WRONG_PASSWORD);
    let error = unknown
        .send(acceptor.request("ntlm"))
        .await
        .expect_err("refused");
    assert_refused(&error, r"CONTOSO\nobody");
}

/// The acceptor requires the binding of the certificate it presents: one naming another
/// certificate (a server behind a TLS-terminating device) is refused, and so is none.
#[tokio::test]
async fn the_channel_binding_is_required_and_checked() {
    let Some(acceptor) = acceptor("the_channel_binding_is_required_and_checked") else {
        return;
    };
    let auth = acceptor.auth(DOWN_LEVEL, PASSWORD);
    let error = auth
        .send(acceptor.request("other-binding"))
        .await
        .expect_err("another certificate's binding");
    assert_refused(&error, DOWN_LEVEL);
    let unbound = acceptor.auth(DOWN_LEVEL, PASSWORD).channel_binding(false);
    let error = unbound
        .send(acceptor.request("ntlm"))
        .await
        .expect_err("no binding");
    assert_refused(&error, DOWN_LEVEL);
    assert!(error.to_string().contains("channel binding"), "{error}");
}

/// IIS with the NTLM provider removed: only `Negotiate` is offered, and raw NTLM inside it
/// is accepted.
#[tokio::test]
async fn a_server_offering_only_negotiate() {
    let Some(acceptor) = acceptor("a_server_offering_only_negotiate") else {
        return;
    };
    for user in [DOWN_LEVEL, UPN] {
        let auth = acceptor.auth(user, PASSWORD);
        assert_eq!(
            authenticated(&auth, &acceptor, "negotiate-only").await,
            format!("authenticated {user}; request 1 on this connection")
        );
    }
    let wrong = acceptor.auth(DOWN_LEVEL, WRONG_PASSWORD);
    let error = wrong
        .send(acceptor.request("negotiate-only"))
        .await
        .expect_err("refused");
    assert_refused(&error, DOWN_LEVEL);
}

/// The acceptor closes the connection right after its challenge: a retryable network error
/// that says so, not refused credentials.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_closed_between_challenge_and_authenticate() {
    let Some(acceptor) = acceptor("a_connection_closed_between_challenge_and_authenticate") else {
        return;
    };
    let auth = acceptor.auth(DOWN_LEVEL, PASSWORD);
    for _ in 0..5 {
        let error = auth
            .send(acceptor.request("close-after-challenge"))
            .await
            .expect_err("closed");
        assert!(error.is_network() && error.is_retryable(), "{error:?}");
        assert!(!error.credentials_refused(), "{error:?}");
        assert!(
            error
                .to_string()
                .contains("after the server's NTLM challenge"),
            "{error}"
        );
    }
}

/// Fresh handshakes in a row, on two worker threads: none is lost to the connection not
/// being ready for the AUTHENTICATE message. (Issue 21 saw 57 of 100 lost against this
/// acceptor on a busy machine; on a quiet one the old code may lose none here, and
/// `ntlm_connection.rs` is the test that reproduces the race every time.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_handshakes_in_a_row_all_succeed() {
    let Some(acceptor) = acceptor("fresh_handshakes_in_a_row_all_succeed") else {
        return;
    };
    const HANDSHAKES: usize = 50;
    let auth = acceptor.auth(DOWN_LEVEL, PASSWORD).max_idle_connections(0);
    let mut failures = Vec::new();
    for _ in 0..HANDSHAKES {
        match auth.send(acceptor.request("ntlm")).await {
            Ok(response) => {
                let status = response.status;
                response.bytes(4096).await.expect("body");
                assert_eq!(status, 200);
            }
            Err(error) => failures.push(error.to_string()),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {HANDSHAKES} handshakes failed; the first: {}",
        failures.len(),
        failures[0]
    );
}
