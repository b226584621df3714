//! Rich, private alerts end to end over loopback: `exchange-sim` as Exchange (its `GetItem`
//! gives the details), mock APNs and FCM, the service's real API, pipeline and store.
//!
//! What the providers receive is read as they received it: a sender or subject the tenant
//! does not allow must appear in no payload, and a sealed payload must open with the device's
//! private key and with nothing else.

use std::time::{Duration, Instant};

use bems::push_delivery::seal::DeviceSecret;
use bems::service::server::{self, Running};
use bems::settings::{AlertContent, SubscriptionMode};
use bems_demo::{TENANT, TOPIC, World};
use exchange_sim::push::ApnsRequest;
use exchange_sim::{Importance, NewMessage};
use serde_json::{Value, json};

mod support;

const MARA: &str = "mara@contoso.com";
const SADIE: &str = "sadie@contoso.com";
const CEO: &str = "ceo@contoso.com";
const CEO_NAME: &str = "Ada Chief";
const SECRET_SUBJECT: &str = "Merger with Fabrikam: do not forward";

/// The demo world with `content` as the tenant's `alerts.content`, and the service on it.
async fn start(content: AlertContent) -> (World, Running, String) {
    let mut world = World::start(SubscriptionMode::Streaming, None, true)
        .await
        .expect("world starts");
    world.settings.tenants[0].alerts.content = content;
    let running = server::start(&world.settings, &world.overrides)
        .await
        .expect("service starts");
    let base = format!("http://{}", running.addr);
    (world, running, base)
}

/// Registers a device for `mailbox` as its user, with `public_key` when given.
async fn register(
    world: &World,
    base: &str,
    mailbox: &str,
    (platform, token, app): (&str, &str, &str),
    public_key: Option<String>,
) {
    let bearer = world.user_token(mailbox).expect("user token");
    let mut body = json!({"mailbox": mailbox, "platform": platform, "token": token, "app_id": app});
    if let Some(key) = public_key {
        body["public_key"] = Value::String(key);
    }
    let response = reqwest::Client::new()
        .post(format!("{base}/v1/tenants/{TENANT}/devices"))
        .bearer_auth(bearer)
        .json(&body)
        .send()
        .await
        .expect("API answers");
    let status = response.status().as_u16();
    assert!(
        status == 201 || status == 200,
        "{status}: {}",
        response.text().await.unwrap_or_default()
    );
}

fn apns(token: &str) -> (&'static str, &str, &'static str) {
    ("apns", token, TOPIC)
}

