//! Push subscriptions: Exchange POSTs `SendNotification` to the subscriber.
//!
//! Events go out as they arrive (at most 50 per notification, `MoreEvents` set when more are
//! waiting); with nothing to send, a `StatusEvent` goes out every `StatusFrequency`. An
//! unanswered or failed callback is retried 30 s after the first attempt, then at 60, 120,
//! 240 ... s, until the next retry would fall after `StatusFrequency`: then the subscription
//! expires. `SubscriptionStatus` `Unsubscribe` ends it at once. All delays are divided by the
//! scenario's `time_scale`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ews_proto::Notification;
use ews_proto::ResponseCode;
use ews_proto::operations::SubscriptionStatus;
use roxmltree::{Document, Node};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::envelope::{self, Children, Refusal, is, one_of};
use super::folder;
use super::write::{self, MESSAGES, TYPES, events};
use crate::sim::Ctx;
use crate::world::subscription::{Kind, Subscription};

/// Starts the callback task of a push subscription.
pub(crate) fn spawn(ctx: Arc<Ctx>, subscription: Arc<Subscription>, life: CancellationToken) {
    tokio::spawn(async move {
        let reason = run(&ctx, &subscription, &life).await;
        tracing::debug!(subscription = %subscription.id, reason, "push subscription ended");
        let (server, backend) = subscription.home;
        if let Some(backend) = ctx
            .world
            .servers
            .get(server)
            .and_then(|s| s.backends.get(backend))
        {
            backend.remove(subscription.id.as_str());
        }
        subscription.set_waker(None);
    });
}

async fn run(ctx: &Ctx, subscription: &Subscription, life: &CancellationToken) -> &'static str {
    let Kind::Push {
        url,
        status_frequency,
    } = &subscription.kind
    else {
        return "not a push subscription";
    };
    let waker = Arc::new(Notify::new());
    subscription.set_waker(Some(Arc::clone(&waker)));
    let world = &ctx.world;
    let mut last_sent = Instant::now();
    loop {
        if !subscription.has_pending() && subscription.failure().is_none() {
            tokio::select! {
                () = waker.notified() => continue,
                () = tokio::time::sleep_until(last_sent + *status_frequency) => {}
                () = life.cancelled() => return "back end restarted",
                () = subscription.ended.cancelled() => return "unsubscribed",
                () = ctx.shutdown.cancelled() => return "simulator stopped",
            }
        }
        let Ok(batch) =
            subscription.batch(subscription.cursor(), world.retention_start(), true, true)
        else {
            return "subscription failed";
        };
        let events = batch.notification.events.len();
        let has_events = batch
            .notification
            .events
            .iter()
            .any(|e| e.kind != ews_proto::EventType::Status);
        if has_events && world.faults.take_lose_push() {
            tracing::debug!(subscription = %subscription.id, events, "push notification lost on the way");
            subscription.set_cursor(batch.next_cursor);
            last_sent = Instant::now();
            continue;
        }
        let body = send_notification(&batch.notification);
        let first_attempt = Instant::now();
        let mut attempt: u32 = 0;
        loop {
            match post(ctx, url, body.clone()).await {
                Some(SubscriptionStatus::Ok) => {
                    subscription.set_cursor(batch.next_cursor);
                    world
                        .ews_counters
                        .push_notifications
                        .fetch_add(1, Ordering::Relaxed);
                    last_sent = Instant::now();
                    tracing::trace!(subscription = %subscription.id, events, "push notification delivered");
                    break;
                }
                Some(SubscriptionStatus::Unsubscribe) => return "subscriber answered Unsubscribe",
                Some(_) | None => {
                    world
                        .ews_counters
                        .push_callbacks_failed
                        .fetch_add(1, Ordering::Relaxed);
                    attempt += 1;
                    // Retry k goes out 30 s × 2^(k-1) after the first attempt.
                    let at = world.clock.scaled(Duration::from_secs(30))
                        * 2u32.saturating_pow(attempt - 1);
                    if at > *status_frequency {
                        return "callbacks unanswered until StatusFrequency";
                    }
                    tokio::select! {
                        () = tokio::time::sleep_until(first_attempt + at) => {}
                        () = life.cancelled() => return "back end restarted",
                        () = subscription.ended.cancelled() => return "unsubscribed",
                        () = ctx.shutdown.cancelled() => return "simulator stopped",
                    }
                }
            }
        }
    }
}

/// The `SendNotification` request for one notification, as Exchange sends it: a request
/// (`t:RequestServerVersion` in the header) whose body is a `SendNotificationResponseType`,
/// one `SendNotificationResponseMessage` holding the notification as `m:Notification`
/// (`SendNotificationResponseMessageType` of `messages.xsd`).
fn send_notification(notification: &Notification) -> Vec<u8> {
    const MESSAGE: &str = "m:SendNotificationResponseMessage";
    write::request("Exchange2013", |xml| {
        xml.open(
            "m:SendNotification",
            &[("xmlns:m", MESSAGES), ("xmlns:t", TYPES)],
        )
        .open("m:ResponseMessages", &[]);
        folder::success(xml, MESSAGE);
        events::notification(xml, "m:Notification", notification);
        xml.close(MESSAGE)
            .close("m:ResponseMessages")
            .close("m:SendNotification");
    })
}

