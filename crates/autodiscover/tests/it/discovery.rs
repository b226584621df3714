//! Discovery against the simulator over TLS, with a real DNS server: every method, redirects,
//! the cache.

use std::time::Duration;

use autodiscover::{Error, MailboxLocator, Method, Outcome};
use exchange_sim::scenario::{HostBehaviour, SrvEntry};

use crate::support::{self, hosts_with_credentials, locator, settings};

const MARA: &str = "mara@contoso.com";

#[tokio::test]
async fn finds_the_ews_url_and_grouping() {
    let sim = support::start(support::scenario(&[])).await;
    let found = locator(settings(&sim)).discover(MARA).await.expect("found");
    assert_eq!(found.ews_url.as_str(), sim.ews_url(MARA).unwrap());
    assert_eq!(
        found
            .external_ews_url
            .as_ref()
            .map(|u| u.as_str().to_owned()),
        Some(sim.ews_url(MARA).unwrap())
    );
    assert_eq!(
        found
            .internal_ews_url
            .as_ref()
            .map(|u| u.as_str().to_owned()),
        Some(sim.internal_ews_url(MARA).unwrap())
    );
    assert_eq!(found.grouping_information.as_deref(), Some("CONTOSO-1"));
    assert_eq!(found.mailbox, MARA);
    assert!(!found.from_cache);
    assert!(found.trace.iter().any(|e| e.outcome == Outcome::Found));
    // Credentials went only to the mailbox's own domain.
    for host in hosts_with_credentials(&sim) {
        assert!(
            host == "contoso.com" || host.ends_with(".contoso.com"),
            "credentials sent to {host}"
        );
    }
}

#[tokio::test]
async fn internal_url_when_asked() {
    let sim = support::start(support::scenario(&[])).await;
    let mut settings = settings(&sim);
    settings.use_internal_ews_url = true;
    let found = locator(settings).discover(MARA).await.expect("found");
    assert_eq!(found.ews_url.as_str(), sim.internal_ews_url(MARA).unwrap());
}

#[tokio::test]
async fn each_protocol_alone() {
    let sim = support::start(support::scenario(&[])).await;
    for (pox, soap, v2, method) in [
        (true, false, false, Method::Pox),
        (false, true, false, Method::Soap),
        (false, false, true, Method::V2),
    ] {
        let mut settings = settings(&sim);
        settings.protocols.pox = pox;
        settings.protocols.soap = soap;
        settings.protocols.v2 = v2;
        let found = locator(settings).discover(MARA).await.expect("found");
        assert_eq!(found.method, method);
        assert_eq!(found.ews_url.as_str(), sim.ews_url(MARA).unwrap());
        if soap {
            assert_eq!(found.grouping_information.as_deref(), Some("CONTOSO-1"));
        }
    }
}

#[tokio::test]
async fn override_url_is_the_only_candidate() {
    let sim = support::start(support::scenario(&[])).await;
    let mut settings = settings(&sim);
    settings.override_url = Some(
        format!(
            "{}/autodiscover/autodiscover.svc",
            sim.https_base("autodiscover.contoso.com")
        )
        .parse()
        .unwrap(),
    );
    let found = locator(settings).discover(MARA).await.expect("found");
    assert_eq!(found.method, Method::Override);
    assert_eq!(found.grouping_information.as_deref(), Some("CONTOSO-1"));
    assert_eq!(
        support::hosts_asked(&sim).into_iter().collect::<Vec<_>>(),
        vec!["autodiscover.contoso.com"]
    );
}

#[tokio::test]
async fn redirect_address_restarts_discovery() {
    let sim = support::start(support::scenario(&[
        (
            "autodiscover.contoso.com",
            "",
            HostBehaviour::RedirectAddr("elvin@fabrikam.com".into()),
        ),
        (
            "contoso.com",
            "",
            HostBehaviour::RedirectAddr("elvin@fabrikam.com".into()),
        ),
    ]))
    .await;
    let mut settings = settings(&sim);
    settings.protocols.v2 = false;
    // The redirected address is in another domain: its Autodiscover is asked without
    // contoso's credentials... which are the only ones we have, so allow-list fabrikam.
    settings.credential_allow_list.push("fabrikam.com".into());
    let found = locator(settings).discover(MARA).await.expect("found");
    assert_eq!(found.email, MARA);
    assert_eq!(found.mailbox, "elvin@fabrikam.com");
    assert_eq!(
        found.ews_url.as_str(),
        sim.ews_url("elvin@fabrikam.com").unwrap()
    );
    assert!(
        found.trace.iter().any(
            |e| matches!(&e.outcome, Outcome::Redirected { to } if to == "elvin@fabrikam.com")
        )
    );
}

#[tokio::test]
async fn srv_record_when_the_usual_hosts_fail() {
    let mut scenario = support::scenario(&[
        ("contoso.com", "127.0.0.2", HostBehaviour::Refuse),
        (
            "autodiscover.contoso.com",
            "127.0.0.3",
            HostBehaviour::Refuse,
        ),
    ]);
    let mut srv = SrvEntry::default();
    srv.name = "_autodiscover._tcp.contoso.com".into();
    srv.port = 443;
    srv.target = "mail.contoso.com".into();
    scenario.srv.push(srv);
    let sim = support::start(scenario).await;
    let found = locator(settings(&sim)).discover(MARA).await.expect("found");
    assert_eq!(found.method, Method::Srv);
    assert_eq!(found.source.host_str(), Some("mail.contoso.com"));
    assert_eq!(found.ews_url.as_str(), sim.ews_url(MARA).unwrap());
    // Not allowed: nothing found.
    let mut settings = settings(&sim);
    settings.allow_redirect_and_srv = false;
    let error = locator(settings)
        .discover(MARA)
        .await
        .expect_err("not found");
    assert!(matches!(error, Error::NotFound { .. }));
    assert!(
        error
            .trace()
            .iter()
            .all(|e| e.method != Method::Srv && e.method != Method::HttpRedirect)
    );
}