/// Writes `user`'s alert rules as `caller`: the status and the answer's body.
async fn put_rules(
    world: &World,
    base: &str,
    caller: &str,
    user: &str,
    rules: &Value,
    if_match: Option<&str>,
) -> (u16, String) {
    let bearer = world.user_token(caller).expect("user token");
    let mut request = reqwest::Client::new()
        .put(format!(
            "{base}/v1/tenants/{TENANT}/users/{user}/alert-rules"
        ))
        .bearer_auth(bearer)
        .body(rules.to_string());
    if let Some(tag) = if_match {
        request = request.header("if-match", tag);
    }
    let response = request.send().await.expect("API answers");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

const WITHIN: Duration = Duration::from_secs(20);

fn from_the_ceo(subject: &str) -> NewMessage {
    NewMessage::new(subject, CEO).with_from_name(CEO_NAME)
}

#[tokio::test]
async fn a_vip_sender_gives_a_time_sensitive_push_naming_the_sender() {
    let (world, running, base) = start(AlertContent::Sender).await;
    let token = bems_demo::apns_token(1);
    register(&world, &base, MARA, apns(&token), None).await;
    let rules = json!({"vip": [CEO]});
    assert_eq!(
        put_rules(&world, &base, MARA, MARA, &rules, None).await.0,
        201
    );
    support::subscribed(&running, 1).await;

    world
        .sim
        .deliver_message(MARA, &from_the_ceo("Quarterly numbers"))
        .unwrap();
    let vip = support::pushes_for(&world, &token, 1, WITHIN).await;
    let aps = &vip[0].payload["aps"];
    assert_eq!(aps["interruption-level"], "time-sensitive", "{aps}");
    assert_eq!(aps["alert"]["title"], CEO_NAME);
    // "sender" does not allow the subject.
    assert_eq!(aps["alert"]["body"], "You have a new message");
    assert!(!vip[0].payload.to_string().contains("Quarterly"));

    world
        .sim
        .deliver_message(MARA, &NewMessage::new("Lunch?", "colleague@contoso.com"))
        .unwrap();
    let both = support::pushes_for(&world, &token, 2, WITHIN).await;
    let aps = &both[1].payload["aps"];
    assert_eq!(aps["interruption-level"], "active", "{aps}");
    assert_eq!(aps["alert"]["title"], "colleague@contoso.com");
    running.stop().await;
}

#[tokio::test]
async fn important_mail_is_raised_when_the_user_asks_and_shows_its_subject_when_allowed() {
    let (world, running, base) = start(AlertContent::SenderAndSubject).await;
    let token = bems_demo::apns_token(2);
    register(&world, &base, MARA, apns(&token), None).await;
    let rules = json!({"important": true});
    assert_eq!(
        put_rules(&world, &base, MARA, MARA, &rules, None).await.0,
        201
    );
    support::subscribed(&running, 1).await;
    let urgent = NewMessage::new("Server room flooding", "facilities@contoso.com")
        .with_importance(Importance::High);
    world.sim.deliver_message(MARA, &urgent).unwrap();
    let pushes = support::pushes_for(&world, &token, 1, WITHIN).await;
    let aps = &pushes[0].payload["aps"];
    assert_eq!(aps["interruption-level"], "time-sensitive", "{aps}");
    assert_eq!(aps["alert"]["title"], "facilities@contoso.com");
    assert_eq!(aps["alert"]["body"], "Server room flooding");
    running.stop().await;
}

#[tokio::test]
async fn the_tenants_default_leaves_no_sender_or_subject_in_any_payload() {
    let (world, running, base) = start(AlertContent::None).await;
    let token = bems_demo::apns_token(3);
    let secret = DeviceSecret::generate();
    register(&world, &base, MARA, apns(&token), None).await;
    let android = (
        "fcm",
        "sadie-pixel:APA91bPrivacyToken",
        "com.bems.demo.android",
    );
    let key = secret.public_key().to_base64url();
    register(&world, &base, SADIE, android, Some(key)).await;
    // A VIP rule makes the service ask for the details: they still must not leave it.
    for user in [MARA, SADIE] {
        let rules = json!({"vip": [CEO]});
        assert_eq!(
            put_rules(&world, &base, user, user, &rules, None).await.0,
            201
        );
    }
    support::subscribed(&running, 2).await;
    for user in [MARA, SADIE] {
        world
            .sim
            .deliver_message(user, &from_the_ceo(SECRET_SUBJECT))
            .unwrap();
    }
    let mara = support::pushes_for(&world, &token, 1, WITHIN).await;
    let deadline = Instant::now() + WITHIN;
    while !world.fcm.received().iter().any(|r| r.status == 200) {
        assert!(Instant::now() < deadline, "no FCM push");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        world.sim.stats().item_reads >= 2,
        "the rules' details were asked"
    );
    // The VIP still raises the alert: the level says nothing of the mail.
    assert_eq!(
        mara[0].payload["aps"]["interruption-level"],
        "time-sensitive"
    );
    let payloads: Vec<String> = world
        .apns
        .received()
        .iter()
        .map(|r| r.payload.to_string())
        .chain(world.fcm.received().iter().map(|r| r.body.to_string()))
        .collect();
    for payload in &payloads {
        for leak in ["Merger", "Fabrikam", CEO, CEO_NAME, "ceo@"] {
            assert!(!payload.contains(leak), "{leak:?} in {payload}");
        }
        assert!(
            !payload.contains("\"sealed\""),
            "nothing to seal: {payload}"
        );
    }
    running.stop().await;
}

#[tokio::test]
async fn a_sealed_payload_opens_with_the_devices_key_and_with_nothing_else() {
    let (world, running, base) = start(AlertContent::SenderAndSubject).await;
    let token = bems_demo::apns_token(4);
    let secret = DeviceSecret::generate();
    let key = secret.public_key();
    register(&world, &base, MARA, apns(&token), Some(key.to_base64url())).await;
    support::subscribed(&running, 1).await;
    world
        .sim
        .deliver_message(MARA, &from_the_ceo(SECRET_SUBJECT))
        .unwrap();
    let pushes = support::pushes_for(&world, &token, 1, WITHIN).await;
    let payload = &pushes[0].payload;
    // What Apple carries: the generic alert, the ciphertext, the key's id.
    assert_eq!(payload["aps"]["alert"]["title"], "New mail");
    assert_eq!(payload["aps"]["mutable-content"], 1);
    assert_eq!(payload["sealed_key"], key.key_id().as_str());
    let text = payload.to_string();
    for leak in ["Merger", CEO, CEO_NAME] {
        assert!(!text.contains(leak), "{leak:?} in {text}");
    }
    let sealed = payload["sealed"].as_str().expect("sealed content");
    let opened: Value =
        serde_json::from_slice(&secret.open(sealed, b"").expect("the device opens it"))
            .expect("JSON inside");
    assert_eq!(opened["subject"], SECRET_SUBJECT);
    assert_eq!(opened["from_name"], CEO_NAME);
    assert_eq!(opened["from_address"], CEO);
    assert_eq!(opened["mailbox"], MARA);
    assert!(
        DeviceSecret::generate().open(sealed, b"").is_err(),
        "another key opens nothing"
    );
    assert!(secret.open(sealed, b"other data").is_err());

    // A new registration rotates the key: the next alert is sealed to the new one only.
    let rotated = DeviceSecret::generate();
    let new_key = rotated.public_key().to_base64url();
    register(&world, &base, MARA, apns(&token), Some(new_key)).await;
    world
        .sim
        .deliver_message(MARA, &from_the_ceo("Second"))
        .unwrap();
    let pushes = support::pushes_for(&world, &token, 2, WITHIN).await;
    let sealed = pushes[1].payload["sealed"]
        .as_str()
        .expect("sealed content");
    assert_eq!(
        pushes[1].payload["sealed_key"],
        rotated.public_key().key_id().as_str()
    );
    assert!(rotated.open(sealed, b"").is_ok());
    assert!(secret.open(sealed, b"").is_err(), "the old key is retired");
    running.stop().await;
}

#[tokio::test]
async fn mute_and_quiet_hours_give_a_silent_badge_update() {
    let (world, running, base) = start(AlertContent::Sender).await;
    let token = bems_demo::apns_token(5);
    register(&world, &base, MARA, apns(&token), None).await;
    let (status, _) = put_rules(
        &world,
        &base,
        MARA,
        MARA,
        &json!({"mute": {"always": true}}),
        None,
    )
    .await;
    assert_eq!(status, 201);
    support::subscribed(&running, 1).await;
    world
        .sim
        .deliver_mail(MARA, "muted", "boss@contoso.com")
        .unwrap();
    let muted = support::pushes_for(&world, &token, 1, WITHIN).await;
    let silent = |push: &ApnsRequest| {
        let aps = &push.payload["aps"];
        assert!(
            aps.get("alert").is_none() && aps.get("sound").is_none(),
            "{aps}"
        );
        assert_eq!(push.header("apns-priority"), Some("5"));
        assert_eq!(push.header("apns-push-type"), Some("alert"));
        assert!(push.header("apns-collapse-id").is_none());
        aps["badge"].as_u64()
    };
    assert_eq!(silent(&muted[0]), Some(1));

    // Quiet hours around now, in UTC, replace the mute (version 1 read, version 2 written).
    let now = time::OffsetDateTime::now_utc();
    let hhmm = |t: time::OffsetDateTime| format!("{:02}:{:02}", t.hour(), t.minute());
    let quiet = json!({"quiet_hours": {
        "from": hhmm(now - time::Duration::hours(1)),
        "to": hhmm(now + time::Duration::hours(1)),
        "time_zone": "UTC"
    }});
    assert_eq!(
        put_rules(&world, &base, MARA, MARA, &quiet, Some("\"1\""))
            .await
            .0,
        200
    );
    world
        .sim
        .deliver_mail(MARA, "at night", "boss@contoso.com")
        .unwrap();
    let quiet_pushes = support::pushes_for(&world, &token, 2, WITHIN).await;
    assert_eq!(silent(&quiet_pushes[1]), Some(2));

    // Rules deleted: the next mail alerts again.
    let bearer = world.user_token(MARA).unwrap();
    let deleted = reqwest::Client::new()
        .delete(format!(
            "{base}/v1/tenants/{TENANT}/users/{MARA}/alert-rules"
        ))
        .bearer_auth(bearer)
        .header("if-match", "\"2\"")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status().as_u16(), 204);
    world
        .sim
        .deliver_mail(MARA, "morning", "boss@contoso.com")
        .unwrap();
    let loud = support::pushes_for(&world, &token, 3, WITHIN).await;
    assert_eq!(loud[2].payload["aps"]["alert"]["title"], "boss@contoso.com");
    assert_eq!(loud[2].payload["aps"]["badge"], 3);
    running.stop().await;
}

