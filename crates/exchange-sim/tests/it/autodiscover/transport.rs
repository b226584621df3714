//! Authentication, the plain-HTTP redirect, and the request log.

use ews_proto::autodiscover::{GetUserSettingsRequest, PoxRequest};
use exchange_sim::Sim;
use reqwest::StatusCode;

use super::{MARA, SVC, basic, post, svc};
use crate::support;

const POX: &str = "/autodiscover/autodiscover.xml";
const SOAP: &str = "/autodiscover/autodiscover.svc";

/// `http://<host>:<http port><path>`.
fn plain(sim: &Sim, host: &str, path: &str) -> String {
    format!("http://{host}:{}{path}", sim.http_addr().port())
}

fn challenges(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().expect("ASCII").to_owned())
        .collect()
}

#[tokio::test]
async fn pox_and_soap_need_valid_credentials() {
    let sim = support::start().await;
    let host = "autodiscover.contoso.com";
    let soap = GetUserSettingsRequest::new(MARA, &["ExternalEwsUrl"], "https://x").to_xml();
    let wrong = basic(SVC.0, "not-the-password");
    let bad_base64 = "Basic %%%".to_owned();
    let no_colon = format!("Basic {}", "c3ZjLWJlbXM="); // "svc-bems"
    let ntlm = "NTLM TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAGAbEdAAAADw==".to_owned();
    let unknown_user = basic("nobody@contoso.com", "x");
    let no_password_user = basic("alfred@contoso.com", "");
    for (path, body) in [(POX, PoxRequest::new(MARA).to_xml()), (SOAP, soap)] {
        let credentials = [
            None,
            Some(&wrong),
            Some(&bad_base64),
            Some(&no_colon),
            Some(&ntlm),
            Some(&unknown_user),
            Some(&no_password_user),
        ];
        for authorization in credentials {
            let response = post(
                &sim,
                host,
                path,
                body.clone(),
                authorization.map(String::as_str),
            )
            .await;
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{path} {authorization:?}"
            );
            let challenges = challenges(&response);
            assert!(
                challenges
                    .iter()
                    .any(|c| c == &format!("Basic realm=\"{host}\"")),
                "{challenges:?}"
            );
            let bearer = challenges
                .iter()
                .find(|c| c.starts_with("Bearer "))
                .expect("Bearer challenge");
            assert!(
                bearer.contains("authorization_uri=\"https://login.microsoftonline.test:"),
                "{bearer}"
            );
            assert!(!bearer.contains("invalid_token"));
        }
        // The right password passes.
        let response = post(&sim, host, path, body.clone(), Some(&svc())).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    // Down-level logon names are accepted as Exchange accepts them.
    let response = post(
        &sim,
        host,
        POX,
        PoxRequest::new(MARA).to_xml(),
        Some(&basic("CONTOSO\\svc-bems", SVC.1)),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_refused_bearer_token_gets_invalid_token() {
    let sim = support::start().await;
    let response = post(
        &sim,
        "autodiscover.contoso.com",
        SOAP,
        GetUserSettingsRequest::new(MARA, &["ExternalEwsUrl"], "https://x").to_xml(),
        Some("Bearer eyJhbGciOiJub25lIn0.e30."),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenges = challenges(&response);
    assert!(
        challenges
            .iter()
            .any(|c| c.starts_with("Bearer ") && c.contains("error=\"invalid_token\""))
    );
}

#[tokio::test]
async fn plain_http_redirects_to_https_without_asking_for_credentials() {
    let sim = support::start().await;
    let client = support::client(&sim);
    let port = sim.https_addr().port();
    for (host, domain) in [
        ("autodiscover.contoso.com", "contoso.com"),
        ("autodiscover.fabrikam.com", "fabrikam.com"),
    ] {
        let response = client
            .get(plain(&sim, host, POX))
            .send()
            .await
            .expect("answered");
        assert_eq!(response.status(), StatusCode::FOUND);
        assert_eq!(
            response.headers()["location"],
            format!("https://autodiscover.{domain}:{port}/autodiscover/autodiscover.xml").as_str()
        );
        assert!(response.headers().get("www-authenticate").is_none());
    }
    // The SOAP path redirects to its https twin; unknown paths are not found.
    let response = client
        .get(plain(&sim, "autodiscover.contoso.com", SOAP))
        .send()
        .await
        .expect("answered");
    assert_eq!(
        response.headers()["location"],
        format!("https://autodiscover.contoso.com:{port}{SOAP}").as_str()
    );
    let response = client
        .get(plain(
            &sim,
            "autodiscover.contoso.com",
            "/autodiscover/nothing.htm",
        ))
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_log_records_hosts_and_authorization_schemes() {
    let sim = support::start().await;
    let client = support::client(&sim);
    client
        .get(plain(&sim, "autodiscover.contoso.com", POX))
        .send()
        .await
        .expect("answered");
    post(
        &sim,
        "contoso.com",
        POX,
        PoxRequest::new(MARA).to_xml(),
        None,
    )
    .await;
    post(
        &sim,
        "autodiscover.contoso.com",
        POX,
        PoxRequest::new(MARA).to_xml(),
        Some(&svc()),
    )
    .await;
    post(
        &sim,
        "autodiscover.fabrikam.com",
        SOAP,
        Vec::new(),
        Some("Bearer abc.def.ghi"),
    )
    .await;
    let v2 = "/autodiscover/autodiscover.json?Email=mara@contoso.com&Protocol=EWS";
    client
        .get(super::url(&sim, "outlook.office365.com", v2))
        .send()
        .await
        .expect("answered");

    let log = sim.autodiscover_log();
    let summary: Vec<_> = log
        .iter()
        .map(|r| {
            (
                r.host.as_str(),
                r.method.as_str(),
                r.path.as_str(),
                r.tls,
                r.auth_scheme.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("autodiscover.contoso.com", "GET", POX, false, None),
            ("contoso.com", "POST", POX, true, None),
            ("autodiscover.contoso.com", "POST", POX, true, Some("Basic")),
            (
                "autodiscover.fabrikam.com",
                "POST",
                SOAP,
                true,
                Some("Bearer")
            ),
            (
                "outlook.office365.com",
                "GET",
                "/autodiscover/autodiscover.json",
                true,
                None
            ),
        ]
    );
    assert_eq!(log[2].authorization.as_deref(), Some(svc().as_str()));
    assert_eq!(log[2].basic_user().as_deref(), Some(SVC.0));
    assert_eq!(log[3].authorization.as_deref(), Some("Bearer abc.def.ghi"));
    assert_eq!(
        log[4].query.as_deref(),
        Some("Email=mara@contoso.com&Protocol=EWS")
    );
    assert!(
        !format!("{log:?}").contains(&svc()),
        "Debug must not show credentials"
    );

    // No credential went anywhere but autodiscover.contoso.com and fabrikam's token host.
    let with_credentials: Vec<_> = log
        .iter()
        .filter(|r| r.has_credentials())
        .map(|r| r.host.as_str())
        .collect();
    assert_eq!(
        with_credentials,
        ["autodiscover.contoso.com", "autodiscover.fabrikam.com"]
    );

    sim.clear_autodiscover_log();
    assert!(sim.autodiscover_log().is_empty());
}