#[tokio::test]
async fn plain_http_redirect_then_https() {
    let sim = support::start(support::scenario(&[
        ("contoso.com", "127.0.0.2", HostBehaviour::Refuse),
        (
            "autodiscover.contoso.com",
            "",
            HostBehaviour::HttpRedirect(
                "https://mail.contoso.com:PORT/autodiscover/autodiscover.xml".into(),
            ),
        ),
    ]))
    .await;
    let target = format!(
        "https://mail.contoso.com:{}/autodiscover/autodiscover.xml",
        sim.https_addr().port()
    );
    sim.set_host_behaviour(
        "autodiscover.contoso.com",
        HostBehaviour::HttpRedirect(target),
        Duration::ZERO,
    )
    .expect("script");
    let found = locator(settings(&sim)).discover(MARA).await.expect("found");
    assert_eq!(found.method, Method::HttpRedirect);
    assert_eq!(found.source.host_str(), Some("mail.contoso.com"));
    // The plain-HTTP GET carried no credentials.
    let log = sim.autodiscover_log();
    assert!(log.iter().any(|r| !r.tls && r.method == "GET"));
    assert!(log.iter().filter(|r| !r.tls).all(|r| !r.has_credentials()));
}

#[tokio::test]
async fn cache_and_invalidate() {
    let sim = support::start(support::scenario(&[])).await;
    let locator = locator(settings(&sim));
    let first = locator.discover(MARA).await.expect("found");
    let asked = sim.autodiscover_log().len();
    let second = locator.discover(MARA).await.expect("cached");
    assert!(second.from_cache);
    assert_eq!(second.ews_url, first.ews_url);
    assert_eq!(
        sim.autodiscover_log().len(),
        asked,
        "a cached answer asks nobody"
    );
    MailboxLocator::invalidate(&locator, MARA);
    let third = locator.locate(MARA).await.expect("found again");
    assert!(!third.from_cache);
    assert!(sim.autodiscover_log().len() > asked);
}

#[tokio::test]
async fn mailbox_moves_show_after_invalidate() {
    let sim = support::start(support::scenario(&[])).await;
    let mut settings = settings(&sim);
    settings.protocols.v2 = false;
    settings.protocols.pox = false;
    let locator = locator(settings);
    assert_eq!(
        locator
            .discover(MARA)
            .await
            .expect("found")
            .grouping_information
            .as_deref(),
        Some("CONTOSO-1")
    );
    sim.move_mailbox(MARA, "mbx2").expect("moved");
    assert_eq!(
        locator
            .discover(MARA)
            .await
            .expect("cached")
            .grouping_information
            .as_deref(),
        Some("CONTOSO-1")
    );
    locator.invalidate(MARA);
    assert_eq!(
        locator
            .discover(MARA)
            .await
            .expect("found")
            .grouping_information
            .as_deref(),
        Some("FABRIKAM-2")
    );
}

#[tokio::test]
async fn failures_are_cached_per_domain() {
    let sim = support::start(support::scenario(&[
        ("contoso.com", "127.0.0.2", HostBehaviour::Refuse),
        (
            "autodiscover.contoso.com",
            "127.0.0.3",
            HostBehaviour::Refuse,
        ),
    ]))
    .await;
    let locator = locator(settings(&sim));
    let error = locator.discover(MARA).await.expect_err("nothing answers");
    assert!(error.is_retryable());
    assert!(error.trace().len() >= 4, "{:?}", error.trace());
    let again = locator
        .discover("other@contoso.com")
        .await
        .expect_err("cached failure");
    assert_eq!(again.trace().len(), 1);
    assert!(
        matches!(&again.trace()[0].outcome, Outcome::Failed { error } if error.contains("cached failure"))
    );
}

#[tokio::test]
async fn invalid_addresses_are_refused_before_anything_is_sent() {
    let sim = support::start(support::scenario(&[])).await;
    let locator = locator(settings(&sim));
    for bad in ["", "mara", "mara@", "@contoso.com", "mara@localhost"] {
        assert!(
            matches!(locator.discover(bad).await, Err(Error::InvalidEmail(_))),
            "{bad:?}"
        );
    }
    assert!(sim.autodiscover_log().is_empty());
}

#[tokio::test]
async fn every_connection_goes_through_the_connectivity_node_proxy() {
    let sim = support::start(support::scenario(&[])).await;
    let proxy = crate::proxy::HttpProxy::builder()
        .dns_server(sim.dns_addr().expect("DNS"))
        .start()
        .await;
    let mut settings = settings(&sim);
    settings.proxy = Some(proxy.url().parse().unwrap());
    // The proxy resolves names; discovery's own DNS server is not used for HTTP then.
    settings.dns_server = None;
    settings.allow_redirect_and_srv = false;
    let found = locator(settings)
        .discover(MARA)
        .await
        .expect("found through the proxy");
    assert_eq!(found.ews_url.as_str(), sim.ews_url(MARA).unwrap());
    let targets = proxy.connect_targets();
    let port = sim.https_addr().port();
    assert!(
        targets.contains(&format!("autodiscover.contoso.com:{port}")),
        "{targets:?}"
    );
    assert!(
        targets.iter().all(|t| t.ends_with(&format!(".com:{port}"))),
        "only the simulator's hosts were tunnelled to: {targets:?}"
    );
}
