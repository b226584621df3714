//! The dispatcher: retries after Retry-After, the breaker during an outage, the queue, and
//! the shutdown.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use exchange_sim::push::Reply;
use push_delivery::{
    BreakerConfig, DeviceToken, Dispatcher, DispatcherConfig, Error, Notification, Outcome, Push,
    RetryPolicy,
};

use crate::support::{Apns, apns_token, bounded, eventually};

fn fast() -> DispatcherConfig {
    let mut config = DispatcherConfig::default();
    config.retry = RetryPolicy::default();
    config.retry.base_delay = Duration::from_millis(20);
    config.retry.max_delay = Duration::from_millis(200);
    config.retry.max_attempts = 50;
    config.retry.max_elapsed = Duration::from_secs(60);
    config.breaker = BreakerConfig::default();
    config.breaker.failure_threshold = 3;
    config.breaker.cooldown = Duration::from_millis(100);
    config.breaker.max_cooldown = Duration::from_millis(400);
    config
}

fn push(n: u16) -> Push {
    Push::new(
        DeviceToken::apns(&apns_token(n)).unwrap(),
        Notification::alert("t", "b"),
    )
}

#[tokio::test]
async fn too_many_requests_and_503_are_retried_after_retry_after_then_delivered() {
    let apns = Apns::start().await;
    let dispatcher = Dispatcher::new(Arc::new(apns.sender()), fast());
    for (n, reply) in [
        (1, Reply::apns("TooManyRequests").retry_after(1)),
        (2, Reply::apns("ServiceUnavailable").retry_after(1)),
    ] {
        let token = apns_token(n);
        apns.mock.script(&token, [reply.clone()]);
        let receipt = dispatcher.submit(push(n)).await.unwrap();
        let outcome = bounded("receipt", receipt.outcome()).await;
        assert!(outcome.is_delivered(), "{outcome:?}");
        let tries: Vec<_> = apns
            .mock
            .received()
            .into_iter()
            .filter(|r| r.token == token)
            .collect();
        assert_eq!(tries.len(), 2);
        assert_eq!(tries[0].status, reply.status);
        assert_eq!(tries[1].status, 200);
        let waited = tries[1].at - tries[0].at;
        assert!(
            waited >= Duration::from_secs(1),
            "retried after {waited:?}, before Retry-After"
        );
    }
    let stats = dispatcher.stats();
    assert_eq!((stats.delivered, stats.retries), (2, 2));
}

#[tokio::test]
async fn permanent_outcomes_are_not_retried() {
    let apns = Apns::start().await;
    let dispatcher = Dispatcher::new(Arc::new(apns.sender()), fast());
    apns.mock
        .script(&apns_token(1), [Reply::apns("Unregistered")]);
    apns.mock.script(&apns_token(2), [Reply::apns("BadTopic")]);
    let dead = dispatcher.submit(push(1)).await.unwrap();
    let bad = dispatcher.submit(push(2)).await.unwrap();
    assert!(bounded("dead", dead.outcome()).await.is_token_invalid());
    assert!(matches!(
        bounded("bad", bad.outcome()).await,
        Outcome::Rejected { .. }
    ));
    assert_eq!(apns.mock.stats().requests, 2);
    let stats = dispatcher.stats();
    assert_eq!(
        (stats.token_invalid, stats.rejected, stats.retries),
        (1, 1, 0)
    );
}

#[tokio::test]
async fn retries_are_bounded() {
    let apns = Apns::start().await;
    let mut config = fast();
    config.retry.max_attempts = 3;
    config.breaker.failure_threshold = 100;
    let dispatcher = Dispatcher::new(Arc::new(apns.sender()), config);
    apns.mock
        .script_always(&apns_token(1), Reply::apns("InternalServerError"));
    let outcome = bounded(
        "receipt",
        dispatcher.submit(push(1)).await.unwrap().outcome(),
    )
    .await;
    let Outcome::Retry { reason, .. } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(reason.code, "GaveUp");
    assert!(reason.detail.unwrap().contains("InternalServerError"));
    assert_eq!(apns.mock.stats().requests, 3);
    assert_eq!(dispatcher.stats().gave_up, 1);
}

