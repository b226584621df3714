//! Bad input gets an error naming what was wrong, never a panic.

use ews_proto::ProtoError;
use ews_proto::autodiscover::{GetUserSettingsResponse, PoxResponse};
use ews_proto::operations::{
    GetEventsResponse, GetStreamingEventsResponse, Request, SubscribeResponse,
};
use ews_proto::soap::read_envelope;

use crate::vector;

const VECTORS: &[&[u8]] = &[
    vector!("ews/getevents-response.xml"),
    vector!("ews/getstreamingevents-response-events.xml"),
    vector!("ews/subscribe-push-request.xml"),
    vector!("ews/fault-server-busy.xml"),
    vector!("autodiscover/pox-response-settings.xml"),
    vector!("autodiscover/soap-getusersettings-response.xml"),
];

/// Every proper prefix of every vector is refused by every reader, without panicking.
#[test]
fn every_truncation_is_an_error() {
    for bytes in VECTORS {
        let end = bytes.len()
            - bytes
                .iter()
                .rev()
                .take_while(|b| b.is_ascii_whitespace())
                .count();
        for cut in 0..end {
            let prefix = &bytes[..cut];
            assert!(
                read_envelope::<GetEventsResponse>(prefix).is_err(),
                "cut {cut}"
            );
            assert!(
                read_envelope::<GetStreamingEventsResponse>(prefix).is_err(),
                "cut {cut}"
            );
            assert!(read_envelope::<Request>(prefix).is_err(), "cut {cut}");
            assert!(PoxResponse::from_xml(prefix).is_err(), "cut {cut}");
            assert!(
                GetUserSettingsResponse::from_xml(prefix).is_err(),
                "cut {cut}"
            );
        }
    }
}

/// Flipping any byte never panics (the result may be an error or a different value).
#[test]
fn byte_flips_never_panic() {
    for bytes in VECTORS {
        let mut copy = bytes.to_vec();
        for i in 0..copy.len() {
            for flip in [0x01u8, 0x20, 0x80] {
                copy[i] ^= flip;
                let _ = read_envelope::<GetStreamingEventsResponse>(&copy);
                let _ = read_envelope::<Request>(&copy);
                let _ = PoxResponse::from_xml(&copy);
                let _ = GetUserSettingsResponse::from_xml(&copy);
                copy[i] ^= flip;
            }
        }
    }
}

fn error(bytes: &[u8]) -> String {
    read_envelope::<SubscribeResponse>(bytes)
        .unwrap_err()
        .to_string()
}

#[test]
fn errors_name_what_was_wrong() {
    assert!(error(b"").contains("root element"), "{}", error(b""));
    assert!(error(b"\xff\xfe<x/>").contains("UTF-8"));
    assert!(error(b"<html/>").contains("expected <Envelope>, found <html>"));
    let wrong_body = br#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><m:GetEventsResponse xmlns:m="m"/></s:Body></s:Envelope>"#;
    assert!(error(wrong_body).contains("expected <SubscribeResponse>, found <GetEventsResponse>"));
    let no_body =
        br#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"></s:Envelope>"#;
    assert!(error(no_body).contains("<Envelope> has no Body"));
    let open = br#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>"#;
    assert!(error(open).contains("ended inside"));
    let doctype = br#"<!DOCTYPE x [<!ENTITY e "boom">]><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"/>"#;
    assert!(error(doctype).contains("document type"));
    let bad_count = br#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>
      <GetEventsResponse xmlns="http://schemas.microsoft.com/exchange/services/2006/messages"
        xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><ResponseMessages>
      <GetEventsResponseMessage ResponseClass="Success"><ResponseCode>NoError</ResponseCode>
      <Notification><t:SubscriptionId>s</t:SubscriptionId><t:ModifiedEvent><t:UnreadCount>many</t:UnreadCount>
      </t:ModifiedEvent></Notification></GetEventsResponseMessage></ResponseMessages></GetEventsResponse>
      </s:Body></s:Envelope>"#;
    let message = read_envelope::<GetEventsResponse>(bad_count)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("<UnreadCount> has an invalid value \"many\""),
        "{message}"
    );
    let trailing = br#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><SubscribeResponse/></s:Body></s:Envelope><x/>"#;
    assert!(error(trailing).contains("after the root element"));
}

#[test]
fn undefined_entity_is_refused() {
    let body = br#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><SubscribeResponse><ResponseMessages><SubscribeResponseMessage ResponseClass="Error"><MessageText>&bogus;</MessageText></SubscribeResponseMessage></ResponseMessages></SubscribeResponse></s:Body></s:Envelope>"#;
    assert!(matches!(
        read_envelope::<SubscribeResponse>(body),
        Err(ProtoError::Xml { .. })
    ));
}

#[test]
fn characters_xml_forbids_are_refused() {
    for bad in ["a\u{0}b", "a\u{1}b", "\u{FFFF}"] {
        let body = format!(
            r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><SubscribeResponse><ResponseMessages><SubscribeResponseMessage ResponseClass="Success"><SubscriptionId>{bad}</SubscriptionId></SubscribeResponseMessage></ResponseMessages></SubscribeResponse></s:Body></s:Envelope>"#
        );
        assert!(
            error(body.as_bytes()).contains("character not allowed"),
            "{bad:?}"
        );
    }
    let reference = br#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><SubscribeResponse><ResponseMessages><SubscribeResponseMessage ResponseClass="Success"><SubscriptionId>a&#1;b</SubscriptionId></SubscribeResponseMessage></ResponseMessages></SubscribeResponse></s:Body></s:Envelope>"#;
    assert!(read_envelope::<SubscribeResponse>(reference).is_err());
}
