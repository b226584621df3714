//! Microsoft 365 tenants on Microsoft Graph, end to end over loopback: `exchange-sim` as
//! Exchange Online and Graph, the service over TLS with its webhook, mock APNs.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bems::service::server::{self, Running};
use bems::settings::SubscriptionMode;
use bems_demo::{self as demo, TOPIC, World};

mod support;

const MARA: &str = "mara@contoso.com";
const SADIE: &str = "sadie@contoso.com";
const ALFRED: &str = "alfred@contoso.com";

/// The demo world as a Microsoft 365 tenant, Graph on or off, its clock 100 times faster;
/// before Graph, EWS push subscriptions (as BEMS), which resume from their watermarks after
/// the restart that switches the tenant.
async fn world(graph: bool) -> World {
    let mut world = World::start(SubscriptionMode::Push, None, true)
        .await
        .expect("world starts");
    world.use_graph(graph).expect("Microsoft 365 settings");
    world
}

async fn register(world: &World, running: &Running, mailbox: &str, token: &str) -> (u16, String) {
    let bearer = world.user_token(mailbox).expect("user token");
    let base = format!("https://localhost:{}", running.addr.port());
    let client = world.https_client().expect("client");
    demo::register(&client, &base, &bearer, mailbox, "apns", token, TOPIC)
        .await
        .expect("API answers")
}

