//! NTLM against the simulator's EWS over TLS: both user name forms, a wrong password (refused
//! credentials, an error), one handshake per connection however many requests it carries,
//! separate connections for concurrent requests, Extended Protection (channel binding) in
//! `require` mode, and a server offering `Negotiate` only, `NTLM` only, or neither.

use std::sync::Arc;
use std::time::Duration;

use exchange_auth::*;
use exchange_sim::scenario::{ExtendedProtection, WindowsAuthProvider};
use exchange_sim::{Scenario, Sim};

use crate::support::{self, MARA_PASSWORD, SCENARIO, SVC, SVC_PASSWORD, get_folder, transport};

fn ntlm(sim: &Sim, user: &str, password: &str) -> NtlmAuth {
    NtlmAuth::new(user, SecretString::from(password), &transport(sim)).expect("valid settings")
}

/// Sends a `GetFolder` (impersonating Mara) and reads the whole answer: its status.
async fn get_folder_read(auth: &NtlmAuth, sim: &Sim, impersonate: bool) -> u16 {
    let response = auth
        .send(get_folder(sim, impersonate))
        .await
        .expect("EWS answers");
    let status = response.status;
    let body = response.bytes(1 << 20).await.expect("body");
    if status == 200 {
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("NoError"), "{text}");
    }
    status
}

async fn start_with(protection: ExtendedProtection) -> Sim {
    let mut scenario = Scenario::from_toml(SCENARIO).expect("scenario");
    scenario.extended_protection = protection;
    Sim::builder()
        .scenario(scenario)
        .start()
        .await
        .expect("simulator starts")
}

#[tokio::test]
async fn down_level_name_upn_and_a_user_of_her_own() {
    let sim = support::start().await;
    let down_level = ntlm(&sim, "CONTOSO\\svc-bems", SVC_PASSWORD);
    assert_eq!(get_folder_read(&down_level, &sim, true).await, 200);
    let upn = ntlm(&sim, SVC, SVC_PASSWORD);
    assert_eq!(get_folder_read(&upn, &sim, true).await, 200);
    // Mara as herself: a user, not a service account; no impersonation needed.
    let mara = ntlm(&sim, "CONTOSO\\mara", MARA_PASSWORD);
    assert_eq!(get_folder_read(&mara, &sim, false).await, 200);
    assert_eq!(sim.ntlm_handshakes(), 3);
    let status = upn.status();
    assert_eq!(status.method, AuthMethod::Ntlm);
    assert_eq!(status.principal, SVC);
}

/// A password no message may show.
const WRONG_PASSWORD: &str = "Not-The-Pa55w.rd";

/// Asserts `error` says the server refused `account`'s credentials, not retryable, without
/// the password.
fn assert_refused(error: &AuthError, account: &str) {
    assert!(matches!(error, AuthError::Refused { .. }), "{error:?}");
    assert!(error.credentials_refused(), "{error}");
    assert!(!error.is_retryable() && !error.is_network(), "{error}");
    let (text, debug) = (error.to_string(), format!("{error:?}"));
    assert!(text.contains(account), "names the account: {text}");
    assert!(
        !text.contains(WRONG_PASSWORD) && !debug.contains(WRONG_PASSWORD),
        "{debug}"
    );
}

#[tokio::test]
async fn a_wrong_password_is_refused_credentials_naming_the_account() {
    let sim = support::start().await;
    let wrong = ntlm(&sim, "CONTOSO\\svc-bems", WRONG_PASSWORD);
    for _ in 0..2 {
        let error = wrong
            .send(get_folder(&sim, true))
            .await
            .expect_err("refused");
        assert_refused(&error, "CONTOSO\\svc-bems");
    }
    let unknown = ntlm(&sim, "CONTOSO\\nobody", WRONG_PASSWORD);
    let error = unknown
        .send(get_folder(&sim, true))
        .await
        .expect_err("refused");
    assert_refused(&error, "CONTOSO\\nobody");
    let upn = ntlm(&sim, SVC, WRONG_PASSWORD);
    let error = upn.send(get_folder(&sim, true)).await.expect_err("refused");
    assert_refused(&error, SVC);
    assert_eq!(sim.ntlm_handshakes(), 0, "no connection was authenticated");
}

async fn start_with_providers(providers: &[WindowsAuthProvider]) -> Sim {
    let mut scenario = Scenario::from_toml(SCENARIO).expect("scenario");
    scenario.windows_auth_providers = providers.to_vec();
    Sim::builder()
        .scenario(scenario)
        .start()
        .await
        .expect("simulator starts")
}

