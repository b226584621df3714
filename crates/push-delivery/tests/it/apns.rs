//! The APNs sender, one push at a time, against the mock APNs.

use std::time::{Duration, UNIX_EPOCH};

use exchange_sim::push::Reply;
use push_delivery::{ApnsAuth, ApnsSender, DeviceToken, Notification, Outcome, Push, PushSender};

use crate::support::{Apns, TOPIC, apns_token, bounded};

fn push(token: &str, notification: Notification) -> Push {
    Push::new(DeviceToken::apns(token).unwrap(), notification)
}

#[tokio::test]
async fn success_sends_the_documented_headers_and_payload() {
    let apns = Apns::start().await;
    let sender = apns.sender();
    let token = apns_token(1);
    let p = push(
        &token,
        Notification::alert("New mail", "From: Mara")
            .badge(3)
            .collapse_id("mailbox-1")
            .ttl(Duration::from_secs(3600))
            .data("mailbox", "mara@contoso.com"),
    );
    let outcome = bounded("send", sender.send(&p)).await;
    assert_eq!(
        outcome,
        Outcome::Delivered {
            id: Some(p.id().to_owned())
        }
    );

    let received = apns.mock.received();
    assert_eq!(received.len(), 1);
    let r = &received[0];
    assert_eq!((r.status, r.token.as_str()), (200, token.as_str()));
    assert_eq!(r.header("apns-topic"), Some(TOPIC));
    assert_eq!(r.header("apns-push-type"), Some("alert"));
    assert_eq!(r.header("apns-priority"), Some("10"));
    assert_eq!(r.header("apns-collapse-id"), Some("mailbox-1"));
    assert_eq!(r.header("apns-id"), Some(p.id()));
    assert!(r.header("apns-expiration").unwrap().parse::<u64>().unwrap() > 0);
    assert!(r.header("authorization").unwrap().starts_with("bearer "));
    assert_eq!(r.payload["aps"]["alert"]["title"], "New mail");
    assert_eq!(r.payload["aps"]["badge"], 3);
    assert_eq!(r.payload["mailbox"], "mara@contoso.com");
}

#[tokio::test]
async fn bad_device_token_is_reported_dead() {
    let apns = Apns::start().await;
    let token = apns_token(2);
    apns.mock.script(&token, [Reply::apns("BadDeviceToken")]);
    let outcome = apns
        .sender()
        .send(&push(&token, Notification::alert("t", "b")))
        .await;
    let Outcome::TokenInvalid { reason, since } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(
        (reason.status, reason.code.as_str()),
        (Some(400), "BadDeviceToken")
    );
    assert_eq!(since, None);
}

#[tokio::test]
async fn unregistered_is_reported_dead_with_its_timestamp() {
    let apns = Apns::start().await;
    let token = apns_token(3);
    apns.mock.script(
        &token,
        [Reply::apns("Unregistered").timestamp(1_700_000_000_123)],
    );
    let outcome = apns
        .sender()
        .send(&push(&token, Notification::alert("t", "b")))
        .await;
    let Outcome::TokenInvalid { reason, since } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(
        (reason.status, reason.code.as_str()),
        (Some(410), "Unregistered")
    );
    assert_eq!(
        since,
        Some(UNIX_EPOCH + Duration::from_millis(1_700_000_000_123))
    );
    assert_eq!(apns.mock.received()[0].status, 410);
}

#[tokio::test]
async fn throttling_and_outages_are_retryable_with_retry_after() {
    let apns = Apns::start().await;
    let sender = apns.sender();
    let token = apns_token(4);
    apns.mock.script(
        &token,
        [
            Reply::apns("TooManyRequests").retry_after(7),
            Reply::apns("ServiceUnavailable").retry_after(9),
            Reply::apns("InternalServerError"),
        ],
    );
    let p = push(&token, Notification::alert("t", "b"));
    let expected = [
        (429, "TooManyRequests", Some(7)),
        (503, "ServiceUnavailable", Some(9)),
        (500, "InternalServerError", None),
    ];
    for (status, code, after) in expected {
        let outcome = sender.send(&p).await;
        let Outcome::Retry { reason, after: got } = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!((reason.status, reason.code.as_str()), (Some(status), code));
        assert_eq!(got, after.map(Duration::from_secs));
    }
    assert!(sender.send(&p).await.is_delivered());
}

