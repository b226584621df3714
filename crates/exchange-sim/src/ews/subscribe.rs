//! `Subscribe` and `Unsubscribe`.

use std::sync::Arc;
use std::time::Duration;

use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ews_proto::operations::{
    Subscribe, SubscribeResponse, SubscribeResponseMessage, SubscriptionKind, Unsubscribe,
    UnsubscribeResponse, UnsubscribeResponseMessage,
};
use ews_proto::soap::{ResponseStatus, SoapFault};
use ews_proto::{BaseFolderId, EventType, ResponseCode, SubscriptionId};

use super::{Call, push, respond};
use crate::world::mailbox::{FolderKind, WatermarkError, parse_folder_id};
use crate::world::server::Backend;
use crate::world::subscription::{Kind, Subscription};

fn error(call: &Call, code: ResponseCode, text: &str) -> Response {
    respond::ok(
        &call.ctx.world,
        &SubscribeResponse::single(SubscribeResponseMessage::error(ResponseStatus::error(
            code, text,
        ))),
    )
}

/// `Subscribe`: checks the request as Exchange does, then creates the subscription on the
/// back end the request was routed to.
pub(crate) fn subscribe(call: &Call, request: Subscribe) -> Response {
    let world = &call.ctx.world;
    let mailbox = &world.mailboxes[call.mailbox];
    if let Some(bad) = request
        .event_types
        .iter()
        .find(|t| !EventType::SUBSCRIBABLE.contains(t))
    {
        return respond::fault(&SoapFault::ews(
            ResponseCode::ErrorSchemaValidation,
            &format!(
                "The request failed schema validation: '{bad}' is not a valid NotificationEventTypeType."
            ),
        ));
    }
    if request.event_types.is_empty() {
        return respond::fault(&SoapFault::ews(
            ResponseCode::ErrorSchemaValidation,
            "The request failed schema validation: EventTypes has no EventType.",
        ));
    }
    if request.subscribe_to_all_folders != request.folder_ids.is_empty() {
        return error(
            call,
            ResponseCode::ErrorInvalidSubscriptionRequest,
            "Specify either FolderIds or SubscribeToAllFolders, not both or neither.",
        );
    }
    let mut folders = Vec::new();
    for id in &request.folder_ids {
        match resolve_folder(call, id) {
            Ok(folder) => folders.push(folder),
            Err((code, text)) => return error(call, code, text),
        }
    }
    let kind = match &request.kind {
        SubscriptionKind::Pull {
            timeout_minutes, ..
        } => {
            if !(1..=1440).contains(timeout_minutes) {
                return schema_range("Timeout");
            }
            Kind::Pull {
                timeout: world
                    .clock
                    .scaled(Duration::from_secs(u64::from(*timeout_minutes) * 60)),
            }
        }
        SubscriptionKind::Push {
            status_frequency_minutes,
            url,
            ..
        } => {
            if !(1..=1440).contains(status_frequency_minutes) {
                return schema_range("StatusFrequency");
            }
            match url::Url::parse(url) {
                Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {}
                _ => {
                    return error(
                        call,
                        ResponseCode::ErrorInvalidPushSubscriptionUrl,
                        "The push subscription URL is not valid.",
                    );
                }
            }
            Kind::Push {
                url: url.clone(),
                status_frequency: world.clock.scaled(Duration::from_secs(
                    u64::from(*status_frequency_minutes) * 60,
                )),
            }
        }
        SubscriptionKind::Streaming => Kind::Streaming,
        _ => return respond::fault(&SoapFault::client("unknown subscription kind")),
    };
    if call.route.server != mailbox.server() {
        return error(
            call,
            ResponseCode::ErrorProxyRequestNotAllowed,
            "The mailbox is not on the server this request was routed to.",
        );
    }
    let limits = world.throttle.limits();
    if mailbox.subscriptions().len() >= limits.subscriptions_per_mailbox {
        return error(
            call,
            ResponseCode::ErrorExceededSubscriptionCount,
            "You have exceeded the maximum number of subscriptions that are allowed to be active at the same time.",
        );
    }
    let cursor = match request.watermark() {
        Some(watermark) => match mailbox.resolve_watermark(watermark, world.retention_start()) {
            Ok(seq) => seq,
            Err(WatermarkError::Expired | WatermarkError::Malformed) => {
                return error(
                    call,
                    ResponseCode::ErrorInvalidWatermark,
                    "The watermark is invalid.",
                );
            }
        },
        None => mailbox.lock().next_seq(),
    };
    let backend = backend(call);
    let id = new_id(backend);
    let subscription = Arc::new(Subscription::new(
        id.clone(),
        Arc::clone(mailbox),
        (call.route.server, call.route.backend),
        call.principal.key(),
        kind.clone(),
        folders,
        request.subscribe_to_all_folders,
        request.event_types.clone(),
        cursor,
    ));
    backend.insert(Arc::clone(&subscription));
    mailbox.attach(&subscription);
    let watermark = match kind {
        Kind::Streaming => None,
        Kind::Pull { .. } => Some(mailbox.watermark(cursor)),
        Kind::Push { .. } => {
            push::spawn(
                Arc::clone(&call.ctx),
                Arc::clone(&subscription),
                backend.life(),
            );
            Some(mailbox.watermark(cursor))
        }
    };
    tracing::debug!(mailbox = %mailbox.address, subscription = %id, "subscribed");
    respond::ok(
        world,
        &SubscribeResponse::single(SubscribeResponseMessage::success(id, watermark)),
    )
}

