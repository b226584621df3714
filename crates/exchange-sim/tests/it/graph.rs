//! Microsoft Graph mode: the subscriptions API and its rules, the validation handshake,
//! webhook delivery with retries, lifecycle notifications, delta rounds, the inbox's unread
//! count, and throttling — over TLS, with the simulator's own tokens.

mod delta;
mod users;
mod webhook;

use std::time::Duration;

use exchange_sim::{LifecycleEvent, Scenario, Sim};
use serde_json::{Value, json};

use crate::support::{SCENARIO, client_builder};
use webhook::{Validation, Webhook};

const MARA: &str = "mara@contoso.com";
/// An app with `Mail.Read`.
const GRAPH_APP: &str = "33333333-3333-3333-3333-333333333333";
/// An app without a mail role, with `User.Read.All`.
const DIRECTORY_APP: &str = "44444444-4444-4444-4444-444444444444";
/// An app users sign in to, with the delegated `User.ReadBasic.All`.
const PEOPLE_APP: &str = "55555555-5555-5555-5555-555555555555";

fn scenario(max_lifetime_minutes: u32) -> Scenario {
    scenario_with(&format!("max_lifetime_minutes = {max_lifetime_minutes}"))
}

/// The test scenario, with `graph` as the `[graph]` table's keys.
fn scenario_with(graph: &str) -> Scenario {
    Scenario::from_toml(&format!(
        "{SCENARIO}
[graph]
{graph}

[[apps]]
client_id = \"{GRAPH_APP}\"
secret = \"graph-secret\"
roles = [\"Mail.Read\"]

[[apps]]
client_id = \"{DIRECTORY_APP}\"
secret = \"directory-secret\"
roles = [\"User.Read.All\"]

[[apps]]
client_id = \"{PEOPLE_APP}\"
public_client = true
scopes = [\"User.ReadBasic.All\"]
"
    ))
    .expect("scenario")
}

pub(crate) struct Graph {
    pub(crate) sim: Sim,
    pub(crate) http: reqwest::Client,
    pub(crate) token: String,
}

impl Graph {
    pub(crate) async fn start(max_lifetime_minutes: u32) -> Self {
        Self::start_with(scenario(max_lifetime_minutes)).await
    }

    async fn start_with(scenario: Scenario) -> Self {
        let sim = Sim::builder()
            .scenario(scenario)
            .start()
            .await
            .expect("simulator starts");
        let http = client_builder(&sim)
            .resolve(exchange_sim::GRAPH_HOST, sim.https_addr())
            .build()
            .expect("client");
        let token = sim
            .identity()
            .issue_app_token(GRAPH_APP, "https://graph.microsoft.com")
            .expect("token");
        Self { sim, http, token }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}/v1.0/{path}", self.sim.graph().origin())
    }

    pub(crate) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, self.url(path))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("Graph answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// `POST /subscriptions` to Mara's inbox, with `hook`'s URLs.
    pub(crate) async fn subscribe(&self, hook: &Webhook, minutes: i64) -> (u16, Value) {
        self.subscribe_to(MARA, hook, minutes).await
    }

    /// `POST /subscriptions` to `mailbox`'s inbox, with `hook`'s URLs.
    pub(crate) async fn subscribe_to(
        &self,
        mailbox: &str,
        hook: &Webhook,
        minutes: i64,
    ) -> (u16, Value) {
        let expiry = self.sim.now() + time::Duration::minutes(minutes);
        self.call(
            reqwest::Method::POST,
            "subscriptions",
            Some(json!({
                "changeType": "created,updated",
                "notificationUrl": format!("{}/notify", hook.base),
                "lifecycleNotificationUrl": format!("{}/lifecycle", hook.base),
                "resource": format!("/users/{mailbox}/mailFolders('inbox')/messages"),
                "expirationDateTime": expiry
                    .format(&time::format_description::well_known::Rfc3339)
                    .expect("format"),
                "clientState": "secret-client-state",
            })),
        )
        .await
    }
}

fn expiry(value: &Value) -> time::OffsetDateTime {
    time::OffsetDateTime::parse(
        value["expirationDateTime"].as_str().expect("expiry"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("expiry parses")
}

#[tokio::test]
async fn a_subscription_is_created_once_both_urls_echo_the_validation_token() {
    let graph = Graph::start(10_080).await;
    let hook = Webhook::start(&graph.sim, Validation::Echo).await;
    let (status, body) = graph.subscribe(&hook, 60 * 24).await;
    assert_eq!(status, 201, "{body}");
    assert!(body["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert_eq!(body["clientState"], "secret-client-state");
    assert_eq!(body["changeType"], "created,updated");
    let validations = hook.seen(|s| s.validations.clone());
    let paths: Vec<&str> = validations.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(paths, ["/notify", "/lifecycle"]);
    // Graph's tokens hold spaces and colons; the webhook got them decoded.
    assert!(
        validations[0].1.starts_with("Validation: Testing client"),
        "{validations:?}"
    );
    assert_ne!(validations[0].1, validations[1].1);
    assert_eq!(graph.sim.graph().stats().validations, 2);
}

#[tokio::test]
async fn no_subscription_without_a_correct_echo_or_over_plain_http() {
    let graph = Graph::start(10_080).await;
    let hook = Webhook::start(&graph.sim, Validation::Wrong).await;
    let (status, body) = graph.subscribe(&hook, 60).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "ValidationError");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("exactly match")
    );
    let expiry = (graph.sim.now() + time::Duration::hours(1))
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format");
    let (status, body) = graph
        .call(
            reqwest::Method::POST,
            "subscriptions",
            Some(json!({
                "changeType": "created",
                "notificationUrl": "http://localhost:1/notify",
                "resource": format!("/users/{MARA}/messages"),
                "expirationDateTime": expiry,
            })),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("HTTPS")
    );
    assert!(graph.sim.graph().subscriptions(None).is_empty());
}

#[tokio::test]
async fn expiries_are_capped_raised_renewed_and_enforced() {
    let graph = Graph::start(4230).await;
    let hook = Webhook::start(&graph.sim, Validation::Echo).await;
    let (status, body) = graph.subscribe(&hook, 4300).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("4230 minutes")
    );
    let (status, body) = graph.subscribe(&hook, -5).await;
    assert_eq!(status, 400, "{body}");
    // Ten minutes are raised to 45.
    let before = graph.sim.now();
    let (status, body) = graph.subscribe(&hook, 10).await;
    assert_eq!(status, 201, "{body}");
    let lifetime = expiry(&body) - before;
    assert!(lifetime >= time::Duration::minutes(45), "{lifetime}");
    assert!(lifetime < time::Duration::minutes(46), "{lifetime}");
    // Renewal moves the expiry.
    let id = body["id"].as_str().expect("id").to_owned();
    let later = (graph.sim.now() + time::Duration::hours(48))
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format");
    let (status, renewed) = graph
        .call(
            reqwest::Method::PATCH,
            &format!("subscriptions/{id}"),
            Some(json!({"expirationDateTime": later})),
        )
        .await;
    assert_eq!(status, 200, "{renewed}");
    assert!(expiry(&renewed) > expiry(&body) + time::Duration::hours(40));
    // Past its expiry it is gone.
    graph.sim.advance_clock(Duration::from_secs(49 * 3600));
    let (status, body) = graph
        .call(reqwest::Method::GET, &format!("subscriptions/{id}"), None)
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "ResourceNotFound");
    let (status, _) = graph
        .call(
            reqwest::Method::DELETE,
            &format!("subscriptions/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn only_app_tokens_for_graph_with_a_mail_role_and_graphs_host_name_are_served() {
    let graph = Graph::start(10_080).await;
    let folder = graph.url(&format!("users/{MARA}/mailFolders/inbox"));
    let status = |r: reqwest::Response| r.status().as_u16();
    let none = graph.http.get(&folder).send().await.expect("answer");
    assert_eq!(status(none), 401);
    let identity = graph.sim.identity();
    let exchange = identity
        .issue_app_token(GRAPH_APP, "https://outlook.office365.com")
        .expect("token");
    let answer = graph.http.get(&folder).bearer_auth(exchange).send().await;
    assert_eq!(status(answer.expect("answer")), 401);
    let directory = identity
        .issue_app_token(DIRECTORY_APP, "https://graph.microsoft.com")
        .expect("token");
    let answer = graph.http.get(&folder).bearer_auth(directory).send().await;
    assert_eq!(status(answer.expect("answer")), 403);
    let answer = graph
        .http
        .get(&folder)
        .bearer_auth(&graph.token)
        .send()
        .await;
    assert_eq!(status(answer.expect("answer")), 200);
    // The same path on another host name is not Graph.
    let elsewhere = format!(
        "https://outlook.office365.com:{}/v1.0/users/{MARA}/mailFolders/inbox",
        graph.sim.https_addr().port()
    );
    let answer = graph
        .http
        .get(elsewhere)
        .bearer_auth(&graph.token)
        .send()
        .await;
    assert_eq!(status(answer.expect("answer")), 404);
}

#[tokio::test]
async fn new_mail_is_notified_and_retried_until_the_webhook_takes_it() {
    let graph = Graph::start(10_080).await;
    let hook = Webhook::start(&graph.sim, Validation::Echo).await;
    let (_, subscription) = graph.subscribe(&hook, 600).await;
    let id = subscription["id"].as_str().expect("id");
    hook.answer(503);
    let item = graph
        .sim
        .deliver_mail(MARA, "Hello", "boss@contoso.com")
        .expect("mail");
    for _ in 0..500 {
        if graph.sim.graph().stats().failed_posts >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(graph.sim.graph().stats().failed_posts >= 2);
    assert!(hook.notifications("/notify").is_empty());
    hook.answer(202);
    let seen = hook.wait_for("/notify", 1).await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    let n = &seen[0];
    let rest_id = item.replace('+', "-").replace('/', "_");
    let user = graph.sim.graph().user_id(MARA).expect("user id");
    assert_eq!(n["subscriptionId"], id);
    assert_eq!(n["clientState"], "secret-client-state");
    assert_eq!(n["changeType"], "created");
    assert_eq!(n["resource"], format!("Users/{user}/Messages/{rest_id}"));
    assert_eq!(n["resourceData"]["id"], rest_id.as_str());
    assert_eq!(n["resourceData"]["@odata.type"], "#Microsoft.Graph.Message");
    assert_eq!(n["tenantId"], graph.sim.identity().tenant_id());
    assert!(n["subscriptionExpirationDateTime"].as_str().is_some());
    // Read: an update, as subscribed.
    graph.sim.mark_read(MARA, &item, true).expect("read");
    let seen = hook.wait_for("/notify", 2).await;
    assert_eq!(seen[1]["changeType"], "updated");
    assert_eq!(graph.sim.graph().stats().notifications, 2);
}

/// Notifications of several subscriptions to one URL that become ready while a POST to it is
/// in flight go out together in the next POST, as Microsoft documents a collection may mix
/// them; one subscription's next notification still waits for the answer to its last.
#[tokio::test]
async fn notifications_ready_together_share_the_next_post_to_their_url() {
    let graph = Graph::start_with(scenario_with("posts_per_url = 1")).await;
    let hook = Webhook::start(&graph.sim, Validation::Echo).await;
    let mut subscriptions = Vec::new();
    for mailbox in [MARA, "sadie@contoso.com", "alfred@contoso.com"] {
        let (status, subscription) = graph.subscribe_to(mailbox, &hook, 600).await;
        assert_eq!(status, 201, "{subscription}");
        subscriptions.push(subscription["id"].as_str().expect("id").to_owned());
    }
    hook.hold();
    let mail = |to: &str| graph.sim.deliver_mail(to, "Hello", "boss@contoso.com");
    mail(MARA).expect("mail");
    eventually(|| hook.waiting() == 1).await;
    // Mara's second mail waits for the answer to her first; Sadie's and Alfred's wait for the
    // one POST allowed in flight.
    for to in [MARA, "sadie@contoso.com", "alfred@contoso.com"] {
        mail(to).expect("mail");
    }
    eventually(|| graph.sim.graph().stats().queued == 2).await;
    hook.release();
    let seen = hook.wait_for("/notify", 4).await;
    let posts: Vec<Vec<String>> = hook.seen(|s| {
        s.accepted
            .iter()
            .map(|(_, body)| {
                let value = body["value"].as_array().cloned().unwrap_or_default();
                let mut ids: Vec<String> = value
                    .iter()
                    .map(|n| n["subscriptionId"].as_str().unwrap_or_default().to_owned())
                    .collect();
                ids.sort_unstable();
                ids
            })
            .collect()
    });
    let [mara, sadie, alfred] = [0, 1, 2].map(|i| subscriptions[i].clone());
    let mut together = vec![sadie, alfred];
    together.sort_unstable();
    assert_eq!(
        posts,
        [vec![mara.clone()], together, vec![mara]],
        "{seen:?}"
    );
    let stats = graph.sim.graph().stats();
    assert_eq!((stats.posts, stats.notifications, stats.queued), (3, 4, 0));
}

/// Waits, bounded, for `done`.
async fn eventually(done: impl Fn() -> bool) {
    for _ in 0..500 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(done(), "not within 5 s");
}

#[tokio::test]
async fn lifecycle_notifications_pause_remove_and_report_missed_changes() {
    let graph = Graph::start(10_080).await;
    let hook = Webhook::start(&graph.sim, Validation::Echo).await;
    let (_, subscription) = graph.subscribe(&hook, 600).await;
    let id = subscription["id"].as_str().expect("id").to_owned();
    let handle = graph.sim.graph();

    handle
        .lifecycle(&id, LifecycleEvent::ReauthorizationRequired)
        .expect("sent");
    let notices = hook.wait_for("/lifecycle", 1).await;
    assert_eq!(notices[0]["lifecycleEvent"], "reauthorizationRequired");
    assert_eq!(notices[0]["subscriptionId"], id.as_str());
    assert_eq!(notices[0]["clientState"], "secret-client-state");
    assert!(handle.subscriptions(Some(MARA))[0].paused);
    graph
        .sim
        .deliver_mail(MARA, "Lost", "boss@contoso.com")
        .expect("mail");
    for _ in 0..300 {
        if handle.stats().dropped >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(handle.stats().dropped, 1, "a change while paused is lost");
    let (status, _) = graph
        .call(
            reqwest::Method::POST,
            &format!("subscriptions/{id}/reauthorize"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    graph
        .sim
        .deliver_mail(MARA, "Kept", "boss@contoso.com")
        .expect("mail");
    let seen = hook.wait_for("/notify", 1).await;
    assert_eq!(seen.len(), 1);

    handle.lifecycle(&id, LifecycleEvent::Missed).expect("sent");
    let notices = hook.wait_for("/lifecycle", 2).await;
    assert_eq!(notices[1]["lifecycleEvent"], "missed");

    handle
        .lifecycle(&id, LifecycleEvent::SubscriptionRemoved)
        .expect("sent");
    let notices = hook.wait_for("/lifecycle", 3).await;
    assert_eq!(notices[2]["lifecycleEvent"], "subscriptionRemoved");
    let (status, _) = graph
        .call(reqwest::Method::GET, &format!("subscriptions/{id}"), None)
        .await;
    assert_eq!(status, 404);
    assert!(handle.lifecycle(&id, LifecycleEvent::Missed).is_err());
}

#[tokio::test]
async fn a_fifth_concurrent_request_on_a_mailbox_is_answered_429_with_retry_after() {
    let graph = Graph::start(10_080).await;
    let handle = graph.sim.graph();
    handle.slow_answers(Duration::from_millis(300));
    let path = format!("users/{MARA}/mailFolders('inbox')");
    let calls = (0..6).map(|_| graph.call(reqwest::Method::GET, &path, None));
    let answers = futures_util::future::join_all(calls).await;
    let throttled: Vec<&Value> = answers
        .iter()
        .filter(|(status, _)| *status == 429)
        .map(|(_, body)| body)
        .collect();
    assert_eq!(throttled.len(), 2, "{answers:?}");
    assert_eq!(throttled[0]["error"]["code"], "ApplicationThrottled");
    assert_eq!(handle.stats().max_in_flight, 4);
    handle.slow_answers(Duration::ZERO);

    handle.throttle(1, Duration::from_secs(2));
    let response = graph
        .http
        .get(graph.url(&path))
        .bearer_auth(&graph.token)
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("2")
    );
    // Coming back at once is recorded as an early retry.
    let early = handle.stats().early_retries;
    let (status, _) = graph.call(reqwest::Method::GET, &path, None).await;
    assert_eq!(status, 200);
    assert_eq!(handle.stats().early_retries, early + 1);
}