/// POSTs one callback; the subscriber's answer, or `None` when it failed.
async fn post(ctx: &Ctx, url: &str, body: Vec<u8>) -> Option<SubscriptionStatus> {
    let recorded = crate::record::push(&body);
    let response = ctx
        .push_client
        .post(url)
        .header("Content-Type", "text/xml; charset=utf-8")
        .header(
            "SOAPAction",
            "http://schemas.microsoft.com/exchange/services/2006/messages/SendNotification",
        )
        .body(body)
        .send()
        .await
        .ok()?;
    let status = response.status();
    let bytes = response.bytes().await.ok()?;
    crate::record::push_answer(recorded, status.as_u16(), &bytes);
    if !status.is_success() {
        return None;
    }
    match read_result(&bytes) {
        Ok(status) => Some(status),
        Err(refusal) => {
            tracing::debug!(reason = %refusal.text, "push callback answer not understood");
            None
        }
    }
}

/// Reads the subscriber's answer: a SOAP 1.1 envelope whose body is `m:SendNotificationResult`
/// (`SendNotificationResultType` of `messages.xsd`: `m:SubscriptionStatus`, `OK` or
/// `Unsubscribe`). Anything else is an answer Exchange cannot use, so the callback counts as
/// failed and is retried.
///
/// Spec: [SendNotificationResult](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/sendnotificationresult),
/// [SubscriptionStatus](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/subscriptionstatus).
fn read_result(bytes: &[u8]) -> Result<SubscriptionStatus, Refusal> {
    let answer = envelope::parse(bytes)?;
    let node = answer
        .operation()?
        .filter(|n| is(*n, MESSAGES, "SendNotificationResult"))
        .ok_or_else(|| {
            Refusal::new(
                ResponseCode::ErrorInvalidRequest,
                "the answer's body is not m:SendNotificationResult",
            )
        })?;
    read_status(&answer.doc, node)
}

fn read_status(doc: &Document<'_>, node: Node<'_, '_>) -> Result<SubscriptionStatus, Refusal> {
    let mut children = Children::of(doc, node)?;
    let status = one_of(
        doc,
        children.required(MESSAGES, "SubscriptionStatus")?,
        "SubscriptionStatusType",
        &["OK", "Unsubscribe"],
    )?;
    children.end()?;
    Ok(SubscriptionStatus::parse(&status))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_notification_is_a_request_with_the_notification_under_the_response_message() {
        let mut notification = Notification::new(ews_proto::SubscriptionId::new("S"));
        notification.previous_watermark = Some(ews_proto::Watermark::new("A"));
        notification.more_events = Some(false);
        notification
            .events
            .push(ews_proto::Event::status(Some(ews_proto::Watermark::new(
                "B",
            ))));
        let bytes = send_notification(&notification);
        let text = std::str::from_utf8(&bytes).expect("utf-8");
        let doc = Document::parse(text).expect("well-formed");
        let names: Vec<(String, String)> = doc
            .descendants()
            .filter(Node::is_element)
            .map(|n| {
                (
                    n.tag_name().namespace().unwrap_or_default().to_owned(),
                    n.tag_name().name().to_owned(),
                )
            })
            .collect();
        let soap = "http://schemas.xmlsoap.org/soap/envelope/";
        let expected = [
            (soap, "Envelope"),
            (soap, "Header"),
            (TYPES, "RequestServerVersion"),
            (soap, "Body"),
            (MESSAGES, "SendNotification"),
            (MESSAGES, "ResponseMessages"),
            (MESSAGES, "SendNotificationResponseMessage"),
            (MESSAGES, "ResponseCode"),
            (MESSAGES, "Notification"),
            (TYPES, "SubscriptionId"),
            (TYPES, "PreviousWatermark"),
            (TYPES, "MoreEvents"),
            (TYPES, "StatusEvent"),
            (TYPES, "Watermark"),
        ]
        .map(|(ns, name)| (ns.to_owned(), name.to_owned()));
        assert_eq!(names, expected);
        assert!(text.contains("Version=\"Exchange2013\""), "{text}");
        crate::ews::strict::validate_answer(text).expect("valid by the schema");
        assert!(text.contains("ResponseClass=\"Success\""), "{text}");
    }

    fn answer(body: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="{MESSAGES}" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><s:Body>{body}</s:Body></s:Envelope>"#
        )
    }

    #[test]
    fn reads_the_subscription_status() {
        for (text, status) in [
            ("OK", SubscriptionStatus::Ok),
            ("Unsubscribe", SubscriptionStatus::Unsubscribe),
        ] {
            let body = answer(&format!(
                "<m:SendNotificationResult>\n  <m:SubscriptionStatus>{text}</m:SubscriptionStatus>\n</m:SendNotificationResult>"
            ));
            assert_eq!(read_result(body.as_bytes()), Ok(status));
        }
    }

    #[test]
    fn refuses_an_answer_exchange_cannot_use() {
        let cases = [
            answer(
                "<m:SendNotificationResult><m:SubscriptionStatus>Maybe</m:SubscriptionStatus></m:SendNotificationResult>",
            ),
            answer(
                "<m:SendNotificationResult><m:SubscriptionStatus> OK</m:SubscriptionStatus></m:SendNotificationResult>",
            ),
            answer(
                "<m:SendNotificationResult><t:SubscriptionStatus>OK</t:SubscriptionStatus></m:SendNotificationResult>",
            ),
            answer("<m:SendNotificationResult/>"),
            answer(
                "<m:SendNotificationResult><m:SubscriptionStatus>OK</m:SubscriptionStatus><m:SubscriptionStatus>OK</m:SubscriptionStatus></m:SendNotificationResult>",
            ),
            answer(
                "<m:SendNotificationResponse><m:SubscriptionStatus>OK</m:SubscriptionStatus></m:SendNotificationResponse>",
            ),
            answer(""),
            "OK".to_owned(),
        ];
        for body in cases {
            assert!(read_result(body.as_bytes()).is_err(), "{body}");
        }
    }
}
