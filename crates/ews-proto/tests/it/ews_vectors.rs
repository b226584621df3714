//! Every EWS vector parses, with the values it carries.

use std::time::Duration;

use ews_proto::operations::*;
use ews_proto::soap::{ExchangeVersion, ResponseClass, SoapBody, read_envelope, write_envelope};
use ews_proto::{
    BaseFolderId, ChangedObject, DistinguishedFolder, Event, EventType, ProtoError, ResponseCode,
};

use crate::vector;

const STREAMING_ID: &str =
    "JgBibjFwcjAzbWIyMDIubmFtcHJkMDMucHJvZC5vdXRsb29rLmNvbRAAAADwXxVesOnHS5BxUHKwAW88SHjwd1iB0Ag=";

/// Reads a vector, then checks that writing and reading it again gives the same value.
fn read<B: SoapBody + PartialEq + std::fmt::Debug + Clone>(
    bytes: &[u8],
) -> ews_proto::soap::Envelope<B> {
    let envelope = read_envelope::<B>(bytes).expect("vector parses");
    let written = write_envelope(&envelope.header, &envelope.body);
    let again = read_envelope::<B>(&written).expect("written vector parses");
    assert_eq!(again, envelope, "write then read changes the value");
    envelope
}

fn inbox() -> BaseFolderId {
    BaseFolderId::distinguished(DistinguishedFolder::Inbox)
}

#[test]
fn subscribe_streaming_request() {
    let envelope = read::<Subscribe>(vector!("ews/subscribe-streaming-request.xml"));
    assert_eq!(
        envelope.header.request_server_version,
        Some(ExchangeVersion::Exchange2013)
    );
    let request = envelope.body;
    assert_eq!(request.kind, SubscriptionKind::Streaming);
    assert_eq!(request.folder_ids, vec![inbox()]);
    assert!(!request.subscribe_to_all_folders);
    assert_eq!(
        request.event_types,
        vec![
            EventType::NewMail,
            EventType::Created,
            EventType::Deleted,
            EventType::Modified,
            EventType::Moved,
            EventType::Copied,
            EventType::FreeBusyChanged,
        ]
    );
}

#[test]
fn subscribe_streaming_response() {
    let envelope = read::<SubscribeResponse>(vector!("ews/subscribe-streaming-response.xml"));
    let info = envelope
        .header
        .server_version_info
        .expect("ServerVersionInfo");
    assert_eq!(
        (
            info.major_version,
            info.minor_version,
            info.major_build_number,
            info.minor_build_number
        ),
        (15, 0, 785, 6)
    );
    assert_eq!(info.version.as_deref(), Some("V2_6"));
    let message = envelope.body.into_first().expect("one message");
    assert!(message.status.is_success());
    assert_eq!(
        message.subscription_id.as_ref().map(|id| id.as_str()),
        Some(STREAMING_ID)
    );
    assert_eq!(message.watermark, None);
}

#[test]
fn subscribe_pull_request() {
    let request = read::<Subscribe>(vector!("ews/subscribe-pull-request.xml")).body;
    assert_eq!(
        request.kind,
        SubscriptionKind::Pull {
            timeout_minutes: 10,
            watermark: None
        }
    );
    assert_eq!(request.folder_ids, vec![inbox()]);
    assert_eq!(
        request.event_types,
        vec![EventType::NewMail, EventType::Deleted]
    );
}

#[test]
fn subscribe_pull_response() {
    let envelope = read::<SubscribeResponse>(vector!("ews/subscribe-pull-response.xml"));
    assert_eq!(
        envelope
            .header
            .server_version_info
            .map(|i| i.major_build_number),
        Some(628)
    );
    let message = envelope.body.into_first().expect("one message");
    assert_eq!(message.status.class, ResponseClass::Success);
    assert_eq!(message.status.code, ResponseCode::NoError);
    assert_eq!(
        message.subscription_id.unwrap().as_str(),
        "39ea5d0f-f062-455e-a1e9-89c0304390f4"
    );
    assert_eq!(message.watermark.unwrap().as_str(), "AAAAAHgGAAAAAAAAAQ==");
}

