//! How the APNs sender uses connections and streams.

use std::sync::Arc;
use std::time::Duration;

use exchange_sim::push::Reply;
use push_delivery::{ApnsSender, DeviceToken, Notification, Push, PushSender};

use crate::support::{Apns, apns_token, bounded, eventually};

#[tokio::test]
async fn many_streams_on_few_connections_within_the_servers_limit() {
    let apns = Apns::start_with(|c| c.max_concurrent_streams = 8).await;
    let mut config = apns.config();
    config.connections = 2;
    let sender = Arc::new(ApnsSender::new(config).unwrap());
    // Slow answers, so that streams pile up.
    let replies: Vec<_> = (0..200)
        .map(|_| Reply::ok().delay(Duration::from_millis(20)))
        .collect();
    apns.mock.script_next(replies);
    let mut tasks = Vec::new();
    for n in 0..200 {
        let sender = Arc::clone(&sender);
        tasks.push(tokio::spawn(async move {
            let push = Push::new(
                DeviceToken::apns(&apns_token(n)).unwrap(),
                Notification::alert("t", "b"),
            );
            sender.send(&push).await
        }));
    }
    for task in tasks {
        assert!(bounded("send", task).await.unwrap().is_delivered());
    }
    let mock = apns.mock.stats();
    let stats = sender.stats();
    assert_eq!(mock.ok, 200);
    assert_eq!(mock.connections, 2, "never a connection per push");
    assert_eq!(stats.connections_opened, 2);
    assert_eq!(stats.server_max_streams, 8);
    assert!(mock.max_streams_in_flight <= 16, "{mock:?}");
    assert!(
        mock.max_streams_in_flight > 2,
        "streams ran concurrently: {mock:?}"
    );
}

#[tokio::test]
async fn a_new_connection_carries_one_stream_until_a_push_succeeds() {
    let apns = Apns::start().await;
    let sender = Arc::new(apns.sender());
    let token = apns_token(1);
    // The first push is slow; the others must wait for it on this connection.
    apns.mock
        .script(&token, [Reply::ok().delay(Duration::from_millis(300))]);
    let first = {
        let sender = Arc::clone(&sender);
        let token = token.clone();
        tokio::spawn(async move {
            let push = Push::new(
                DeviceToken::apns(&token).unwrap(),
                Notification::alert("t", "b"),
            );
            sender.send(&push).await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut rest = Vec::new();
    for n in 2..12 {
        let sender = Arc::clone(&sender);
        rest.push(tokio::spawn(async move {
            let push = Push::new(
                DeviceToken::apns(&apns_token(n)).unwrap(),
                Notification::alert("t", "b"),
            );
            sender.send(&push).await
        }));
    }
    assert!(bounded("first", first).await.unwrap().is_delivered());
    for task in rest {
        assert!(bounded("rest", task).await.unwrap().is_delivered());
    }
    let received = apns.mock.received();
    assert_eq!(received.len(), 11);
    assert_eq!(received[0].token, token, "nothing overtook the first push");
    assert_eq!(apns.mock.stats().connections, 1);
}

#[tokio::test]
async fn idle_connections_are_pinged_and_kept() {
    let apns = Apns::start().await;
    let mut config = apns.config();
    config.ping_interval = Duration::from_millis(100);
    config.ping_timeout = Duration::from_secs(5);
    let sender = ApnsSender::new(config).unwrap();
    let push = Push::new(
        DeviceToken::apns(&apns_token(1)).unwrap(),
        Notification::alert("t", "b"),
    );
    assert!(sender.send(&push).await.is_delivered());
    eventually("two PINGs", || sender.stats().pings >= 2).await;
    assert_eq!(sender.stats().connections_open, 1);
    assert!(sender.send(&push).await.is_delivered());
    assert_eq!(
        apns.mock.stats().connections,
        1,
        "the pinged connection was reused"
    );
}

#[tokio::test]
async fn a_dropped_connection_is_replaced() {
    let apns = Apns::start().await;
    let sender = apns.sender();
    let push = Push::new(
        DeviceToken::apns(&apns_token(1)).unwrap(),
        Notification::alert("t", "b"),
    );
    assert!(sender.send(&push).await.is_delivered());
    apns.mock.drop_connections();
    eventually("the sender sees the connection close", || {
        sender.stats().connections_open == 0
    })
    .await;
    assert!(sender.send(&push).await.is_delivered());
    assert_eq!(apns.mock.stats().connections, 2);
    assert_eq!(sender.stats().connections_opened, 2);
}

#[tokio::test]
async fn a_provider_that_is_gone_means_retry() {
    let apns = Apns::start().await;
    let sender = apns.sender();
    let push = Push::new(
        DeviceToken::apns(&apns_token(1)).unwrap(),
        Notification::alert("t", "b"),
    );
    assert!(sender.send(&push).await.is_delivered());
    apns.mock.shutdown();
    eventually("the connection closes", || {
        sender.stats().connections_open == 0
    })
    .await;
    let outcome = bounded("send", sender.send(&push)).await;
    assert!(outcome.is_retryable(), "{outcome:?}");
    assert_eq!(outcome.reason().unwrap().code, "Connection");
    assert!(outcome.reason().unwrap().is_provider_failure());
}
