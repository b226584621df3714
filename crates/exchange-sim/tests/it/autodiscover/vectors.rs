//! Every request vector of `vectors/autodiscover/` replayed against the simulator, each answer
//! compared with the documented response it should look like: same elements, codes,
//! settings and redirect targets (URLs differ by the simulator's port).

use std::collections::BTreeSet;

use ews_proto::autodiscover::{GetUserSettingsResponse, PoxResponse, ProtocolType};
use exchange_sim::scenario::{Host, HostBehaviour};
use exchange_sim::{Scenario, Sim};

use super::{post, svc};
use crate::support;

const POX: &str = "/autodiscover/autodiscover.xml";
const SOAP: &str = "/autodiscover/autodiscover.svc";

/// The users and hosts the vectors name: `mara@contoso.com` (settings), `User1@Contoso.com`
/// redirected to `User1@mail.Contoso.com`, and redirects to `elvin@mail.contoso.com` and
/// `https://example.com/foo.asmx`.
const SCENARIO: &str = r#"
[[domains]]
name = "contoso.com"

[[domains]]
name = "mail.contoso.com"
external_ews_host = "server.contoso.com"
internal_ews_host = "server.contoso.com"

[[servers]]
name = "mbx1"
grouping_information = "CONTOSO-1"

[[users]]
smtp = "mara@contoso.com"
display_name = "Mara Whitley"

[[users]]
smtp = "User1@Contoso.com"
display_name = "User One"

[[users]]
smtp = "User1@mail.Contoso.com"
display_name = "User One"

[[users]]
smtp = "elvin@mail.contoso.com"
display_name = "Elvin Marsh"

[[service_accounts]]
name = "svc-bems"
upn = "svc-bems@contoso.com"
password = "Svc-Pa55w.rd"
"#;

async fn start() -> Sim {
    let mut scenario = Scenario::from_toml(SCENARIO).expect("vector scenario");
    for (name, behaviour) in [
        (
            "autodiscover.contoso.com",
            HostBehaviour::RedirectAddr("User1@mail.Contoso.com".into()),
        ),
        (
            "hybrid.contoso.com",
            HostBehaviour::RedirectAddr("elvin@mail.contoso.com".into()),
        ),
        (
            "redirect.contoso.com",
            HostBehaviour::RedirectUrl("https://example.com/foo.asmx".into()),
        ),
    ] {
        let mut host = Host::default();
        host.name = name.into();
        host.behaviour = behaviour;
        scenario.hosts.push(host);
    }
    support::start_with(scenario).await
}

