//! Hostile answers: each is refused, and no credential reaches a host it should not. The
//! simulator records every Autodiscover request and its `Authorization` header.

use std::time::Duration;

use autodiscover::{Error, Method, Outcome};
use exchange_sim::scenario::{HostBehaviour, SrvEntry};

use crate::support::{self, hosts_with_credentials, locator, settings};

const MARA: &str = "mara@contoso.com";

/// Credentials went only to contoso.com hosts.
fn only_contoso(sim: &exchange_sim::Sim) {
    for host in hosts_with_credentials(sim) {
        assert!(
            host == "contoso.com" || host.ends_with(".contoso.com"),
            "credentials sent to {host}"
        );
    }
}

fn refused(error: &Error, fragment: &str) -> bool {
    error
        .trace()
        .iter()
        .any(|e| matches!(&e.outcome, Outcome::Refused { reason } if reason.contains(fragment)))
}

fn both(behaviour: HostBehaviour) -> Vec<(&'static str, &'static str, HostBehaviour)> {
    vec![
        ("autodiscover.contoso.com", "", behaviour.clone()),
        ("contoso.com", "", behaviour),
    ]
}

#[tokio::test]
async fn redirect_url_to_another_registrable_domain() {
    let sim = support::start(support::scenario(&both(HostBehaviour::RedirectUrl(
        "https://autodiscover.evil.test/autodiscover/autodiscover.xml".into(),
    ))))
    .await;
    let mut settings = settings(&sim);
    settings.protocols.v2 = false;
    settings.allow_redirect_and_srv = false;
    let error = locator(settings).discover(MARA).await.expect_err("refused");
    assert!(
        refused(&error, "outside contoso.com"),
        "{:#?}",
        error.trace()
    );
    assert!(!support::hosts_asked(&sim).contains("autodiscover.evil.test"));
    only_contoso(&sim);
}

#[tokio::test]
async fn redirect_url_to_plain_http() {
    let sim = support::start(support::scenario(&both(HostBehaviour::RedirectUrl(
        "http://autodiscover.contoso.com/autodiscover/autodiscover.xml".into(),
    ))))
    .await;
    let mut settings = settings(&sim);
    settings.protocols.v2 = false;
    settings.allow_redirect_and_srv = false;
    let error = locator(settings).discover(MARA).await.expect_err("refused");
    assert!(refused(&error, "plain HTTP"), "{:#?}", error.trace());
    assert!(
        sim.autodiscover_log().iter().all(|r| r.tls),
        "nothing went over plain HTTP"
    );
}

#[tokio::test]
async fn redirect_address_loop() {
    let mut hosts = both(HostBehaviour::RedirectAddr("elvin@fabrikam.com".into()));
    hosts.push((
        "autodiscover.fabrikam.com",
        "",
        HostBehaviour::RedirectAddr(MARA.into()),
    ));
    hosts.push(("fabrikam.com", "", HostBehaviour::RedirectAddr(MARA.into())));
    let sim = support::start(support::scenario(&hosts)).await;
    let mut settings = settings(&sim);
    settings.protocols.v2 = false;
    settings.credential_allow_list.push("fabrikam.com".into());
    let error = locator(settings).discover(MARA).await.expect_err("loop");
    assert!(
        matches!(&error, Error::RedirectLoop { at, .. } if at == MARA),
        "{error}"
    );
}

#[tokio::test]
async fn eleven_hops_are_too_many() {
    let mut scenario = support::scenario(&[]);
    let mut hosts = Vec::new();
    for i in 0..12 {
        let mut domain = exchange_sim::scenario::Domain::default();
        domain.name = format!("d{i}.test");
        scenario.domains.push(domain);
        let next = HostBehaviour::RedirectAddr(format!("u@d{}.test", i + 1));
        hosts.push((format!("autodiscover.d{i}.test"), next.clone()));
        hosts.push((format!("d{i}.test"), next));
    }
    for (name, behaviour) in hosts {
        let mut host = exchange_sim::scenario::Host::default();
        host.name = name;
        host.behaviour = behaviour;
        scenario.hosts.push(host);
    }
    let sim = support::start(scenario).await;
    let mut settings = settings(&sim);
    settings.protocols.v2 = false;
    settings.allow_redirect_and_srv = false;
    settings.credential_allow_list.push("test".into());
    let error = locator(settings)
        .discover("u@d0.test")
        .await
        .expect_err("too many");
    assert!(
        matches!(error, Error::TooManyRedirects { limit: 10, .. }),
        "{error}"
    );
    let redirects = error
        .trace()
        .iter()
        .filter(|e| matches!(e.outcome, Outcome::Redirected { .. }))
        .count();
    assert!(redirects >= 11, "{redirects}");
    assert!(
        !support::hosts_asked(&sim).contains("autodiscover.d12.test"),
        "the 11th redirect is not followed"
    );
}

