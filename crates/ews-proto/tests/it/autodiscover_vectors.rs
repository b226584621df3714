//! Every Autodiscover vector parses, with the values it carries.

use ews_proto::autodiscover::*;
use ews_proto::namespaces;

use crate::vector;

#[test]
fn pox_request() {
    let request = PoxRequest::from_xml(vector!("autodiscover/pox-request.xml")).unwrap();
    assert_eq!(request.email_address, "mara@contoso.com");
    assert_eq!(
        request.acceptable_response_schema,
        namespaces::POX_OUTLOOK_RESPONSE
    );
    assert_eq!(PoxRequest::from_xml(&request.to_xml()).unwrap(), request);
}

fn pox(bytes: &[u8]) -> PoxResponse {
    let response = PoxResponse::from_xml(bytes).unwrap();
    assert_eq!(
        PoxResponse::from_xml(&response.to_xml()).unwrap(),
        response,
        "round trip"
    );
    response
}

#[test]
fn pox_settings() {
    let response = pox(vector!("autodiscover/pox-response-settings.xml"));
    let user = response.user.as_ref().unwrap();
    assert_eq!(user.display_name.as_deref(), Some("Mara Whitley"));
    assert_eq!(
        user.autodiscover_smtp_address.as_deref(),
        Some("mara@contoso.com")
    );
    assert_eq!(
        user.deployment_id.as_deref(),
        Some("50817eff-b925-4578-a0db-13bfc635e7a5")
    );
    let account = response.account.as_ref().unwrap();
    assert_eq!(account.action, Some(PoxAction::Settings));
    assert_eq!(account.microsoft_online.as_deref(), Some("False"));
    assert_eq!(account.protocols.len(), 3);
    let exch = response.protocol(&ProtocolType::Exch).unwrap();
    assert_eq!(exch.get("ServerVersion"), Some("73C08204"));
    assert_eq!(exch.get("AD"), Some("dc.contoso.com"));
    assert_eq!(
        exch.get("EcpUrl-um"),
        Some("?rfr=olk&p=customize/voicemail.aspx&exsvurl=1&realm=contoso.com")
    );
    assert_eq!(
        response.internal_ews_url(),
        Some("https://mail.contoso.com/EWS/Exchange.asmx")
    );
    let expr = response.protocol(&ProtocolType::Expr).unwrap();
    assert_eq!(expr.get("Server"), Some("mail.contoso.com"));
    assert_eq!(expr.get("AuthPackage"), Some("Ntlm"));
    // EXPR carries no URL in this sample, so the external URL falls back to EXCH's.
    assert_eq!(
        response.external_ews_url(),
        Some("https://mail.contoso.com/EWS/Exchange.asmx")
    );
    let web = response.protocol(&ProtocolType::Web).unwrap();
    let internal = web.internal.as_ref().unwrap();
    assert_eq!(
        internal.owa_urls[0].authentication_method.as_deref(),
        Some("Basic, Fba")
    );
    assert_eq!(internal.owa_urls[0].url, "https://mail.contoso.com/owa/");
    assert_eq!(
        internal.protocols[0].protocol_type,
        Some(ProtocolType::Exch)
    );
    assert_eq!(
        internal.protocols[0].get("ASUrl"),
        Some("https://mail.contoso.com/EWS/Exchange.asmx")
    );
}

#[test]
fn pox_redirect_addr() {
    let response = pox(vector!("autodiscover/pox-response-redirectaddr.xml"));
    let account = response.account.unwrap();
    assert_eq!(account.action, Some(PoxAction::RedirectAddr));
    assert_eq!(
        account.redirect_addr.as_deref(),
        Some("elvin@mail.contoso.com")
    );
}

#[test]
fn pox_redirect_url() {
    let response = pox(vector!("autodiscover/pox-response-redirecturl.xml"));
    assert_eq!(
        response.user.unwrap().autodiscover_smtp_address.as_deref(),
        Some("john@demo.affect-it.dk")
    );
    let account = response.account.unwrap();
    assert_eq!(account.action, Some(PoxAction::RedirectUrl));
    assert_eq!(
        account.redirect_url.as_deref(),
        Some("https://example.com/foo.asmx")
    );
}

#[test]
fn pox_redirect_url_exchangelib_spelling() {
    let text = std::str::from_utf8(vector!("autodiscover/pox-response-redirecturl.xml"))
        .unwrap()
        .replace("RedirectUrl>", "RedirectURL>");
    let response = PoxResponse::from_xml(text.as_bytes()).unwrap();
    assert_eq!(
        response.account.unwrap().redirect_url.as_deref(),
        Some("https://example.com/foo.asmx")
    );
}

#[test]
fn pox_error() {
    let response = pox(vector!("autodiscover/pox-response-error.xml"));
    let error = response.error.unwrap();
    assert_eq!(error.error_code, "600");
    assert_eq!(error.message.as_deref(), Some("Invalid Request"));
    assert_eq!(error.time.as_deref(), Some("21:25:04.8897083"));
    assert_eq!(error.id.as_deref(), Some("4130155072"));
    assert!(response.account.is_none());
}

fn soap_request(bytes: &[u8]) -> GetUserSettingsRequest {
    let request = GetUserSettingsRequest::from_xml(bytes).unwrap();
    assert_eq!(
        GetUserSettingsRequest::from_xml(&request.to_xml()).unwrap(),
        request,
        "round trip"
    );
    request
}