#[test]
fn subscribe_pull_response_error() {
    let message = read::<SubscribeResponse>(vector!("ews/subscribe-pull-response-error.xml"))
        .body
        .into_first()
        .expect("one message");
    assert_eq!(message.status.class, ResponseClass::Error);
    assert_eq!(
        message.status.code,
        ResponseCode::ErrorSubscriptionDelegateAccessNotSupported
    );
    assert_eq!(
        message.status.message_text.as_deref(),
        Some("Subscriptions are not supported for delegate user access.")
    );
    assert_eq!(message.status.descriptive_link_key, Some(0));
    assert_eq!(message.subscription_id, None);
}

#[test]
fn subscribe_push_request() {
    let request = read::<Subscribe>(vector!("ews/subscribe-push-request.xml")).body;
    assert_eq!(
        request.kind,
        SubscriptionKind::Push {
            status_frequency_minutes: 1,
            url: "http://clientWebService/Service.asmx".into(),
            watermark: None,
            caller_data: None,
        }
    );
    assert_eq!(request.folder_ids, vec![inbox()]);
    assert_eq!(request.event_types.len(), 6);
    assert_eq!(request.event_types[1], EventType::Copied);
}

#[test]
fn subscribe_push_response() {
    let message = read::<SubscribeResponse>(vector!("ews/subscribe-push-response.xml"))
        .body
        .into_first()
        .expect("one message");
    assert_eq!(
        message.subscription_id.unwrap().as_str(),
        "83826921-afdf-48be-b469-628cc02b5f49"
    );
    assert_eq!(
        message.watermark.unwrap().as_str(),
        "AQAAAOpvG0LURVdOhQkPOWZLPcI8EgAAAAAAAAE="
    );
}

#[test]
fn get_events_request() {
    let request = read::<GetEvents>(vector!("ews/getevents-request.xml")).body;
    assert_eq!(
        request.subscription_id.as_str(),
        "f6bc657d-dde1-4f94-952d-143b95d6483d"
    );
    assert_eq!(request.watermark.as_str(), "AAAAAMAGAAAAAAAAAQ==");
}

#[test]
fn get_events_response() {
    let message = read::<GetEventsResponse>(vector!("ews/getevents-response.xml"))
        .body
        .into_first()
        .expect("one message");
    assert!(message.status.is_success());
    let notification = message.notification.expect("notification");
    assert_eq!(
        notification.subscription_id.as_str(),
        "f6bc657d-dde1-4f94-952d-143b95d6483d"
    );
    assert_eq!(
        notification.previous_watermark.as_ref().unwrap().as_str(),
        "AAAAAMAGAAAAAAAAAQ=="
    );
    assert_eq!(notification.more_events, Some(false));
    assert_eq!(notification.events.len(), 2);
    let first = &notification.events[0];
    assert_eq!(first.kind, EventType::NewMail);
    assert_eq!(
        first.watermark.as_ref().unwrap().as_str(),
        "AAAAAM4GAAAAAAAAAQ=="
    );
    assert_eq!(first.timestamp.as_deref(), Some("2006-08-22T00:36:29Z"));
    let item = first.item_id().expect("item id");
    assert_eq!(
        (item.id.as_str(), item.change_key.as_deref()),
        ("AQApAHR", Some("CQAAAA=="))
    );
    assert_eq!(first.parent_folder_id.as_ref().unwrap().id, "AQApAH");
    let second = &notification.events[1];
    assert_eq!(second.item_id().unwrap().id, "AQApAHRw");
    assert_eq!(
        notification.last_watermark().unwrap().as_str(),
        "AAAAAOQGAAAAAAAAAQ=="
    );
}

#[test]
fn get_events_response_error() {
    let message = read::<GetEventsResponse>(vector!("ews/getevents-response-error.xml"))
        .body
        .into_first()
        .expect("one message");
    assert_eq!(
        message.status.code,
        ResponseCode::ErrorSubscriptionAccessDenied
    );
    assert_eq!(
        message.status.message_text.as_deref(),
        Some("Access is denied. Only the subscription owner may access the subscription.")
    );
    assert_eq!(message.notification, None);
}

