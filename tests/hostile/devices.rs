//! Device registration under attack: another user's push token, one mailbox with thousands of
//! devices, a user registering without pause, fields the store cannot keep, and the
//! `Authorization` header as RFC 7235 writes it.

use std::time::{Duration, Instant};

use bems::service::server::{self, Running};
use bems::settings::SubscriptionMode;
use bems::store::model::TenantId;
use bems_demo::{ADMIN_TOKEN, TENANT, TOPIC, World, apns_token};
use serde_json::{Value, json};

const MARA: &str = "mara@contoso.com";
const SADIE: &str = "sadie@contoso.com";

/// The demo world, with a second tenant `fabrikam` configured as `contoso` is (the same
/// identity platform), and `adjust` applied to the settings.
pub(crate) async fn start(adjust: impl FnOnce(&mut World)) -> (World, Running, String) {
    let mut world = World::start(SubscriptionMode::Streaming, None, true)
        .await
        .expect("world starts");
    let mut fabrikam = world.settings.tenants[0].clone();
    fabrikam.id = TenantId::new("fabrikam").expect("id");
    world.settings.tenants.push(fabrikam);
    adjust(&mut world);
    let running = server::start(&world.settings, &world.overrides)
        .await
        .expect("service starts");
    let base = format!("http://{}", running.addr);
    (world, running, base)
}

/// POSTs a registration `body` for `tenant` with `authorization`; the status, the
/// `Retry-After` header and the JSON answer.
pub(crate) async fn post(
    base: &str,
    tenant: &str,
    authorization: &str,
    body: &Value,
) -> (u16, Option<String>, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}/v1/tenants/{tenant}/devices"))
        .header("Authorization", authorization)
        .json(body)
        .send()
        .await
        .expect("the service answers");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response.json().await.unwrap_or(Value::Null);
    (status, retry_after, body)
}

fn device(mailbox: &str, token: &str) -> Value {
    json!({"mailbox": mailbox, "platform": "apns", "token": token, "app_id": TOPIC, "locale": "en"})
}

/// `mailbox`'s user registers `token` in `tenant`.
async fn register(
    world: &World,
    base: &str,
    tenant: &str,
    mailbox: &str,
    token: &str,
) -> (u16, Value) {
    let bearer = format!("Bearer {}", world.user_token(mailbox).expect("token"));
    let (status, _, body) = post(base, tenant, &bearer, &device(mailbox, token)).await;
    (status, body)
}

async fn owners(running: &Running, token: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for tenant in [TENANT, "fabrikam"] {
        let id = TenantId::new(tenant).expect("id");
        for device in running.service.store.devices(&id).await.expect("devices") {
            if device.device.token == token {
                found.push((tenant.to_owned(), device.device.mailbox.clone()));
            }
        }
    }
    found
}