/// Waits (at most 20 s) until `check` holds for the service's status.
async fn until(
    running: &Running,
    what: &str,
    check: impl Fn(&[bems::service::service::TenantStatus]) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = running.service.status().await;
        if check(&status) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {status:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The mails announced to `token` (a push for a burst says how many) and the last badge.
fn announced(world: &World, token: &str) -> (u64, u64) {
    let pushes = support::delivered(world, token);
    let mails = support::mails(&pushes);
    let badge = pushes
        .last()
        .and_then(|r| r.payload["aps"]["badge"].as_u64())
        .unwrap_or(0);
    (mails, badge)
}

#[tokio::test]
async fn a_microsoft_365_tenant_on_graph_pushes_new_mail_to_the_phone() {
    let world = world(true).await;
    let running = server::start(&world.settings, &world.overrides)
        .await
        .expect("service starts");
    let token = demo::apns_token(1);
    let (status, body) = register(&world, &running, MARA, &token).await;
    assert_eq!(status, 201, "{body}");
    until(&running, "subscribed on Graph", |s| {
        s[0].graph.as_ref().is_some_and(|g| g.subscribed == 1)
    })
    .await;
    let graph = world.sim.graph();
    let subscription = &graph.subscriptions(Some(MARA))[0];
    assert_eq!(
        subscription.notification_url,
        format!(
            "https://localhost:{}/graph/contoso/notifications",
            running.addr.port()
        )
    );
    world
        .sim
        .deliver_mail(MARA, "Quarterly numbers", "boss@contoso.com")
        .expect("mail");
    let deadline = Instant::now() + Duration::from_secs(20);
    let push = loop {
        if let Some(push) = support::delivered(&world, &token).pop() {
            break push;
        }
        assert!(
            Instant::now() < deadline,
            "no push: {:#?}",
            running.service.status().await
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(push.payload["aps"]["alert"]["title"], "New mail");
    assert_eq!(
        push.payload["aps"]["badge"], 1,
        "the inbox's unreadItemCount"
    );
    assert_eq!(push.payload["mailbox"], MARA);
    assert_eq!(
        push.header("apns-collapse-id").map(str::to_owned),
        Some(bems::service::notify::collapse_id(
            &bems::store::model::TenantId::new(demo::TENANT).expect("id"),
            MARA
        ))
    );
    // Graph told the service: no EWS subscription, a Graph notification delivered.
    assert_eq!(world.sim.stats().subscriptions, 0);
    assert!(graph.stats().notifications >= 1);
    let record = running
        .service
        .store
        .mailbox(
            &bems::store::model::TenantId::new(demo::TENANT).expect("id"),
            MARA,
        )
        .await
        .expect("store")
        .expect("record");
    assert!(
        record
            .ews_url
            .is_some_and(|u| u.ends_with("/v1.0/users/mara@contoso.com"))
    );
    running.stop().await;
}

#[tokio::test]
async fn a_tenant_switched_from_ews_to_graph_pushes_every_mail_once_during_the_move() {
    let mut world = world(false).await;
    let mailboxes = [MARA, SADIE, ALFRED];
    let tokens = phones(&mailboxes);
    let mut sent: BTreeMap<&str, u64> = BTreeMap::new();

    // On EWS: every mailbox registered, subscribed, notified.
    let running = server::start(&world.settings, &world.overrides)
        .await
        .expect("service starts");
    for mailbox in mailboxes {
        assert_eq!(
            register(&world, &running, mailbox, &tokens[mailbox])
                .await
                .0,
            201
        );
    }
    // Mara's alert rules ask for her junk mail too: the move keeps that folder.
    let rules = world
        .https_client()
        .expect("client")
        .put(format!(
            "https://localhost:{}/v1/tenants/{}/users/{MARA}/alert-rules",
            running.addr.port(),
            demo::TENANT
        ))
        .bearer_auth(world.user_token(MARA).expect("token"))
        .body(r#"{"folders": ["junkemail"]}"#)
        .send()
        .await
        .expect("API answers");
    assert_eq!(rules.status().as_u16(), 201);
    until(&running, "subscribed on EWS", |s| {
        s[0].subscriptions.subscribed == 3
    })
    .await;
    for mailbox in mailboxes {
        world
            .sim
            .deliver_mail(mailbox, "on EWS", "boss@contoso.com")
            .expect("mail");
        *sent.entry(mailbox).or_default() += 1;
    }
    for mailbox in mailboxes {
        wait_announced(&world, &tokens[mailbox], sent[mailbox]).await;
    }
    running.stop().await;

    // "Use Microsoft Graph": one mailbox a second moves while mail keeps arriving.
    let tenant = &mut world.settings.tenants[0];
    tenant.graph.enabled = true;
    tenant.graph.migration_batch = 1;
    tenant.graph.migration_interval_seconds = 1;
    let running = server::start(&world.settings, &world.overrides)
        .await
        .expect("service restarts");
    let moved = |s: &[bems::service::service::TenantStatus]| {
        s[0].graph.as_ref().is_some_and(|g| g.subscribed == 3)
    };
    let started = Instant::now();
    let mut round = 0;
    loop {
        for mailbox in mailboxes {
            world
                .sim
                .deliver_mail(
                    mailbox,
                    &format!("during the move {round}"),
                    "boss@contoso.com",
                )
                .expect("mail");
            *sent.entry(mailbox).or_default() += 1;
        }
        round += 1;
        tokio::time::sleep(Duration::from_millis(40)).await;
        if moved(&running.service.status().await) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "not moved: {:#?}",
            running.service.status().await
        );
    }
    // And after it.
    for mailbox in mailboxes {
        world
            .sim
            .deliver_mail(mailbox, "on Graph", "boss@contoso.com")
            .expect("mail");
        *sent.entry(mailbox).or_default() += 1;
    }
    announced_once_each(&world, &tokens, &sent).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let resources: Vec<String> = world
            .sim
            .graph()
            .subscriptions(Some(MARA))
            .iter()
            .map(|s| s.resource.to_ascii_lowercase())
            .collect();
        if resources.iter().any(|r| r.contains("junkemail")) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the further folder moved with the mailbox: {resources:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = running.service.status().await;
    assert_eq!(
        status[0].subscriptions.mailboxes, 0,
        "EWS watches none: {status:#?}"
    );
    let store = &running.service.store;
    for record in store.mailboxes().await.expect("store") {
        assert!(
            record.ews_url.is_some_and(|u| u.contains("/v1.0/users/")),
            "{}",
            record.mailbox
        );
    }
    running.stop().await;
}

/// A phone's APNs token for each of `mailboxes`.
fn phones<'a>(mailboxes: &[&'a str]) -> BTreeMap<&'a str, String> {
    mailboxes
        .iter()
        .zip(1u8..)
        .map(|(m, n)| (*m, demo::apns_token(n)))
        .collect()
}

/// Waits until every mail `sent` to each mailbox was announced to its phone (`tokens`), then
/// a little more: nothing more comes, every mail was pushed once, and each phone's badge is
/// its inbox's unread count.
async fn announced_once_each(
    world: &World,
    tokens: &BTreeMap<&str, String>,
    sent: &BTreeMap<&str, u64>,
) {
    for (mailbox, n) in sent {
        wait_announced(world, &tokens[mailbox], *n).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (mailbox, n) in sent {
        let (mails, badge) = announced(world, &tokens[mailbox]);
        assert_eq!(mails, *n, "{mailbox}: announced once each");
        assert_eq!(badge, *n, "{mailbox}: the badge is the unread count");
    }
}

/// Waits (at most 30 s) until `n` mails were announced to `token`.
async fn wait_announced(world: &World, token: &str, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (mails, _) = announced(world, token);
        if mails >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{mails} of {n} mails announced to {token}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Two nodes on one PostgreSQL database behind one public URL: Graph notifies the first
/// node's webhook of every mailbox, and a mailbox the second node holds is announced all the
/// same, once per mail: the first node checks the notification against the subscription the
/// second published in the store, keeps it there, and the second takes it.
#[tokio::test]
async fn a_node_delivers_what_graph_posted_to_another_nodes_webhook() {
    let Some((url, _database)) = bems_store::conformance::scratch::scratch("graph_nodes").await
    else {
        return;
    };
    let mut world = world(true).await;
    world.settings.store.url = Some(url.into());
    world.settings.cluster.lease_seconds = 3;
    let mut first = world.settings.clone();
    first.cluster.node = Some("graph-a".into());
    let mut second = world.settings.clone();
    second.cluster.node = Some("graph-b".into());
    second.server.listen = "127.0.0.1:0".parse().expect("address");
    let a = server::start(&first, &world.overrides)
        .await
        .expect("node a starts");
    let b = server::start(&second, &world.overrides)
        .await
        .expect("node b starts");
    let mailboxes = [MARA, SADIE, ALFRED];
    let tokens = phones(&mailboxes);
    // A registration is watched by the node that takes it: Sadie by b.
    for (mailbox, node) in [(MARA, &a), (SADIE, &b), (ALFRED, &a)] {
        let (status, body) = register(&world, node, mailbox, &tokens[mailbox]).await;
        assert_eq!(status, 201, "{body}");
    }
    // Each is subscribed once, by its holder.
    let on_graph = |s: &[bems::service::service::TenantStatus]| {
        s[0].graph.as_ref().map_or(0, |g| g.subscribed)
    };
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let (at_a, at_b) = (
            on_graph(&a.service.status().await),
            on_graph(&b.service.status().await),
        );
        let once = mailboxes
            .iter()
            .all(|m| world.sim.graph().subscriptions(Some(m)).len() == 1);
        if at_b >= 1 && at_a + at_b == 3 && once {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not shared out: a {at_a}, b {at_b}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let notified = format!(
        "https://localhost:{}/graph/contoso/notifications",
        a.addr.port()
    );
    for mailbox in mailboxes {
        assert_eq!(
            world.sim.graph().subscriptions(Some(mailbox))[0].notification_url,
            notified,
            "{mailbox}: Graph notifies node a's URL, whoever holds it"
        );
    }
    let mut sent: BTreeMap<&str, u64> = BTreeMap::new();
    for round in 0..3 {
        for mailbox in mailboxes {
            world
                .sim
                .deliver_mail(mailbox, &format!("round {round}"), "boss@contoso.com")
                .expect("mail");
            *sent.entry(mailbox).or_default() += 1;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    announced_once_each(&world, &tokens, &sent).await;
    // What went through the store: a forwarded Sadie's, b took them.
    let count = |gauges: &bems::service::metrics::Gauges, outcome: &str| {
        gauges
            .graph_notifications
            .iter()
            .find(|(_, o, _)| *o == outcome)
            .map_or(0, |(_, _, n)| *n)
    };
    let (at_a, at_b) = (a.service.gauges().await, b.service.gauges().await);
    assert!(count(&at_a, "forwarded") >= sent[SADIE], "{at_a:?}");
    assert!(count(&at_b, "taken") >= sent[SADIE], "{at_b:?}");
    assert_eq!(count(&at_b, "accepted"), 0, "Graph posts nothing to b");
    b.stop().await;
    a.stop().await;
}

/// The API over TLS offers HTTP/2 (ALPN): Graph's webhook calls, and any client that speaks
/// it, share a connection instead of taking one (and a handshake) per request in flight.
/// HTTP/1.1 clients are served as before.
#[tokio::test]
async fn the_api_over_tls_speaks_http2_and_http1() {
    let world = world(true).await;
    let running = server::start(&world.settings, &world.overrides)
        .await
        .expect("service starts");
    let url = format!("https://localhost:{}/healthz", running.addr.port());
    let h2 = world.https_client().expect("client");
    let answer = h2.get(&url).send().await.expect("answer");
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.version(), reqwest::Version::HTTP_2);
    let ca = reqwest::Certificate::from_pem(world.sim.ca_pem().as_bytes()).expect("CA");
    let h1 = reqwest::Client::builder()
        .tls_certs_merge([ca])
        .http1_only()
        .build()
        .expect("client");
    let answer = h1.get(&url).send().await.expect("answer");
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.version(), reqwest::Version::HTTP_11);
    running.stop().await;
}
