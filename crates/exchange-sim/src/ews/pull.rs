//! `GetEvents`: the events of a pull subscription after a watermark.
//!
//! Spec: [GetEvents operation](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/getevents-operation).
//! The request is read by the simulator's own reader (`GetEventsType` of `messages.xsd`).

use axum::response::Response;
use ews_proto::operations::GetEvents;
use ews_proto::{Notification, ResponseCode, Watermark};
use roxmltree::{Document, Node};

use super::envelope::{Children, Refusal, non_empty};
use super::write::{self, MESSAGES, TYPES, Xml, events};
use super::{Call, folder, subscribe};
use crate::world::mailbox::WatermarkError;
use crate::world::subscription::Kind;

const MESSAGE: &str = "m:GetEventsResponseMessage";

/// `GetEventsResponse` with one response message: an error, or the notification.
fn answer(call: &Call, result: Result<&Notification, (ResponseCode, &'static str)>) -> Response {
    write::envelope(&call.ctx.world, |xml| body(xml, result))
}

fn body(xml: &mut Xml, result: Result<&Notification, (ResponseCode, &'static str)>) {
    xml.open(
        "m:GetEventsResponse",
        &[("xmlns:m", MESSAGES), ("xmlns:t", TYPES)],
    )
    .open("m:ResponseMessages", &[]);
    match result {
        Ok(notification) => {
            folder::success(xml, MESSAGE);
            events::notification(xml, "m:Notification", notification);
        }
        Err(failure) => folder::error(xml, MESSAGE, failure),
    }
    xml.close(MESSAGE)
        .close("m:ResponseMessages")
        .close("m:GetEventsResponse");
}

fn error(call: &Call, code: ResponseCode, text: &'static str) -> Response {
    answer(call, Err((code, text)))
}

/// Reads `GetEvents` (`GetEventsType`: `m:SubscriptionId`, `m:Watermark`, both non-empty
/// strings). Which subscription and which event they name the schema cannot say: an unknown
/// id is `ErrorSubscriptionNotFound`, a watermark that names no event of the mailbox (or one
/// too old, or malformed) `ErrorInvalidWatermark`, as response messages with class `Error`
/// ("a watermark that is not found in the mailbox events table ... too old and has been removed
/// from the 30-day window of the event table or ... does not exist in the event table",
/// [Watermark](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/watermark)).
pub(crate) fn read(doc: &Document<'_>, node: Node<'_, '_>) -> Result<GetEvents, Refusal> {
    let mut children = Children::of(doc, node)?;
    let id = subscribe::subscription_id(doc, children.required(MESSAGES, "SubscriptionId")?)?;
    let watermark = non_empty(
        doc,
        children.required(MESSAGES, "Watermark")?,
        "WatermarkType",
    )?;
    children.end()?;
    Ok(GetEvents::new(id, Watermark::new(watermark.trim())))
}

/// `GetEvents`: at most 50 events after the watermark, or a `StatusEvent` when there are
/// none; each call resets the subscription's timeout.
pub(crate) fn get_events(call: &Call, request: GetEvents) -> Response {
    let world = &call.ctx.world;
    let backend = subscribe::backend(call);
    let Some(subscription) = backend.get(request.subscription_id.as_str()) else {
        return error(
            call,
            ResponseCode::ErrorSubscriptionNotFound,
            "The specified subscription was not found.",
        );
    };
    let Kind::Pull { timeout } = subscription.kind else {
        return error(
            call,
            ResponseCode::ErrorInvalidPullSubscriptionId,
            "The subscription id is not a pull subscription id.",
        );
    };
    if subscription.owner != call.principal.key() {
        return error(
            call,
            ResponseCode::ErrorSubscriptionAccessDenied,
            "Access is denied. Only the subscription owner may access the subscription.",
        );
    }
    if subscription.idle_for() > timeout {
        backend.remove(request.subscription_id.as_str());
        return error(
            call,
            ResponseCode::ErrorSubscriptionNotFound,
            "The specified subscription was not found.",
        );
    }
    let from = match subscription
        .mailbox
        .resolve_watermark(&request.watermark, world.retention_start())
    {
        Ok(seq) => seq,
        Err(WatermarkError::Expired | WatermarkError::Malformed) => {
            return error(
                call,
                ResponseCode::ErrorInvalidWatermark,
                "The watermark is invalid.",
            );
        }
    };
    subscription.touch();
    match subscription.batch(from, world.retention_start(), true, true) {
        Ok(batch) => {
            subscription.set_cursor(batch.next_cursor);
            answer(call, Ok(&batch.notification))
        }
        Err(code) => error(call, code, "The subscription can no longer deliver events."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ews::envelope::{assert_schema_refusal, read_operation};
    use ews_proto::SubscriptionId;

    #[test]
    fn answers_are_valid_by_the_schema() {
        let mut notification = Notification::new(SubscriptionId::new("SUQ="));
        notification.previous_watermark = Some(Watermark::new("AQ=="));
        notification.more_events = Some(false);
        notification
            .events
            .push(ews_proto::Event::status(Some(Watermark::new("Ag=="))));
        let failure = (
            ResponseCode::ErrorInvalidWatermark,
            "The watermark is invalid.",
        );
        for result in [Ok(&notification), Err(failure)] {
            let mut xml = Xml::default();
            body(&mut xml, result);
            let text = format!(
                "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>{}</s:Body></s:Envelope>",
                xml.as_str()
            );
            crate::ews::strict::validate_answer(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        }
    }

    #[test]
    fn reads_the_subscription_id_and_watermark() {
        let request = read_operation(
            "<m:GetEvents><m:SubscriptionId>SUQ=</m:SubscriptionId><m:Watermark> AQID </m:Watermark></m:GetEvents>",
            read,
        )
        .expect("valid request");
        assert_eq!(request.subscription_id, SubscriptionId::new("SUQ="));
        assert_eq!(request.watermark, Watermark::new("AQID"));
    }

    #[test]
    fn refuses_a_missing_empty_or_misplaced_field() {
        let cases = [
            (
                "<m:GetEvents><m:SubscriptionId>SUQ=</m:SubscriptionId></m:GetEvents>",
                "incomplete content. List of possible elements expected: 'Watermark'",
            ),
            (
                "<m:GetEvents><m:SubscriptionId>SUQ=</m:SubscriptionId><m:Watermark/></m:GetEvents>",
                "WatermarkType' - The actual length is less than the MinLength value",
            ),
            (
                "<m:GetEvents><m:Watermark>AQID</m:Watermark><m:SubscriptionId>SUQ=</m:SubscriptionId></m:GetEvents>",
                "invalid child element 'Watermark'",
            ),
            (
                "<m:GetEvents><m:SubscriptionId>SUQ=</m:SubscriptionId><t:Watermark>AQID</t:Watermark></m:GetEvents>",
                "invalid child element 'Watermark' in namespace 'http://schemas.microsoft.com/exchange/services/2006/types'",
            ),
            (
                "<m:GetEvents><m:SubscriptionId>SUQ=</m:SubscriptionId><m:Watermark>AQID</m:Watermark><m:Watermark>AQID</m:Watermark></m:GetEvents>",
                "invalid child element 'Watermark'",
            ),
        ];
        for (operation, named) in cases {
            assert_schema_refusal(read_operation(operation, read), named);
        }
    }
}