#[test]
fn get_streaming_events_request() {
    let envelope = read::<GetStreamingEvents>(vector!("ews/getstreamingevents-request.xml"));
    assert_eq!(
        envelope.header.request_server_version,
        Some(ExchangeVersion::Exchange2013)
    );
    assert_eq!(envelope.body.subscription_ids.len(), 1);
    assert_eq!(envelope.body.subscription_ids[0].as_str(), STREAMING_ID);
    assert_eq!(envelope.body.connection_timeout_minutes, 30);
}

#[test]
fn get_streaming_events_response_with_events() {
    // The Body is prefixed `soap` while the Envelope is `s`: both are the SOAP namespace.
    let message =
        read::<GetStreamingEventsResponse>(vector!("ews/getstreamingevents-response-events.xml"))
            .body
            .into_first()
            .expect("one message");
    assert!(message.status.is_success());
    assert_eq!(message.notifications.len(), 1);
    let notification = &message.notifications[0];
    assert_eq!(notification.subscription_id.as_str(), STREAMING_ID);
    let kinds: Vec<_> = notification.events.iter().map(|e| e.kind.clone()).collect();
    assert_eq!(
        kinds,
        vec![EventType::Created, EventType::NewMail, EventType::Modified]
    );
    let new_mail = &notification.events[1];
    assert_eq!(new_mail.timestamp.as_deref(), Some("2013-09-16T04:31:29Z"));
    assert!(new_mail.item_id().unwrap().id.starts_with(
        "AAMkADkzNjJjODUzLWZhMDMtNDVkMS05ZDdjLWVmMDlkYjQ1Zjc4MwBGAAAAAABSSWVKrmGUTJE+MVIvofglBwDZ"
    ));
    assert_eq!(new_mail.watermark, None);
    let modified: &Event = &notification.events[2];
    assert!(matches!(modified.object, Some(ChangedObject::Folder(_))));
    assert_eq!(modified.unread_count, Some(1));
    assert!(
        modified
            .parent_folder_id
            .as_ref()
            .unwrap()
            .id
            .ends_with("AAAgEJAAAA")
    );
    assert_eq!(message.connection_status, None);
}

#[test]
fn get_streaming_events_response_error() {
    let message =
        read::<GetStreamingEventsResponse>(vector!("ews/getstreamingevents-response-error.xml"))
            .body
            .into_first()
            .expect("one message");
    assert_eq!(message.status.class, ResponseClass::Error);
    assert_eq!(message.status.code, ResponseCode::ErrorInvalidSubscription);
    assert_eq!(message.status.message_text.as_deref(), Some(""));
    assert_eq!(message.connection_status, Some(ConnectionStatus::Closed));
}

#[test]
fn send_notification_push() {
    let envelope = read::<SendNotification>(vector!("ews/sendnotification-push.xml"));
    assert_eq!(
        envelope.header.request_server_version,
        Some(ExchangeVersion::Exchange2016)
    );
    let message = envelope.body.into_first().expect("one message");
    let notification = message.notification.expect("notification");
    assert_eq!(notification.subscription_id.as_str(), "XXXXX=");
    assert_eq!(notification.previous_watermark.unwrap().as_str(), "AAAAA=");
    assert_eq!(notification.more_events, Some(false));
    assert_eq!(
        notification.events,
        vec![Event::status(Some("BBBBB=".into()))]
    );
}

#[test]
fn send_notification_results() {
    let ok = read::<SendNotificationResult>(vector!("ews/sendnotification-result-ok.xml")).body;
    assert_eq!(ok.subscription_status, SubscriptionStatus::Ok);
    let unsubscribe =
        read::<SendNotificationResult>(vector!("ews/sendnotification-result-unsubscribe.xml")).body;
    assert_eq!(
        unsubscribe.subscription_status,
        SubscriptionStatus::Unsubscribe
    );
}

#[test]
fn unsubscribe_request_and_responses() {
    let request = read::<Unsubscribe>(vector!("ews/unsubscribe-request.xml")).body;
    // The published sample has spaces after the closing tag; they are not part of the id.
    assert_eq!(
        request.subscription_id.as_str(),
        "e6fbf5c1-7e26-4bc6-a5f2-882063d5e34e"
    );
    let ok = read::<UnsubscribeResponse>(vector!("ews/unsubscribe-response.xml")).body;
    assert!(ok.messages[0].status.is_success());
    let error =
        read::<UnsubscribeResponse>(vector!("ews/unsubscribe-error-subscriptionnotfound.xml"))
            .body
            .into_first()
            .expect("one message");
    assert_eq!(error.status.code, ResponseCode::ErrorSubscriptionNotFound);
    assert_eq!(
        error.status.message_text.as_deref(),
        Some("The specified subscription was not found.")
    );
}

