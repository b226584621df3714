//! NTLM against the simulator's EWS over TLS: both user name forms, a wrong password, one
//! handshake per connection however many requests it carries, separate connections for
//! concurrent requests, and Extended Protection (channel binding) in `require` mode.

use std::sync::Arc;
use std::time::Duration;

use exchange_auth::*;
use exchange_sim::scenario::ExtendedProtection;
use exchange_sim::{Scenario, Sim};

use crate::support::{self, MARA_PASSWORD, SCENARIO, SVC, SVC_PASSWORD, get_folder, transport};

fn ntlm(sim: &Sim, user: &str, password: &str) -> NtlmAuth {
    NtlmAuth::new(user, Secret::new(password), &transport(sim)).expect("valid settings")
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

#[tokio::test]
async fn wrong_password_is_the_servers_401_once() {
    let sim = support::start().await;
    let wrong = ntlm(&sim, "CONTOSO\\svc-bems", "wrong");
    for _ in 0..2 {
        let response = wrong.send(get_folder(&sim, true)).await.expect("answers");
        assert_eq!(response.status, 401);
        let offers: Vec<&str> = response.header_all("WWW-Authenticate").collect();
        assert!(
            offers.contains(&"NTLM") && offers.contains(&"Negotiate"),
            "{offers:?}"
        );
    }
    let unknown = ntlm(&sim, "CONTOSO\\nobody", SVC_PASSWORD);
    assert_eq!(get_folder_read(&unknown, &sim, true).await, 401);
    assert_eq!(sim.ntlm_handshakes(), 0, "no connection was authenticated");
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
    assert_eq!(get_folder_read(&unbound, &sim, true).await, 401);
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
