//! Autodiscover in the composed service: the administrator's Autodiscover URL override is used
//! with the service account's credentials even when it is outside the mail domain, and what it
//! redirects to keeps the usual rules (issue 14, item 8). The precedence of candidates (item 11)
//! is proven against the simulator in `crates/autodiscover/tests/it/precedence.rs`.

use std::collections::BTreeSet;

use bems::service::server;
use bems::settings::SubscriptionMode;
use bems_demo::{self as demo, ADMIN_TOKEN, TENANT, World};
use exchange_sim::scenario::{Host, HostBehaviour};
use serde_json::Value;

const MARA: &str = "mara@contoso.com";
/// The hosted Autodiscover the administrator configured: outside contoso.com.
const HOSTED: &str = "autodiscover.hosted-mail.net";
/// A third party the override redirects to.
const THIRD: &str = "autodiscover.third-party.org";

/// The demo world with `hosts` scripted, its tenant's Autodiscover URL override at `HOSTED`.
async fn world(hosts: &[(&str, HostBehaviour)]) -> World {
    let mut scenario = demo::scenario().expect("scenario");
    for (name, behaviour) in hosts {
        let mut host = Host::default();
        host.name = (*name).to_owned();
        host.behaviour = behaviour.clone();
        scenario.hosts.push(host);
    }
    let mut world = World::with_scenario(scenario, SubscriptionMode::Pull, None, false)
        .await
        .expect("world starts");
    let url = format!(
        "{}/autodiscover/autodiscover.xml",
        world.sim.https_base(HOSTED)
    );
    world.settings.tenants[0].autodiscover_url_override = Some(url.parse().expect("URL"));
    world
        .settings
        .validate()
        .expect("the override is a valid setting");
    world
}

/// The admin API's test connection for `email`.
async fn test_connection(base: &str, email: &str) -> Value {
    reqwest::Client::new()
        .post(format!("{base}/admin/tenants/{TENANT}/test-connection"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({ "email": email }))
        .send()
        .await
        .expect("the API answers")
        .json()
        .await
        .expect("a JSON report")
}

fn hosts_with_credentials(world: &World) -> BTreeSet<String> {
    world
        .sim
        .autodiscover_log()
        .into_iter()
        .filter(|r| r.has_credentials())
        .map(|r| r.host)
        .collect()
}

fn trace(report: &Value) -> Vec<String> {
    report["steps"][0]["trace"]
        .as_array()
        .map(|lines| {
            lines
                .iter()
                .filter_map(|l| l.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn an_override_outside_the_mail_domain_is_used_with_the_service_account() {
    let world = world(&[(HOSTED, HostBehaviour::Settings)]).await;
    let running = server::start(&world.settings, &world.overrides)
        .await
        .expect("service starts");
    let report = test_connection(&format!("http://{}", running.addr), MARA).await;
    assert_eq!(report["ok"], true, "{report:#}");
    let detail = report["steps"][0]["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("via Override"), "{report:#}");
    assert!(
        trace(&report)
            .iter()
            .any(|l| l.contains(HOSTED) && l.contains("Found") && l.contains("credentials sent")),
        "{report:#}"
    );
    assert_eq!(
        hosts_with_credentials(&world),
        BTreeSet::from([HOSTED.to_owned()])
    );
}

#[tokio::test]
async fn a_redirect_from_the_override_to_a_third_host_gets_no_credentials() {
    let world = world(&[
        (HOSTED, HostBehaviour::Settings),
        (THIRD, HostBehaviour::Settings),
    ])
    .await;
    let third = format!(
        "{}/autodiscover/autodiscover.xml",
        world.sim.https_base(THIRD)
    );
    world
        .sim
        .set_host_behaviour(
            HOSTED,
            HostBehaviour::RedirectUrl(third),
            std::time::Duration::ZERO,
        )
        .expect("script");
    let running = server::start(&world.settings, &world.overrides)
        .await
        .expect("service starts");
    let report = test_connection(&format!("http://{}", running.addr), MARA).await;
    assert_eq!(report["ok"], false, "{report:#}");
    assert!(
        trace(&report)
            .iter()
            .any(|l| l.contains("Refused") && l.contains(&format!("{THIRD} is outside"))),
        "{report:#}"
    );
    let asked: BTreeSet<String> = world
        .sim
        .autodiscover_log()
        .into_iter()
        .map(|r| r.host)
        .collect();
    assert!(!asked.contains(THIRD), "{asked:?}");
    assert_eq!(
        hosts_with_credentials(&world),
        BTreeSet::from([HOSTED.to_owned()])
    );
}