#[tokio::test]
async fn a_slow_or_failed_details_fetch_still_gives_the_generic_alert_within_the_bound() {
    let (world, running, base) = start(AlertContent::SenderAndSubject).await;
    let token = bems_demo::apns_token(6);
    register(&world, &base, MARA, apns(&token), None).await;
    support::subscribed(&running, 1).await;
    // Exchange answers GetItem after 30 s; the tenant's bound is 500 ms: the alert cannot
    // have waited for the answer if it arrives within 15 s.
    world.sim.slow_item_reads(Duration::from_secs(30));
    world
        .sim
        .deliver_message(MARA, &from_the_ceo("slow"))
        .unwrap();
    let slow = support::pushes_for(&world, &token, 1, Duration::from_secs(15)).await;
    assert_eq!(slow[0].payload["aps"]["alert"]["title"], "New mail");
    assert_eq!(
        slow[0].payload["aps"]["alert"]["body"],
        "You have a new message"
    );
    world.sim.slow_item_reads(Duration::ZERO);

    world.sim.fail_item_reads(1);
    world
        .sim
        .deliver_message(MARA, &from_the_ceo("failed"))
        .unwrap();
    let failed = support::pushes_for(&world, &token, 2, WITHIN).await;
    assert_eq!(failed[1].payload["aps"]["alert"]["title"], "New mail");
    assert_eq!(failed[1].payload["aps"]["badge"], 2);

    // Exchange answers again: the next alert names the sender.
    world
        .sim
        .deliver_message(MARA, &from_the_ceo("answered"))
        .unwrap();
    let answered = support::pushes_for(&world, &token, 3, WITHIN).await;
    assert_eq!(answered[2].payload["aps"]["alert"]["title"], CEO_NAME);
    assert_eq!(answered[2].payload["aps"]["alert"]["body"], "answered");
    running.stop().await;
}

