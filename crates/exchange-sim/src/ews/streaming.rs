//! `GetStreamingEvents`: one hanging chunked response carrying a series of envelopes.
//!
//! The first envelope (`ConnectionStatus` `OK`) goes out at once; then one envelope per batch
//! of events (at most 50 per notification, one notification per subscription) and a heartbeat
//! (`ConnectionStatus` `OK`) after every quiet heartbeat interval (45 s by default, as
//! Exchange); at `ConnectionTimeout` a last envelope with `ConnectionStatus` `Closed` ends the
//! body. A back-end restart or an injected fault cuts the connection without a last envelope.
//! A subscription streams on one connection at a time: when a newer connection takes it, the
//! older one stops serving it and, once it holds none, ends with
//! `ErrorNewEventStreamConnectionOpened` (and `Closed`).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use ews_proto::operations::{ConnectionStatus, GetStreamingEvents};
use ews_proto::{Notification, ResponseCode, SubscriptionId};
use roxmltree::{Document, Node};
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

use super::envelope::{Children, Refusal, int_between};
use super::write::{self, MESSAGES, TYPES, Xml, events};
use super::{Call, folder, subscribe};
use crate::world::budget::Permit;
use crate::world::subscription::{Kind, Subscription};

type Chunk = Result<Bytes, std::io::Error>;

/// What one `GetStreamingEventsResponseMessage` says.
#[derive(Debug)]
enum Message<'a> {
    /// `Success` with only a `ConnectionStatus`: the opening envelope, a heartbeat, or the
    /// last envelope at `ConnectionTimeout`.
    Connection(ConnectionStatus),
    /// `Success` with `Notifications` (one per subscription with events).
    Events(Vec<Notification>),
    /// `Error` naming the subscriptions concerned; the connection closes.
    Failed(ResponseCode, &'a str, Vec<SubscriptionId>),
}

/// `GetStreamingEventsResponse` with one message (`GetStreamingEventsResponseMessageType`:
/// the `ResponseMessageType` children, then `Notifications`?, `ErrorSubscriptionIds`?,
/// `ConnectionStatus`?). Two children differ from the schema, and the wire wins
/// (`schema/README.md`): `Notifications` (`t:NonEmptyArrayOfNotificationsType`) would hold
/// `t:Notification`, but Exchange sends `m:Notification`; `ErrorSubscriptionIds`
/// (`t:NonEmptyArrayOfSubscriptionIdsType`) would hold `t:SubscriptionId`, but Microsoft's EWS
/// Managed API reads it as `m:SubscriptionId` (`ReadElementValue(XmlNamespace.Messages, ...)`,
/// which refuses any other namespace) and exchangelib does too, both written against Exchange.
fn response(xml: &mut Xml, message: &Message<'_>) {
    const MESSAGE: &str = "m:GetStreamingEventsResponseMessage";
    xml.open(
        "m:GetStreamingEventsResponse",
        &[("xmlns:m", MESSAGES), ("xmlns:t", TYPES)],
    )
    .open("m:ResponseMessages", &[]);
    match message {
        Message::Connection(status) => {
            folder::success(xml, MESSAGE);
            xml.leaf("m:ConnectionStatus", status.as_str());
        }
        Message::Events(notifications) => {
            folder::success(xml, MESSAGE);
            xml.open("m:Notifications", &[]);
            for notification in notifications {
                events::notification(xml, "m:Notification", notification);
            }
            xml.close("m:Notifications");
        }
        Message::Failed(code, text, ids) => {
            folder::error(xml, MESSAGE, (code.clone(), text));
            if !ids.is_empty() {
                xml.open("m:ErrorSubscriptionIds", &[]);
                for id in ids {
                    xml.leaf("m:SubscriptionId", id.as_str());
                }
                xml.close("m:ErrorSubscriptionIds");
            }
            xml.leaf("m:ConnectionStatus", ConnectionStatus::Closed.as_str());
        }
    }
    xml.close(MESSAGE)
        .close("m:ResponseMessages")
        .close("m:GetStreamingEventsResponse");
}

fn error(call: &Call, code: ResponseCode, text: &str, ids: Vec<SubscriptionId>) -> Response {
    write::envelope(&call.ctx.world, |xml| {
        response(xml, &Message::Failed(code, text, ids));
    })
}