/// `Subscribe` from an account without a mailbox and without impersonation: it has no
/// mailbox of its own to subscribe to, so a folder named without a mailbox answers
/// `ErrorMissingEmailAddress`, and one in another mailbox is delegate access, which
/// subscriptions do not support (`ErrorSubscriptionDelegateAccessNotSupported`); both from
/// [Handling delegation-related errors](https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/handling-delegation-related-errors-in-ews-in-exchange).
pub(crate) fn without_mailbox(world: &crate::world::World, request: &Subscribe) -> Response {
    let names_no_mailbox = request.subscribe_to_all_folders
        || request.folder_ids.iter().any(|id| {
            matches!(id, BaseFolderId::Distinguished { mailbox, .. }
                if mailbox.as_ref().and_then(|m| m.email_address.as_deref()).is_none())
        });
    let (code, text) = if names_no_mailbox {
        (
            ResponseCode::ErrorMissingEmailAddress,
            "When making a request as an account that does not have a mailbox, you must specify the mailbox primary SMTP address for any distinguished folder Ids.",
        )
    } else {
        (
            ResponseCode::ErrorSubscriptionDelegateAccessNotSupported,
            "Subscriptions are not supported for delegate user access.",
        )
    };
    respond::ok(
        world,
        &SubscribeResponse::single(SubscribeResponseMessage::error(ResponseStatus::error(
            code, text,
        ))),
    )
}

fn schema_range(element: &str) -> Response {
    respond::fault(&SoapFault::ews(
        ResponseCode::ErrorSchemaValidation,
        &format!("The request failed schema validation: {element} must be between 1 and 1440."),
    ))
}

/// The folder a `FolderIds` entry names in the mailbox acted as.
///
/// A subscription is made as the mailbox's owner (itself or by impersonation), never by
/// delegate access: naming another mailbox in `DistinguishedFolderId` answers
/// `ErrorSubscriptionDelegateAccessNotSupported`, "subscribe to notifications as the mailbox
/// owner" ([Handling delegation-related errors](https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/handling-delegation-related-errors-in-ews-in-exchange)).
/// Naming one's own mailbox there (as clients in delegate mode do) is the owner's access.
fn resolve_folder(
    call: &Call,
    id: &BaseFolderId,
) -> Result<FolderKind, (ResponseCode, &'static str)> {
    let world = &call.ctx.world;
    let mailbox = &world.mailboxes[call.mailbox];
    match id {
        BaseFolderId::Distinguished {
            id, mailbox: owner, ..
        } => {
            if let Some(owner) = owner.as_ref().and_then(|o| o.email_address.as_deref())
                && world.directory.user_by_smtp(owner) != Some(call.mailbox)
            {
                return Err((
                    ResponseCode::ErrorSubscriptionDelegateAccessNotSupported,
                    "Subscriptions are not supported for delegate user access.",
                ));
            }
            FolderKind::from_distinguished(id.as_str()).ok_or((
                ResponseCode::ErrorFolderNotFound,
                "The specified folder could not be found in the store.",
            ))
        }
        BaseFolderId::Folder(folder) => match parse_folder_id(&folder.id) {
            Some((owner, kind)) if owner == mailbox.id => Ok(kind),
            // Another mailbox's folder: a delegate's subscription, which Exchange refuses.
            Some((owner, _)) if (owner as usize) < world.mailboxes.len() => Err((
                ResponseCode::ErrorSubscriptionDelegateAccessNotSupported,
                "Subscriptions are not supported for delegate user access.",
            )),
            _ => Err((
                ResponseCode::ErrorFolderNotFound,
                "The specified folder could not be found in the store.",
            )),
        },
        _ => Err((ResponseCode::ErrorInvalidIdMalformed, "Id is malformed.")),
    }
}

/// The back end the call was routed to.
pub(crate) fn backend(call: &Call) -> &Backend {
    &call.ctx.world.servers[call.route.server].backends[call.route.backend]
}

/// A subscription id that, like Exchange's, names the back end that holds it.
fn new_id(backend: &Backend) -> SubscriptionId {
    let mut bytes = Vec::with_capacity(backend.fqdn.len() + 18);
    bytes.push(u8::try_from(backend.fqdn.len()).unwrap_or(u8::MAX));
    bytes.push(0);
    bytes.extend_from_slice(backend.fqdn.to_ascii_lowercase().as_bytes());
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    SubscriptionId::new(STANDARD.encode(bytes))
}

/// `Unsubscribe`: ends a subscription held by the routed back end.
pub(crate) fn unsubscribe(call: &Call, request: Unsubscribe) -> Response {
    let world = &call.ctx.world;
    let backend = backend(call);
    let status = match backend.get(request.subscription_id.as_str()) {
        None => ResponseStatus::error(
            ResponseCode::ErrorSubscriptionNotFound,
            "The specified subscription was not found.",
        ),
        Some(subscription) if subscription.owner != call.principal.key() => ResponseStatus::error(
            ResponseCode::ErrorSubscriptionAccessDenied,
            "Access is denied. Only the subscription owner may access the subscription.",
        ),
        Some(_) => {
            backend.remove(request.subscription_id.as_str());
            ResponseStatus::success()
        }
    };
    respond::ok(
        world,
        &UnsubscribeResponse::single(UnsubscribeResponseMessage::new(status)),
    )
}