#[tokio::test]
async fn rules_are_read_and_written_only_by_their_user() {
    let (world, running, base) = start(AlertContent::None).await;
    let mine = json!({"vip": ["@board.contoso.com"]});
    assert_eq!(
        put_rules(&world, &base, MARA, MARA, &mine, None).await.0,
        201
    );
    // Another user can neither write nor read them.
    let theirs = json!({"mute": {"always": true}});
    let (status, body) = put_rules(&world, &base, SADIE, MARA, &theirs, Some("\"1\"")).await;
    assert_eq!(status, 403, "{body}");
    let http = reqwest::Client::new();
    let url = format!("{base}/v1/tenants/{TENANT}/users/{MARA}/alert-rules");
    let read = |caller: &str| {
        let bearer = world.user_token(caller).unwrap();
        http.get(&url).bearer_auth(bearer).send()
    };
    assert_eq!(read(SADIE).await.unwrap().status().as_u16(), 403);
    assert_eq!(
        http.get(&url).send().await.unwrap().status().as_u16(),
        401,
        "no token"
    );
    // A rule that does not hold is refused by name, and the stored rules stay.
    let bad = json!({"quiet_hours": {"from": "25:00", "to": "07:00", "time_zone": "UTC"}});
    let (status, body) = put_rules(&world, &base, MARA, MARA, &bad, Some("\"1\"")).await;
    assert_eq!(status, 400);
    assert!(body.contains("quiet_hours.from"), "{body}");
    let (status, body) = put_rules(
        &world,
        &base,
        MARA,
        MARA,
        &json!({"vipp": []}),
        Some("\"1\""),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("vipp"), "{body}");
    let stored = read(MARA).await.unwrap();
    assert_eq!(stored.status().as_u16(), 200);
    assert_eq!(stored.headers()["etag"], "\"1\"");
    let stored: Value = stored.json().await.unwrap();
    assert_eq!(stored, mine);
    // Follow-Me neither lists nor writes the service's own documents.
    let bearer = world.user_token(MARA).unwrap();
    let follow_me = format!("{base}/v1/tenants/{TENANT}/users/{MARA}/follow-me");
    let listed: Value = http
        .get(&follow_me)
        .bearer_auth(&bearer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["documents"], json!([]));
    let sneaked = http
        .put(format!("{follow_me}/bems.alert-rules"))
        .bearer_auth(&bearer)
        .header("if-match", "\"1\"")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(sneaked.status().as_u16(), 403);
    running.stop().await;
}