/// Reads `GetStreamingEvents` (`GetStreamingEventsType`: `m:SubscriptionIds`, one or more
/// `t:SubscriptionId`; `m:ConnectionTimeout`, an `xs:int` of 1-30 minutes).
///
/// Spec: [GetStreamingEvents operation](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/getstreamingevents-operation),
/// [ConnectionTimeout](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/connectiontimeout)
/// (whose page puts it in the types namespace; the schema, and every client, in messages).
/// How many ids one request may carry the schema cannot say: that is the handler's
/// `ErrorInvalidRequest`.
pub(crate) fn read(doc: &Document<'_>, node: Node<'_, '_>) -> Result<GetStreamingEvents, Refusal> {
    let mut children = Children::of(doc, node)?;
    let list = children.required(MESSAGES, "SubscriptionIds")?;
    let mut ids = Children::of(doc, list)?;
    let mut subscription_ids = vec![subscribe::subscription_id(
        doc,
        ids.required(TYPES, "SubscriptionId")?,
    )?];
    while let Some(id) = ids.optional(TYPES, "SubscriptionId") {
        subscription_ids.push(subscribe::subscription_id(doc, id)?);
    }
    ids.end()?;
    let timeout = children.required(MESSAGES, "ConnectionTimeout")?;
    let minutes = int_between(
        doc,
        timeout,
        "StreamingSubscriptionConnectionTimeoutType",
        (1, 30),
    )?;
    children.end()?;
    Ok(GetStreamingEvents::new(subscription_ids, minutes))
}

/// Checks the request, then opens the stream. The reader refused an empty `SubscriptionIds`
/// and a `ConnectionTimeout` outside 1-30.
pub(crate) async fn handle(call: Call, request: GetStreamingEvents) -> Response {
    let world = &call.ctx.world;
    let limits = world.throttle.limits();
    if request.subscription_ids.len() > limits.ids_per_request {
        return error(
            &call,
            ResponseCode::ErrorInvalidRequest,
            &format!(
                "A GetStreamingEvents request can carry at most {} subscription ids.",
                limits.ids_per_request
            ),
            Vec::new(),
        );
    }
    let Some(permit) = world
        .throttle
        .hanging
        .try_acquire(&call.budget_key, limits.hanging_connections)
    else {
        return error(
            &call,
            ResponseCode::ErrorExceededConnectionCount,
            "You have exceeded the available concurrent connections for your account. Try again once your other requests have completed.",
            Vec::new(),
        );
    };
    let backend = subscribe::backend(&call);
    let mut subscriptions = Vec::with_capacity(request.subscription_ids.len());
    let mut missing = Vec::new();
    let mut denied = Vec::new();
    for id in &request.subscription_ids {
        match backend.get(id.as_str()) {
            Some(s) if s.owner != call.principal.key() => denied.push(id.clone()),
            Some(s) if matches!(s.kind, Kind::Streaming) && s.failure().is_none() => {
                subscriptions.push(s)
            }
            _ => missing.push(id.clone()),
        }
    }
    if !denied.is_empty() {
        return error(
            &call,
            ResponseCode::ErrorSubscriptionAccessDenied,
            "Access is denied. Only the subscription owner may access the subscription.",
            denied,
        );
    }
    if !missing.is_empty() {
        return error(
            &call,
            ResponseCode::ErrorSubscriptionNotFound,
            "The specified subscription was not found.",
            missing,
        );
    }
    let (tx, rx) = mpsc::channel::<Chunk>(16);
    let timeout = world.clock.scaled(Duration::from_secs(
        u64::from(request.connection_timeout_minutes) * 60,
    ));
    let life = backend.life();
    tokio::spawn(stream(
        Arc::clone(&call.ctx),
        subscriptions,
        tx,
        timeout,
        life,
        permit,
    ));
    let body = Body::from_stream(tokio_stream_from(rx));
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/xml; charset=utf-8"),
    );
    response
}

fn tokio_stream_from(mut rx: mpsc::Receiver<Chunk>) -> impl futures_util::Stream<Item = Chunk> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Why a stream stopped.
enum End {
    /// `ConnectionTimeout` reached: send `Closed`.
    Timeout,
    /// A subscription failed: send its error, then close.
    Failed(SubscriptionId, ResponseCode),
    /// Every subscription moved to a newer connection: say so, then close.
    Moved(Vec<SubscriptionId>),
    /// Cut (restart, fault): abort without a last envelope.
    Cut,
    /// The client went away.
    Gone,
}

impl End {
    fn name(&self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Failed(..) => "failed",
            Self::Moved(..) => "moved to a newer connection",
            Self::Cut => "cut",
            Self::Gone => "client gone",
        }
    }
}

