//! Affinity, restarts, moves, budgets, injected faults and bad input: each answered as Exchange
//! would.

use std::time::Duration;

use ews_proto::operations::*;
use ews_proto::soap::{SoapFault, read_envelope};
use ews_proto::{BaseFolderId, EventType, ResponseCode, SubscriptionId};

use crate::ews::{MARA, SADIE, affine, open_stream, read_until, streaming, subscribe};
use crate::support::{self, Ews};

fn fault(answer: &support::Answer) -> SoapFault {
    assert_eq!(answer.status, 500, "{}", answer.text());
    let error = read_envelope::<SubscribeResponse>(&answer.body).expect_err("a fault");
    error.fault().expect("SOAP fault").clone()
}

async fn stream_error(response: reqwest::Response) -> GetStreamingEventsResponseMessage {
    let (messages, _) = read_until(response, |m| m.iter().any(|m| !m.status.is_success())).await;
    messages
        .into_iter()
        .find(|m| !m.status.is_success())
        .expect("an error envelope")
}

#[tokio::test]
async fn without_affinity_the_stream_misses_the_subscription() {
    let sim = support::start().await;
    // No X-PreferServerAffinity: the front end spreads requests over mbx1's two back ends.
    let ews = Ews::new(&sim, MARA).header("X-AnchorMailbox", MARA);
    let (id, cookie, _) = subscribe(&ews, MARA, &streaming()).await;
    assert_eq!(cookie, None, "no cookie without X-PreferServerAffinity");
    let (_, parsed) = ews
        .call(MARA, &GetStreamingEvents::new(vec![id.clone()], 1))
        .await;
    let message = parsed.expect("parses").body.into_first().expect("message");
    assert_eq!(message.status.code, ResponseCode::ErrorSubscriptionNotFound);
    assert_eq!(message.error_subscription_ids, vec![id]);
    assert_eq!(message.connection_status, Some(ConnectionStatus::Closed));
}

#[tokio::test]
async fn restart_loses_subscriptions_and_cuts_streams() {
    let sim = support::start().await;
    let ews = affine(&sim, MARA);
    let (id, cookie, _) = subscribe(&ews, MARA, &streaming()).await;
    let response = open_stream(&ews, MARA, cookie.as_deref(), vec![id.clone()], 30).await;
    let lost = sim.restart_server("mbx1").expect("server exists");
    assert_eq!(lost, 1);
    let (_, ended_cleanly) = read_until(response, |_| false).await;
    assert!(
        !ended_cleanly,
        "the connection is cut, not closed with ConnectionStatus Closed"
    );
    let again = open_stream(&ews, MARA, cookie.as_deref(), vec![id], 30).await;
    let message = stream_error(again).await;
    assert_eq!(message.status.code, ResponseCode::ErrorSubscriptionNotFound);
}

#[tokio::test]
async fn mailbox_move_fails_the_subscription() {
    let sim = support::start().await;
    let ews = affine(&sim, MARA);
    let (id, cookie, _) = subscribe(&ews, MARA, &streaming()).await;
    let response = open_stream(&ews, MARA, cookie.as_deref(), vec![id.clone()], 30).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(sim.grouping_information(MARA).expect("user"), "CONTOSO-1");
    sim.move_mailbox(MARA, "mbx2").expect("move");
    let message = stream_error(response).await;
    assert_eq!(message.status.code, ResponseCode::ErrorInvalidSubscription);
    assert_eq!(message.error_subscription_ids, vec![id]);
    assert_eq!(message.connection_status, Some(ConnectionStatus::Closed));
    assert_eq!(sim.grouping_information(MARA).expect("user"), "CONTOSO-2");
    // With the old cookie, a new Subscribe reaches the old server: it must rediscover.
    let stale = affine(&sim, MARA).header(
        "Cookie",
        ews_proto::affinity::cookie_header(cookie.as_deref().expect("cookie")),
    );
    let (_, parsed) = stale.call(MARA, &streaming()).await;
    assert_eq!(
        parsed
            .expect("parses")
            .body
            .into_first()
            .expect("m")
            .status
            .code,
        ResponseCode::ErrorProxyRequestNotAllowed
    );
    // Without it, the mailbox's new server takes the subscription.
    subscribe(&affine(&sim, MARA), MARA, &streaming()).await;
}