/// A Microsoft 365 tenant on Graph whose alerts carry sender and subject, Mara's `rules`
/// written and her phone (`apns_token(n)`) registered, her mailbox subscribed on Graph.
async fn on_graph(rules: &Value, n: u8) -> (World, Running, String) {
    let mut world = World::start(SubscriptionMode::Push, None, true)
        .await
        .expect("world starts");
    world.use_graph(true).expect("Microsoft 365 settings");
    world.settings.tenants[0].alerts.content = AlertContent::SenderAndSubject;
    let running = server::start(&world.settings, &world.overrides)
        .await
        .expect("service starts");
    let base = format!("https://localhost:{}", running.addr.port());
    let client = world.https_client().expect("client");
    let token = bems_demo::apns_token(n);
    let bearer = world.user_token(MARA).expect("user token");
    let written = client
        .put(format!(
            "{base}/v1/tenants/{TENANT}/users/{MARA}/alert-rules"
        ))
        .bearer_auth(&bearer)
        .body(rules.to_string())
        .send()
        .await
        .expect("API answers");
    assert_eq!(written.status().as_u16(), 201);
    let (status, body) = bems_demo::register(&client, &base, &bearer, MARA, "apns", &token, TOPIC)
        .await
        .expect("API answers");
    assert_eq!(status, 201, "{body}");
    let deadline = Instant::now() + WITHIN;
    while !running
        .service
        .status()
        .await
        .iter()
        .any(|t| t.graph.as_ref().is_some_and(|g| g.subscribed == 1))
    {
        assert!(Instant::now() < deadline, "not subscribed on Graph");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (world, running, token)
}

#[tokio::test]
async fn on_microsoft_graph_the_details_come_from_the_message_and_a_vip_is_raised() {
    let (world, running, token) = on_graph(&json!({"vip": [CEO]}), 7).await;
    world
        .sim
        .deliver_message(MARA, &from_the_ceo("Offsite agenda"))
        .unwrap();
    let pushes = support::pushes_for(&world, &token, 1, WITHIN).await;
    let aps = &pushes[0].payload["aps"];
    assert_eq!(aps["interruption-level"], "time-sensitive", "{aps}");
    assert_eq!(aps["alert"]["title"], CEO_NAME);
    assert_eq!(aps["alert"]["body"], "Offsite agenda");
    assert!(world.sim.graph().stats().message_reads >= 1);
    assert_eq!(world.sim.stats().item_reads, 0, "not through EWS");
    running.stop().await;
}

#[tokio::test]
async fn mail_filed_in_a_folder_the_rules_name_alerts_without_raising_the_badge() {
    let (world, running, base) = start(AlertContent::Sender).await;
    let token = bems_demo::apns_token(8);
    register(&world, &base, MARA, apns(&token), None).await;
    support::subscribed(&running, 1).await;
    world
        .sim
        .deliver_message(MARA, &NewMessage::new("inbox", "boss@contoso.com"))
        .unwrap();
    support::pushes_for(&world, &token, 1, WITHIN).await;
    // Mara asks for her junk mail too: her mailbox is subscribed again with it.
    let rules = json!({"folders": ["junkemail"]});
    assert_eq!(
        put_rules(&world, &base, MARA, MARA, &rules, None).await.0,
        201
    );
    let filed = NewMessage::new("filed", "newsletter@fabrikam.com")
        .into_folder(exchange_sim::FolderKind::JunkEmail);
    let deadline = Instant::now() + WITHIN;
    // The new subscription may still be on its way: mail filed until it alerts.
    let pushes = loop {
        world.sim.deliver_message(MARA, &filed).unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let pushes = support::delivered(&world, &token);
        if pushes.len() >= 2 {
            break pushes;
        }
        assert!(
            Instant::now() < deadline,
            "mail filed in junk never alerted"
        );
    };
    let aps = &pushes[1].payload["aps"];
    assert_eq!(aps["alert"]["title"], "newsletter@fabrikam.com", "{aps}");
    assert_eq!(
        aps["badge"], 1,
        "the inbox's count, not the junk folder's: {aps}"
    );

    // Rules gone: junk mail no longer alerts; the next push is the inbox's.
    let bearer = world.user_token(MARA).unwrap();
    let deleted = reqwest::Client::new()
        .delete(format!(
            "{base}/v1/tenants/{TENANT}/users/{MARA}/alert-rules"
        ))
        .bearer_auth(bearer)
        .header("if-match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status().as_u16(), 204);
    support::subscribed(&running, 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = support::delivered(&world, &token).len();
    world.sim.deliver_message(MARA, &filed).unwrap();
    world
        .sim
        .deliver_message(MARA, &NewMessage::new("inbox again", "boss@contoso.com"))
        .unwrap();
    let after = support::pushes_for(&world, &token, before + 1, WITHIN).await;
    let last = &after[before..];
    assert!(
        last.iter().all(|p| {
            let alert = &p.payload["aps"]["alert"];
            alert["title"] == "boss@contoso.com" && alert["body"] == "You have a new message"
        }),
        "{:?}",
        last.iter()
            .map(|p| p.payload.to_string())
            .collect::<Vec<_>>()
    );
    running.stop().await;
}

#[tokio::test]
async fn on_microsoft_graph_a_folder_the_rules_name_has_its_own_subscription() {
    let (world, running, token) = on_graph(&json!({"folders": ["junkemail"]}), 9).await;
    let graph = world.sim.graph();
    let deadline = Instant::now() + WITHIN;
    while graph.subscriptions(Some(MARA)).len() < 2 {
        assert!(
            Instant::now() < deadline,
            "no subscription for the junk folder"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let resources: Vec<String> = graph
        .subscriptions(Some(MARA))
        .iter()
        .map(|s| s.resource.to_ascii_lowercase())
        .collect();
    assert!(
        resources.iter().any(|r| r.contains("junkemail")),
        "{resources:?}"
    );
    world
        .sim
        .deliver_message(MARA, &NewMessage::new("inbox", "boss@contoso.com"))
        .unwrap();
    support::pushes_for(&world, &token, 1, WITHIN).await;
    let filed = NewMessage::new("filed", "newsletter@fabrikam.com")
        .into_folder(exchange_sim::FolderKind::JunkEmail);
    world.sim.deliver_message(MARA, &filed).unwrap();
    let pushes = support::pushes_for(&world, &token, 2, WITHIN).await;
    let aps = &pushes[1].payload["aps"];
    assert_eq!(aps["alert"]["title"], "newsletter@fabrikam.com", "{aps}");
    assert_eq!(aps["badge"], 1, "the inbox's count: {aps}");
    running.stop().await;
}
