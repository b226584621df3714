//! Microsoft Graph's webhook under attack: forged notifications that would have made the service
//! call Graph at a path of the sender's choosing, a reflected validation token, and a
//! notification that carries a real `clientState` but names another tenant's mailbox.

use std::time::{Duration, Instant};

use bems::service::server::{self, Running};
use bems::settings::SubscriptionMode;
use bems::store::model::TenantId;
use bems_demo::{TOPIC, World, apns_token};
use serde_json::json;

const MARA: &str = "mara@contoso.com";
const SADIE: &str = "sadie@contoso.com";

/// A Microsoft 365 world on Graph with two tenants, `contoso` and `fabrikam`, configured
/// alike; Mara registers in contoso and Sadie in fabrikam, and both are subscribed.
async fn start() -> (World, Running, reqwest::Client, String) {
    let mut world = World::start(SubscriptionMode::Push, None, true)
        .await
        .expect("world starts");
    world.use_graph(true).expect("Microsoft 365 settings");
    let mut fabrikam = world.settings.tenants[0].clone();
    fabrikam.id = TenantId::new("fabrikam").expect("id");
    world.settings.tenants.push(fabrikam);
    let running = server::start(&world.settings, &world.overrides)
        .await
        .expect("service starts");
    let base = format!("https://localhost:{}", running.addr.port());
    let http = world.https_client().expect("client");
    for (tenant, mailbox, n) in [("contoso", MARA, 1), ("fabrikam", SADIE, 2)] {
        let bearer = world.user_token(mailbox).expect("token");
        let answer = http
            .post(format!("{base}/v1/tenants/{tenant}/devices"))
            .bearer_auth(bearer)
            .json(&json!({"mailbox": mailbox, "platform": "apns", "token": apns_token(n), "app_id": TOPIC}))
            .send()
            .await
            .expect("answer");
        assert_eq!(answer.status(), 201, "{tenant}");
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = running.service.status().await;
        let subscribed = status
            .iter()
            .filter_map(|t| t.graph.as_ref())
            .map(|g| g.subscribed)
            .sum::<usize>();
        if subscribed == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "not subscribed: {status:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Past the webhook's start-up grace (1 s in the fast world), when unknown subscriptions
    // used to be "deleted".
    tokio::time::sleep(Duration::from_millis(1500)).await;
    (world, running, http, base)
}

async fn notify(http: &reqwest::Client, base: &str, tenant: &str, body: &serde_json::Value) -> u16 {
    http.post(format!("{base}/graph/{tenant}/notifications"))
        .json(body)
        .send()
        .await
        .expect("the webhook answers")
        .status()
        .as_u16()
}

#[tokio::test]
async fn forged_notifications_make_the_service_send_nothing_to_graph() {
    let (world, running, http, base) = start().await;
    let graph = world.sim.graph();
    let message = "AAMkAGI2THVSAAA=";
    let before = graph.stats();
    for id in [
        format!("../users/{SADIE}/messages/{message}"),
        format!("..%2Fusers%2F{SADIE}"),
        "../../subscriptions".to_owned(),
        "7d5c3c8e-0000-4000-8000-00000000dead".to_owned(),
    ] {
        for tenant in ["contoso", "fabrikam"] {
            for _ in 0..5 {
                let body = json!({"value": [{
                    "subscriptionId": id, "clientState": "guessed", "changeType": "created",
                    "resource": format!("users/{SADIE}/messages/{message}"),
                    "resourceData": {"id": message},
                }]});
                let status = notify(&http, &base, tenant, &body).await;
                assert!([202, 400].contains(&status), "{id}: {status}");
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = graph.stats();
    assert_eq!(
        after.requests, before.requests,
        "forged notifications made the service call Graph"
    );
    assert_eq!(after.deleted, before.deleted);
    assert_eq!(graph.subscriptions(None).len(), 2);
    running.stop().await;
}

#[tokio::test]
async fn a_real_client_state_naming_another_tenants_mailbox_pushes_nothing_there() {
    let (world, running, http, base) = start().await;
    let graph = world.sim.graph();
    let mara = graph.subscriptions(Some(MARA))[0].clone();
    let sadie_token = apns_token(2);
    let pushes_to_sadie = || {
        world
            .apns
            .received()
            .iter()
            .filter(|r| r.token == sadie_token)
            .count()
    };
    let before = pushes_to_sadie();
    let forged = json!({"value": [{
        "subscriptionId": mara.id, "clientState": mara.client_state, "changeType": "created",
        "resource": format!("users/{SADIE}/messages/AAMkAGI2THVSAAA="),
        "resourceData": {"id": "AAMkAGI2THVSAAA="},
        "tenantId": "fabrikam",
    }]});
    // To Sadie's tenant's webhook, which holds no such subscription, and to Mara's.
    assert_eq!(notify(&http, &base, "fabrikam", &forged).await, 202);
    assert_eq!(notify(&http, &base, "contoso", &forged).await, 202);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(pushes_to_sadie(), before, "a push reached Sadie's phone");
    running.stop().await;
}

#[tokio::test]
async fn the_validation_token_is_echoed_only_as_inert_text() {
    let (_world, running, http, base) = start().await;
    let ask = |token: &str| {
        let url = reqwest::Url::parse_with_params(
            &format!("{base}/graph/contoso/notifications"),
            &[("validationToken", token)],
        )
        .expect("url");
        http.post(url).send()
    };
    let markup = "<html><script>alert(1)</script></html>";
    let answer = ask(markup).await.expect("answer");
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["x-content-type-options"], "nosniff");
    assert_eq!(
        answer.headers()["content-type"],
        "text/plain; charset=utf-8"
    );
    assert_eq!(answer.text().await.expect("body"), markup);
    for bad in ["\u{0}\u{1b}[2J", "x\r\nSet-Cookie: a=b", &"t".repeat(5000)] {
        let answer = ask(bad).await.expect("answer");
        assert_eq!(answer.status(), 400, "{bad:.20?}");
    }
    running.stop().await;
}