async fn stream(
    ctx: Arc<crate::sim::Ctx>,
    subscriptions: Vec<Arc<Subscription>>,
    tx: mpsc::Sender<Chunk>,
    timeout: Duration,
    life: tokio_util::sync::CancellationToken,
    permit: Permit,
) {
    let world = &ctx.world;
    let counters = &world.ews_counters;
    counters
        .streaming_connections
        .fetch_add(1, Ordering::Relaxed);
    static SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let serial = SERIAL.fetch_add(1, Ordering::Relaxed);
    let waker = Arc::new(Notify::new());
    for subscription in &subscriptions {
        subscription.attach(serial, Arc::clone(&waker));
        subscription.touch();
    }
    let cut = world.faults.streams();
    let deadline = Instant::now() + timeout;
    let heartbeat = world.heartbeat();
    let end = 'stream: {
        if !send(&tx, &ctx, Message::Connection(ConnectionStatus::Ok)).await {
            break 'stream End::Gone;
        }
        let mut next_heartbeat = Instant::now() + heartbeat;
        loop {
            // Drain everything pending, 50 events per notification at most.
            loop {
                // A cut or restart is final: nothing goes out after it, even if this task
                // is woken for mail before it notices.
                if cut.is_cancelled() || life.is_cancelled() || ctx.shutdown.is_cancelled() {
                    break 'stream End::Cut;
                }
                let mut notifications = Vec::new();
                let mut commits = Vec::new();
                let mut held = 0;
                for subscription in &subscriptions {
                    if !subscription.held_by(serial) {
                        continue; // a newer connection streams it
                    }
                    held += 1;
                    match subscription.batch(
                        subscription.cursor(),
                        world.retention_start(),
                        false,
                        false,
                    ) {
                        Ok(batch) if batch.has_events => {
                            commits.push((Arc::clone(subscription), batch.next_cursor));
                            notifications.push(batch.notification);
                        }
                        Ok(batch) => subscription.set_cursor(batch.next_cursor),
                        Err(code) => break 'stream End::Failed(subscription.id.clone(), code),
                    }
                }
                if held == 0 {
                    break 'stream End::Moved(subscriptions.iter().map(|s| s.id.clone()).collect());
                }
                if notifications.is_empty() {
                    break;
                }
                let events: usize = notifications.iter().map(|n| n.events.len()).sum();
                if !send(&tx, &ctx, Message::Events(notifications)).await {
                    break 'stream End::Gone;
                }
                for (subscription, cursor) in commits {
                    tracing::trace!(subscription = %subscription.id, cursor, "streamed");
                    subscription.set_cursor(cursor);
                }
                counters
                    .streamed_events
                    .fetch_add(events as u64, Ordering::Relaxed);
                next_heartbeat = Instant::now() + heartbeat;
            }
            tokio::select! {
                () = waker.notified() => {}
                () = tokio::time::sleep_until(next_heartbeat) => {
                    if !send(&tx, &ctx, Message::Connection(ConnectionStatus::Ok)).await {
                        break 'stream End::Gone;
                    }
                    next_heartbeat = Instant::now() + heartbeat;
                }
                () = tokio::time::sleep_until(deadline) => break 'stream End::Timeout,
                () = life.cancelled() => break 'stream End::Cut,
                () = cut.cancelled() => break 'stream End::Cut,
                () = ctx.shutdown.cancelled() => break 'stream End::Cut,
                () = tx.closed() => break 'stream End::Gone,
            }
        }
    };
    tracing::trace!(
        subscriptions = subscriptions.len(),
        reason = end.name(),
        "stream ended"
    );
    match end {
        End::Timeout => {
            let _ = send(&tx, &ctx, Message::Connection(ConnectionStatus::Closed)).await;
        }
        End::Failed(id, code) => {
            let message = Message::Failed(
                code,
                "The subscription is no longer valid and must be recreated.",
                vec![id],
            );
            let _ = send(&tx, &ctx, message).await;
        }
        End::Moved(ids) => {
            let message = Message::Failed(
                ResponseCode::ErrorNewEventStreamConnectionOpened,
                "A new event stream connection was opened for these subscriptions; this one is closed.",
                ids,
            );
            let _ = send(&tx, &ctx, message).await;
        }
        End::Cut => {
            let _ = tx
                .send(Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "connection cut",
                )))
                .await;
        }
        End::Gone => {}
    }
    for subscription in &subscriptions {
        subscription.detach(serial);
    }
    counters
        .streaming_connections
        .fetch_sub(1, Ordering::Relaxed);
    drop(permit);
}

