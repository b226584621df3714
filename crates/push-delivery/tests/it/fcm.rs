//! The FCM sender against the mock FCM and its token endpoint.

use std::sync::Arc;
use std::time::Duration;

use exchange_sim::push::Reply;
use push_delivery::{
    DeviceToken, Dispatcher, DispatcherConfig, FcmSender, Notification, Outcome, Push, PushSender,
};

use crate::support::{Fcm, PROJECT, bounded};

fn push(token: &str, notification: Notification) -> Push {
    Push::new(DeviceToken::fcm(token).unwrap(), notification)
}

#[tokio::test]
async fn success_with_one_cached_access_token() {
    let fcm = Fcm::start().await;
    let sender = fcm.sender();
    for n in 0..3 {
        let p = push(
            &format!("fcm-token-{n}"),
            Notification::alert("New mail", "From: Mara")
                .collapse_id("mailbox-1")
                .ttl(Duration::from_secs(600))
                .data("mailbox", "mara@contoso.com"),
        );
        let outcome = bounded("send", sender.send(&p)).await;
        let Outcome::Delivered { id: Some(id) } = outcome else {
            panic!("{outcome:?}")
        };
        assert!(
            id.starts_with(&format!("projects/{PROJECT}/messages/")),
            "{id}"
        );
    }
    assert_eq!(fcm.mock.tokens_issued(), 1, "the access token is cached");
    let received = fcm.mock.received();
    assert_eq!(received.len(), 3);
    let m = &received[0].body["message"];
    assert_eq!(m["token"], "fcm-token-0");
    assert_eq!(m["notification"]["title"], "New mail");
    assert_eq!(m["data"]["mailbox"], "mara@contoso.com");
    assert_eq!(m["android"]["priority"], "HIGH");
    assert_eq!(m["android"]["collapse_key"], "mailbox-1");
    assert_eq!(m["android"]["ttl"], "600s");
    assert!(
        received[0]
            .authorization
            .as_deref()
            .unwrap()
            .starts_with("Bearer ya29.mock-")
    );
}

#[tokio::test]
async fn unregistered_and_sender_id_mismatch_mean_the_token_is_dead() {
    let fcm = Fcm::start().await;
    let sender = fcm.sender();
    for (token, code, status) in [
        ("gone", "UNREGISTERED", 404),
        ("other-app", "SENDER_ID_MISMATCH", 403),
    ] {
        fcm.mock.script(token, [Reply::fcm(code)]);
        let outcome = sender.send(&push(token, Notification::background())).await;
        let Outcome::TokenInvalid { reason, .. } = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!((reason.status, reason.code.as_str()), (Some(status), code));
    }
}

#[tokio::test]
async fn invalid_argument_is_rejected_but_the_token_is_not_dead() {
    let fcm = Fcm::start().await;
    let sender = fcm.sender();
    fcm.mock.script("tok", [Reply::fcm("INVALID_ARGUMENT")]);
    let outcome = sender
        .send(&push("tok", Notification::alert("t", "b")))
        .await;
    assert!(!outcome.is_token_invalid());
    let Outcome::Rejected { reason } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(
        (reason.status, reason.code.as_str()),
        (Some(400), "INVALID_ARGUMENT")
    );
    // Other documented codes.
    for (code, retry) in [
        ("UNAVAILABLE", true),
        ("INTERNAL", true),
        ("THIRD_PARTY_AUTH_ERROR", false),
    ] {
        fcm.mock.script("tok", [Reply::fcm(code)]);
        let outcome = sender
            .send(&push("tok", Notification::alert("t", "b")))
            .await;
        assert_eq!(outcome.is_retryable(), retry, "{code}: {outcome:?}");
        assert!(!outcome.is_token_invalid());
        assert_eq!(outcome.reason().unwrap().code, code);
    }
}

#[tokio::test]
async fn quota_exceeded_is_retried_after_retry_after() {
    let fcm = Fcm::start().await;
    let sender = Arc::new(fcm.sender());
    fcm.mock
        .script("tok", [Reply::fcm("QUOTA_EXCEEDED").retry_after(1)]);
    let outcome = sender
        .send(&push("tok", Notification::alert("t", "b")))
        .await;
    assert_eq!(
        outcome,
        Outcome::Retry {
            reason: outcome.reason().unwrap().clone(),
            after: Some(Duration::from_secs(1))
        }
    );
    assert_eq!(outcome.reason().unwrap().code, "QUOTA_EXCEEDED");

    fcm.mock
        .script("tok", [Reply::fcm("QUOTA_EXCEEDED").retry_after(1)]);
    let dispatcher = Dispatcher::new(sender, DispatcherConfig::default());
    let receipt = dispatcher
        .submit(push("tok", Notification::alert("t", "b")))
        .await
        .unwrap();
    assert!(bounded("receipt", receipt.outcome()).await.is_delivered());
    let tries = fcm.mock.received();
    let (last_two, _) = (tries[tries.len() - 2..].to_vec(), ());
    assert_eq!(last_two[0].code.as_deref(), Some("QUOTA_EXCEEDED"));
    assert_eq!(last_two[1].status, 200);
    assert!(last_two[1].at - last_two[0].at >= Duration::from_secs(1));
}

