//! The whole service end to end over loopback: `exchange-sim` as Exchange, mock APNs and
//! FCM, the service's real store, API and pipeline.

use std::time::{Duration, Instant};

use bems::service::server::{self, Running};
use bems::settings::SubscriptionMode;
use bems::store::model::TenantId;
use bems_demo::{self as demo, TENANT, TOPIC, World};
use exchange_sim::push::Reply;

mod support;

const MARA: &str = "mara@contoso.com";
const SADIE: &str = "sadie@contoso.com";

/// The longest wait for a push.
const WITHIN: Duration = Duration::from_secs(20);

fn tenant() -> TenantId {
    TenantId::new(TENANT).expect("tenant id")
}

async fn start(mode: SubscriptionMode) -> (World, Running, String) {
    let world = World::start(mode, None, true).await.expect("world starts");
    let running = server::start(&world.settings, &world.overrides)
        .await
        .expect("service starts");
    let base = format!("http://{}", running.addr);
    (world, running, base)
}

async fn register(world: &World, base: &str, mailbox: &str, token: &str) -> (u16, String) {
    let bearer = world.user_token(mailbox).expect("user token");
    demo::register(
        &reqwest::Client::new(),
        base,
        &bearer,
        mailbox,
        "apns",
        token,
        TOPIC,
    )
    .await
    .expect("API answers")
}

/// The new mail announced to `token` so far (a push for a burst says how many), and the
/// highest badge.
fn announced(world: &World, token: &str) -> (u64, u64) {
    let pushes = support::delivered(world, token);
    let mails = support::mails(&pushes);
    let badge = pushes
        .iter()
        .filter_map(|r| r.payload["aps"]["badge"].as_u64())
        .max()
        .unwrap_or(0);
    (mails, badge)
}

