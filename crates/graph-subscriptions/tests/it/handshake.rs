//! The validation handshake and the subscription it lets Graph create.

use graph_subscriptions::GraphSettings;

use crate::support::{Harness, MARA, Options, SADIE, eventually, sim};

#[tokio::test]
async fn both_urls_pass_the_handshake_and_each_mailbox_gets_a_subscription() {
    let sim = sim().await;
    let harness = Harness::start(&sim, Options::default()).await;
    harness.watch(MARA);
    harness.watch(SADIE);
    harness.subscribed(MARA).await;
    harness.subscribed(SADIE).await;
    let graph = sim.graph();
    // Two subscriptions, two URLs validated for each.
    assert_eq!(graph.stats().validations, 4);
    assert_eq!(graph.stats().validation_failures, 0);
    assert_eq!(harness.watcher.counts().validations, 4);
    let subscriptions = graph.subscriptions(Some(MARA));
    assert_eq!(subscriptions.len(), 1);
    let s = &subscriptions[0];
    assert_eq!(s.change_type, "created");
    assert_eq!(
        s.resource,
        format!("/users/{MARA}/mailFolders('inbox')/messages")
    );
    assert_eq!(
        s.notification_url,
        format!("{}/notifications", harness.base)
    );
    assert_eq!(
        s.lifecycle_url.as_deref(),
        Some(format!("{}/lifecycle", harness.base).as_str())
    );
    // The lifetime asked for (4,230 minutes by default) is what the simulator granted.
    let lifetime = s.expires - sim.now();
    assert!(lifetime > time::Duration::minutes(4200), "{lifetime}");
    assert_eq!(harness.watcher.status().subscribed, 2);
}

#[tokio::test]
async fn the_token_is_echoed_decoded_as_text_plain() {
    let sim = sim().await;
    let harness = Harness::start(&sim, Options::default()).await;
    for path in ["notifications", "lifecycle"] {
        let token = "Validation: Testing client application reachability for subscription Request-Id: 5f3e+x&y=z";
        let url = reqwest::Url::parse_with_params(
            &format!("{}/{path}", harness.base),
            &[("validationToken", token)],
        )
        .expect("url");
        let response = harness.http.post(url).send().await.expect("answer");
        assert_eq!(response.status().as_u16(), 200);
        let kind = response.headers()["content-type"]
            .to_str()
            .expect("header")
            .to_owned();
        assert!(kind.starts_with("text/plain"), "{kind}");
        assert_eq!(response.text().await.expect("body"), token);
    }
    // A GET is not Graph's.
    let response = harness
        .http
        .get(format!("{}/notifications", harness.base))
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status().as_u16(), 405);
}

#[tokio::test]
async fn a_webhook_graph_cannot_validate_gets_no_subscription_and_the_mailbox_waits() {
    let sim = sim().await;
    // The notification URL points at a path nothing answers.
    let harness = Harness::start(
        &sim,
        Options {
            adjust: |s: &mut GraphSettings| {
                s.notification_url.set_path("/nowhere/notifications");
            },
            ..Options::default()
        },
    )
    .await;
    harness.watch(MARA);
    let failed_twice = || sim.graph().stats().validation_failures >= 2;
    eventually(std::time::Duration::from_secs(3), failed_twice).await;
    assert!(sim.graph().stats().validation_failures >= 2, "tried again");
    assert!(sim.graph().subscriptions(Some(MARA)).is_empty());
    assert!(!harness.watcher.is_subscribed(MARA));
    assert_eq!(harness.watcher.status().subscribed, 0);
}
