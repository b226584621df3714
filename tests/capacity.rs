//! A node's capacity, as BEMS's alarms say it: one node on its SQLite store, with room for two
//! mailboxes, gets three. It watches two, raises its alarms (warning from 80%, critical at
//! 100%) in `/metrics` and `/admin/status`, and the third mailbox waits; `/admin/cluster`
//! shows the node with its mailboxes and the age of its oldest lease.

use std::time::{Duration, Instant};

use bems::service::server;
use bems::settings::SubscriptionMode;
use bems_demo::{self as demo, ADMIN_TOKEN, TOPIC, World};

const MAILBOXES: [&str; 3] = [
    "mara@contoso.com",
    "sadie@contoso.com",
    "alfred@contoso.com",
];

async fn admin(http: &reqwest::Client, url: String) -> serde_json::Value {
    let response = http
        .get(url)
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("the API answers");
    assert_eq!(response.status(), 200);
    response.json().await.expect("JSON")
}

#[tokio::test]
async fn a_node_at_its_capacity_raises_its_alarms_and_the_mailbox_beyond_waits() {
    let mut world = World::start(SubscriptionMode::Pull, None, true)
        .await
        .expect("world");
    world.settings.cluster.node = Some("bems-1".into());
    world.settings.cluster.capacity = 2;
    // A round every second.
    world.settings.cluster.lease_seconds = 3;
    let running = server::start(&world.settings, &world.overrides)
        .await
        .expect("service starts");
    let base = format!("http://{}", running.addr);
    let http = reqwest::Client::new();
    for (n, mailbox) in MAILBOXES.iter().enumerate() {
        let bearer = world.user_token(mailbox).expect("user token");
        let token = demo::apns_token(u8::try_from(n).unwrap() + 1);
        let (status, body) = demo::register(&http, &base, &bearer, mailbox, "apns", &token, TOPIC)
            .await
            .expect("the API answers");
        assert_eq!(status, 201, "{mailbox}: {body}");
    }

    // At its next round the node knows the mailbox it has no room for.
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        let status = admin(&http, format!("{base}/admin/status")).await;
        if status["node"]["waiting"] == 1 {
            break status;
        }
        assert!(Instant::now() < deadline, "nothing waits: {status:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let node = &status["node"];
    assert_eq!(node["node"], "bems-1");
    assert_eq!(node["capacity"], 2);
    assert_eq!(node["mailboxes"], 2);
    assert_eq!(node["percent"], 100);
    assert_eq!(node["alarm"], "critical");
    assert_eq!(node["nodes_alive"], 1);

    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for line in [
        "bems_node_mailboxes{node=\"bems-1\"} 2",
        "bems_node_capacity{node=\"bems-1\"} 2",
        "bems_capacity_alarm{node=\"bems-1\",level=\"warning\"} 1",
        "bems_capacity_alarm{node=\"bems-1\",level=\"critical\"} 1",
        "bems_cluster_nodes 1",
        "bems_mailboxes_waiting 1",
    ] {
        assert!(metrics.contains(line), "{line} missing from\n{metrics}");
    }

    let cluster = admin(&http, format!("{base}/admin/cluster")).await;
    assert_eq!(cluster["mailboxes"], 3);
    let nodes = cluster["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 1, "{cluster:#}");
    assert_eq!(nodes[0]["node"], "bems-1");
    assert_eq!(nodes[0]["alive"], true);
    assert_eq!(nodes[0]["mailboxes"], 2);
    assert_eq!(nodes[0]["alarm"], "critical");
    let age = nodes[0]["oldest_lease_age_ms"]
        .as_i64()
        .expect("a lease age");
    assert!(
        (0..=30_000).contains(&age),
        "renewed within a lease: {age} ms"
    );
    // The cluster view is the administrator's.
    let refused = http
        .get(format!("{base}/admin/cluster"))
        .send()
        .await
        .expect("answers");
    assert_eq!(refused.status(), 401);

    // The first watched mailbox's last device goes: the one waiting takes its place.
    let first = status["tenants"][0]["devices"].as_u64();
    assert_eq!(first, Some(3));
    let bearer = world.user_token(MAILBOXES[0]).expect("user token");
    let gone = http
        .delete(format!(
            "{base}/v1/tenants/{}/devices/{}?mailbox={}",
            demo::TENANT,
            demo::apns_token(1),
            MAILBOXES[0]
        ))
        .bearer_auth(bearer)
        .send()
        .await
        .expect("answers");
    assert_eq!(gone.status(), 204);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = admin(&http, format!("{base}/admin/status")).await;
        if status["node"]["waiting"] == 0 && status["node"]["mailboxes"] == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the waiting mailbox was not taken: {status:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    running.stop().await;
}