#[tokio::test]
async fn expired_provider_token_is_resigned_then_delivered() {
    // Tokens expire after 1 s here (an hour at Apple), and may be renewed at once.
    let apns = Apns::start_with(|c| {
        c.token_max_age = Duration::from_secs(1);
        c.min_token_refresh = Duration::ZERO;
    })
    .await;
    let sender = apns.sender();
    let token = apns_token(5);
    assert!(
        sender
            .send(&push(&token, Notification::alert("1", "b")))
            .await
            .is_delivered()
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let outcome = sender
        .send(&push(&token, Notification::alert("2", "b")))
        .await;
    assert!(outcome.is_delivered(), "{outcome:?}");

    let received = apns.mock.received();
    let seen: Vec<_> = received
        .iter()
        .map(|r| (r.status, r.reason.as_deref(), r.jwt_iat.unwrap()))
        .collect();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!((seen[1].0, seen[1].1), (403, Some("ExpiredProviderToken")));
    assert_eq!(
        seen[1].2, seen[0].2,
        "the second push first carried the old token"
    );
    assert_eq!(seen[2].0, 200);
    assert!(
        seen[2].2 >= seen[1].2 + 2,
        "re-signed with a new iat: {seen:?}"
    );
}

#[tokio::test]
async fn payload_too_large_is_caught_before_sending() {
    let apns = Apns::start().await;
    let sender = apns.sender();
    let p = push(&apns_token(6), Notification::alert("t", "x".repeat(5000)));
    let outcome = sender.send(&p).await;
    let Outcome::Rejected { reason } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(reason.code, "PayloadTooLarge");
    assert_eq!(reason.status, None, "no answer from APNs: never sent");
    assert_eq!(apns.mock.stats().requests, 0);
    assert_eq!(sender.stats().connections_opened, 0);
}

#[tokio::test]
async fn a_token_signed_by_another_key_is_refused_permanently() {
    let apns = Apns::start().await;
    let mut config = apns.config();
    let other = exchange_sim::push::keys::p8_key_pair().unwrap();
    config.auth = ApnsAuth::token(crate::support::TEAM, crate::support::KEY, other.private_pem);
    let sender = ApnsSender::new(config).unwrap();
    let outcome = sender
        .send(&push(&apns_token(7), Notification::alert("t", "b")))
        .await;
    let Outcome::Rejected { reason } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(
        (reason.status, reason.code.as_str()),
        (Some(403), "InvalidProviderToken")
    );
}

#[tokio::test]
async fn wrong_platform_and_wrong_topic_are_rejected() {
    let apns = Apns::start().await;
    let sender = apns.sender();
    let fcm = Push::new(
        DeviceToken::fcm("fcm-token").unwrap(),
        Notification::background(),
    );
    assert_eq!(
        sender.send(&fcm).await.reason().unwrap().code,
        "WrongPlatform"
    );
    let mut config = apns.config();
    config.topic = "com.example.other".into();
    let sender = ApnsSender::new(config).unwrap();
    let outcome = sender
        .send(&push(&apns_token(8), Notification::alert("t", "b")))
        .await;
    assert!(
        matches!(&outcome, Outcome::Rejected { reason } if reason.code == "BadTopic"),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn background_pushes_are_priority_5() {
    let apns = Apns::start().await;
    let p = push(&apns_token(9), Notification::background().data("sync", "1"));
    assert!(apns.sender().send(&p).await.is_delivered());
    let r = &apns.mock.received()[0];
    assert_eq!(r.header("apns-push-type"), Some("background"));
    assert_eq!(r.header("apns-priority"), Some("5"));
    assert_eq!(r.payload["aps"]["content-available"], 1);
}

#[tokio::test]
async fn certificate_authentication_from_a_p12_file() {
    let apns = Apns::start().await;
    let identity = apns.mock.client_certificate(TOPIC).unwrap();
    let p12 = p12_file(&identity, "s3cret");

    let mut config = apns.config();
    config.auth = ApnsAuth::certificate(p12.clone(), "s3cret");
    let debug = format!("{config:?}");
    assert!(!debug.contains("s3cret"), "{debug}");
    let sender = ApnsSender::new(config).unwrap();
    let outcome = sender
        .send(&push(&apns_token(10), Notification::alert("t", "b")))
        .await;
    assert!(outcome.is_delivered(), "{outcome:?}");
    let r = &apns.mock.received()[0];
    assert_eq!(r.header("authorization"), None);
    assert_eq!(r.jwt_iat, None);

    let mut config = apns.config();
    config.auth = ApnsAuth::certificate(p12, "wrong");
    let err = ApnsSender::new(config).unwrap_err();
    assert!(err.to_string().contains("p12"), "{err}");
    assert!(!err.to_string().contains("wrong"));
}

fn p12_file(identity: &exchange_sim::CertifiedKey, password: &str) -> Vec<u8> {
    use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
    use rustls_pki_types::PrivatePkcs8KeyDer;
    use rustls_pki_types::pem::PemObject as _;
    let key = PrivatePkcs8KeyDer::from_pem_slice(identity.key_pem.as_bytes()).unwrap();
    let chain = PrivateKeyChain::new(
        b"apns-test".to_vec(),
        PrivateKey::from_der(key.secret_pkcs8_der()).unwrap(),
        [Certificate::from_der(&identity.cert_der).unwrap()],
    );
    let mut store = KeyStore::new();
    store.add_entry("apns", KeyStoreEntry::PrivateKeyChain(chain));
    store.writer(password).write().unwrap()
}

#[tokio::test]
async fn secrets_stay_out_of_debug_output() {
    let apns = Apns::start().await;
    let config = apns.config();
    let debug = format!("{config:?} {:?}", ApnsSender::new(config.clone()).unwrap());
    let key_body = apns.key.private_pem.lines().nth(1).unwrap();
    assert!(!debug.contains(key_body), "{debug}");
    assert!(debug.contains("[REDACTED]"), "{debug}");
}