/// Waits until `n` mails were announced to `token` with the badge at `n` (at most 30 s).
async fn announced_all(world: &World, token: &str, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (mails, badge) = announced(world, token);
        if mails >= n && badge == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{mails} of {n} mails announced, badge {badge}: {:#?}",
            world
                .apns
                .received()
                .iter()
                .map(|r| (r.status, r.payload["aps"].to_string()))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn new_mail_reaches_the_phone_with_its_badge_and_collapse_id() {
    let (world, running, base) = start(SubscriptionMode::Streaming).await;
    let token = demo::apns_token(1);
    assert_eq!(register(&world, &base, MARA, &token).await.0, 201);
    support::subscribed(&running, 1).await;
    world
        .sim
        .deliver_mail(MARA, "first", "boss@contoso.com")
        .unwrap();
    let first = support::pushes_for(&world, &token, 1, WITHIN).await;
    world
        .sim
        .deliver_mail(MARA, "second", "boss@contoso.com")
        .unwrap();
    let both = support::pushes_for(&world, &token, 2, WITHIN).await;
    let collapse = first[0].header("apns-collapse-id").expect("collapse id");
    assert_eq!(
        collapse,
        bems::service::notify::collapse_id(&tenant(), MARA)
    );
    assert_eq!(both[1].header("apns-collapse-id"), Some(collapse));
    // The badge is the inbox's unread count.
    assert_eq!(both[0].payload["aps"]["badge"], 1);
    assert_eq!(both[1].payload["aps"]["badge"], 2);
    assert_eq!(world.sim.unread_count(MARA).unwrap(), 2);
    assert_eq!(both[1].payload["aps"]["alert"]["title"], "New mail");
    assert_eq!(both[1].payload["mailbox"], MARA);
    // Nothing is left in the outbox once APNs accepted the pushes.
    let deadline = Instant::now() + Duration::from_secs(5);
    while running.service.store.outbox_len().await.unwrap() > 0 {
        assert!(
            Instant::now() < deadline,
            "the outbox kept delivered pushes"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    running.stop().await;
}

#[tokio::test]
async fn an_unregistered_device_gets_nothing_more() {
    let (world, running, base) = start(SubscriptionMode::Streaming).await;
    let token = demo::apns_token(2);
    assert_eq!(register(&world, &base, MARA, &token).await.0, 201);
    support::subscribed(&running, 1).await;
    world
        .sim
        .deliver_mail(MARA, "before", "boss@contoso.com")
        .unwrap();
    support::pushes_for(&world, &token, 1, WITHIN).await;
    let bearer = world.user_token(MARA).unwrap();
    let answer = reqwest::Client::new()
        .delete(format!(
            "{base}/v1/tenants/{TENANT}/devices/{token}?mailbox={MARA}"
        ))
        .bearer_auth(&bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 204);
    assert!(
        running
            .service
            .store
            .devices_for(&tenant(), MARA)
            .await
            .unwrap()
            .is_empty()
    );
    // The mailbox had no other device: it is no longer watched either.
    assert_eq!(running.service.status().await[0].subscriptions.mailboxes, 0);
    world
        .sim
        .deliver_mail(MARA, "after", "boss@contoso.com")
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let to_token = world
        .apns
        .received()
        .iter()
        .filter(|r| r.token == token)
        .count();
    assert_eq!(to_token, 1, "only the mail before unregistering was pushed");
    running.stop().await;
}

#[tokio::test]
async fn a_dead_token_removes_its_device() {
    let (world, running, base) = start(SubscriptionMode::Streaming).await;
    let token = demo::apns_token(3);
    assert_eq!(register(&world, &base, MARA, &token).await.0, 201);
    support::subscribed(&running, 1).await;
    world.apns.script_always(
        &token,
        Reply::apns("Unregistered").timestamp(1_700_000_000_000),
    );
    world
        .sim
        .deliver_mail(MARA, "to a dead phone", "boss@contoso.com")
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !running
        .service
        .store
        .devices_for(&tenant(), MARA)
        .await
        .unwrap()
        .is_empty()
    {
        assert!(Instant::now() < deadline, "the dead device was kept");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        world
            .apns
            .received()
            .iter()
            .any(|r| r.token == token && r.status == 410)
    );
    assert_eq!(running.service.store.outbox_len().await.unwrap(), 0);
    assert_eq!(running.service.metrics.pushes_with("token_invalid"), 1);
    running.stop().await;
}

#[tokio::test]
async fn a_registration_for_another_users_mailbox_is_refused_and_nothing_is_stored() {
    let (world, running, base) = start(SubscriptionMode::Streaming).await;
    let mara = world.user_token(MARA).unwrap();
    let (status, body) = demo::register(
        &reqwest::Client::new(),
        &base,
        &mara,
        SADIE,
        "apns",
        &demo::apns_token(4),
        TOPIC,
    )
    .await
    .unwrap();
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("mara@contoso.com") && body.contains(SADIE),
        "{body}"
    );
    // No token at all, a forged one, an unknown app: refused, each saying why.
    let client = reqwest::Client::new();
    let anonymous = client
        .post(format!("{base}/v1/tenants/{TENANT}/devices"))
        .json(&serde_json::json!({"mailbox": MARA, "platform": "apns", "token": demo::apns_token(5), "app_id": TOPIC}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let (status, _) = demo::register(
        &client,
        &base,
        "not.a.jwt",
        MARA,
        "apns",
        &demo::apns_token(5),
        TOPIC,
    )
    .await
    .unwrap();
    assert_eq!(status, 401);
    let (status, body) = demo::register(
        &client,
        &base,
        &mara,
        MARA,
        "apns",
        &demo::apns_token(5),
        "com.other.app",
    )
    .await
    .unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("app_id"), "{body}");
    let store = &running.service.store;
    assert_eq!(store.device_count().await.unwrap(), 0);
    assert!(store.mailboxes().await.unwrap().is_empty());
    assert_eq!(running.service.status().await[0].subscriptions.mailboxes, 0);
    running.stop().await;
}

#[tokio::test]
async fn a_restarted_streaming_service_announces_the_mail_that_arrived_while_it_was_down() {
    // Streaming subscriptions cannot resume: the restarted service compares the inbox's
    // unread count with the one it saved.
    let (world, running, base) = start(SubscriptionMode::Streaming).await;
    let token = demo::apns_token(7);
    assert_eq!(register(&world, &base, MARA, &token).await.0, 201);
    support::subscribed(&running, 1).await;
    for n in 0..2 {
        world
            .sim
            .deliver_mail(MARA, &format!("before {n}"), "x@contoso.com")
            .unwrap();
    }
    announced_all(&world, &token, 2).await;
    running.stop().await;
    for n in 0..3 {
        world
            .sim
            .deliver_mail(MARA, &format!("while down {n}"), "x@contoso.com")
            .unwrap();
    }
    let running = server::start(&world.settings, &world.overrides)
        .await
        .expect("restart");
    announced_all(&world, &token, 5).await;
    let last = support::pushes_for(&world, &token, 1, WITHIN)
        .await
        .pop()
        .unwrap();
    assert_eq!(
        last.payload["aps"]["alert"]["body"], "You have 3 new messages",
        "the mail of the downtime, coalesced"
    );
    // And the stream goes on from there, without announcing anything twice.
    support::subscribed(&running, 1).await;
    world
        .sim
        .deliver_mail(MARA, "after", "x@contoso.com")
        .unwrap();
    announced_all(&world, &token, 6).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(announced(&world, &token), (6, 6));
    running.stop().await;
}

#[test]
fn a_killed_service_restarts_and_pushes_every_mail_delivered_meanwhile() {
    // Exchange and the mocks live in one runtime; the service in another, so that killing
    // it (dropping its runtime mid-flight, nothing drained) leaves the world running.
    let world_rt = tokio::runtime::Runtime::new().unwrap();
    let world = world_rt
        .block_on(World::start(SubscriptionMode::Push, None, true))
        .expect("world");
    let token = demo::apns_token(6);
    let service_rt = tokio::runtime::Runtime::new().unwrap();
    let base = service_rt.block_on(async {
        let running = server::start(&world.settings, &world.overrides)
            .await
            .expect("start");
        let base = format!("http://{}", running.addr);
        assert_eq!(register(&world, &base, MARA, &token).await.0, 201);
        support::subscribed(&running, 1).await;
        base
    });
    let _ = base;
    let mut sent = Vec::new();
    for n in 0..3 {
        sent.push(
            world
                .sim
                .deliver_mail(MARA, &format!("before {n}"), "x@contoso.com")
                .unwrap(),
        );
    }
    world_rt.block_on(announced_all(&world, &token, 3));
    // Mail keeps arriving as the service dies.
    for n in 0..3 {
        sent.push(
            world
                .sim
                .deliver_mail(MARA, &format!("dying {n}"), "x@contoso.com")
                .unwrap(),
        );
    }
    service_rt.shutdown_background();
    for n in 0..3 {
        sent.push(
            world
                .sim
                .deliver_mail(MARA, &format!("while down {n}"), "x@contoso.com")
                .unwrap(),
        );
    }
    // The new process: same settings, same store file.
    let service_rt = tokio::runtime::Runtime::new().unwrap();
    service_rt.block_on(async {
        let running = server::start(&world.settings, &world.overrides)
            .await
            .expect("restart");
        announced_all(&world, &token, sent.len() as u64).await;
        // The restarted service presented the provider token it was using: Apple (and the
        // mock) refuse a new one within 20 minutes.
        let received = world.apns.received();
        assert!(
            received.iter().all(|r| r.status == 200),
            "{:?}",
            received
                .iter()
                .map(|r| (r.status, r.reason.clone()))
                .collect::<Vec<_>>()
        );
        let iats: std::collections::BTreeSet<_> =
            received.iter().filter_map(|r| r.jwt_iat).collect();
        assert_eq!(
            iats.len(),
            1,
            "one provider token across the restart: {iats:?}"
        );
        running.stop().await;
    });
}

#[tokio::test]
async fn the_admin_api_reports_tests_connections_and_validates_settings() {
    let (world, running, base) = start(SubscriptionMode::Streaming).await;
    assert_eq!(
        register(&world, &base, MARA, &demo::apns_token(7)).await.0,
        201
    );
    support::subscribed(&running, 1).await;
    let http = reqwest::Client::new();
    let admin = |request: reqwest::RequestBuilder| request.bearer_auth(demo::ADMIN_TOKEN);

    let denied = http
        .get(format!("{base}/admin/status"))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 401);
    let status: serde_json::Value = admin(http.get(format!("{base}/admin/status")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let first = &status["tenants"][0];
    assert_eq!(first["tenant"], TENANT);
    assert_eq!(first["subscriptions"]["subscribed"], 1);
    assert_eq!(first["devices"], 1);
    assert_eq!(first["authentication"]["method"], "basic");

    let report: serde_json::Value =
        admin(http.post(format!("{base}/admin/tenants/{TENANT}/test-connection")))
            .json(&serde_json::json!({"email": SADIE}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(report["ok"], true, "{report:#}");
    let steps: Vec<&str> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["autodiscover", "authentication", "subscription"]);
    assert!(!report["steps"][0]["trace"].as_array().unwrap().is_empty());

    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("bems_subscriptions{tenant=\"contoso\",state=\"subscribed\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("bems_devices 1"), "{metrics}");
    assert!(
        metrics.contains("bems_registrations_total{result=\"accepted\"} 1"),
        "{metrics}"
    );
    for path in ["healthz", "readyz"] {
        assert_eq!(
            http.get(format!("{base}/{path}"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }

    let put = |body: String| {
        admin(http.put(format!("{base}/admin/tenants/{TENANT}/settings")))
            .body(body)
            .send()
    };
    // Secrets through the admin API are files in the secret directories (the world's).
    let password_file = world.dir.path().join("svc-password");
    std::fs::write(&password_file, "Svc-Pa55w.rd\n").unwrap();
    let password_line = format!(
        "service_account_password_file = {:?}\n",
        password_file.display().to_string()
    );
    let body = |extra: &str| {
        format!(
            "id = \"contoso\"\nexchange = \"on_premises\"\nservice_account_username = \"svc-bems@contoso.com\"\n{password_line}{extra}"
        )
    };
    let invalid: serde_json::Value = put(body("scp_ssl = true\n"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let fields: Vec<&str> = invalid["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"tenants[contoso].scp_ssl"), "{invalid:#}");
    let inline = put("id = \"contoso\"\nexchange = \"on_premises\"\nservice_account_username = \"svc-bems@contoso.com\"\nservice_account_password = \"x\"\n".to_owned())
        .await
        .unwrap();
    assert_eq!(inline.status(), 422);
    assert!(
        inline
            .text()
            .await
            .unwrap()
            .contains("tenants[contoso].service_account_password")
    );
    assert!(
        running
            .service
            .store
            .tenant(&tenant())
            .await
            .unwrap()
            .is_none(),
        "nothing stored"
    );
    let valid = put(body("")).await.unwrap();
    assert_eq!(valid.status(), 200);
    let read: serde_json::Value =
        admin(http.get(format!("{base}/admin/tenants/{TENANT}/settings")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(
        read["stored"]["service_account_password_file"],
        password_file.display().to_string()
    );
    assert_eq!(read["in_force"]["id"], TENANT);
    assert!(
        !read.to_string().contains("Svc-Pa55w.rd"),
        "secrets are redacted"
    );
    running.stop().await;
}