#[tokio::test]
async fn provider_down_then_back_loses_nothing_and_does_not_spin() {
    let apns = Apns::start().await;
    let dispatcher = Dispatcher::new(Arc::new(apns.sender()), fast());
    apns.mock.set_down(true);
    let pushes: Vec<Push> = (0..100).map(push).collect();
    let ids: HashSet<String> = pushes.iter().map(|p| p.id().to_owned()).collect();
    let mut receipts = Vec::new();
    for p in pushes {
        receipts.push(dispatcher.submit(p).await.unwrap());
    }
    // Every push was admitted before the breaker opened: wait for that first wave to fail.
    eventually("the breaker opens after the first wave", || {
        dispatcher.stats().breaker_open && apns.mock.stats().requests >= 100
    })
    .await;
    let at_open = apns.mock.stats().requests;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let during = apns.mock.stats().requests - at_open;
    // While open, only probes go: about one per cooldown (100-400 ms), not 100 pushes spinning.
    assert!(
        during <= 12,
        "{during} requests in 1 s while the breaker was open"
    );
    assert!(dispatcher.stats().held == 100);

    apns.mock.set_down(false);
    let mut delivered = HashSet::new();
    for receipt in receipts {
        let id = receipt.id().to_owned();
        let outcome = bounded("receipt", receipt.outcome()).await;
        assert!(outcome.is_delivered(), "{outcome:?}");
        delivered.insert(id);
    }
    assert_eq!(delivered, ids);
    let ok: HashSet<String> = apns
        .mock
        .received()
        .into_iter()
        .filter(|r| r.status == 200)
        .map(|r| r.header("apns-id").unwrap().to_owned())
        .collect();
    assert_eq!(ok, ids, "every push reached APNs once the outage ended");
    let stats = dispatcher.stats();
    assert!(stats.breaker_opened >= 1);
    assert!(!stats.breaker_open);
    assert_eq!((stats.delivered, stats.gave_up, stats.held), (100, 0, 0));
}

#[tokio::test]
async fn a_full_queue_hands_the_push_back() {
    let apns = Apns::start().await;
    let mut config = fast();
    config.capacity = 2;
    let dispatcher = Dispatcher::new(Arc::new(apns.sender()), config);
    apns.mock.script_next([
        Reply::ok().delay(Duration::from_millis(300)),
        Reply::ok().delay(Duration::from_millis(300)),
    ]);
    let a = dispatcher.try_submit(push(1)).unwrap();
    let b = dispatcher.try_submit(push(2)).unwrap();
    let third = push(3);
    let id = third.id().to_owned();
    let err = dispatcher.try_submit(third).unwrap_err();
    assert!(matches!(err, Error::QueueFull(_)));
    assert!(err.is_retryable());
    assert_eq!(err.into_push().unwrap().id(), id);
    // `submit` waits for room instead.
    let c = bounded("submit", dispatcher.submit(push(3))).await.unwrap();
    for receipt in [a, b, c] {
        assert!(bounded("receipt", receipt.outcome()).await.is_delivered());
    }
}

#[tokio::test]
async fn shutdown_drains_what_is_queued() {
    let apns = Apns::start().await;
    let dispatcher = Dispatcher::new(Arc::new(apns.sender()), fast());
    let replies: Vec<_> = (0..20)
        .map(|_| Reply::ok().delay(Duration::from_millis(100)))
        .collect();
    apns.mock.script_next(replies);
    let mut receipts = Vec::new();
    for n in 0..20 {
        receipts.push(dispatcher.submit(push(n)).await.unwrap());
    }
    // One push also has to wait for a retry.
    apns.mock.script(
        &apns_token(99),
        [Reply::apns("TooManyRequests").retry_after(1)],
    );
    receipts.push(dispatcher.submit(push(99)).await.unwrap());
    let report = bounded("shutdown", dispatcher.shutdown(Duration::from_secs(10))).await;
    assert_eq!(report.drained, 21);
    assert!(report.abandoned.is_empty());
    for receipt in receipts {
        assert!(receipt.outcome().await.is_delivered());
    }
    let refused = dispatcher.submit(push(100)).await.unwrap_err();
    assert!(matches!(refused, Error::ShuttingDown(_)));
}

#[tokio::test]
async fn shutdown_hands_back_what_it_could_not_deliver() {
    let apns = Apns::start().await;
    let dispatcher = Dispatcher::new(Arc::new(apns.sender()), fast());
    apns.mock.set_down(true);
    let mut receipts = Vec::new();
    for n in 0..5 {
        receipts.push(dispatcher.submit(push(n)).await.unwrap());
    }
    let report = bounded("shutdown", dispatcher.shutdown(Duration::from_millis(300))).await;
    assert_eq!(report.abandoned.len(), 5);
    assert_eq!(report.drained, 0);
    for receipt in receipts {
        let outcome = receipt.outcome().await;
        assert_eq!(outcome.reason().unwrap().code, "Shutdown");
    }
    assert_eq!(dispatcher.stats().abandoned, 5);
}
