//! EWS over TLS: each subscription kind end to end, heartbeats and `ConnectionTimeout`, the
//! push retry schedule, watermarks, and replays of the request vectors.

use std::time::Duration;

use ews_proto::operations::*;
use ews_proto::soap::{
    ConnectingSid, ExchangeVersion, ResponseClass, SoapHeader, read_envelope, write_envelope,
};
use ews_proto::{
    BaseFolderId, EnvelopeSplitter, EventType, ResponseCode, SubscriptionId, Watermark,
};

use crate::support::{self, Ews, Listener};

pub(crate) const MARA: &str = "mara@contoso.com";
pub(crate) const SADIE: &str = "sadie@contoso.com";

pub(crate) fn streaming() -> Subscribe {
    Subscribe::streaming(
        vec![BaseFolderId::inbox()],
        EventType::SUBSCRIBABLE.to_vec(),
    )
}

/// EWS as the service account, with affinity to `anchor`'s group.
pub(crate) fn affine<'a>(sim: &exchange_sim::Sim, anchor: &str) -> Ews<'a> {
    Ews::new(sim, anchor)
        .header("X-AnchorMailbox", anchor)
        .header("X-PreferServerAffinity", "true")
}

/// Subscribes `mailbox`; returns the id and the affinity cookie the answer set, if any.
pub(crate) async fn subscribe(
    ews: &Ews<'_>,
    mailbox: &str,
    request: &Subscribe,
) -> (SubscriptionId, Option<String>, Option<Watermark>) {
    let (answer, parsed) = ews.call(mailbox, request).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let message = parsed
        .expect("SubscribeResponse")
        .body
        .into_first()
        .expect("message");
    assert!(message.status.is_success(), "{:?}", message.status);
    (
        message.subscription_id.expect("id"),
        answer.affinity_cookie(),
        message.watermark,
    )
}

/// Opens `GetStreamingEvents` for `ids` as the service account impersonating `anchor`.
pub(crate) async fn open_stream(
    ews: &Ews<'_>,
    anchor: &str,
    cookie: Option<&str>,
    ids: Vec<SubscriptionId>,
    minutes: u32,
) -> reqwest::Response {
    let header = SoapHeader::request(ExchangeVersion::Exchange2013)
        .impersonating(ConnectingSid::PrimarySmtpAddress(anchor.into()));
    let mut request = ews
        .client
        .post(&ews.url)
        .basic_auth(support::SVC.0, Some(support::SVC.1))
        .header("X-AnchorMailbox", anchor)
        .header("X-PreferServerAffinity", "true")
        .body(write_envelope(
            &header,
            &GetStreamingEvents::new(ids, minutes),
        ));
    if let Some(cookie) = cookie {
        request = request.header("Cookie", ews_proto::affinity::cookie_header(cookie));
    }
    request.send().await.expect("stream opens")
}

/// Reads envelopes until `done` says so, the body ends, or 10 s pass without data.
pub(crate) async fn read_until(
    mut response: reqwest::Response,
    mut done: impl FnMut(&[GetStreamingEventsResponseMessage]) -> bool,
) -> (Vec<GetStreamingEventsResponseMessage>, bool) {
    let mut splitter = EnvelopeSplitter::new();
    let mut messages = Vec::new();
    loop {
        if done(&messages) {
            return (messages, false);
        }
        let chunk = match tokio::time::timeout(Duration::from_secs(10), response.chunk()).await {
            Ok(Ok(Some(chunk))) => chunk,
            Ok(Ok(None)) => return (messages, true),
            Ok(Err(_)) | Err(_) => return (messages, false),
        };
        splitter.push(&chunk);
        while let Some(envelope) = splitter.next_envelope().expect("splits") {
            let parsed =
                read_envelope::<GetStreamingEventsResponse>(&envelope).expect("envelope parses");
            messages.extend(parsed.body.messages);
        }
    }
}

fn events_of(messages: &[GetStreamingEventsResponseMessage]) -> Vec<ews_proto::Event> {
    messages
        .iter()
        .flat_map(|m| m.notifications.iter())
        .flat_map(|n| n.events.clone())
        .collect()
}