#[tokio::test]
async fn hanging_connection_budget() {
    let mut scenario = support::scenario();
    scenario.profile = exchange_sim::scenario::Profile::Exchange2013; // 3 hanging connections
    let sim = support::start_with(scenario).await;
    let ews = affine(&sim, MARA);
    let (first, cookie, _) = subscribe(&ews, MARA, &streaming()).await;
    let ews = ews.header(
        "Cookie",
        ews_proto::affinity::cookie_header(cookie.as_deref().expect("cookie")),
    );
    // One subscription per connection: a subscription streams on one connection at a time.
    let mut ids = vec![first];
    for _ in 0..4 {
        ids.push(subscribe(&ews, MARA, &streaming()).await.0);
    }
    // The permit is taken before the answer's headers go out, so holding the responses
    // holds the connections.
    let mut open = Vec::new();
    for id in &ids[..3] {
        let response = open_stream(&ews, MARA, cookie.as_deref(), vec![id.clone()], 30).await;
        assert_eq!(response.status(), 200);
        open.push(response);
    }
    let fourth = open_stream(&ews, MARA, cookie.as_deref(), vec![ids[3].clone()], 30).await;
    assert_eq!(
        stream_error(fourth).await.status.code,
        ResponseCode::ErrorExceededConnectionCount
    );
    // Closing one frees a slot.
    drop(open.pop());
    let mut reopened = false;
    for _ in 0..100 {
        let response = open_stream(&ews, MARA, cookie.as_deref(), vec![ids[4].clone()], 30).await;
        let (first, _) = read_until(response, |m| !m.is_empty()).await;
        if first[0].status.is_success() {
            reopened = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(reopened);
}

#[tokio::test]
async fn a_newer_connection_takes_the_subscription_from_the_older() {
    let sim = support::start().await;
    let ews = affine(&sim, MARA);
    let (id, cookie, _) = subscribe(&ews, MARA, &streaming()).await;
    let mut old = open_stream(&ews, MARA, cookie.as_deref(), vec![id.clone()], 30).await;
    // The first envelope goes out once the connection holds the subscription.
    let first = old.chunk().await.expect("reads").expect("first envelope");
    assert!(String::from_utf8_lossy(&first).contains(">OK<"));
    let new = open_stream(&ews, MARA, cookie.as_deref(), vec![id.clone()], 30).await;
    let message = stream_error(old).await;
    assert_eq!(
        message.status.code,
        ResponseCode::ErrorNewEventStreamConnectionOpened
    );
    assert_eq!(message.error_subscription_ids, vec![id]);
    assert_eq!(message.connection_status, Some(ConnectionStatus::Closed));
    // The new connection gets the mail.
    sim.deliver_mail(MARA, "after the hand-over", "x@fabrikam.com")
        .expect("delivered");
    let (messages, _) = read_until(new, |m| m.iter().any(|m| !m.notifications.is_empty())).await;
    assert!(messages.iter().any(|m| !m.notifications.is_empty()));
}

#[tokio::test]
async fn a_lost_affinity_cookie_lands_on_another_back_end() {
    let sim = support::start().await;
    let ews = affine(&sim, MARA);
    let (id, cookie, _) = subscribe(&ews, MARA, &streaming()).await;
    sim.ignore_affinity(1);
    let lost = open_stream(&ews, MARA, cookie.as_deref(), vec![id.clone()], 30).await;
    let message = stream_error(lost).await;
    assert_eq!(message.status.code, ResponseCode::ErrorSubscriptionNotFound);
    assert_eq!(message.error_subscription_ids, vec![id.clone()]);
    // The fault was used up: the next request with the cookie finds the subscription.
    let found = open_stream(&ews, MARA, cookie.as_deref(), vec![id], 30).await;
    let (first, _) = read_until(found, |m| !m.is_empty()).await;
    assert!(first[0].status.is_success(), "{:?}", first[0].status);
}

#[tokio::test]
async fn concurrency_budget_answers_server_busy() {
    let sim = support::start().await;
    let mut budgets =
        exchange_sim::scenario::Budgets::for_profile(exchange_sim::scenario::Profile::Exchange2019);
    budgets.max_concurrency = 1;
    budgets.back_off_ms = 750;
    sim.set_budgets(budgets);
    sim.slow_answers(Duration::from_millis(300));
    let ews = affine(&sim, MARA);
    let request = Subscribe::pull(
        vec![BaseFolderId::inbox()],
        vec![EventType::NewMail],
        10,
        None,
    );
    let (a, b) = tokio::join!(ews.call(MARA, &request), ews.call(MARA, &request));
    let busy = [a, b]
        .into_iter()
        .filter(|(answer, _)| answer.status == 500)
        .collect::<Vec<_>>();
    assert_eq!(busy.len(), 1, "one of two concurrent requests is throttled");
    let fault = fault(&busy[0].0);
    assert_eq!(fault.response_code(), Some(&ResponseCode::ErrorServerBusy));
    assert_eq!(fault.back_off(), Some(Duration::from_millis(750)));
}

#[tokio::test]
async fn subscriptions_per_mailbox_budget() {
    let mut scenario = support::scenario();
    scenario.profile = exchange_sim::scenario::Profile::ExchangeOnline; // 20 per mailbox
    let sim = support::start_with(scenario).await;
    let ews = affine(&sim, MARA);
    let pull = Subscribe::pull(
        vec![BaseFolderId::inbox()],
        vec![EventType::NewMail],
        10,
        None,
    );
    let mut cookie: Option<String> = None;
    for _ in 0..20 {
        let ews = match &cookie {
            Some(c) => affine(&sim, MARA).header("Cookie", ews_proto::affinity::cookie_header(c)),
            None => affine(&sim, MARA),
        };
        let (_, set, _) = subscribe(&ews, MARA, &pull).await;
        cookie = cookie.or(set);
    }
    let (_, parsed) = ews.call(MARA, &pull).await;
    assert_eq!(
        parsed
            .expect("parses")
            .body
            .into_first()
            .expect("m")
            .status
            .code,
        ResponseCode::ErrorExceededSubscriptionCount
    );
}

#[tokio::test]
async fn at_most_200_ids_per_stream() {
    let sim = support::start().await;
    let ews = affine(&sim, MARA);
    let ids = (0..201)
        .map(|i| SubscriptionId::new(format!("id-{i}")))
        .collect();
    let (_, parsed) = ews.call(MARA, &GetStreamingEvents::new(ids, 1)).await;
    let message = parsed.expect("parses").body.into_first().expect("m");
    assert_eq!(message.status.code, ResponseCode::ErrorInvalidRequest);
    assert!(message.status.message_text.expect("text").contains("200"));
}

#[tokio::test]
async fn server_busy_storm_then_recovery() {
    let sim = support::start().await;
    sim.server_busy(3);
    let ews = affine(&sim, MARA);
    for _ in 0..3 {
        let (answer, _) = ews.call(MARA, &streaming()).await;
        let fault = fault(&answer);
        assert_eq!(fault.response_code(), Some(&ResponseCode::ErrorServerBusy));
        assert!(fault.back_off().is_some());
        // Same elements as the documented fault.
        assert_eq!(
            support::body_paths(&answer.body),
            support::body_paths(&support::vector("ews/fault-server-busy.xml"))
        );
    }
    subscribe(&ews, MARA, &streaming()).await;
}

#[tokio::test]
async fn dropped_connection_and_malformed_answer() {
    let sim = support::start().await;
    let ews = affine(&sim, MARA);
    sim.drop_connections(1);
    let header = ews_proto::soap::SoapHeader::default();
    let result = ews
        .client
        .post(&ews.url)
        .basic_auth(support::SVC.0, Some(support::SVC.1))
        .body(ews_proto::soap::write_envelope(&header, &streaming()))
        .send()
        .await;
    let body = match result {
        Ok(response) => response.bytes().await.err(),
        Err(error) => Some(error),
    };
    assert!(
        body.is_some(),
        "the connection is dropped without a complete answer"
    );
    sim.malformed_answers(1);
    let (answer, parsed) = ews.call(MARA, &streaming()).await;
    assert_eq!(answer.status, 200);
    assert!(parsed.is_err(), "malformed body: {}", answer.text());
    subscribe(&ews, MARA, &streaming()).await;
}

#[tokio::test]
async fn cut_streams_fault() {
    let sim = support::start().await;
    let ews = affine(&sim, MARA);
    let (id, cookie, _) = subscribe(&ews, MARA, &streaming()).await;
    let response = open_stream(&ews, MARA, cookie.as_deref(), vec![id], 30).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    sim.cut_streams();
    let (_, ended_cleanly) = read_until(response, |_| false).await;
    assert!(!ended_cleanly);
}

#[tokio::test]
async fn authentication_and_impersonation_failures() {
    let sim = support::start().await;
    let mut ews = affine(&sim, MARA);
    ews.basic = None;
    let (answer, _) = ews.call(MARA, &streaming()).await;
    assert_eq!(answer.status, 401);
    let schemes: Vec<_> = answer
        .headers
        .get_all("www-authenticate")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert!(
        schemes.iter().any(|s| s.starts_with("Basic")),
        "{schemes:?}"
    );
    assert!(
        schemes.iter().any(|s| s.starts_with("Bearer")),
        "{schemes:?}"
    );
    ews.basic = Some((support::SVC.0, "wrong"));
    assert_eq!(ews.call(MARA, &streaming()).await.0.status, 401);
    ews.basic = Some(("CONTOSO\\svc-bems", support::SVC.1));
    assert_eq!(
        ews.call(MARA, &streaming()).await.0.status,
        200,
        "down-level logon name works"
    );
    ews.basic = Some(("svc-plain@contoso.com", "Plain-Pa55"));
    let (answer, _) = ews.call(MARA, &streaming()).await;
    assert_eq!(
        fault(&answer).response_code(),
        Some(&ResponseCode::ErrorImpersonateUserDenied)
    );
    ews.basic = Some(support::SVC);
    let (answer, _) = ews.call("nobody@contoso.com", &streaming()).await;
    assert_eq!(
        fault(&answer).response_code(),
        Some(&ResponseCode::ErrorNonExistentMailbox)
    );
    // A user may not subscribe to another user's inbox through a Mailbox element.
    let mut delegate = Subscribe::pull(
        vec![BaseFolderId::Distinguished {
            id: ews_proto::DistinguishedFolder::Inbox,
            change_key: None,
            mailbox: Some(ews_proto::EmailAddress::smtp(SADIE)),
        }],
        vec![EventType::NewMail],
        10,
        None,
    );
    delegate.event_types = vec![EventType::NewMail];
    let mut as_mara = affine(&sim, MARA);
    as_mara.basic = Some((MARA, "Mara-Pa55"));
    let answer = as_mara
        .post(ews_proto::soap::write_envelope(
            &ews_proto::soap::SoapHeader::default(),
            &delegate,
        ))
        .await;
    let message = read_envelope::<SubscribeResponse>(&answer.body)
        .expect("parses")
        .body
        .into_first()
        .expect("m");
    assert_eq!(
        message.status.code,
        ResponseCode::ErrorSubscriptionDelegateAccessNotSupported
    );
    assert_eq!(
        support::body_paths(&answer.body),
        support::body_paths(&support::vector("ews/subscribe-pull-response-error.xml"))
    );
}

#[tokio::test]
async fn client_certificate_authentication() {
    let sim = support::start().await;
    let identity = sim
        .client_certificate("svc-bems")
        .expect("account has a certificate");
    let pem = format!("{}{}", identity.cert_pem, identity.key_pem);
    let client = support::client_builder(&sim)
        .identity(reqwest::Identity::from_pem(pem.as_bytes()).expect("identity"))
        .build()
        .expect("client");
    let mut ews = affine(&sim, MARA);
    ews.client = client;
    ews.basic = None;
    let (answer, parsed) = ews.call(MARA, &streaming()).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert!(parsed.expect("parses").body.messages[0].status.is_success());
    assert!(
        sim.client_certificate("svc-plain").is_err(),
        "no certificate for accounts without one"
    );
}

#[tokio::test]
async fn bad_input_gets_exchange_answers() {
    let sim = support::start().await;
    let ews = affine(&sim, MARA);
    for body in [
        b"not xml at all".to_vec(),
        b"<s:Envelope xmlns:s='http://schemas.xmlsoap.org/soap/envelope/'><s:Body>".to_vec(),
        br#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><m:Subscribe xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"/></s:Body></s:Envelope>"#.to_vec(),
        vec![0xff; 64],
    ] {
        let answer = ews.post(body).await;
        assert_eq!(fault(&answer).response_code(), Some(&ResponseCode::ErrorSchemaValidation));
    }
    // A valid operation the simulator does not serve (an invalid one fails validation first).
    let unknown = br#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><m:FindItem xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types" Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:ParentFolderIds><t:DistinguishedFolderId Id="inbox"/></m:ParentFolderIds></m:FindItem></s:Body></s:Envelope>"#;
    assert_eq!(
        fault(&ews.post(unknown.to_vec()).await).response_code(),
        Some(&ResponseCode::ErrorInvalidRequest)
    );
    let mut bad_kind = streaming();
    bad_kind.event_types = vec![EventType::Status];
    let (answer, _) = ews.call(MARA, &bad_kind).await;
    assert_eq!(
        fault(&answer).response_code(),
        Some(&ResponseCode::ErrorSchemaValidation)
    );
    let mut both = streaming();
    both.subscribe_to_all_folders = true;
    let (_, parsed) = ews.call(MARA, &both).await;
    assert_eq!(
        parsed
            .expect("parses")
            .body
            .into_first()
            .expect("m")
            .status
            .code,
        ResponseCode::ErrorInvalidSubscriptionRequest
    );
    let too_big = vec![b'x'; 3 * 1024 * 1024];
    assert_eq!(ews.post(too_big).await.status, 413);
}

#[tokio::test]
async fn bearer_tokens_app_only_and_delegated() {
    const APP: &str = "11111111-1111-1111-1111-111111111111";
    let sim = support::start().await;
    let token = sim
        .identity()
        .issue_app_token(APP, "https://outlook.office365.com")
        .expect("token");
    let mut ews = affine(&sim, MARA).header("Authorization", format!("Bearer {token}"));
    ews.basic = None;
    // App-only with impersonation and X-AnchorMailbox: allowed (full_access_as_app).
    let (answer, parsed) = ews.call(MARA, &streaming()).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert!(parsed.expect("parses").body.messages[0].status.is_success());
    // Without X-AnchorMailbox: refused.
    let mut no_anchor = Ews::new(&sim, MARA).header("Authorization", format!("Bearer {token}"));
    no_anchor.basic = None;
    let (answer, _) = no_anchor.call(MARA, &streaming()).await;
    assert_eq!(
        fault(&answer).response_code(),
        Some(&ResponseCode::ErrorInvalidExchangeImpersonationHeaderData)
    );
    // Without impersonation: refused, as Exchange Online refuses it.
    let bare =
        ews_proto::soap::write_envelope(&ews_proto::soap::SoapHeader::default(), &streaming());
    assert_eq!(
        fault(&ews.post(bare).await).response_code(),
        Some(&ResponseCode::ErrorInvalidExchangeImpersonationHeaderData)
    );
    // A delegated token acts as its user only.
    let user = sim
        .identity()
        .issue_user_token(APP, MARA, "https://outlook.office365.com")
        .expect("token");
    let mut delegated = affine(&sim, MARA).header("Authorization", format!("Bearer {user}"));
    delegated.basic = None;
    let own =
        ews_proto::soap::write_envelope(&ews_proto::soap::SoapHeader::default(), &streaming());
    assert_eq!(delegated.post(own).await.status, 200);
    let (answer, _) = delegated.call(SADIE, &streaming()).await;
    assert_eq!(
        fault(&answer).response_code(),
        Some(&ResponseCode::ErrorImpersonateUserDenied)
    );
    // An expired token, or a tampered one: 401.
    let mut tampered = affine(&sim, MARA).header("Authorization", format!("Bearer {token}x"));
    tampered.basic = None;
    assert_eq!(tampered.call(MARA, &streaming()).await.0.status, 401);
    sim.identity().set_token_lifetime(Duration::ZERO);
    let expired = sim
        .identity()
        .issue_app_token(APP, "https://outlook.office365.com")
        .expect("token");
    let mut old = affine(&sim, MARA).header("Authorization", format!("Bearer {expired}"));
    old.basic = None;
    assert_eq!(old.call(MARA, &streaming()).await.0.status, 401);
}
