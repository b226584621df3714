//! Values from a newer Exchange parse, and survive a round trip.

use ews_proto::autodiscover::{PoxResponse, ProtocolType};
use ews_proto::operations::{GetStreamingEventsResponse, SubscribeResponse};
use ews_proto::soap::{read_envelope, write_envelope};
use ews_proto::{EventType, ResponseCode};

const UNKNOWN_CODE: &[u8] = br#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>
<m:SubscribeResponse xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"><m:ResponseMessages>
<m:SubscribeResponseMessage ResponseClass="Error"><m:MessageText>New</m:MessageText>
<m:ResponseCode>ErrorSomethingIntroducedIn2030</m:ResponseCode><m:Extra><m:Nested/></m:Extra>
</m:SubscribeResponseMessage></m:ResponseMessages></m:SubscribeResponse></s:Body></s:Envelope>"#;

#[test]
fn unknown_response_code() {
    let envelope = read_envelope::<SubscribeResponse>(UNKNOWN_CODE).unwrap();
    let code = &envelope.body.messages[0].status.code;
    assert_eq!(
        code,
        &ResponseCode::Unknown("ErrorSomethingIntroducedIn2030".into())
    );
    assert!(code.is_unknown());
    let again =
        read_envelope::<SubscribeResponse>(&write_envelope(&envelope.header, &envelope.body))
            .unwrap();
    assert_eq!(
        again.body.messages[0].status.code.as_str(),
        "ErrorSomethingIntroducedIn2030"
    );
}

#[test]
fn known_codes_are_not_unknown() {
    for code in [
        "NoError",
        "ErrorServerBusy",
        "ErrorInvalidWatermark",
        "ErrorExceededConnectionCount",
    ] {
        assert!(!ResponseCode::parse(code).is_unknown(), "{code}");
        assert_eq!(ResponseCode::parse(code).as_str(), code);
    }
}

#[test]
fn unknown_event_type() {
    let body = br#"<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"><Body>
    <GetStreamingEventsResponse xmlns="http://schemas.microsoft.com/exchange/services/2006/messages"
        xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><ResponseMessages>
    <GetStreamingEventsResponseMessage ResponseClass="Success"><ResponseCode>NoError</ResponseCode>
    <Notifications><Notification><t:SubscriptionId>s1</t:SubscriptionId>
      <t:HologramChangedEvent><t:TimeStamp>2030-01-01T00:00:00Z</t:TimeStamp><t:ItemId Id="i1"/><t:Sparkle>yes</t:Sparkle></t:HologramChangedEvent>
      <t:NewMailEvent><t:TimeStamp>2030-01-01T00:00:01Z</t:TimeStamp><t:ItemId Id="i2"/></t:NewMailEvent>
    </Notification></Notifications></GetStreamingEventsResponseMessage></ResponseMessages>
    </GetStreamingEventsResponse></Body></Envelope>"#;
    let envelope = read_envelope::<GetStreamingEventsResponse>(body).unwrap();
    let events = &envelope.body.messages[0].notifications[0].events;
    assert_eq!(
        events[0].kind,
        EventType::Unknown("HologramChangedEvent".into())
    );
    assert_eq!(events[0].item_id().unwrap().id, "i1");
    assert_eq!(events[1].kind, EventType::NewMail);
    let again = read_envelope::<GetStreamingEventsResponse>(&write_envelope(
        &envelope.header,
        &envelope.body,
    ))
    .unwrap();
    assert_eq!(again, envelope);
}

#[test]
fn unknown_protocol_type() {
    let body = br#"<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">
    <Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a">
    <Account><Action>settings</Action><Protocol><Type>XXX</Type><Server>x.contoso.com</Server></Protocol>
    <Protocol><Type>EXPR</Type><EwsUrl>https://mail.contoso.com/EWS/Exchange.asmx</EwsUrl></Protocol></Account>
    </Response></Autodiscover>"#;
    let response = PoxResponse::from_xml(body).unwrap();
    let account = response.account.as_ref().unwrap();
    assert_eq!(
        account.protocols[0].protocol_type,
        Some(ProtocolType::Unknown("XXX".into()))
    );
    assert_eq!(account.protocols[0].get("Server"), Some("x.contoso.com"));
    assert_eq!(
        response.external_ews_url(),
        Some("https://mail.contoso.com/EWS/Exchange.asmx")
    );
    assert_eq!(PoxResponse::from_xml(&response.to_xml()).unwrap(), response);
}
