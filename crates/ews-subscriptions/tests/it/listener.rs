//! The push listener on its own: what it accepts and what it refuses.

use std::sync::Arc;

use ews_proto::operations::{
    SendNotification, SendNotificationResponseMessage, SendNotificationResult, SubscriptionStatus,
};
use ews_proto::soap::{ExchangeVersion, SoapHeader, read_envelope, write_envelope};
use ews_proto::{Notification, SubscriptionId};
use ews_subscriptions::Watcher;
use mailbox_watch::MemoryWatermarks;

use crate::support::*;

async fn listener() -> (Watcher, String) {
    let sim = sim(None).await;
    let (watcher, _events) = Watcher::builder(push("http://127.0.0.1:1/unused"), auth(&sim))
        .store(Arc::new(MemoryWatermarks::new()))
        .start()
        .unwrap();
    let (listener, addr) = bind().await;
    tokio::spawn(watcher.push_listener().serve(listener, None));
    (watcher, format!("http://{addr}/ews/notify"))
}

fn notification(id: &str) -> Vec<u8> {
    let message =
        SendNotificationResponseMessage::success(Notification::new(SubscriptionId::new(id)));
    write_envelope(
        &SoapHeader::request(ExchangeVersion::Exchange2013),
        &SendNotification::single(message),
    )
}

#[tokio::test]
async fn a_subscription_we_did_not_create_is_told_to_unsubscribe() {
    let (watcher, url) = listener().await;
    let client = reqwest::Client::new();
    let answer = client
        .post(&url)
        .body(notification("not-ours"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let body = answer.bytes().await.unwrap();
    let result = read_envelope::<SendNotificationResult>(&body).unwrap().body;
    assert_eq!(result.subscription_status, SubscriptionStatus::Unsubscribe);
    assert_eq!(watcher.status().unknown_push, 1);
}

#[tokio::test]
async fn what_is_not_a_send_notification_is_refused_with_the_reason() {
    let (watcher, url) = listener().await;
    let client = reqwest::Client::new();
    let answer = client.post(&url).body("<hello/>").send().await.unwrap();
    assert_eq!(answer.status(), 400);
    let text = answer.text().await.unwrap();
    assert!(text.contains("not a SendNotification"), "{text}");
    let answer = client.get(&url).send().await.unwrap();
    assert_eq!(answer.status(), 405);
    assert_eq!(watcher.status().unknown_push, 0);
}
