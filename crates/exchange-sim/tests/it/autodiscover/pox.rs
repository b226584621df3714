//! POX Autodiscover: settings, errors, redirects and Exchange Online's per-mailbox path.

use ews_proto::autodiscover::{PoxAction, PoxRequest, ProtocolType};
use exchange_sim::Scenario;
use exchange_sim::scenario::{Host, HostBehaviour, Profile};
use reqwest::StatusCode;

use super::{MARA, basic, post, pox_as_svc, read_pox, svc};
use crate::support;

const PATH: &str = "/autodiscover/autodiscover.xml";

#[tokio::test]
async fn settings_for_a_user() {
    let sim = support::start().await;
    let response = pox_as_svc(&sim, "autodiscover.contoso.com", MARA).await;
    assert!(response.error.is_none(), "{response:?}");

    let user = response.user.as_ref().expect("User");
    assert_eq!(user.display_name.as_deref(), Some("Mara Whitley"));
    assert_eq!(user.autodiscover_smtp_address.as_deref(), Some(MARA));
    let deployment = user.deployment_id.as_deref().expect("DeploymentId");
    assert_eq!(deployment.len(), 36, "a GUID: {deployment}");
    assert!(
        user.legacy_dn
            .as_deref()
            .is_some_and(|dn| dn.contains("/cn=Recipients/"))
    );

    let account = response.account.as_ref().expect("Account");
    assert_eq!(account.action, Some(PoxAction::Settings));
    assert_eq!(account.account_type.as_deref(), Some("email"));
    assert_eq!(account.microsoft_online.as_deref(), Some("False"));

    let internal = sim.internal_ews_url(MARA).expect("internal URL");
    let external = sim.ews_url(MARA).expect("external URL");
    assert_ne!(internal, external);
    let exch = response.protocol(&ProtocolType::Exch).expect("EXCH");
    assert_eq!(exch.get("EwsUrl"), Some(internal.as_str()));
    assert_eq!(exch.get("ASUrl"), Some(internal.as_str()));
    assert!(
        exch.get("Server")
            .is_some_and(|s| s.ends_with("@contoso.com"))
    );
    let expr = response.protocol(&ProtocolType::Expr).expect("EXPR");
    assert_eq!(expr.get("EwsUrl"), Some(external.as_str()));
    assert_eq!(expr.get("Server"), Some("mail.contoso.com"));
    let web = response.protocol(&ProtocolType::Web).expect("WEB");
    let owa = &web.internal.as_ref().expect("WEB/Internal").owa_urls;
    assert!(owa[0].url.starts_with("https://internal.mail.contoso.com:"));
    assert_eq!(response.external_ews_url(), Some(external.as_str()));
    assert_eq!(response.internal_ews_url(), Some(internal.as_str()));

    // The same answer on the root domain, the per-mailbox path, and in any case.
    for (host, path) in [
        ("contoso.com", PATH),
        ("autodiscover.contoso.com", "/Autodiscover/Autodiscover.xml"),
        (
            "autodiscover.contoso.com",
            "/autodiscover/mara@contoso.com/autodiscover.xml",
        ),
    ] {
        let body = PoxRequest::new("MARA@Contoso.com").to_xml();
        let again = read_pox(post(&sim, host, path, body, Some(&svc())).await).await;
        assert_eq!(
            again.external_ews_url(),
            Some(external.as_str()),
            "{host}{path}"
        );
    }
}

#[tokio::test]
async fn a_user_signing_in_as_themselves_is_answered_too() {
    let sim = support::start().await;
    let body = PoxRequest::new("sadie@contoso.com").to_xml();
    let auth = basic("sadie@contoso.com", "Sadie-Pa55");
    let response =
        read_pox(post(&sim, "autodiscover.contoso.com", PATH, body, Some(&auth)).await).await;
    let user = response.user.expect("User");
    assert_eq!(user.display_name.as_deref(), Some("Sadie Daniels"));
}

#[tokio::test]
async fn unknown_address_is_error_500() {
    let sim = support::start().await;
    let response = pox_as_svc(&sim, "autodiscover.contoso.com", "nobody@contoso.com").await;
    let error = response.error.expect("Error");
    assert_eq!(error.error_code, "500");
    assert_eq!(
        error.message.as_deref(),
        Some("The e-mail address cannot be found.")
    );
    assert!(error.time.is_some() && error.id.is_some());
    assert!(response.account.is_none());
}