#[tokio::test]
async fn access_tokens_are_renewed_before_they_expire() {
    // Tokens live 2 s here; the sender renews halfway through a short-lived token.
    let fcm = Fcm::start_with(|c| c.token_lifetime = Duration::from_secs(2)).await;
    let sender = fcm.sender();
    assert!(
        sender
            .send(&push("a", Notification::background()))
            .await
            .is_delivered()
    );
    assert!(
        sender
            .send(&push("a", Notification::background()))
            .await
            .is_delivered()
    );
    assert_eq!(fcm.mock.tokens_issued(), 1);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(
        sender
            .send(&push("a", Notification::background()))
            .await
            .is_delivered()
    );
    assert_eq!(fcm.mock.tokens_issued(), 2);
    let auth: Vec<_> = fcm
        .mock
        .received()
        .into_iter()
        .map(|r| r.authorization.unwrap())
        .collect();
    assert_eq!(auth[0], auth[1]);
    assert_ne!(auth[1], auth[2]);
}

#[tokio::test]
async fn a_refused_access_token_is_replaced_once() {
    let fcm = Fcm::start().await;
    let sender = fcm.sender();
    assert!(
        sender
            .send(&push("a", Notification::background()))
            .await
            .is_delivered()
    );
    fcm.mock.revoke_tokens();
    let outcome = sender.send(&push("a", Notification::background())).await;
    assert!(outcome.is_delivered(), "{outcome:?}");
    assert_eq!(fcm.mock.tokens_issued(), 2);
    let statuses: Vec<_> = fcm.mock.received().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 401, 200]);
}

#[tokio::test]
async fn a_service_account_the_token_endpoint_refuses_is_rejected() {
    let fcm = Fcm::start().await;
    let other = exchange_sim::push::keys::rsa_key_pair().unwrap();
    let mut config = fcm.config();
    config.service_account_json = fcm.mock.service_account_json(&other.private_pem).into();
    let sender = FcmSender::new(config).unwrap();
    let outcome = sender.send(&push("a", Notification::background())).await;
    let Outcome::Rejected { reason } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(reason.code, "Auth");
    assert!(reason.detail.unwrap().contains("invalid_grant"));
    assert_eq!(fcm.mock.received().len(), 0);
    let debug = format!("{:?} {sender:?}", fcm.config());
    assert!(!debug.contains(other.private_pem.lines().nth(1).unwrap()));
    assert!(!debug.contains(fcm.key.private_pem.lines().nth(1).unwrap()));
}

#[tokio::test]
async fn too_large_is_caught_before_sending() {
    let fcm = Fcm::start().await;
    let sender = fcm.sender();
    let outcome = sender
        .send(&push(
            "a",
            Notification::background().data("k", "v".repeat(5000)),
        ))
        .await;
    assert_eq!(outcome.reason().unwrap().code, "PayloadTooLarge");
    assert_eq!(fcm.mock.stats().requests, 0);
}

#[tokio::test]
async fn fcm_down_then_back_loses_nothing() {
    let fcm = Fcm::start().await;
    let mut config = DispatcherConfig::default();
    config.retry.base_delay = Duration::from_millis(20);
    config.retry.max_delay = Duration::from_millis(200);
    config.retry.max_attempts = 50;
    config.breaker.cooldown = Duration::from_millis(100);
    config.breaker.max_cooldown = Duration::from_millis(300);
    let dispatcher = Dispatcher::new(Arc::new(fcm.sender()), config);
    fcm.mock.set_down(true);
    let mut receipts = Vec::new();
    for n in 0..30 {
        receipts.push(
            dispatcher
                .submit(push(&format!("t{n}"), Notification::background()))
                .await
                .unwrap(),
        );
    }
    crate::support::eventually("the breaker opens", || dispatcher.stats().breaker_open).await;
    fcm.mock.set_down(false);
    for receipt in receipts {
        assert!(bounded("receipt", receipt.outcome()).await.is_delivered());
    }
    let ok = fcm
        .mock
        .received()
        .iter()
        .filter(|r| r.status == 200)
        .count();
    assert_eq!(ok, 30);
}