async fn send(tx: &mpsc::Sender<Chunk>, ctx: &crate::sim::Ctx, message: Message<'_>) -> bool {
    let bytes = write::document(&ctx.world, |xml| response(xml, &message));
    ctx.world
        .ews_counters
        .streamed_envelopes
        .fetch_add(1, Ordering::Relaxed);
    tx.send(Ok(Bytes::from(bytes))).await.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(message: &Message<'_>) -> String {
        let mut xml = Xml::default();
        response(&mut xml, message);
        format!(
            "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>{}</s:Body></s:Envelope>",
            xml.as_str()
        )
    }

    #[test]
    fn connection_and_error_envelopes_are_valid_by_the_schema() {
        for message in [
            Message::Connection(ConnectionStatus::Ok),
            Message::Connection(ConnectionStatus::Closed),
            Message::Failed(ResponseCode::ErrorInvalidRequest, "x < y", Vec::new()),
        ] {
            let text = written(&message);
            crate::ews::strict::validate_answer(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        }
        let text = written(&Message::Failed(
            ResponseCode::ErrorSubscriptionNotFound,
            "gone",
            vec![SubscriptionId::new("QQ=="), SubscriptionId::new("Qg==")],
        ));
        assert!(
            text.contains(
                "<m:ErrorSubscriptionIds><m:SubscriptionId>QQ==</m:SubscriptionId><m:SubscriptionId>Qg==</m:SubscriptionId></m:ErrorSubscriptionIds><m:ConnectionStatus>Closed</m:ConnectionStatus>"
            ),
            "{text}"
        );
        // The one place the wire (m:) and the schema (t:) differ here: still flagged.
        let refused = crate::ews::strict::validate_answer(&text).expect_err("m:SubscriptionId");
        assert!(refused.contains("SubscriptionId"), "{refused}");
    }

    #[test]
    fn events_go_out_as_m_notification_under_m_notifications() {
        let mut notification = Notification::new(SubscriptionId::new("QQ=="));
        notification
            .events
            .push(ews_proto::Event::new(ews_proto::EventType::Status));
        let text = written(&Message::Events(vec![notification]));
        assert!(
            text.contains(
                "<m:ResponseCode>NoError</m:ResponseCode><m:Notifications><m:Notification><t:SubscriptionId>QQ==</t:SubscriptionId>"
            ),
            "{text}"
        );
        // The schema's `t:Notification` is not what Exchange sends (schema/README.md).
        assert!(crate::ews::strict::validate_answer(&text).is_err());
    }
    use crate::ews::envelope::{assert_schema_refusal, read_operation};

    #[test]
    fn reads_the_subscription_ids_and_connection_timeout() {
        let request = read_operation(
            "<m:GetStreamingEvents><m:SubscriptionIds><t:SubscriptionId>QQ==</t:SubscriptionId><t:SubscriptionId>Qg==</t:SubscriptionId></m:SubscriptionIds><m:ConnectionTimeout>30</m:ConnectionTimeout></m:GetStreamingEvents>",
            read,
        )
        .expect("valid request");
        assert_eq!(
            request.subscription_ids,
            [SubscriptionId::new("QQ=="), SubscriptionId::new("Qg==")]
        );
        assert_eq!(request.connection_timeout_minutes, 30);
    }

    #[test]
    fn refuses_no_ids_a_timeout_out_of_range_and_the_wrong_namespaces() {
        let ids =
            "<m:SubscriptionIds><t:SubscriptionId>QQ==</t:SubscriptionId></m:SubscriptionIds>";
        let cases = [
            (
                "<m:SubscriptionIds/><m:ConnectionTimeout>5</m:ConnectionTimeout>".to_owned(),
                "'SubscriptionIds' in namespace 'http://schemas.microsoft.com/exchange/services/2006/messages' has incomplete content",
            ),
            (
                format!("{ids}<m:ConnectionTimeout>31</m:ConnectionTimeout>"),
                "StreamingSubscriptionConnectionTimeoutType' - The MaxInclusive constraint failed",
            ),
            (
                format!("{ids}<m:ConnectionTimeout>-1</m:ConnectionTimeout>"),
                "The MinInclusive constraint failed",
            ),
            (
                format!("{ids}<t:ConnectionTimeout>5</t:ConnectionTimeout>"),
                "invalid child element 'ConnectionTimeout' in namespace 'http://schemas.microsoft.com/exchange/services/2006/types'",
            ),
            (
                "<m:SubscriptionIds><m:SubscriptionId>QQ==</m:SubscriptionId></m:SubscriptionIds><m:ConnectionTimeout>5</m:ConnectionTimeout>".to_owned(),
                "invalid child element 'SubscriptionId' in namespace 'http://schemas.microsoft.com/exchange/services/2006/messages'",
            ),
            (ids.to_owned(), "'ConnectionTimeout'"),
        ];
        for (inner, named) in cases {
            let operation = format!("<m:GetStreamingEvents>{inner}</m:GetStreamingEvents>");
            assert_schema_refusal(read_operation(&operation, read), named);
        }
    }
}
