//! Scripted host behaviour: from the scenario's `[[hosts]]` and changed at run time.

use std::time::Duration;

use ews_proto::autodiscover::{PoxAction, PoxRequest};
use exchange_sim::scenario::{Host, HostBehaviour};
use exchange_sim::{Scenario, Sim};
use reqwest::StatusCode;

use super::{MARA, post, pox_as_svc, svc};
use crate::support;

const POX: &str = "/autodiscover/autodiscover.xml";

fn with_hosts(hosts: &[(&str, HostBehaviour, u64)]) -> Scenario {
    let mut scenario = support::scenario();
    for (name, behaviour, delay_ms) in hosts {
        let mut host = Host::default();
        host.name = (*name).into();
        host.behaviour = behaviour.clone();
        host.delay_ms = *delay_ms;
        scenario.hosts.push(host);
    }
    scenario
}

async fn pox(sim: &Sim, host: &str) -> reqwest::Response {
    post(sim, host, POX, PoxRequest::new(MARA).to_xml(), Some(&svc())).await
}

#[tokio::test]
async fn hosts_that_are_not_autodiscover_servers() {
    let scenario = with_hosts(&[
        ("autodiscover.contoso.com", HostBehaviour::HttpError(503), 0),
        ("contoso.com", HostBehaviour::Malformed, 0),
        (
            "autodiscover.fabrikam.com",
            HostBehaviour::Oversized(3 * 1024 * 1024 + 5),
            0,
        ),
    ]);
    let sim = support::start_with(scenario).await;

    let response = pox(&sim, "autodiscover.contoso.com").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);

    let response = pox(&sim, "contoso.com").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.bytes().await.expect("body");
    assert!(ews_proto::autodiscover::PoxResponse::from_xml(&body).is_err());

    let response = pox(&sim, "autodiscover.fabrikam.com").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.content_length(), Some(3 * 1024 * 1024 + 5));
    assert_eq!(
        response.bytes().await.expect("body").len(),
        3 * 1024 * 1024 + 5
    );

    // The scripts apply before authentication and on every endpoint, on both listeners.
    let response = post(
        &sim,
        "autodiscover.contoso.com",
        "/autodiscover/autodiscover.svc",
        Vec::new(),
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let plain = format!(
        "http://autodiscover.contoso.com:{}{POX}",
        sim.http_addr().port()
    );
    let response = support::client(&sim)
        .get(plain)
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn a_delayed_host_answers_late() {
    let scenario = with_hosts(&[("autodiscover.contoso.com", HostBehaviour::Settings, 1500)]);
    let sim = support::start_with(scenario).await;
    let impatient = support::client_builder(&sim)
        .timeout(Duration::from_millis(300))
        .build()
        .expect("client");
    let request = impatient
        .post(super::url(&sim, "autodiscover.contoso.com", POX))
        .header("Authorization", svc())
        .body(PoxRequest::new(MARA).to_xml());
    let error = request
        .send()
        .await
        .expect_err("the answer comes after the timeout");
    assert!(error.is_timeout(), "{error}");

    // A patient client gets the settings.
    let response = pox_as_svc(&sim, "autodiscover.contoso.com", MARA).await;
    assert_eq!(
        response.account.expect("Account").action,
        Some(PoxAction::Settings)
    );
}

#[tokio::test]
async fn a_scripted_http_redirect_goes_where_it_is_told() {
    let target = "https://evil.example.net/autodiscover/autodiscover.xml";
    let scenario = with_hosts(&[(
        "autodiscover.fabrikam.com",
        HostBehaviour::HttpRedirect(target.into()),
        0,
    )]);
    let sim = support::start_with(scenario).await;
    let plain = format!(
        "http://autodiscover.fabrikam.com:{}{POX}",
        sim.http_addr().port()
    );
    let response = support::client(&sim)
        .get(plain)
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(response.headers()["location"], target);
    // Over TLS the redirect-only host serves no Autodiscover.
    let https = format!("{}{POX}", sim.https_base("autodiscover.fabrikam.com"));
    let response = support::client(&sim)
        .post(https)
        .basic_auth(support::SVC.0, Some(support::SVC.1))
        .body(PoxRequest::new("elvin@fabrikam.com").to_xml())
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn behaviour_changes_at_run_time() {
    let sim = support::start().await;
    let host = "autodiscover.contoso.com";
    assert_eq!(pox(&sim, host).await.status(), StatusCode::OK);

    sim.set_host_behaviour(
        "AutoDiscover.Contoso.com",
        HostBehaviour::HttpError(404),
        Duration::ZERO,
    )
    .expect("set");
    assert_eq!(pox(&sim, host).await.status(), StatusCode::NOT_FOUND);
    // Other hosts keep theirs.
    assert_eq!(pox(&sim, "contoso.com").await.status(), StatusCode::OK);

    let redirect = HostBehaviour::RedirectAddr("elvin@fabrikam.com".into());
    sim.set_host_behaviour(host, redirect, Duration::ZERO)
        .expect("set");
    let response = pox_as_svc(&sim, host, MARA).await;
    assert_eq!(
        response.account.expect("Account").redirect_addr.as_deref(),
        Some("elvin@fabrikam.com")
    );

    sim.reset_host_behaviour(host);
    assert_eq!(pox(&sim, host).await.status(), StatusCode::OK);

    // A black hole set at run time never answers; refusing needs its own address at start.
    sim.set_host_behaviour(host, HostBehaviour::Blackhole, Duration::ZERO)
        .expect("set");
    let impatient = support::client_builder(&sim)
        .timeout(Duration::from_millis(300))
        .build()
        .expect("client");
    let error = impatient
        .post(super::url(&sim, host, POX))
        .body(PoxRequest::new(MARA).to_xml())
        .send()
        .await
        .expect_err("a black hole never answers");
    assert!(error.is_timeout(), "{error}");
    assert!(
        sim.set_host_behaviour(host, HostBehaviour::Refuse, Duration::ZERO)
            .is_err()
    );
}