#[tokio::test]
async fn unreadable_requests_are_error_600_and_other_schemas_601() {
    let sim = support::start().await;
    let host = "autodiscover.contoso.com";
    let bad = [
        b"not xml at all".to_vec(),
        b"<Autodiscover><Request></Request></Autodiscover>".to_vec(),
        b"<Other/>".to_vec(),
        Vec::new(),
    ];
    for body in bad {
        let response = read_pox(post(&sim, host, PATH, body, Some(&svc())).await).await;
        let error = response.error.expect("Error");
        assert_eq!(error.error_code, "600");
        assert_eq!(error.message.as_deref(), Some("Invalid Request"));
    }

    // A GET with credentials: the answer everyone sees when browsing to autodiscover.xml.
    let get = support::client(&sim)
        .get(super::url(&sim, host, PATH))
        .header("Authorization", svc())
        .send()
        .await
        .expect("answered");
    let error = read_pox(get).await.error.expect("Error");
    assert_eq!(error.error_code, "600");

    let mut mobile = PoxRequest::new(MARA);
    mobile.acceptable_response_schema =
        "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006".into();
    let response = read_pox(post(&sim, host, PATH, mobile.to_xml(), Some(&svc())).await).await;
    assert_eq!(response.error.expect("Error").error_code, "601");
}

#[tokio::test]
async fn oversized_request_bodies_are_refused() {
    let sim = support::start().await;
    let mut body = PoxRequest::new(MARA).to_xml();
    body.extend(std::iter::repeat_n(b' ', 70 * 1024));
    let response = post(&sim, "autodiscover.contoso.com", PATH, body, Some(&svc())).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn scripted_hosts_answer_redirect_addr_and_redirect_url() {
    let mut scenario = support::scenario();
    for (name, behaviour) in [
        (
            "autodiscover.contoso.com",
            HostBehaviour::RedirectAddr("mara@fabrikam.com".into()),
        ),
        (
            "autodiscover.fabrikam.com",
            HostBehaviour::RedirectUrl(
                "https://mail.fabrikam.com/autodiscover/autodiscover.xml".into(),
            ),
        ),
    ] {
        let mut host = Host::default();
        host.name = name.into();
        host.behaviour = behaviour;
        scenario.hosts.push(host);
    }
    let sim = support::start_with(scenario).await;

    let response = pox_as_svc(&sim, "autodiscover.contoso.com", MARA).await;
    let account = response.account.expect("Account");
    assert_eq!(account.action, Some(PoxAction::RedirectAddr));
    assert_eq!(account.redirect_addr.as_deref(), Some("mara@fabrikam.com"));
    assert!(account.protocols.is_empty() && response.user.is_none());

    let response = pox_as_svc(&sim, "autodiscover.fabrikam.com", "elvin@fabrikam.com").await;
    let account = response.account.expect("Account");
    assert_eq!(account.action, Some(PoxAction::RedirectUrl));
    assert_eq!(
        account.redirect_url.as_deref(),
        Some("https://mail.fabrikam.com/autodiscover/autodiscover.xml")
    );

    // Hosts that are not scripted still answer settings.
    let response = pox_as_svc(&sim, "contoso.com", MARA).await;
    assert_eq!(
        response.account.expect("Account").action,
        Some(PoxAction::Settings)
    );
}

#[tokio::test]
async fn exchange_online_redirects_to_the_per_mailbox_path() {
    let mut scenario: Scenario = support::scenario();
    scenario.profile = Profile::ExchangeOnline;
    let sim = support::start_with(scenario).await;
    let host = "outlook.office365.com";

    let body = PoxRequest::new(MARA).to_xml();
    let response = post(&sim, host, PATH, body.clone(), Some(&svc())).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = response.headers()["location"].to_str().expect("ASCII");
    let port = sim.https_addr().port();
    assert_eq!(
        location,
        format!("https://{host}:{port}/Autodiscover/{MARA}/Autodiscover.xml")
    );

    // Following it (POST again, with the body) gives the settings.
    let path = location.split_once(&format!(":{port}")).expect("port").1;
    let response = read_pox(post(&sim, host, path, body, Some(&svc())).await).await;
    let account = response.account.as_ref().expect("Account");
    assert_eq!(account.microsoft_online.as_deref(), Some("True"));
    assert_eq!(
        response.external_ews_url(),
        Some(sim.ews_url(MARA).expect("URL").as_str())
    );
}