#[tokio::test]
async fn srv_target_outside_the_domain() {
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
    srv.target = "autodiscover.evil.test".into();
    scenario.srv.push(srv);
    let sim = support::start(scenario).await;
    let error = locator(settings(&sim))
        .discover(MARA)
        .await
        .expect_err("refused");
    assert!(
        refused(&error, "autodiscover.evil.test is outside contoso.com"),
        "{:#?}",
        error.trace()
    );
    assert!(!support::hosts_asked(&sim).contains("autodiscover.evil.test"));
    assert!(error.trace().iter().any(|e| e.method == Method::Srv));
}

#[tokio::test]
async fn a_black_hole_does_not_delay_the_answer() {
    let sim = support::start(support::scenario(&[(
        "contoso.com",
        "127.0.0.2",
        HostBehaviour::Blackhole,
    )]))
    .await;
    let mut settings = settings(&sim);
    // Waiting for the black hole would take the candidate timeout, past the overall one.
    settings.timeouts.candidate = Duration::from_secs(120);
    settings.timeouts.overall = Duration::from_secs(15);
    let found = locator(settings)
        .discover(MARA)
        .await
        .expect("the good candidate answers");
    assert_eq!(found.ews_url.as_str(), sim.ews_url(MARA).unwrap());
    assert!(
        found
            .trace
            .iter()
            .any(|e| e.target.contains("//contoso.com") && e.outcome == Outcome::Cancelled),
        "{:#?}",
        found.trace
    );
}

#[tokio::test]
async fn oversized_and_malformed_answers() {
    let sim = support::start(support::scenario(&[
        (
            "autodiscover.contoso.com",
            "",
            HostBehaviour::Oversized(2 * 1024 * 1024),
        ),
        ("contoso.com", "", HostBehaviour::Malformed),
    ]))
    .await;
    let mut settings = settings(&sim);
    settings.allow_redirect_and_srv = false;
    let error = locator(settings)
        .discover(MARA)
        .await
        .expect_err("nothing usable");
    let errors: Vec<String> = error
        .trace()
        .iter()
        .filter_map(|e| match &e.outcome {
            Outcome::Failed { error } => Some(error.clone()),
            _ => None,
        })
        .collect();
    assert!(
        errors.iter().any(|e| e.contains("larger than")),
        "{errors:?}"
    );
    assert!(errors.iter().any(|e| e.contains("not a")), "{errors:?}");
}

#[tokio::test]
async fn nothing_goes_to_autodiscover_of_a_public_suffix() {
    let sim = support::start(support::scenario(&[])).await;
    let locator = locator(settings(&sim));
    let error = locator
        .discover("someone@co.uk")
        .await
        .expect_err("refused");
    assert!(refused(&error, "public suffix"), "{:#?}", error.trace());
    let dns = sim.dns().expect("DNS server");
    assert!(!dns.was_queried("autodiscover.co.uk"));
    assert!(sim.autodiscover_log().is_empty());
}

#[tokio::test]
async fn redirect_to_autodiscover_of_a_public_suffix() {
    let sim = support::start(support::scenario(&both(HostBehaviour::RedirectUrl(
        "https://autodiscover.com.br/autodiscover/autodiscover.xml".into(),
    ))))
    .await;
    let mut settings = settings(&sim);
    settings.protocols.v2 = false;
    settings.allow_redirect_and_srv = false;
    let error = locator(settings).discover(MARA).await.expect_err("refused");
    assert!(
        refused(&error, "autodiscover.<public suffix>"),
        "{:#?}",
        error.trace()
    );
    assert!(!sim.dns().expect("DNS").was_queried("autodiscover.com.br"));
}