fn vector(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../vectors/autodiscover/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Sends request vector `name` to `path` on `host` as the service account; the body back.
async fn replay(sim: &Sim, host: &str, path: &str, name: &str) -> Vec<u8> {
    let response = post(sim, host, path, vector(name), Some(&svc())).await;
    assert_eq!(
        response.status(),
        reqwest::StatusCode::OK,
        "{name} to {host}"
    );
    response.bytes().await.expect("body").to_vec()
}

/// The local names of every element in a document.
fn element_names(xml: &[u8]) -> BTreeSet<String> {
    let text = String::from_utf8_lossy(xml);
    let mut names = BTreeSet::new();
    let mut rest = &*text;
    while let Some(at) = rest.find('<') {
        rest = &rest[at + 1..];
        if rest.starts_with(['/', '?', '!']) {
            continue;
        }
        let end = rest
            .find(|c: char| c.is_whitespace() || c == '/' || c == '>')
            .unwrap_or(rest.len());
        let name = &rest[..end];
        names.insert(
            name.rsplit_once(':')
                .map_or(name, |(_, local)| local)
                .to_owned(),
        );
    }
    names
}

fn pox(bytes: &[u8]) -> PoxResponse {
    PoxResponse::from_xml(bytes).expect("a POX response")
}

fn soap(bytes: &[u8]) -> GetUserSettingsResponse {
    GetUserSettingsResponse::from_xml(bytes).expect("a GetUserSettings response")
}

/// The setting names of a response's first user, in order.
fn setting_names(response: &GetUserSettingsResponse) -> Vec<String> {
    response.user_responses[0]
        .settings
        .iter()
        .map(|s| s.name.clone())
        .collect()
}

#[tokio::test]
async fn pox_request_gets_the_documented_settings_shape() {
    let sim = start().await;
    let ours_bytes = replay(&sim, "contoso.com", POX, "pox-request.xml").await;
    let theirs_bytes = vector("pox-response-settings.xml");
    let (ours, theirs) = (pox(&ours_bytes), pox(&theirs_bytes));

    let missing: Vec<_> = element_names(&theirs_bytes)
        .difference(&element_names(&ours_bytes))
        .cloned()
        .collect();
    assert!(
        missing.is_empty(),
        "elements of the vector we do not send: {missing:?}"
    );

    let (user, documented) = (
        ours.user.as_ref().expect("User"),
        theirs.user.as_ref().expect("User"),
    );
    assert_eq!(user.display_name, documented.display_name);
    assert_eq!(
        user.autodiscover_smtp_address,
        documented.autodiscover_smtp_address
    );
    assert_eq!(user.legacy_dn.is_some(), documented.legacy_dn.is_some());
    assert_eq!(
        user.deployment_id.is_some(),
        documented.deployment_id.is_some()
    );

    let (account, documented) = (
        ours.account.as_ref().expect("Account"),
        theirs.account.as_ref().expect("Account"),
    );
    assert_eq!(account.account_type, documented.account_type);
    assert_eq!(account.action, documented.action);
    assert_eq!(account.microsoft_online, documented.microsoft_online);
    let types = |a: &ews_proto::autodiscover::PoxAccount| -> Vec<_> {
        a.protocols
            .iter()
            .map(|p| p.protocol_type.clone())
            .collect()
    };
    assert_eq!(types(account), types(documented));

    let names = |r: &PoxResponse, t: ProtocolType| -> Vec<String> {
        let protocol = r.protocol(&t).expect("protocol block");
        protocol
            .settings
            .iter()
            .map(|(name, _)| name.clone())
            .collect()
    };
    assert_eq!(
        names(&ours, ProtocolType::Exch),
        names(&theirs, ProtocolType::Exch)
    );
    let expr = names(&ours, ProtocolType::Expr);
    assert!(
        names(&theirs, ProtocolType::Expr)
            .iter()
            .all(|n| expr.contains(n)),
        "{expr:?}"
    );
    for (key, value) in &theirs.protocol(&ProtocolType::Exch).expect("EXCH").settings {
        if key.starts_with("EcpUrl-") {
            let ours = ours.protocol(&ProtocolType::Exch).and_then(|p| p.get(key));
            assert_eq!(ours, Some(value.as_str()), "{key}");
        }
    }
    let web = |r: &PoxResponse| {
        r.protocol(&ProtocolType::Web)
            .and_then(|p| p.internal.clone())
            .expect("WEB/Internal")
    };
    let (ours_web, theirs_web) = (web(&ours), web(&theirs));
    assert_eq!(ours_web.owa_urls.len(), theirs_web.owa_urls.len());
    assert_eq!(
        ours_web.owa_urls[0].authentication_method,
        theirs_web.owa_urls[0].authentication_method
    );
    assert_eq!(ours_web.protocols.len(), theirs_web.protocols.len());
    assert!(ours_web.protocols[0].get("ASUrl").is_some());
    assert_eq!(
        ours.external_ews_url(),
        Some(sim.ews_url("mara@contoso.com").expect("URL").as_str())
    );
}

#[tokio::test]
async fn pox_request_gets_the_documented_redirects_and_error() {
    let sim = start().await;
    let ours = replay(&sim, "hybrid.contoso.com", POX, "pox-request.xml").await;
    let theirs = vector("pox-response-redirectaddr.xml");
    assert_eq!(pox(&ours), pox(&theirs));
    assert_eq!(element_names(&ours), element_names(&theirs));

    let ours = replay(&sim, "redirect.contoso.com", POX, "pox-request.xml").await;
    let theirs = vector("pox-response-redirecturl.xml");
    assert_eq!(pox(&ours).account, pox(&theirs).account);
    assert_eq!(element_names(&ours), element_names(&theirs));
    let user = pox(&ours).user.expect("User");
    assert_eq!(
        user.autodiscover_smtp_address.as_deref(),
        Some("mara@contoso.com")
    );

    // The request vector cut in half is the documented "Invalid Request".
    let request = vector("pox-request.xml");
    let cut = request[..request.len() / 2].to_vec();
    let response = post(&sim, "contoso.com", POX, cut, Some(&svc())).await;
    let ours = response.bytes().await.expect("body");
    let theirs = vector("pox-response-error.xml");
    let (error, documented) = (
        pox(&ours).error.expect("Error"),
        pox(&theirs).error.expect("Error"),
    );
    assert_eq!(error.error_code, documented.error_code);
    assert_eq!(error.message, documented.message);
    assert_eq!(error.time.is_some(), documented.time.is_some());
    assert_eq!(error.id.is_some(), documented.id.is_some());
    assert_eq!(element_names(&ours), element_names(&theirs));
}

#[tokio::test]
async fn soap_request_gets_the_documented_settings() {
    let sim = start().await;
    let ours_bytes = replay(
        &sim,
        "contoso.com",
        SOAP,
        "soap-getusersettings-request.xml",
    )
    .await;
    let theirs_bytes = vector("soap-getusersettings-response.xml");
    assert_eq!(element_names(&ours_bytes), element_names(&theirs_bytes));
    let (ours, theirs) = (soap(&ours_bytes), soap(&theirs_bytes));

    assert_eq!(ours.error_code, theirs.error_code);
    let version = ours.server_version.as_ref().expect("ServerVersionInfo");
    assert_eq!(
        version.major_version,
        theirs.server_version.as_ref().and_then(|v| v.major_version)
    );
    let (user, documented) = (&ours.user_responses[0], &theirs.user_responses[0]);
    assert_eq!(user.error_code, documented.error_code);
    assert_eq!(user.error_message, documented.error_message);
    assert_eq!(user.redirect_target, documented.redirect_target);
    assert_eq!(user.setting_errors, documented.setting_errors);

    let mut ours_names = setting_names(&ours);
    let mut theirs_names = setting_names(&theirs);
    ours_names.sort();
    theirs_names.sort();
    assert_eq!(ours_names, theirs_names);
    for name in [
        "UserDisplayName",
        "GroupingInformation",
        "ExternalMailboxServer",
        "EcpDeliveryReportUrlFragment",
        "EcpTextMessagingUrlFragment",
        "EcpPublishingUrlFragment",
    ] {
        assert_eq!(user.setting(name), documented.setting(name), "{name}");
    }
    let schemas = documented
        .setting("EwsSupportedSchemas")
        .expect("documented");
    assert!(
        user.setting("EwsSupportedSchemas")
            .is_some_and(|s| s.starts_with(schemas))
    );
}

#[tokio::test]
async fn soap_requests_get_the_documented_redirect_chain() {
    let sim = start().await;
    // mara → RedirectAddress elvin@mail.contoso.com.
    let ours = replay(
        &sim,
        "hybrid.contoso.com",
        SOAP,
        "soap-getusersettings-request.xml",
    )
    .await;
    let theirs = vector("soap-getusersettings-redirectaddress.xml");
    assert_eq!(element_names(&ours), element_names(&theirs));
    assert_eq!(soap(&ours).user_responses, soap(&theirs).user_responses);
    assert_eq!(soap(&ours).error_code, soap(&theirs).error_code);

    // User1@Contoso.com → RedirectAddress User1@mail.Contoso.com ...
    let ours = replay(
        &sim,
        "autodiscover.contoso.com",
        SOAP,
        "soap-getusersettings-ewsurls-request.xml",
    )
    .await;
    let theirs = vector("soap-getusersettings-ewsurls-redirectaddress.xml");
    assert_eq!(element_names(&ours), element_names(&theirs));
    assert_eq!(soap(&ours).user_responses, soap(&theirs).user_responses);

    // ... whose own Autodiscover host answers both EWS URLs.
    let name = "soap-getusersettings-ewsurls-request-redirected.xml";
    let ours = replay(&sim, "autodiscover.mail.contoso.com", SOAP, name).await;
    let theirs = vector("soap-getusersettings-ewsurls-response.xml");
    assert_eq!(element_names(&ours), element_names(&theirs));
    let (ours, theirs) = (soap(&ours), soap(&theirs));
    assert_eq!(setting_names(&ours), setting_names(&theirs));
    let port = format!(":{}", sim.https_addr().port());
    for (mine, documented) in ours.user_responses[0]
        .settings
        .iter()
        .zip(&theirs.user_responses[0].settings)
    {
        let mine = mine.value.as_deref().unwrap_or_default().replace(&port, "");
        let documented = documented.value.as_deref().unwrap_or_default();
        assert!(
            mine.eq_ignore_ascii_case(documented),
            "{mine} vs {documented}"
        );
    }

    // Without the redirect, User1@Contoso.com itself gets the same shape.
    let ours = replay(
        &sim,
        "contoso.com",
        SOAP,
        "soap-getusersettings-ewsurls-request.xml",
    )
    .await;
    assert_eq!(setting_names(&soap(&ours)), setting_names(&theirs));
}
