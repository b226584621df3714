//! What the end-to-end tests read from mock APNs.

// Each test binary (service, graph, hostile) uses a part of these helpers.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use bems::service::server::Running;
use bems_demo::World;
use exchange_sim::push::ApnsRequest;

/// The pushes mock APNs accepted for `token`, in order.
pub(crate) fn delivered(world: &World, token: &str) -> Vec<ApnsRequest> {
    world
        .apns
        .received()
        .into_iter()
        .filter(|r| r.token == token && r.status == 200)
        .collect()
}

/// How many mails `pushes` announce: a push for a burst says how many ("You have 3 new
/// messages"), one for a single mail says none.
pub(crate) fn mails(pushes: &[ApnsRequest]) -> u64 {
    pushes
        .iter()
        .map(|r| {
            let body = r.payload["aps"]["alert"]["body"]
                .as_str()
                .unwrap_or_default();
            body.split_whitespace()
                .find_map(|w| w.parse::<u64>().ok())
                .unwrap_or(1)
        })
        .sum()
}

/// Waits until `n` mailboxes are subscribed (at most 20 s).
pub(crate) async fn subscribed(running: &Running, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = running.service.status().await;
        if status
            .iter()
            .map(|t| t.subscriptions.subscribed)
            .sum::<usize>()
            >= n
        {
            return;
        }
        assert!(Instant::now() < deadline, "not subscribed: {status:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until mock APNs accepted `n` pushes for `token`, at most `within`.
pub(crate) async fn pushes_for(
    world: &World,
    token: &str,
    n: usize,
    within: Duration,
) -> Vec<ApnsRequest> {
    let deadline = Instant::now() + within;
    loop {
        let got = delivered(world, token);
        if got.len() >= n {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {n} pushes for {token} within {within:?}",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