/// What the simulator answers a request with `authorization`: its status and its
/// `WWW-Authenticate` values.
async fn sim_answer(sim: &Sim, authorization: Option<&str>) -> (u16, Vec<String>) {
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(sim.ca_pem().as_bytes()).expect("CA")])
        .resolve("mail.contoso.com", sim.https_addr())
        .build()
        .expect("client");
    let request = get_folder(sim, true);
    let mut post = client.post(request.url.as_str()).body(request.body);
    if let Some(value) = authorization {
        post = post.header("Authorization", value);
    }
    let response = post.send().await.expect("answers");
    let offers = response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().expect("text").to_owned())
        .collect();
    (response.status().as_u16(), offers)
}

/// IIS with the NTLM provider removed offers only `Negotiate` and refuses `NTLM`; Windows
/// clients without Kerberos send raw NTLM inside `Negotiate`, and so do we.
#[tokio::test]
async fn a_server_offering_only_negotiate_gets_ntlm_inside_it() {
    let sim = start_with_providers(&[WindowsAuthProvider::Negotiate]).await;
    // The simulator is such a server: it offers Negotiate, not NTLM, and refuses NTLM.
    let (status, offers) = sim_answer(&sim, None).await;
    assert_eq!(status, 401);
    assert!(offers.iter().any(|o| o == "Negotiate"), "{offers:?}");
    assert!(!offers.iter().any(|o| o.starts_with("NTLM")), "{offers:?}");
    let negotiate = "TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAGAbEdAAAADw==";
    let (status, offers) = sim_answer(&sim, Some(&format!("NTLM {negotiate}"))).await;
    assert_eq!(status, 401);
    assert!(
        !offers.iter().any(|o| o.starts_with("NTLM ")),
        "no challenge under NTLM: {offers:?}"
    );
    let (_, offers) = sim_answer(&sim, Some(&format!("Negotiate {negotiate}"))).await;
    assert!(
        offers
            .iter()
            .any(|o| o.starts_with("Negotiate TlRMTVNTUAAC")),
        "a raw NTLM challenge under Negotiate: {offers:?}"
    );

    let auth = ntlm(&sim, "CONTOSO\\svc-bems", SVC_PASSWORD);
    assert_eq!(get_folder_read(&auth, &sim, true).await, 200);
    assert_eq!(sim.ntlm_handshakes(), 1);
    // A second connection (the first carries an unread answer) starts under Negotiate.
    let held = auth.send(get_folder(&sim, true)).await.expect("answers");
    assert_eq!(get_folder_read(&auth, &sim, true).await, 200);
    held.bytes(1 << 20).await.expect("body");
    assert_eq!(sim.ntlm_handshakes(), 2);
    let upn = ntlm(&sim, SVC, SVC_PASSWORD);
    assert_eq!(get_folder_read(&upn, &sim, true).await, 200);
    let wrong = ntlm(&sim, SVC, WRONG_PASSWORD);
    let error = wrong
        .send(get_folder(&sim, true))
        .await
        .expect_err("refused");
    assert_refused(&error, SVC);
}

/// A server offering only `NTLM` gets `NTLM`, and so does one offering both (IIS's default
/// `Negotiate, NTLM`, the other tests).
#[tokio::test]
async fn a_server_offering_only_ntlm_gets_ntlm() {
    let sim = start_with_providers(&[WindowsAuthProvider::Ntlm]).await;
    let auth = ntlm(&sim, "CONTOSO\\svc-bems", SVC_PASSWORD);
    assert_eq!(get_folder_read(&auth, &sim, true).await, 200);
    assert_eq!(sim.ntlm_handshakes(), 1);
}

/// A server offering no Windows authentication at all: a setting that cannot work, named.
#[tokio::test]
async fn a_server_offering_neither_is_a_setting_that_cannot_work() {
    let sim = start_with_providers(&[]).await;
    let auth = ntlm(&sim, "CONTOSO\\svc-bems", SVC_PASSWORD);
    let error = auth
        .send(get_folder(&sim, true))
        .await
        .expect_err("no NTLM");
    assert!(matches!(error, AuthError::Config { .. }), "{error:?}");
    assert!(!error.is_retryable(), "{error}");
    let text = error.to_string();
    assert!(
        text.contains("neither NTLM nor Negotiate") && text.contains("Basic"),
        "{text}"
    );
}

