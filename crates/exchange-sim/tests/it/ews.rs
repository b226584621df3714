//! EWS over TLS: subscriptions of every kind, heartbeats, affinity, budgets, faults.

use std::time::Duration;

use ews_proto::operations::*;
use ews_proto::soap::{ResponseClass, read_envelope};
use ews_proto::{BaseFolderId, EnvelopeSplitter, EventType, ResponseCode, SubscriptionId};

use crate::support::{self, Ews};

const MARA: &str = "mara@contoso.com";
const SADIE: &str = "sadie@contoso.com";

fn streaming() -> Subscribe {
    Subscribe::streaming(vec![BaseFolderId::inbox()], EventType::SUBSCRIBABLE.to_vec())
}

/// Reads a streaming response until `want` envelopes arrived or the body ended.
async fn read_stream(response: reqwest::Response, want: usize) -> Vec<GetStreamingEventsResponseMessage> {
    let mut splitter = EnvelopeSplitter::new();
    let mut messages = Vec::new();
    let mut response = response;
    while messages.len() < want {
        let chunk = match tokio::time::timeout(Duration::from_secs(10), response.chunk()).await {
            Ok(Ok(Some(chunk))) => chunk,
            _ => break,
        };
        splitter.push(&chunk);
        while let Some(envelope) = splitter.next_envelope().expect("splits") {
            let parsed = read_envelope::<GetStreamingEventsResponse>(&envelope).expect("envelope parses");
            messages.extend(parsed.body.messages);
        }
    }
    messages
}

#[tokio::test]
async fn streaming_subscription_delivers_new_mail() {
    let sim = support::start().await;
    let ews = Ews::new(&sim, MARA)
        .header("X-AnchorMailbox", MARA)
        .header("X-PreferServerAffinity", "true");
    let (answer, parsed) = ews.call(MARA, &streaming()).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let cookie = answer.affinity_cookie().expect("the first Subscribe of a group sets the cookie");
    let message = parsed.expect("SubscribeResponse").body.into_first().expect("message");
    assert!(message.status.is_success(), "{message:?}");
    assert!(message.watermark.is_none(), "streaming subscriptions carry no watermark");
    let id = message.subscription_id.expect("subscription id");

    let body = ews_proto::soap::write_envelope(
        &ews_proto::soap::SoapHeader::request(ews_proto::soap::ExchangeVersion::Exchange2013)
            .impersonating(ews_proto::soap::ConnectingSid::PrimarySmtpAddress(MARA.into())),
        &GetStreamingEvents::new(vec![id.clone()], 1),
    );
    let response = ews
        .client
        .post(&ews.url)
        .basic_auth(support::SVC.0, Some(support::SVC.1))
        .header("X-AnchorMailbox", MARA)
        .header("X-PreferServerAffinity", "true")
        .header("Cookie", ews_proto::affinity::cookie_header(&cookie))
        .body(body)
        .send()
        .await
        .expect("stream opens");
    assert_eq!(response.status(), 200);
    let item = sim.deliver_mail(MARA, "Quarterly numbers", "boss@contoso.com").expect("delivered");
    let messages = read_stream(response, 2).await;
    assert_eq!(messages[0].connection_status, Some(ConnectionStatus::Ok), "first envelope at once");
    let notification = &messages[1].notifications[0];
    assert_eq!(notification.subscription_id, id);
    let kinds: Vec<_> = notification.events.iter().map(|e| e.kind.clone()).collect();
    assert_eq!(kinds, vec![EventType::Created, EventType::NewMail, EventType::Modified]);
    assert_eq!(notification.events[1].item_id().expect("item").id, item);
    assert_eq!(notification.events[2].unread_count, Some(1));
}

#[tokio::test]
async fn vectors_subscribe_requests_replay() {
    let sim = support::start().await;
    let mut ews = Ews::new(&sim, MARA);
    ews.basic = Some((MARA, "Mara-Pa55"));
    for (request, documented) in [
        ("subscribe-streaming-request.xml", "subscribe-streaming-response.xml"),
        ("subscribe-pull-request.xml", "subscribe-pull-response.xml"),
        ("subscribe-push-request.xml", "subscribe-push-response.xml"),
    ] {
        let bytes = std::fs::read(format!("{}/../../vectors/ews/{request}", env!("CARGO_MANIFEST_DIR"))).expect("vector");
        let documented = std::fs::read(format!("{}/../../vectors/ews/{documented}", env!("CARGO_MANIFEST_DIR"))).expect("vector");
        let answer = ews.post(bytes).await;
        assert_eq!(answer.status, 200, "{request}: {}", answer.text());
        assert_eq!(support::body_paths(&answer.body), support::body_paths(&documented), "{request}");
        let parsed = read_envelope::<SubscribeResponse>(&answer.body).expect("parses");
        assert_eq!(parsed.body.messages[0].status.class, ResponseClass::Success);
    }
    let _ = (SADIE, SubscriptionId::new("x"), ResponseCode::NoError);
}