#[tokio::test]
async fn streaming_subscription_delivers_new_mail() {
    let sim = support::start().await;
    let ews = affine(&sim, MARA);
    let (id, cookie, watermark) = subscribe(&ews, MARA, &streaming()).await;
    assert!(
        watermark.is_none(),
        "streaming subscriptions carry no watermark"
    );
    let cookie = cookie.expect("the first Subscribe of a group sets the affinity cookie");
    let response = open_stream(&ews, MARA, Some(&cookie), vec![id.clone()], 30).await;
    assert_eq!(response.status(), 200);
    let item = sim
        .deliver_mail(MARA, "Quarterly numbers", "boss@contoso.com")
        .expect("delivered");
    let (messages, _) = read_until(response, |m| events_of(m).len() >= 3).await;
    assert_eq!(
        messages[0].connection_status,
        Some(ConnectionStatus::Ok),
        "first envelope at once"
    );
    let notification = messages
        .iter()
        .find_map(|m| m.notifications.first())
        .expect("a notification");
    assert_eq!(notification.subscription_id, id);
    let kinds: Vec<_> = notification.events.iter().map(|e| e.kind.clone()).collect();
    assert_eq!(
        kinds,
        vec![EventType::Created, EventType::NewMail, EventType::Modified]
    );
    assert_eq!(notification.events[1].item_id().expect("item").id, item);
    assert_eq!(notification.events[2].unread_count, Some(1));
}

#[tokio::test]
async fn streaming_group_of_two_mailboxes_on_one_connection() {
    let sim = support::start().await;
    let ews = affine(&sim, MARA);
    let (mara, cookie, _) = subscribe(&ews, MARA, &streaming()).await;
    let cookie = cookie.expect("cookie");
    let member = affine(&sim, MARA).header("Cookie", ews_proto::affinity::cookie_header(&cookie));
    let (sadie, again, _) = subscribe(&member, SADIE, &streaming()).await;
    assert_eq!(
        again, None,
        "a member's Subscribe with the cookie does not set it again"
    );
    let response = open_stream(
        &ews,
        MARA,
        Some(&cookie),
        vec![mara.clone(), sadie.clone()],
        30,
    )
    .await;
    sim.deliver_mail(SADIE, "for sadie", "x@contoso.com")
        .expect("delivered");
    sim.deliver_mail(MARA, "for mara", "x@contoso.com")
        .expect("delivered");
    let (messages, _) = read_until(response, |m| events_of(m).len() >= 6).await;
    let ids: std::collections::BTreeSet<_> = messages
        .iter()
        .flat_map(|m| m.notifications.iter())
        .map(|n| n.subscription_id.clone())
        .collect();
    assert_eq!(ids, [mara, sadie].into_iter().collect());
}

#[tokio::test]
async fn heartbeats_then_closed_at_connection_timeout() {
    let mut scenario = support::scenario();
    scenario.heartbeat_seconds = 10; // 10 ms at time_scale 1000
    let sim = support::start_with(scenario).await;
    let ews = affine(&sim, MARA);
    let (id, cookie, _) = subscribe(&ews, MARA, &streaming()).await;
    // One minute of connection time is 60 ms here.
    let response = open_stream(&ews, MARA, cookie.as_deref(), vec![id], 1).await;
    let (messages, ended) = read_until(response, |_| false).await;
    assert!(ended, "the body ends after ConnectionTimeout");
    let statuses: Vec<_> = messages
        .iter()
        .map(|m| m.connection_status.clone())
        .collect();
    assert_eq!(
        statuses.last(),
        Some(&Some(ConnectionStatus::Closed)),
        "{statuses:?}"
    );
    let heartbeats = statuses
        .iter()
        .filter(|s| **s == Some(ConnectionStatus::Ok))
        .count();
    assert!(
        heartbeats >= 3,
        "first envelope plus heartbeats every 10 ms over 60 ms: {statuses:?}"
    );
    assert!(messages.iter().all(|m| m.notifications.is_empty()));
}

#[tokio::test]
async fn pull_subscription_with_watermarks() {
    let sim = support::start().await;
    let ews = affine(&sim, MARA);
    let pull = Subscribe::pull(
        vec![BaseFolderId::inbox()],
        vec![EventType::NewMail],
        10,
        None,
    );
    let (id, cookie, watermark) = subscribe(&ews, MARA, &pull).await;
    let ews = ews.header(
        "Cookie",
        ews_proto::affinity::cookie_header(&cookie.expect("cookie")),
    );
    let first = watermark.expect("pull subscriptions return a watermark");
    for i in 0..3 {
        sim.deliver_mail(MARA, &format!("mail {i}"), "x@contoso.com")
            .expect("delivered");
    }
    let (_, parsed) = ews
        .call(MARA, &GetEvents::new(id.clone(), first.clone()))
        .await;
    let notification = parsed
        .expect("parses")
        .body
        .into_first()
        .expect("message")
        .notification
        .expect("notification");
    assert_eq!(notification.previous_watermark, Some(first.clone()));
    assert_eq!(notification.more_events, Some(false));
    assert_eq!(notification.events.len(), 3);
    assert!(
        notification
            .events
            .iter()
            .all(|e| e.kind == EventType::NewMail && e.watermark.is_some())
    );
    let last = notification.last_watermark().expect("watermark").clone();
    // Nothing new: a status event carrying the current position (past the folder events the
    // subscription does not want), from which there is nothing new either.
    let (_, parsed) = ews
        .call(MARA, &GetEvents::new(id.clone(), last.clone()))
        .await;
    let notification = parsed
        .expect("parses")
        .body
        .into_first()
        .expect("message")
        .notification
        .expect("notification");
    assert_eq!(notification.events.len(), 1);
    assert_eq!(notification.events[0].kind, EventType::Status);
    let status = notification.events[0]
        .watermark
        .clone()
        .expect("status watermark");
    let (_, parsed) = ews
        .call(MARA, &GetEvents::new(id.clone(), status.clone()))
        .await;
    let again = parsed
        .expect("parses")
        .body
        .into_first()
        .expect("m")
        .notification
        .expect("n");
    assert_eq!(again.events, vec![ews_proto::Event::status(Some(status))]);
    // Resuming from the first watermark replays the same three events.
    let (_, parsed) = ews.call(MARA, &GetEvents::new(id, first)).await;
    assert_eq!(
        parsed
            .expect("parses")
            .body
            .into_first()
            .expect("m")
            .notification
            .expect("n")
            .events
            .len(),
        3
    );
}

