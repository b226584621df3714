//! The administrator's own Autodiscover URL override is trusted with credentials wherever it
//! is, also through the Connectivity Node route; what the override redirects to keeps the
//! usual rules (issue 14, item 8).

use std::collections::BTreeSet;
use std::time::Duration;

use autodiscover::{Error, Method, Outcome};
use exchange_sim::Sim;
use exchange_sim::scenario::HostBehaviour;
use url::Url;

use crate::support::{self, hosts_asked, hosts_with_credentials, locator, settings};

const MARA: &str = "mara@contoso.com";
/// The hosted Autodiscover the administrator configured: outside contoso.com.
const HOSTED: &str = "autodiscover.hosted-mail.net";
/// A third party the override redirects to.
const THIRD: &str = "autodiscover.third-party.org";

/// The POX URL of `host` on the simulator's HTTPS port.
fn pox_at(sim: &Sim, host: &str) -> Url {
    format!("{}/autodiscover/autodiscover.xml", sim.https_base(host))
        .parse()
        .expect("URL")
}

fn set(hosts: &[&str]) -> BTreeSet<String> {
    hosts.iter().map(|h| (*h).to_owned()).collect()
}

fn refused(error: &Error, fragment: &str) -> bool {
    error
        .trace()
        .iter()
        .any(|e| matches!(&e.outcome, Outcome::Refused { reason } if reason.contains(fragment)))
}

#[tokio::test]
async fn an_override_outside_the_mail_domain_gets_the_credentials() {
    let sim = support::start(support::scenario(&[(HOSTED, "", HostBehaviour::Settings)])).await;
    let mut settings = settings(&sim);
    settings.override_url = Some(pox_at(&sim, HOSTED));
    let found = locator(settings)
        .discover(MARA)
        .await
        .unwrap_or_else(|e| panic!("the override answers: {e}: {:#?}", e.trace()));
    assert_eq!(found.method, Method::Override);
    assert_eq!(found.source.host_str(), Some(HOSTED));
    assert_eq!(found.ews_url.as_str(), sim.ews_url(MARA).unwrap());
    // The SOAP twin at the same host gave the grouping: it was trusted too.
    assert_eq!(found.grouping_information.as_deref(), Some("CONTOSO-1"));
    assert!(
        found
            .trace
            .iter()
            .any(|e| e.target.contains(HOSTED) && e.credentials_sent),
        "{:#?}",
        found.trace
    );
    assert_eq!(hosts_with_credentials(&sim), set(&[HOSTED]));
    assert_eq!(
        hosts_asked(&sim),
        set(&[HOSTED]),
        "only the override is asked"
    );
}

#[tokio::test]
async fn the_override_is_trusted_through_the_connectivity_node_route() {
    let sim = support::start(support::scenario(&[(HOSTED, "", HostBehaviour::Settings)])).await;
    let proxy = crate::proxy::HttpProxy::builder()
        .dns_server(sim.dns_addr().expect("DNS"))
        .start()
        .await;
    let mut settings = settings(&sim);
    settings.override_url = Some(pox_at(&sim, HOSTED));
    settings.proxy = Some(proxy.url().parse().expect("proxy URL"));
    // The route resolves names; discovery's own DNS server is not used for HTTP then.
    settings.dns_server = None;
    let found = locator(settings)
        .discover(MARA)
        .await
        .unwrap_or_else(|e| panic!("found through the route: {e}: {:#?}", e.trace()));
    assert_eq!(found.method, Method::Override);
    assert_eq!(found.ews_url.as_str(), sim.ews_url(MARA).unwrap());
    let port = sim.https_addr().port();
    let targets: BTreeSet<String> = proxy.connect_targets().into_iter().collect();
    assert_eq!(targets, set(&[&format!("{HOSTED}:{port}")]));
    assert_eq!(hosts_with_credentials(&sim), set(&[HOSTED]));
}

#[tokio::test]
async fn a_redirect_from_the_override_to_a_third_host_gets_no_credentials() {
    let sim = support::start(support::scenario(&[
        (
            HOSTED,
            "",
            HostBehaviour::RedirectUrl(format!("https://{THIRD}/autodiscover/autodiscover.xml")),
        ),
        (THIRD, "", HostBehaviour::Settings),
    ]))
    .await;
    // The redirect names the simulator's port, so only the credential rule can stop it.
    sim.set_host_behaviour(
        HOSTED,
        HostBehaviour::RedirectUrl(pox_at(&sim, THIRD).to_string()),
        Duration::ZERO,
    )
    .expect("script");
    let mut settings = settings(&sim);
    settings.override_url = Some(pox_at(&sim, HOSTED));
    let error = locator(settings)
        .discover(MARA)
        .await
        .expect_err("the redirect is refused");
    assert!(
        refused(&error, &format!("{THIRD} is outside contoso.com")),
        "{:#?}",
        error.trace()
    );
    assert!(
        !hosts_asked(&sim).contains(THIRD),
        "{:?}",
        hosts_asked(&sim)
    );
    assert_eq!(hosts_with_credentials(&sim), set(&[HOSTED]));
}

#[tokio::test]
async fn a_redirect_from_the_override_into_the_mail_domain_is_followed() {
    let sim = support::start(support::scenario(&[(HOSTED, "", HostBehaviour::Settings)])).await;
    sim.set_host_behaviour(
        HOSTED,
        HostBehaviour::RedirectUrl(pox_at(&sim, "mail.contoso.com").to_string()),
        Duration::ZERO,
    )
    .expect("script");
    let mut settings = settings(&sim);
    settings.override_url = Some(pox_at(&sim, HOSTED));
    let found = locator(settings)
        .discover(MARA)
        .await
        .unwrap_or_else(|e| panic!("followed: {e}: {:#?}", e.trace()));
    assert_eq!(found.source.host_str(), Some("mail.contoso.com"));
    assert_eq!(found.ews_url.as_str(), sim.ews_url(MARA).unwrap());
    assert_eq!(
        hosts_with_credentials(&sim),
        set(&[HOSTED, "mail.contoso.com"])
    );
}

#[tokio::test]
async fn a_plain_http_override_gets_no_credentials() {
    let sim = support::start(support::scenario(&[(HOSTED, "", HostBehaviour::Settings)])).await;
    let mut settings = settings(&sim);
    settings.override_url = Some(
        format!(
            "http://{HOSTED}:{}/autodiscover/autodiscover.xml",
            sim.http_addr().port()
        )
        .parse()
        .expect("URL"),
    );
    let error = locator(settings).discover(MARA).await.expect_err("refused");
    assert!(refused(&error, "plain HTTP"), "{:#?}", error.trace());
    assert!(hosts_with_credentials(&sim).is_empty());
}
