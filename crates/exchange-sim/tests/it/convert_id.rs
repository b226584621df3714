//! `ConvertId`, as clients meet it before they know the server (exchangelib's version probe),
//! read and answered by the simulator's own code.

use crate::ews::MARA;
use crate::support::{self, Ews};

const M: &str = "http://schemas.microsoft.com/exchange/services/2006/messages";
const T: &str = "http://schemas.microsoft.com/exchange/services/2006/types";

fn request(destination: &str, ids: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="{M}" xmlns:t="{T}">
<s:Header><t:RequestServerVersion Version="Exchange2016"/></s:Header>
<s:Body><m:ConvertId {destination}><m:SourceIds>{ids}</m:SourceIds></m:ConvertId></s:Body></s:Envelope>"#
    )
}

/// (ResponseClass, ResponseCode, AlternateId's Id) of every response message.
fn messages(xml: &str) -> Vec<(String, String, Option<String>)> {
    let doc = roxmltree::Document::parse(xml).expect("well-formed answer");
    doc.descendants()
        .filter(|n| n.has_tag_name((M, "ConvertIdResponseMessage")))
        .map(|m| {
            let code = m
                .children()
                .find(|c| c.has_tag_name((M, "ResponseCode")))
                .and_then(|c| c.text())
                .unwrap_or_default()
                .to_owned();
            let id = m
                .children()
                .find(|c| c.has_tag_name((M, "AlternateId")))
                .and_then(|c| c.attribute("Id"))
                .map(str::to_owned);
            (
                m.attribute("ResponseClass").unwrap_or_default().to_owned(),
                code,
                id,
            )
        })
        .collect()
}

#[tokio::test]
async fn exchangelibs_version_probe_gets_error_invalid_smtp_address_with_the_server_version() {
    let sim = support::start().await;
    let answer = Ews::new(&sim, MARA)
        .post(request(
            r#"DestinationFormat="EntryId""#,
            r#"<t:AlternateId Id="DUMMY" Format="EwsId" Mailbox="DUMMY"/>"#,
        ))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let text = answer.text();
    let doc = roxmltree::Document::parse(&text).expect("well-formed");
    let info = doc
        .descendants()
        .find(|n| n.has_tag_name((T, "ServerVersionInfo")))
        .expect("ServerVersionInfo in the header");
    assert_eq!(info.attribute("MajorVersion"), Some("15"));
    assert!(info.attribute("MajorBuildNumber").is_some());
    assert_eq!(
        messages(&text),
        vec![("Error".into(), "ErrorInvalidSmtpAddress".into(), None)]
    );
}

#[tokio::test]
async fn each_source_id_gets_its_own_message_in_order() {
    let sim = support::start().await;
    let answer = Ews::new(&sim, MARA)
        .post(request(
            r#"DestinationFormat="EwsId""#,
            r#"<t:AlternateId Id="QVFNa0YwLjE=" Format="EwsId" Mailbox="mara@contoso.com"/>
               <t:AlternateId Id="QVFNa0YwLjE=" Format="EwsId" Mailbox="nobody@contoso.com"/>
               <t:AlternateId Id="DUMMY" Format="EwsId" Mailbox="mara@contoso.com"/>
               <t:AlternateId Id="00ff" Format="HexEntryId" Mailbox="mara@contoso.com"/>"#,
        ))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(
        messages(&answer.text()),
        vec![
            (
                "Success".into(),
                "NoError".into(),
                Some("QVFNa0YwLjE=".into())
            ),
            ("Error".into(), "ErrorNonExistentMailbox".into(), None),
            ("Error".into(), "ErrorInvalidIdMalformed".into(), None),
            ("Error".into(), "ErrorInvalidRequest".into(), None),
        ]
    );
}

#[tokio::test]
async fn a_convert_id_without_destination_format_fails_schema_validation_with_its_position() {
    let sim = support::start().await;
    let answer = Ews::new(&sim, MARA)
        .post(request(
            "",
            r#"<t:AlternateId Id="QVFNa0YwLjE=" Format="EwsId" Mailbox="mara@contoso.com"/>"#,
        ))
        .await;
    assert_eq!(answer.status, 500, "{}", answer.text());
    let text = answer.text();
    assert!(
        text.contains("a:ErrorSchemaValidation</faultcode>"),
        "{text}"
    );
    // Line 4, column 10: `<m:ConvertId` starts at 9, and .NET's reader (so Exchange) names
    // an element by its name's first character, after the `<`.
    assert!(text.contains("<t:LineNumber>4</t:LineNumber>"), "{text}");
    assert!(
        text.contains("<t:LinePosition>10</t:LinePosition>"),
        "{text}"
    );
    assert!(text.contains("DestinationFormat"), "{text}");
}