#[test]
fn server_busy_fault() {
    let error =
        read_envelope::<SubscribeResponse>(vector!("ews/fault-server-busy.xml")).unwrap_err();
    let fault = error.fault().expect("a SOAP fault");
    assert_eq!(fault.response_code(), Some(&ResponseCode::ErrorServerBusy));
    assert_eq!(
        fault.string,
        "The server cannot service this request right now. Try again later."
    );
    assert_eq!(fault.back_off(), Some(Duration::from_millis(297_749)));
    assert_eq!(error.back_off(), Some(Duration::from_millis(297_749)));
    // Written again, the fault reads back the same.
    let written = ews_proto::soap::write_fault(&Default::default(), fault);
    match read_envelope::<SubscribeResponse>(&written) {
        Err(ProtoError::Fault(again)) => assert_eq!(&*again, fault),
        other => panic!("expected the fault back, got {other:?}"),
    }
}

#[test]
fn affinity_headers() {
    let text = std::str::from_utf8(vector!("ews/affinity-headers.txt")).unwrap();
    let messages = parse_http_heads(text);
    assert_eq!(messages.len(), 5);
    let header = |m: &Vec<(String, String)>, name: &str| -> Vec<String> {
        m.iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .collect()
    };
    // 1: the anchor's Subscribe carries the anchor and the affinity preference, no cookie.
    assert_eq!(
        header(&messages[0], ews_proto::affinity::ANCHOR_MAILBOX),
        vec!["alfred@contoso.com"]
    );
    assert_eq!(
        header(&messages[0], ews_proto::affinity::PREFER_SERVER_AFFINITY),
        vec!["true"]
    );
    assert!(header(&messages[0], "Cookie").is_empty());
    // 2: its response sets the back-end cookie among three Set-Cookie headers.
    let cookie: Vec<_> = header(&messages[1], "Set-Cookie")
        .iter()
        .filter_map(|v| ews_proto::affinity::back_end_override_cookie(v).map(str::to_owned))
        .collect();
    assert_eq!(
        cookie,
        vec!["CO1PR06MB222.namprd06.prod.outlook.com~1941996295"]
    );
    // 3 and 5: later requests replay it; 4: a member's response does not set it again.
    for request in [&messages[2], &messages[4]] {
        let replay = header(request, "Cookie");
        assert_eq!(replay, vec![ews_proto::affinity::cookie_header(&cookie[0])]);
        assert_eq!(
            ews_proto::affinity::cookie_value(
                &replay[0],
                ews_proto::affinity::BACK_END_OVERRIDE_COOKIE
            ),
            Some(cookie[0].as_str())
        );
        assert_eq!(
            header(request, ews_proto::affinity::ANCHOR_MAILBOX),
            vec!["alfred@contoso.com"]
        );
    }
    assert!(
        header(&messages[3], "Set-Cookie")
            .iter()
            .all(|v| ews_proto::affinity::back_end_override_cookie(v).is_none())
    );
}

/// Splits the annotated file into messages of (name, value) header fields, unfolding
/// continuation lines as the file's notes say.
fn parse_http_heads(text: &str) -> Vec<Vec<(String, String)>> {
    let mut messages = Vec::new();
    let mut current: Option<Vec<(String, String)>> = None;
    for line in text.lines() {
        if line.starts_with("### ") {
            messages.extend(current.take());
            current = Some(Vec::new());
            continue;
        }
        let Some(fields) = current.as_mut() else {
            continue;
        };
        if line.starts_with('#')
            || line.trim().is_empty()
            || line.starts_with("POST ")
            || line.starts_with("HTTP/")
        {
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            if let Some((_, value)) = fields.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
            continue;
        }
        let (name, value) = line.split_once(':').expect("header field");
        fields.push((name.to_owned(), value.trim().to_owned()));
    }
    messages.extend(current);
    messages
}
