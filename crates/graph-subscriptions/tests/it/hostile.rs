//! What an attacker can POST to the webhook without knowing a `clientState`: nothing in it
//! makes the watcher send anything to Graph, and what it echoes is inert text.

use std::time::Duration;

use crate::support::{Harness, MARA, Options, SADIE, auth, eventually, sim};

/// Forged notifications: ids that are paths, ids of no subscription, a Graph message URL.
fn forged() -> Vec<String> {
    let ids = [
        "../users/sadie@contoso.com/messages/AAMkAGI2THVSAAA=".to_owned(),
        "../../v1.0/users/sadie@contoso.com".to_owned(),
        "%2e%2e%2fusers%2fsadie@contoso.com".to_owned(),
        "0b3e7c2e-1111-4222-8333-944455556666".to_owned(),
        "0b3e7c2e-1111-4222-8333-944455556666?x=#".to_owned(),
    ];
    ids.iter()
        .map(|id| {
            serde_json::json!({"value": [
                {"subscriptionId": id, "clientState": "guess", "changeType": "created",
                 "resource": "users/sadie@contoso.com/messages/AAMk",
                 "resourceData": {"id": "AAMkAGI2THVSAAA="}},
                {"subscriptionId": id, "clientState": "guess", "lifecycleEvent": "subscriptionRemoved"},
            ]})
            .to_string()
        })
        .collect()
}

#[tokio::test]
async fn forged_notifications_cause_no_request_to_graph() {
    let sim = sim().await;
    let harness = Harness::start(&sim, Options::default()).await;
    harness.watch(MARA);
    harness.subscribed(MARA).await;
    let before = sim.graph().stats();
    for _ in 0..20 {
        for body in forged() {
            let status = harness.post(body).await;
            assert!(
                [202, 400].contains(&status),
                "a forged notification answered {status}"
            );
        }
    }
    // Whatever a forged POST set off would be on its way by now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = sim.graph().stats();
    assert_eq!(
        after.requests, before.requests,
        "forged notifications made the watcher call Graph"
    );
    assert_eq!(after.deleted, before.deleted);
    assert_eq!(sim.graph().subscriptions(Some(MARA)).len(), 1);
    assert!(harness.watcher.status().unknown_push >= 20);
}

#[tokio::test]
async fn a_subscription_of_no_watched_mailbox_is_found_by_listing_and_deleted() {
    let sim = sim().await;
    let options = Options {
        adjust: |settings| settings.orphan_sweep = Duration::from_millis(100),
        ..Options::default()
    };
    let harness = Harness::start(&sim, options).await;
    harness.watch(SADIE);
    harness.subscribed(SADIE).await;
    // The app subscribed Mara to this webhook, and the service forgot it (it stopped between
    // creating the subscription and saving it).
    let request = exchange_auth::HttpRequest::post(
        format!("{}/v1.0/subscriptions", sim.graph().origin())
            .parse()
            .expect("url"),
        serde_json::json!({
            "changeType": "created",
            "notificationUrl": format!("{}/notifications", harness.base),
            "lifecycleNotificationUrl": format!("{}/lifecycle", harness.base),
            "resource": format!("/users/{MARA}/mailFolders('inbox')/messages"),
            "expirationDateTime": graph_subscriptions::wire::format_datetime(
                sim.now() + Duration::from_secs(3600)
            ),
            "clientState": "forgotten",
        })
        .to_string()
        .into_bytes(),
    )
    .header("Content-Type", "application/json");
    let created = auth(&sim).send(request).await.expect("Graph answers");
    assert_eq!(created.status, 201);
    assert_eq!(sim.graph().subscriptions(Some(MARA)).len(), 1);
    let gone = eventually(Duration::from_secs(6), || {
        sim.graph().subscriptions(Some(MARA)).is_empty()
    })
    .await;
    assert!(gone, "the orphan was not deleted");
    assert_eq!(sim.graph().subscriptions(Some(SADIE)).len(), 1);
    assert!(harness.watcher.is_subscribed(SADIE));
}

#[tokio::test]
async fn only_a_short_printable_validation_token_is_echoed_and_never_sniffed() {
    let sim = sim().await;
    let harness = Harness::start(&sim, Options::default()).await;
    let ask = |token: String| {
        let url = reqwest::Url::parse_with_params(
            &format!("{}/notifications", harness.base),
            &[("validationToken", token)],
        )
        .expect("url");
        harness.http.post(url).send()
    };
    let markup = "<script>alert(document.cookie)</script>".to_owned();
    let answer = ask(markup.clone()).await.expect("answer");
    assert_eq!(answer.status().as_u16(), 200);
    assert_eq!(answer.headers()["x-content-type-options"], "nosniff");
    assert_eq!(
        answer.headers()["content-type"],
        "text/plain; charset=utf-8"
    );
    assert_eq!(answer.text().await.expect("body"), markup);
    for bad in [
        String::new(),
        "a".repeat(1025),
        "line\r\nSet-Cookie: x=1".to_owned(),
        "tab\there".to_owned(),
        "caf\u{e9}".to_owned(),
        "\u{202e}reversed".to_owned(),
    ] {
        let answer = ask(bad.clone()).await.expect("answer");
        assert_eq!(answer.status().as_u16(), 400, "{bad:?}");
        assert_eq!(answer.headers()["x-content-type-options"], "nosniff");
        let text = answer.text().await.expect("body");
        assert!(text.contains("validationToken"), "{text}");
        if !bad.is_empty() {
            assert!(!text.contains(&bad), "the refused token was echoed");
        }
    }
}
