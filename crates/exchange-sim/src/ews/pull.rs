//! `GetEvents`: the events of a pull subscription after a watermark.

use axum::response::Response;
use ews_proto::ResponseCode;
use ews_proto::operations::{GetEvents, GetEventsResponse, GetEventsResponseMessage};
use ews_proto::soap::ResponseStatus;

use super::{Call, respond, subscribe};
use crate::world::mailbox::WatermarkError;
use crate::world::subscription::Kind;

fn error(call: &Call, code: ResponseCode, text: &str) -> Response {
    respond::ok(
        &call.ctx.world,
        &GetEventsResponse::single(GetEventsResponseMessage::error(ResponseStatus::error(
            code, text,
        ))),
    )
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
            respond::ok(
                world,
                &GetEventsResponse::single(GetEventsResponseMessage::success(batch.notification)),
            )
        }
        Err(code) => error(call, code, "The subscription can no longer deliver events."),
    }
}