#[tokio::test]
async fn more_than_fifty_events_come_in_batches() {
    let sim = support::start().await;
    let ews = affine(&sim, MARA);
    let pull = Subscribe::pull(
        vec![BaseFolderId::inbox()],
        vec![EventType::NewMail],
        10,
        None,
    );
    let (id, cookie, watermark) = subscribe(&ews, MARA, &pull).await;
    let ews = ews.header(
        "Cookie",
        ews_proto::affinity::cookie_header(&cookie.expect("cookie")),
    );
    for i in 0..120 {
        sim.deliver_mail(MARA, &format!("mail {i}"), "x@contoso.com")
            .expect("delivered");
    }
    let mut watermark = watermark.expect("watermark");
    let mut sizes = Vec::new();
    loop {
        let (_, parsed) = ews
            .call(MARA, &GetEvents::new(id.clone(), watermark.clone()))
            .await;
        let notification = parsed
            .expect("parses")
            .body
            .into_first()
            .expect("m")
            .notification
            .expect("n");
        sizes.push(notification.events.len());
        watermark = notification.last_watermark().expect("watermark").clone();
        if notification.more_events != Some(true) {
            break;
        }
    }
    assert_eq!(sizes, vec![50, 50, 20]);
}

#[tokio::test]
async fn expired_watermark_is_refused() {
    let sim = support::start().await;
    let ews = affine(&sim, MARA);
    let pull = Subscribe::pull(
        vec![BaseFolderId::inbox()],
        vec![EventType::NewMail],
        10,
        None,
    );
    let (_, _, watermark) = subscribe(&ews, MARA, &pull).await;
    let watermark = watermark.expect("watermark");
    sim.deliver_mail(MARA, "old", "x@contoso.com")
        .expect("delivered");
    // Resuming from it works today...
    let resume = Subscribe::pull(
        vec![BaseFolderId::inbox()],
        vec![EventType::NewMail],
        10,
        Some(watermark.clone()),
    );
    subscribe(&ews, MARA, &resume).await;
    // ...and not after the 30-day retention window.
    sim.advance_clock(Duration::from_secs(31 * 86_400));
    let (_, parsed) = ews.call(MARA, &resume).await;
    let message = parsed.expect("parses").body.into_first().expect("message");
    assert_eq!(message.status.code, ResponseCode::ErrorInvalidWatermark);
    let (_, parsed) = ews
        .call(
            MARA,
            &Subscribe::pull(
                vec![BaseFolderId::inbox()],
                vec![EventType::NewMail],
                10,
                Some(Watermark::new("garbage")),
            ),
        )
        .await;
    assert_eq!(
        parsed
            .expect("parses")
            .body
            .into_first()
            .expect("m")
            .status
            .code,
        ResponseCode::ErrorInvalidWatermark
    );
}

#[tokio::test]
async fn push_subscription_end_to_end() {
    let sim = support::start().await;
    let listener =
        Listener::start(Some(support::vector("ews/sendnotification-result-ok.xml"))).await;
    let ews = affine(&sim, MARA);
    let push = Subscribe::push(
        vec![BaseFolderId::inbox()],
        vec![EventType::NewMail],
        &listener.url,
        30,
        None,
    );
    let (id, _, watermark) = subscribe(&ews, MARA, &push).await;
    assert!(watermark.is_some());
    sim.deliver_mail(MARA, "pushed", "x@contoso.com")
        .expect("delivered");
    assert!(listener.wait_for(1).await, "a callback arrives");
    let callback = &listener.notifications()[0];
    let notification = callback.messages[0]
        .notification
        .as_ref()
        .expect("notification");
    assert_eq!(notification.subscription_id, id);
    assert_eq!(notification.events[0].kind, EventType::NewMail);
    assert!(
        notification.previous_watermark.is_some() && notification.events[0].watermark.is_some()
    );
    // The callback body has the structure of the documented one.
    let raw = listener.received.lock().expect("lock")[0].1.clone();
    assert!(
        support::body_paths(&support::vector("ews/sendnotification-push.xml"))
            .iter()
            .filter(|p| !p.contains("StatusEvent"))
            .all(|p| support::body_paths(&raw).contains(p))
    );
    // The subscriber says Unsubscribe: the subscription ends, no more callbacks.
    *listener.answer.lock().expect("lock") = Some(support::vector(
        "ews/sendnotification-result-unsubscribe.xml",
    ));
    sim.deliver_mail(MARA, "second", "x@contoso.com")
        .expect("delivered");
    assert!(listener.wait_for(2).await);
    for _ in 0..100 {
        if sim.stats().subscriptions == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        sim.stats().subscriptions,
        0,
        "Unsubscribe ended the subscription"
    );
    sim.deliver_mail(MARA, "third", "x@contoso.com")
        .expect("delivered");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(listener.count(), 2);
}