/// Waits (at most 20 s) until mock APNs has accepted a push for `token`.
async fn pushed(world: &World, token: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while crate::support::delivered(world, token).is_empty() {
        assert!(Instant::now() < deadline, "no push for {token}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn another_users_device_token_is_never_taken_over() {
    let (world, running, base) = start(|_| {}).await;
    let token = apns_token(7);
    assert_eq!(register(&world, &base, TENANT, MARA, &token).await.0, 201);

    // Sadie, in the same tenant and in another, registers Mara's token.
    for tenant in [TENANT, "fabrikam"] {
        let (status, body) = register(&world, &base, tenant, SADIE, &token).await;
        assert_eq!(status, 409, "{tenant}: {body}");
        let reason = body["error"].as_str().expect("a reason");
        assert!(
            reason.contains("registered for another mailbox"),
            "{reason}"
        );
    }
    // An upper-case spelling of the same token is the same token.
    let upper = token.to_ascii_uppercase();
    assert_eq!(register(&world, &base, TENANT, SADIE, &upper).await.0, 409);
    assert_eq!(
        owners(&running, &token).await,
        [(TENANT.to_owned(), MARA.to_owned())]
    );

    // Mara's mail still reaches her phone.
    let mut subscribed = false;
    for _ in 0..1000 {
        if running.service.status().await[..]
            .iter()
            .any(|t| t.subscriptions.subscribed >= 1)
        {
            subscribed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(subscribed, "mara's mailbox is not subscribed");
    world
        .sim
        .deliver_mail(MARA, "for mara", "boss@contoso.com")
        .expect("mail");
    pushed(&world, &token).await;

    // Once Mara's registration is gone, by an administrator here, the token may be Sadie's.
    let id = running
        .service
        .store
        .devices(&TenantId::new(TENANT).expect("id"))
        .await
        .expect("devices")[0]
        .id;
    let http = reqwest::Client::new();
    let removal = |bearer: &'static str| {
        http.delete(format!("{base}/admin/tenants/{TENANT}/devices/{id}"))
            .bearer_auth(bearer)
            .send()
    };
    assert_eq!(removal("wrong").await.expect("answer").status(), 401);
    assert_eq!(removal(ADMIN_TOKEN).await.expect("answer").status(), 204);
    assert_eq!(register(&world, &base, TENANT, SADIE, &token).await.0, 201);
    assert_eq!(
        owners(&running, &token).await,
        [(TENANT.to_owned(), SADIE.to_owned())]
    );
    running.stop().await;
}

#[tokio::test]
async fn a_mailbox_holds_a_bounded_number_of_devices() {
    let (world, running, base) = start(|world| {
        world.settings.devices.registrations_per_minute = 600;
    })
    .await;
    let max = world.settings.devices.max_per_mailbox;
    assert_eq!(max, 10, "the default bound");
    for n in 0..max {
        let token = apns_token(u8::try_from(n).expect("small"));
        assert_eq!(register(&world, &base, TENANT, MARA, &token).await.0, 201);
    }
    let (status, body) = register(&world, &base, TENANT, MARA, &apns_token(200)).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("10 devices")),
        "{body}"
    );
    // Devices already registered still refresh, and Sadie is not bound by Mara's.
    assert_eq!(
        register(&world, &base, TENANT, MARA, &apns_token(0))
            .await
            .0,
        201
    );
    assert_eq!(
        register(&world, &base, TENANT, SADIE, &apns_token(200))
            .await
            .0,
        201
    );
    let devices = running
        .service
        .store
        .devices_for(&TenantId::new(TENANT).expect("id"), MARA)
        .await
        .expect("devices");
    assert_eq!(devices.len(), 10);
    running.stop().await;
}

#[tokio::test]
async fn a_user_registering_without_pause_is_told_to_wait() {
    let (world, running, base) = start(|_| {}).await;
    let per_minute = world.settings.devices.registrations_per_minute;
    for _ in 0..per_minute {
        assert_eq!(
            register(&world, &base, TENANT, MARA, &apns_token(1))
                .await
                .0,
            201
        );
    }
    let bearer = format!("Bearer {}", world.user_token(MARA).expect("token"));
    let (status, retry_after, body) =
        post(&base, TENANT, &bearer, &device(MARA, &apns_token(1))).await;
    assert_eq!(status, 429, "{body}");
    let wait: u64 = retry_after.expect("Retry-After").parse().expect("seconds");
    assert!((1..=60).contains(&wait), "{wait}");
    // Another user is not held back.
    assert_eq!(
        register(&world, &base, TENANT, SADIE, &apns_token(2))
            .await
            .0,
        201
    );
    running.stop().await;
}

#[tokio::test]
async fn fields_the_store_cannot_keep_are_400_naming_the_field() {
    let (world, running, base) = start(|_| {}).await;
    let bearer = format!("Bearer {}", world.user_token(MARA).expect("token"));
    let cases = [
        ("locale", json!({"locale": "x".repeat(100)})),
        ("locale", json!({"locale": "en\r\nX-Injected: 1"})),
        ("locale", json!({"locale": ""})),
        ("app_id", json!({"app_id": "a".repeat(300)})),
        ("app_id", json!({"app_id": "com.bems.demo/../x"})),
        (
            "mailbox",
            json!({"mailbox": format!("{}@contoso.com", "m".repeat(400))}),
        ),
        (
            "mailbox",
            json!({"mailbox": "mara@contoso.com/../sadie@contoso.com"}),
        ),
        ("token", json!({"token": "zz".repeat(32)})),
        ("token", json!({"token": "ab".repeat(5000)})),
    ];
    for (field, change) in cases {
        let mut body = device(MARA, &apns_token(3));
        for (key, value) in change.as_object().expect("object") {
            body[key] = value.clone();
        }
        let (status, _, answer) = post(&base, TENANT, &bearer, &body).await;
        assert_eq!(status, 400, "{field}: {answer}");
        assert_eq!(answer["field"], field, "{answer}");
    }
    assert_eq!(
        running.service.store.device_count().await.expect("count"),
        0
    );
    running.stop().await;
}

#[tokio::test]
async fn the_bearer_scheme_is_matched_without_regard_to_case() {
    let (world, running, base) = start(|_| {}).await;
    let token = world.user_token(MARA).expect("token");
    for (n, scheme) in ["bearer", "BEARER", "Bearer", "bEaReR"].iter().enumerate() {
        let authorization = format!("{scheme}  {token}");
        let body = device(MARA, &apns_token(u8::try_from(n).expect("small")));
        let (status, _, answer) = post(&base, TENANT, &authorization, &body).await;
        assert_eq!(status, 201, "{scheme}: {answer}");
    }
    for wrong in [
        format!("Basic {token}"),
        format!("Bearer{token}"),
        "Bearer ".to_owned(),
    ] {
        let (status, _, _) = post(&base, TENANT, &wrong, &device(MARA, &apns_token(9))).await;
        assert_eq!(status, 401, "{wrong:.12}");
    }
    running.stop().await;
}
