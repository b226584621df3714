//! One server, one version: the build EWS reports in `ServerVersionInfo` is the one SOAP
//! Autodiscover reports in its `ServerVersionInfo` and `CasVersion`, and POX Autodiscover in
//! `ServerVersion`, for every profile. The answers are read here with roxmltree, not with the
//! client crates' reader.

use exchange_sim::scenario::Profile;

use crate::autodiscover::{MARA, post, svc, url};
use crate::support::{self, Ews};

const EWS_GET_INBOX: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"
    xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"
    xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">
  <s:Header>
    <t:RequestServerVersion Version="Exchange2013"/>
    <t:ExchangeImpersonation><t:ConnectingSID>
      <t:PrimarySmtpAddress>mara@contoso.com</t:PrimarySmtpAddress>
    </t:ConnectingSID></t:ExchangeImpersonation>
  </s:Header>
  <s:Body>
    <m:GetFolder>
      <m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>
      <m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds>
    </m:GetFolder>
  </s:Body>
</s:Envelope>"#;

const SOAP_SETTINGS: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"
    xmlns:a="http://schemas.microsoft.com/exchange/2010/Autodiscover"
    xmlns:wsa="http://www.w3.org/2005/08/addressing">
  <s:Header>
    <a:RequestedServerVersion>Exchange2013</a:RequestedServerVersion>
    <wsa:Action>http://schemas.microsoft.com/exchange/2010/Autodiscover/Autodiscover/GetUserSettings</wsa:Action>
    <wsa:To>TO</wsa:To>
  </s:Header>
  <s:Body>
    <a:GetUserSettingsRequestMessage>
      <a:Request>
        <a:Users><a:User><a:Mailbox>mara@contoso.com</a:Mailbox></a:User></a:Users>
        <a:RequestedSettings><a:Setting>CasVersion</a:Setting></a:RequestedSettings>
      </a:Request>
    </a:GetUserSettingsRequestMessage>
  </s:Body>
</s:Envelope>"#;

const POX_REQUEST: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>mara@contoso.com</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>"#;

/// (major, minor, build, revision) of an element's four version children or attributes.
type Build = (u32, u32, u32, u32);

fn descendant<'a, 'i>(doc: &'a roxmltree::Document<'i>, name: &str) -> roxmltree::Node<'a, 'i> {
    doc.descendants()
        .find(|n| n.tag_name().name() == name)
        .unwrap_or_else(|| panic!("no {name} in the answer"))
}

fn ews_build(body: &str) -> Build {
    let doc = roxmltree::Document::parse(body).expect("well-formed EWS answer");
    let info = descendant(&doc, "ServerVersionInfo");
    let number = |name| {
        info.attribute(name)
            .unwrap_or_else(|| panic!("ServerVersionInfo/@{name}"))
            .parse()
            .expect("a number")
    };
    (
        number("MajorVersion"),
        number("MinorVersion"),
        number("MajorBuildNumber"),
        number("MinorBuildNumber"),
    )
}

fn autodiscover_build(body: &str) -> (Build, String) {
    let doc = roxmltree::Document::parse(body).expect("well-formed Autodiscover answer");
    let info = descendant(&doc, "ServerVersionInfo");
    let number = |name: &str| -> u32 {
        info.children()
            .find(|n| n.tag_name().name() == name)
            .and_then(|n| n.text())
            .unwrap_or_else(|| panic!("ServerVersionInfo/{name}"))
            .parse()
            .expect("a number")
    };
    let build = (
        number("MajorVersion"),
        number("MinorVersion"),
        number("MajorBuildNumber"),
        number("MinorBuildNumber"),
    );
    let cas = doc
        .descendants()
        .find(|n| n.tag_name().name() == "UserSetting")
        .and_then(|s| s.children().find(|n| n.tag_name().name() == "Value"))
        .and_then(|v| v.text())
        .expect("the CasVersion setting")
        .to_owned();
    (build, cas)
}

fn pox_server_version(body: &str) -> String {
    let doc = roxmltree::Document::parse(body).expect("well-formed POX answer");
    descendant(&doc, "ServerVersion")
        .text()
        .expect("ServerVersion text")
        .to_owned()
}

#[tokio::test]
async fn ews_and_autodiscover_report_the_same_build_for_every_profile() {
    let mut builds = Vec::new();
    for profile in [
        Profile::Exchange2013,
        Profile::Exchange2016,
        Profile::Exchange2019,
        Profile::ExchangeOnline,
    ] {
        let mut scenario = support::scenario();
        scenario.profile = profile;
        let sim = support::start_with(scenario).await;

        let answer = Ews::new(&sim, MARA).post(EWS_GET_INBOX).await;
        assert_eq!(answer.status, 200, "{profile:?}: {}", answer.text());
        let ews = ews_build(&answer.text());

        let host = "autodiscover.contoso.com";
        let to = url(&sim, host, "/autodiscover/autodiscover.svc");
        let body = SOAP_SETTINGS.replace("TO", &to).into_bytes();
        let response = post(
            &sim,
            host,
            "/autodiscover/autodiscover.svc",
            body,
            Some(&svc()),
        )
        .await;
        assert_eq!(response.status(), 200, "{profile:?}");
        let (soap, cas) = autodiscover_build(&response.text().await.expect("body"));

        assert_eq!(ews, soap, "{profile:?}: EWS and SOAP Autodiscover disagree");
        let (major, minor, build, revision) = ews;
        assert_eq!(
            cas,
            format!("{major}.{minor:02}.{build:04}.{revision:03}"),
            "{profile:?}: CasVersion"
        );
        if profile != Profile::ExchangeOnline {
            let path = "/autodiscover/autodiscover.xml";
            let body = POX_REQUEST.as_bytes().to_vec();
            let response = post(&sim, host, path, body, Some(&svc())).await;
            assert_eq!(response.status(), 200, "{profile:?}");
            let pox = pox_server_version(&response.text().await.expect("body"));
            let expected = 0x7000_0000u32 | major << 22 | minor << 16 | 0x8000 | build;
            assert_eq!(
                pox,
                format!("{expected:08X}"),
                "{profile:?}: POX ServerVersion"
            );
        }
        builds.push(ews);
    }
    builds.dedup();
    assert_eq!(
        builds.len(),
        4,
        "every profile is its own build: {builds:?}"
    );
}