#[tokio::test]
async fn push_status_events_at_status_frequency() {
    let sim = support::start().await;
    let listener =
        Listener::start(Some(support::vector("ews/sendnotification-result-ok.xml"))).await;
    let ews = affine(&sim, MARA);
    // One minute is 60 ms at time_scale 1000.
    let push = Subscribe::push(
        vec![BaseFolderId::inbox()],
        vec![EventType::NewMail],
        &listener.url,
        1,
        None,
    );
    subscribe(&ews, MARA, &push).await;
    assert!(listener.wait_for(2).await);
    for callback in listener.notifications().iter().take(2) {
        let notification = callback.messages[0]
            .notification
            .as_ref()
            .expect("notification");
        assert_eq!(notification.events.len(), 1);
        assert_eq!(notification.events[0].kind, EventType::Status);
        assert_eq!(notification.more_events, Some(false));
    }
}

#[tokio::test]
async fn push_retry_schedule_then_expiry() {
    let sim = support::start().await;
    let listener = Listener::start(None).await; // always HTTP 500
    let ews = affine(&sim, MARA);
    // StatusFrequency 30 min (1.8 s here): retries 30, 60, 120, 240, 480, 960 s after the
    // first attempt go out; the one at 1920 s would pass StatusFrequency and does not.
    let push = Subscribe::push(
        vec![BaseFolderId::inbox()],
        vec![EventType::NewMail],
        &listener.url,
        30,
        None,
    );
    subscribe(&ews, MARA, &push).await;
    sim.deliver_mail(MARA, "unanswered", "x@contoso.com")
        .expect("delivered");
    assert!(
        listener.wait_for(7).await,
        "seven attempts: {}",
        listener.count()
    );
    for _ in 0..300 {
        if sim.stats().subscriptions == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(sim.stats().subscriptions, 0, "the subscription expired");
    assert_eq!(listener.count(), 7, "no attempt after expiry");
    let times: Vec<_> = listener
        .received
        .lock()
        .expect("lock")
        .iter()
        .map(|(t, _)| *t)
        .collect();
    let offsets: Vec<f64> = times
        .iter()
        .map(|t| t.duration_since(times[0]).as_secs_f64())
        .collect();
    // Retry k goes out no sooner than its place in Exchange's schedule (30 s doubling, after
    // the first attempt; 1 ms each here at time_scale 1000). Only the lower bound is
    // asserted: a busy machine delays an attempt, never hurries it.
    let schedule = [0.0, 30.0, 60.0, 120.0, 240.0, 480.0, 960.0];
    for (offset, seconds) in offsets.iter().zip(schedule) {
        assert!(
            *offset >= seconds / 1000.0 * 0.95,
            "retries follow the schedule {schedule:?} (simulated s): {offsets:?} (real s)"
        );
    }
}

#[tokio::test]
async fn vectors_subscribe_requests_replay() {
    let sim = support::start().await;
    let mut ews = Ews::new(&sim, MARA);
    ews.basic = Some((MARA, "Mara-Pa55"));
    for (request, documented) in [
        (
            "subscribe-streaming-request.xml",
            "subscribe-streaming-response.xml",
        ),
        ("subscribe-pull-request.xml", "subscribe-pull-response.xml"),
        ("subscribe-push-request.xml", "subscribe-push-response.xml"),
    ] {
        let answer = ews.post(support::vector(&format!("ews/{request}"))).await;
        assert_eq!(answer.status, 200, "{request}: {}", answer.text());
        assert_eq!(
            support::body_paths(&answer.body),
            support::body_paths(&support::vector(&format!("ews/{documented}"))),
            "{request}"
        );
        let parsed = read_envelope::<SubscribeResponse>(&answer.body).expect("parses");
        assert_eq!(parsed.body.messages[0].status.class, ResponseClass::Success);
    }
}