fn soap_response(bytes: &[u8]) -> GetUserSettingsResponse {
    let response = GetUserSettingsResponse::from_xml(bytes).unwrap();
    assert_eq!(
        GetUserSettingsResponse::from_xml(&response.to_xml()).unwrap(),
        response,
        "round trip"
    );
    response
}

#[test]
fn soap_request_all_settings() {
    let request = soap_request(vector!("autodiscover/soap-getusersettings-request.xml"));
    assert_eq!(request.mailboxes, vec!["mara@contoso.com"]);
    assert_eq!(request.settings.len(), 15);
    assert_eq!(request.settings[0], "UserDisplayName");
    assert_eq!(request.settings[14], "GroupingInformation");
    assert!(request.settings.contains(&"ExternalEwsUrl".to_owned()));
    assert_eq!(
        request.requested_server_version.as_deref(),
        Some("Exchange2013")
    );
    assert_eq!(
        request.to.as_deref(),
        Some("https://autodiscover.exchange.microsoft.com/autodiscover/autodiscover.svc")
    );
}

#[test]
fn soap_response_settings() {
    let response = soap_response(vector!("autodiscover/soap-getusersettings-response.xml"));
    let version = response.server_version.as_ref().unwrap();
    assert_eq!(version.major_version, Some(15));
    assert_eq!(version.major_build_number, Some(160));
    assert_eq!(version.version.as_deref(), Some("Exchange2013"));
    assert_eq!(response.error_code, AutodiscoverErrorCode::NoError);
    let user = &response.user_responses[0];
    assert_eq!(user.error_code, AutodiscoverErrorCode::NoError);
    assert_eq!(user.redirect_target, None);
    assert_eq!(
        user.external_ews_url(),
        Some("https://mail.contoso.com/EWS/Exchange.asmx")
    );
    assert_eq!(user.internal_ews_url(), None);
    assert_eq!(user.grouping_information(), Some("CONTOSO-1"));
    assert_eq!(
        user.setting("UserDeploymentId"),
        Some("649d50b8-a1ce-4bac-8ace-2321e463f701")
    );
    assert_eq!(user.setting("CasVersion"), Some("15.01.0160.004"));
    assert_eq!(
        user.setting("EcpTextMessagingUrlFragment"),
        Some("?p=sms/textmessaging.slab&exsvurl=1")
    );
    assert_eq!(user.settings.len(), 15);
    assert!(
        user.settings
            .iter()
            .all(|s| s.setting_type.as_deref() == Some("StringSetting"))
    );
}

#[test]
fn soap_redirect_address() {
    let response = soap_response(vector!(
        "autodiscover/soap-getusersettings-redirectaddress.xml"
    ));
    assert_eq!(response.error_code, AutodiscoverErrorCode::NoError);
    assert_eq!(
        response.server_version.as_ref().unwrap().version.as_deref(),
        Some("Exchange2010_SP2")
    );
    let user = &response.user_responses[0];
    assert_eq!(user.error_code, AutodiscoverErrorCode::RedirectAddress);
    assert_eq!(
        user.redirect_target.as_deref(),
        Some("elvin@mail.contoso.com")
    );
    assert_eq!(user.error_message.as_deref(), Some("Redirection address."));
}

#[test]
fn soap_ews_urls_redirect_chain() {
    let first = soap_request(vector!(
        "autodiscover/soap-getusersettings-ewsurls-request.xml"
    ));
    assert_eq!(first.mailboxes, vec!["User1@Contoso.com"]);
    assert_eq!(first.settings, vec!["InternalEwsUrl", "ExternalEwsUrl"]);
    assert_eq!(
        first.to.as_deref(),
        Some("https://mail.microsoft.com/autodiscover/autodiscover.svc")
    );

    let redirect = soap_response(vector!(
        "autodiscover/soap-getusersettings-ewsurls-redirectaddress.xml"
    ));
    let target = redirect.user_responses[0].redirect_target.clone().unwrap();
    assert_eq!(
        redirect.user_responses[0].error_code,
        AutodiscoverErrorCode::RedirectAddress
    );
    assert_eq!(target, "User1@mail.Contoso.com");

    let second = soap_request(vector!(
        "autodiscover/soap-getusersettings-ewsurls-request-redirected.xml"
    ));
    assert_eq!(second.mailboxes, vec![target]);

    let settings = soap_response(vector!(
        "autodiscover/soap-getusersettings-ewsurls-response.xml"
    ));
    let user = &settings.user_responses[0];
    assert_eq!(
        user.internal_ews_url(),
        Some("https://server.Contoso.com/ews/exchange.asmx")
    );
    assert_eq!(
        user.external_ews_url(),
        Some("https://server.Contoso.com/ews/exchange.asmx")
    );
    assert_eq!(user.grouping_information(), None);
}

#[test]
fn v2_json() {
    let body = br#"{"Protocol":"EWS","Url":"https://outlook.office365.com/EWS/Exchange.asmx"}"#;
    let response = V2Response::from_json(body).unwrap();
    assert_eq!(
        response,
        V2Response::Endpoint {
            protocol: "EWS".into(),
            url: "https://outlook.office365.com/EWS/Exchange.asmx".into()
        }
    );
    assert_eq!(
        V2Response::from_json(&response.to_json()).unwrap(),
        response
    );
    let error =
        V2Response::from_json(br#"{"ErrorCode":"InvalidUser","ErrorMessage":"No mailbox"}"#)
            .unwrap();
    assert!(matches!(error, V2Response::Error { ref code, .. } if code == "InvalidUser"));
    assert!(V2Response::from_json(b"{}").is_err());
    assert!(V2Response::from_json(b"<html>").is_err());
}
