//! `GET /users/{id}/messages/{message-id}` (also `messages('{message-id}')`): one message
//! (<https://learn.microsoft.com/graph/api/message-get>), with `$select` honoured: only the
//! selected properties come back, with `id` and `@odata.etag` (and `@odata.context`).
//!
//! - A `$select` naming a property the message resource does not have is refused 400
//!   `RequestBroker--ParseUri` ("Could not find a property named '...' on type
//!   'microsoft.graph.message'.", what Graph answers). Properties of the resource that the
//!   simulator does not model (`body`, `toRecipients`, ...) are accepted and not returned.
//! - An id that is not one of the store's is 400 `ErrorInvalidIdMalformed`; a message that
//!   does not exist in that user's mailbox is 404 `ErrorItemNotFound`.
//! - The item-read faults ([`crate::Sim::slow_item_reads`], [`crate::Sim::fail_item_reads`])
//!   hold the answer back or answer 503 `serviceNotAvailable` with `Retry-After`
//!   (<https://learn.microsoft.com/graph/errors>: "The service is temporarily unavailable
//!   ... You may repeat the request after a delay, the length of which may be specified in a
//!   Retry-After header").

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::errors::GraphError;
use super::messages::{message, selection};
use super::{Counters, Request, json as answer};

/// The properties and relationships of the v1.0 `message` resource
/// (<https://learn.microsoft.com/graph/api/resources/message>), lower case.
const MESSAGE_PROPERTIES: [&str; 35] = [
    "bccrecipients",
    "body",
    "bodypreview",
    "categories",
    "ccrecipients",
    "changekey",
    "conversationid",
    "conversationindex",
    "createddatetime",
    "flag",
    "from",
    "hasattachments",
    "id",
    "importance",
    "inferenceclassification",
    "internetmessageheaders",
    "internetmessageid",
    "isdeliveryreceiptrequested",
    "isdraft",
    "isread",
    "isreadreceiptrequested",
    "lastmodifieddatetime",
    "parentfolderid",
    "receiveddatetime",
    "replyto",
    "sender",
    "sentdatetime",
    "subject",
    "torecipients",
    "uniquebody",
    "weblink",
    "attachments",
    "extensions",
    "multivalueextendedproperties",
    "singlevalueextendedproperties",
];

/// The first `$select` entry that is not a property of a message, as written.
fn unknown_property(request: &Request<'_>) -> Option<String> {
    let select = request.param("$select")?;
    select
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .find(|p| !MESSAGE_PROPERTIES.contains(&p.to_ascii_lowercase().as_str()))
        .map(str::to_owned)
}

/// The EWS form of a REST id (`-` back to `+`, `_` back to `/`).
fn ews_id(rest_id: &str) -> String {
    rest_id.replace('-', "+").replace('_', "/")
}

fn not_found() -> GraphError {
    GraphError::new(
        StatusCode::NOT_FOUND,
        "ErrorItemNotFound",
        "The specified object was not found in the store.",
    )
}

/// `GET /users/{user}/messages/{id}`.
pub(crate) async fn get(
    request: &Request<'_>,
    user: &str,
    id: &str,
) -> Result<Response, GraphError> {
    let ctx = request.ctx;
    let world = &ctx.world;
    Counters::add(&ctx.graph.counters.message_reads, 1);
    let mailbox = ctx
        .graph
        .users
        .resolve(world, user)
        .and_then(|i| world.mailboxes.get(i))
        .ok_or_else(|| GraphError::unknown_user(user))?;
    if let Some(property) = unknown_property(request) {
        return Err(GraphError::bad_request(
            "RequestBroker--ParseUri",
            format!(
                "Could not find a property named '{property}' on type 'microsoft.graph.message'."
            ),
        ));
    }
    if world.faults.take_fail_item_read() {
        let mut busy = GraphError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "serviceNotAvailable",
            "The service is temporarily unavailable. Try the request again after a delay.",
        );
        busy.retry_after = Some(1);
        return Err(busy);
    }
    let delay = world.faults.item_read_delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let ews = ews_id(id);
    if crate::world::mailbox::parse_item_id(&ews).is_none() {
        return Err(GraphError::bad_request(
            "ErrorInvalidIdMalformed",
            "Id is malformed.",
        ));
    }
    let number = mailbox.parse_item_id(&ews).ok_or_else(not_found)?;
    let item = mailbox.item(number).ok_or_else(not_found)?;
    let select = selection(request);
    let mut body = message(mailbox, number, &item, select.as_deref());
    if let Value::Object(object) = &mut body {
        object.remove("@odata.type");
        let selected = request
            .param("$select")
            .map(|s| format!("({s})"))
            .unwrap_or_default();
        object.insert(
            "@odata.context".into(),
            json!(format!(
                "https://graph.microsoft.com/v1.0/$metadata#users('{user}')/messages{selected}/$entity"
            )),
        );
    }
    Ok(answer(StatusCode::OK, &body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::messages::rest_id;

    #[test]
    fn rest_ids_turn_back_into_ews_ids() {
        let ews = "AAMk+abc/def==";
        assert_eq!(ews_id(&rest_id(ews)), ews);
    }

    #[test]
    fn the_property_list_is_lower_case_and_has_no_duplicates() {
        let mut sorted = MESSAGE_PROPERTIES.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), MESSAGE_PROPERTIES.len());
        assert!(
            MESSAGE_PROPERTIES
                .iter()
                .all(|p| *p == p.to_ascii_lowercase())
        );
    }
}