#[tokio::test]
async fn sequential_requests_reuse_one_authenticated_connection() {
    let sim = support::start().await;
    let auth = ntlm(&sim, "CONTOSO\\svc-bems", SVC_PASSWORD);
    for _ in 0..5 {
        assert_eq!(get_folder_read(&auth, &sim, true).await, 200);
    }
    assert_eq!(sim.ntlm_handshakes(), 1, "one handshake for five requests");
    // A caller that looks only at the status drops the body: the connection is still kept.
    for _ in 0..3 {
        assert_eq!(support::ews_status(&auth, &sim, true).await, 200);
        tokio::time::sleep(Duration::from_millis(50)).await; // the body is drained aside
    }
    assert_eq!(
        sim.ntlm_handshakes(),
        1,
        "dropped bodies do not cost a handshake"
    );
}

#[tokio::test]
async fn concurrent_requests_authenticate_connections_of_their_own() {
    let sim = support::start().await;
    sim.slow_answers(Duration::from_millis(300));
    let auth = Arc::new(ntlm(&sim, "CONTOSO\\svc-bems", SVC_PASSWORD));
    let calls: Vec<_> = (0..3)
        .map(|_| {
            let (auth, request) = (auth.clone(), get_folder(&sim, true));
            tokio::spawn(async move {
                let response = auth.send(request).await.expect("answers");
                let status = response.status;
                response.bytes(1 << 20).await.expect("body");
                status
            })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.expect("joins"), 200);
    }
    assert_eq!(
        sim.ntlm_handshakes(),
        3,
        "one authenticated connection each"
    );
    sim.slow_answers(Duration::ZERO);
    for _ in 0..3 {
        assert_eq!(get_folder_read(&auth, &sim, true).await, 200);
    }
    assert_eq!(sim.ntlm_handshakes(), 3, "later requests reuse them");
}

#[tokio::test]
async fn a_connection_carrying_an_unread_answer_is_not_shared() {
    let sim = support::start().await;
    let auth = ntlm(&sim, "CONTOSO\\svc-bems", SVC_PASSWORD);
    // Like a hanging GetStreamingEvents: the answer's body is still being read.
    let held = auth.send(get_folder(&sim, true)).await.expect("answers");
    assert_eq!(held.status, 200);
    assert_eq!(get_folder_read(&auth, &sim, true).await, 200);
    assert_eq!(
        sim.ntlm_handshakes(),
        2,
        "the second request needed its own connection"
    );
    held.bytes(1 << 20).await.expect("body");
    // Both connections are idle now: two more requests in a row need no handshake.
    for _ in 0..2 {
        assert_eq!(get_folder_read(&auth, &sim, true).await, 200);
    }
    assert_eq!(sim.ntlm_handshakes(), 2);
}

#[tokio::test]
async fn extended_protection_require_needs_our_channel_binding() {
    let sim = start_with(ExtendedProtection::Require).await;
    let bound = ntlm(&sim, "CONTOSO\\svc-bems", SVC_PASSWORD);
    assert_eq!(get_folder_read(&bound, &sim, true).await, 200);
    let unbound = ntlm(&sim, "CONTOSO\\svc-bems", SVC_PASSWORD).channel_binding(false);
    let error = unbound
        .send(get_folder(&sim, true))
        .await
        .expect_err("refused");
    assert!(error.credentials_refused(), "{error}");
    assert!(
        error.to_string().contains("channel binding"),
        "the message says the binding was off: {error}"
    );
    assert!(
        unbound.status().note.is_some(),
        "the status says binding is off"
    );
    assert_eq!(sim.ntlm_handshakes(), 1);
}

#[tokio::test]
async fn extended_protection_allow_accepts_a_client_without_binding() {
    let sim = start_with(ExtendedProtection::Allow).await;
    let unbound = ntlm(&sim, SVC, SVC_PASSWORD).channel_binding(false);
    assert_eq!(get_folder_read(&unbound, &sim, true).await, 200);
    let bound = ntlm(&sim, SVC, SVC_PASSWORD);
    assert_eq!(get_folder_read(&bound, &sim, true).await, 200);
    assert_eq!(sim.ntlm_handshakes(), 2);
}

#[tokio::test]
async fn never_over_plain_http_and_errors_without_a_server() {
    let sim = support::start().await;
    let auth = ntlm(&sim, SVC, SVC_PASSWORD);
    let plain = HttpRequest::post(
        format!(
            "http://mail.contoso.com:{}/EWS/Exchange.asmx",
            sim.http_addr().port()
        )
        .parse()
        .expect("URL"),
        vec![],
    );
    assert!(matches!(
        auth.send(plain).await,
        Err(AuthError::Config { .. })
    ));
    let nowhere = HttpRequest::post(
        "https://mail.contoso.com:1/EWS/Exchange.asmx"
            .parse()
            .expect("URL"),
        vec![],
    );
    let error = auth.send(nowhere).await.expect_err("nothing listens");
    assert!(error.is_network(), "{error}");
}
