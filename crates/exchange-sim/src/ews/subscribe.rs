//! `Subscribe` and `Unsubscribe`.
//!
//! Spec: [Subscribe operation](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/subscribe-operation),
//! [Unsubscribe operation](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/unsubscribe-operation).
//! Both requests are read by the simulator's own reader, element by element as
//! `messages.xsd` (`SubscribeType`, `UnsubscribeType`) and `types.xsd`
//! (`PullSubscriptionRequestType`, `PushSubscriptionRequestType`,
//! `StreamingSubscriptionRequestType`) declare them.

use std::sync::Arc;
use std::time::Duration;

use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ews_proto::operations::{SubscriptionKind, Unsubscribe};
use ews_proto::{EventType, ResponseCode, SubscriptionId, Watermark};
use roxmltree::{Document, Node};

use super::envelope::{Children, Refusal, boolean_attribute, is, non_empty, one_of, text_of};
use super::folder_ids::{self, FolderRef};
use super::write::{self, MESSAGES, TYPES, Xml};
use super::{Call, folder, push, respond};
use crate::world::mailbox::{FolderKind, WatermarkError, parse_folder_id};
use crate::world::server::Backend;
use crate::world::subscription::{Kind, Subscription};

/// A `Subscribe` request as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Subscribe {
    /// Pull (`Timeout`, `Watermark`), push (`StatusFrequency`, `URL`, `Watermark`,
    /// `CallerData`) or streaming.
    pub(crate) kind: SubscriptionKind,
    /// `FolderIds`, empty when absent.
    pub(crate) folder_ids: Vec<FolderRef>,
    /// The `SubscribeToAllFolders` attribute (absent: false).
    pub(crate) subscribe_to_all_folders: bool,
    /// `EventTypes`.
    pub(crate) event_types: Vec<EventType>,
}

impl Subscribe {
    /// The watermark to resume from (pull and push only).
    fn watermark(&self) -> Option<&Watermark> {
        match &self.kind {
            SubscriptionKind::Pull { watermark, .. } | SubscriptionKind::Push { watermark, .. } => {
                watermark.as_ref()
            }
            _ => None,
        }
    }
}

/// `NotificationEventTypeType` of `schema/types.xsd` (no `StatusEvent`: the server sends it,
/// no one subscribes to it).
const NOTIFICATION_EVENT_TYPES: [&str; 7] = [
    "CopiedEvent",
    "CreatedEvent",
    "DeletedEvent",
    "ModifiedEvent",
    "MovedEvent",
    "NewMailEvent",
    "FreeBusyChangedEvent",
];

/// The three subscription requests `SubscribeType`'s choice allows.
const REQUESTS: [&str; 3] = [
    "PullSubscriptionRequest",
    "PushSubscriptionRequest",
    "StreamingSubscriptionRequest",
];

/// Reads `Subscribe` (`SubscribeType`: a choice of `m:PullSubscriptionRequest`,
/// `m:PushSubscriptionRequest`, `m:StreamingSubscriptionRequest`). Each holds
/// `t:FolderIds`?, `t:EventTypes`, then for pull and push `t:Watermark`?, then pull's
/// `t:Timeout` (1-1440 minutes) or push's `t:StatusFrequency` (1-1440), `t:URL` and
/// `t:CallerData`?; the attribute `SubscribeToAllFolders` is an optional `xs:boolean`.
///
/// What the schema cannot say is the handler's to judge: `FolderIds` together with
/// `SubscribeToAllFolders` (or neither), a watermark that names no event of the mailbox
/// (`ErrorInvalidWatermark`, [Watermark](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/watermark)),
/// a URL that is not http(s).
pub(crate) fn read(doc: &Document<'_>, node: Node<'_, '_>) -> Result<Subscribe, Refusal> {
    let mut children = Children::of(doc, node)?;
    let expected = format!(
        "List of possible elements expected: '{}' in namespace '{MESSAGES}'",
        REQUESTS.join(", ")
    );
    let Some(request) = children.next_any() else {
        return Err(Refusal::schema(
            doc,
            node,
            &format!(
                "The element 'Subscribe' in namespace '{MESSAGES}' has incomplete content. {expected}"
            ),
        ));
    };
    let Some(which) = REQUESTS
        .into_iter()
        .find(|name| is(request, MESSAGES, name))
    else {
        return Err(Refusal::schema(
            doc,
            request,
            &format!(
                "The element 'Subscribe' in namespace '{MESSAGES}' has invalid child element '{}' in namespace '{}'. {expected}",
                request.tag_name().name(),
                request.tag_name().namespace().unwrap_or_default()
            ),
        ));
    };
    children.end()?;
    let subscribe_to_all_folders =
        boolean_attribute(doc, request, "SubscribeToAllFolders")?.unwrap_or(false);
    let mut fields = Children::of(doc, request)?;
    let folder_ids = match fields.optional(TYPES, "FolderIds") {
        Some(list) => folder_ids::read(doc, list)?,
        None => Vec::new(),
    };
    let event_types = read_event_types(doc, fields.required(TYPES, "EventTypes")?)?;
    let kind = if which == "StreamingSubscriptionRequest" {
        SubscriptionKind::Streaming
    } else {
        let watermark = fields
            .optional(TYPES, "Watermark")
            .map(|n| non_empty(doc, n, "WatermarkType"))
            .transpose()?
            .map(|w| Watermark::new(w.trim()));
        if which == "PullSubscriptionRequest" {
            let timeout = fields.required(TYPES, "Timeout")?;
            SubscriptionKind::Pull {
                timeout_minutes: minutes(doc, timeout, "SubscriptionTimeoutType")?,
                watermark,
            }
        } else {
            let frequency = fields.required(TYPES, "StatusFrequency")?;
            let status_frequency_minutes =
                minutes(doc, frequency, "SubscriptionStatusFrequencyType")?;
            // `URL` is an `xs:string`; white space around it is no part of a URL (a URL parser
            // drops it too).
            let url = text_of(doc, fields.required(TYPES, "URL")?)?
                .trim()
                .to_owned();
            let caller_data = fields
                .optional(TYPES, "CallerData")
                .map(|n| text_of(doc, n))
                .transpose()?;
            SubscriptionKind::Push {
                status_frequency_minutes,
                url,
                watermark,
                caller_data,
            }
        }
    };
    fields.end()?;
    Ok(Subscribe {
        kind,
        folder_ids,
        subscribe_to_all_folders,
        event_types,
    })
}

/// `SubscriptionTimeoutType` and `SubscriptionStatusFrequencyType`: an `xs:int` of 1-1440.
fn minutes(doc: &Document<'_>, node: Node<'_, '_>, datatype: &str) -> Result<u32, Refusal> {
    super::envelope::int_between(doc, node, datatype, (1, 1440))
}

/// `NonEmptyArrayOfNotificationEventTypesType`: one or more `t:EventType`.
fn read_event_types(doc: &Document<'_>, list: Node<'_, '_>) -> Result<Vec<EventType>, Refusal> {
    let mut children = Children::of(doc, list)?;
    let mut out = vec![read_event_type(
        doc,
        children.required(TYPES, "EventType")?,
    )?];
    while let Some(node) = children.optional(TYPES, "EventType") {
        out.push(read_event_type(doc, node)?);
    }
    children.end()?;
    Ok(out)
}

fn read_event_type(doc: &Document<'_>, node: Node<'_, '_>) -> Result<EventType, Refusal> {
    let name = one_of(
        doc,
        node,
        "NotificationEventTypeType",
        &NOTIFICATION_EVENT_TYPES,
    )?;
    Ok(EventType::parse(&name))
}

/// Reads `Unsubscribe` (`UnsubscribeType`: `m:SubscriptionId`, a `SubscriptionIdType`).
/// An id that names no subscription is the handler's `ErrorSubscriptionNotFound`.
pub(crate) fn read_unsubscribe(
    doc: &Document<'_>,
    node: Node<'_, '_>,
) -> Result<Unsubscribe, Refusal> {
    let mut children = Children::of(doc, node)?;
    let id = subscription_id(doc, children.required(MESSAGES, "SubscriptionId")?)?;
    children.end()?;
    Ok(Unsubscribe::new(id))
}

/// A `SubscriptionIdType` (a non-empty string). Ids are base64, so white space around one is
/// no part of it.
pub(crate) fn subscription_id(
    doc: &Document<'_>,
    node: Node<'_, '_>,
) -> Result<SubscriptionId, Refusal> {
    Ok(SubscriptionId::new(
        non_empty(doc, node, "SubscriptionIdType")?.trim(),
    ))
}

/// What a `SubscribeResponseMessage` says: the new subscription's id and (pull and push)
/// its watermark, or an error.
enum Subscribed<'a> {
    Ok(&'a SubscriptionId, Option<&'a Watermark>),
    Failed(ResponseCode, &'a str),
}

/// `SubscribeResponse` with one `SubscribeResponseMessage` (`SubscribeResponseMessageType`:
/// the `ResponseMessageType` children, then `SubscriptionId`? and `Watermark`?, both in the
/// messages namespace).
fn answer(world: &crate::world::World, result: Subscribed<'_>) -> Response {
    write::envelope(world, |xml| subscribe_body(xml, result))
}

fn subscribe_body(xml: &mut Xml, result: Subscribed<'_>) {
    const MESSAGE: &str = "m:SubscribeResponseMessage";
    xml.open(
        "m:SubscribeResponse",
        &[("xmlns:m", MESSAGES), ("xmlns:t", TYPES)],
    )
    .open("m:ResponseMessages", &[]);
    match result {
        Subscribed::Ok(id, watermark) => {
            folder::success(xml, MESSAGE);
            xml.leaf("m:SubscriptionId", id.as_str());
            if let Some(watermark) = watermark {
                xml.leaf("m:Watermark", watermark.as_str());
            }
        }
        Subscribed::Failed(code, text) => folder::error(xml, MESSAGE, (code, text)),
    }
    xml.close(MESSAGE)
        .close("m:ResponseMessages")
        .close("m:SubscribeResponse");
}

fn error(call: &Call, code: ResponseCode, text: &str) -> Response {
    answer(&call.ctx.world, Subscribed::Failed(code, text))
}

/// `Subscribe`: checks the request as Exchange does, then creates the subscription on the
/// back end the request was routed to.
pub(crate) fn subscribe(call: &Call, request: Subscribe) -> Response {
    let world = &call.ctx.world;
    let mailbox = &world.mailboxes[call.mailbox];
    // The reader refused what the schema refuses (no or unknown event types, minutes out of
    // range); what is left is what the schema cannot say.
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
        } => Kind::Pull {
            timeout: world
                .clock
                .scaled(Duration::from_secs(u64::from(*timeout_minutes) * 60)),
        },
        SubscriptionKind::Push {
            status_frequency_minutes,
            url,
            ..
        } => {
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
        _ => return respond::client_fault("unknown subscription kind"),
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
    answer(world, Subscribed::Ok(&id, watermark.as_ref()))
}

/// `Subscribe` from an account without a mailbox and without impersonation: it has no
/// mailbox of its own to subscribe to, so a folder named without a mailbox answers
/// `ErrorMissingEmailAddress`, and one in another mailbox is delegate access, which
/// subscriptions do not support (`ErrorSubscriptionDelegateAccessNotSupported`); both from
/// [Handling delegation-related errors](https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/handling-delegation-related-errors-in-ews-in-exchange).
pub(crate) fn without_mailbox(world: &crate::world::World, request: &Subscribe) -> Response {
    let names_no_mailbox = request.subscribe_to_all_folders
        || request
            .folder_ids
            .iter()
            .any(|id| matches!(id, FolderRef::Distinguished { mailbox: None, .. }));
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
    answer(world, Subscribed::Failed(code, text))
}

/// The folder a `FolderIds` entry names in the mailbox acted as.
///
/// A subscription is made as the mailbox's owner (itself or by impersonation), never by
/// delegate access: naming another mailbox in `DistinguishedFolderId` answers
/// `ErrorSubscriptionDelegateAccessNotSupported`, "subscribe to notifications as the mailbox
/// owner" ([Handling delegation-related errors](https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/handling-delegation-related-errors-in-ews-in-exchange)).
/// Naming one's own mailbox there (as clients in delegate mode do) is the owner's access.
fn resolve_folder(call: &Call, id: &FolderRef) -> Result<FolderKind, (ResponseCode, &'static str)> {
    let world = &call.ctx.world;
    let mailbox = &world.mailboxes[call.mailbox];
    match id {
        FolderRef::Distinguished {
            name,
            mailbox: owner,
        } => {
            if let Some(owner) = owner
                && world.directory.user_by_smtp(owner) != Some(call.mailbox)
            {
                return Err((
                    ResponseCode::ErrorSubscriptionDelegateAccessNotSupported,
                    "Subscriptions are not supported for delegate user access.",
                ));
            }
            FolderKind::from_distinguished(name).ok_or((
                ResponseCode::ErrorFolderNotFound,
                "The specified folder could not be found in the store.",
            ))
        }
        FolderRef::Id(folder) => match parse_folder_id(folder) {
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
    let failure = match backend.get(request.subscription_id.as_str()) {
        None => Some((
            ResponseCode::ErrorSubscriptionNotFound,
            "The specified subscription was not found.",
        )),
        Some(subscription) if subscription.owner != call.principal.key() => Some((
            ResponseCode::ErrorSubscriptionAccessDenied,
            "Access is denied. Only the subscription owner may access the subscription.",
        )),
        Some(_) => {
            backend.remove(request.subscription_id.as_str());
            None
        }
    };
    write::envelope(world, |xml| unsubscribe_body(xml, failure))
}

/// `UnsubscribeResponse`; `UnsubscribeResponseMessage` is a plain `ResponseMessageType`.
fn unsubscribe_body(xml: &mut Xml, failure: Option<(ResponseCode, &str)>) {
    const MESSAGE: &str = "m:UnsubscribeResponseMessage";
    xml.open(
        "m:UnsubscribeResponse",
        &[("xmlns:m", MESSAGES), ("xmlns:t", TYPES)],
    )
    .open("m:ResponseMessages", &[]);
    match failure {
        None => folder::success(xml, MESSAGE),
        Some(failure) => folder::error(xml, MESSAGE, failure),
    }
    xml.close(MESSAGE)
        .close("m:ResponseMessages")
        .close("m:UnsubscribeResponse");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ews::envelope::{assert_schema_refusal, read_operation};

    fn valid(xml: &Xml) {
        let text = format!(
            "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>{}</s:Body></s:Envelope>",
            xml.as_str()
        );
        crate::ews::strict::validate_answer(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    }

    #[test]
    fn answers_are_valid_by_the_schema() {
        let id = SubscriptionId::new("SUQ=");
        let watermark = Watermark::new("AQ==");
        for result in [
            Subscribed::Ok(&id, Some(&watermark)),
            Subscribed::Ok(&id, None),
            Subscribed::Failed(ResponseCode::ErrorFolderNotFound, "not <found>"),
        ] {
            let mut xml = Xml::default();
            subscribe_body(&mut xml, result);
            valid(&xml);
        }
        for failure in [
            None,
            Some((ResponseCode::ErrorSubscriptionNotFound, "not found")),
        ] {
            let mut xml = Xml::default();
            unsubscribe_body(&mut xml, failure);
            valid(&xml);
        }
    }

    fn subscribe(request: &str) -> Result<Subscribe, Refusal> {
        read_operation(&format!("<m:Subscribe>{request}</m:Subscribe>"), read)
    }

    const INBOX: &str = r#"<t:FolderIds><t:DistinguishedFolderId Id="inbox"/></t:FolderIds>"#;
    const NEW_MAIL: &str = "<t:EventTypes><t:EventType>NewMailEvent</t:EventType></t:EventTypes>";

    #[test]
    fn reads_a_pull_request_with_its_folders_events_watermark_and_timeout() {
        let request = subscribe(
            r#"<m:PullSubscriptionRequest><t:FolderIds><t:DistinguishedFolderId Id="inbox"><t:Mailbox><t:EmailAddress>sadie@contoso.com</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId><t:FolderId Id="QUJD" ChangeKey="x"/></t:FolderIds><t:EventTypes><t:EventType>NewMailEvent</t:EventType><t:EventType>MovedEvent</t:EventType></t:EventTypes><t:Watermark> AQID </t:Watermark><t:Timeout> 30 </t:Timeout></m:PullSubscriptionRequest>"#,
        )
        .expect("valid request");
        assert_eq!(
            request.kind,
            SubscriptionKind::Pull {
                timeout_minutes: 30,
                watermark: Some(Watermark::new("AQID")),
            }
        );
        assert_eq!(
            request.folder_ids,
            [
                FolderRef::Distinguished {
                    name: "inbox".into(),
                    mailbox: Some("sadie@contoso.com".into())
                },
                FolderRef::Id("QUJD".into())
            ]
        );
        assert!(!request.subscribe_to_all_folders);
        assert_eq!(request.event_types, [EventType::NewMail, EventType::Moved]);
        assert_eq!(request.watermark(), Some(&Watermark::new("AQID")));
    }

    #[test]
    fn reads_a_push_request_for_all_folders() {
        let request = subscribe(&format!(
            r#"<m:PushSubscriptionRequest SubscribeToAllFolders=" 1 ">{NEW_MAIL}<t:StatusFrequency>5</t:StatusFrequency><t:URL> https://listener.contoso.com/ews </t:URL><t:CallerData> kept as sent </t:CallerData></m:PushSubscriptionRequest>"#
        ))
        .expect("valid request");
        assert_eq!(
            request.kind,
            SubscriptionKind::Push {
                status_frequency_minutes: 5,
                url: "https://listener.contoso.com/ews".into(),
                watermark: None,
                caller_data: Some(" kept as sent ".into()),
            }
        );
        assert!(request.subscribe_to_all_folders);
        assert!(request.folder_ids.is_empty());
    }

    #[test]
    fn reads_a_streaming_request() {
        let request = subscribe(&format!(
            r#"<m:StreamingSubscriptionRequest SubscribeToAllFolders="false">{INBOX}{NEW_MAIL}</m:StreamingSubscriptionRequest>"#
        ))
        .expect("valid request");
        assert_eq!(request.kind, SubscriptionKind::Streaming);
        assert_eq!(request.watermark(), None);
        assert_eq!(request.event_types, [EventType::NewMail]);
        assert_eq!(request.folder_ids.len(), 1);
    }

    #[test]
    fn refuses_what_the_schema_refuses() {
        let pull =
            |inner: &str| format!("<m:PullSubscriptionRequest>{inner}</m:PullSubscriptionRequest>");
        let cases = [
            (String::new(), "incomplete content"),
            (
                format!(
                    "{}{}",
                    pull(&format!("{NEW_MAIL}<t:Timeout>5</t:Timeout>")),
                    pull(&format!("{NEW_MAIL}<t:Timeout>5</t:Timeout>"))
                ),
                "has invalid child element 'PullSubscriptionRequest'",
            ),
            (
                format!(
                    "<t:PullSubscriptionRequest>{NEW_MAIL}<t:Timeout>5</t:Timeout></t:PullSubscriptionRequest>"
                ),
                "invalid child element 'PullSubscriptionRequest' in namespace 'http://schemas.microsoft.com/exchange/services/2006/types'",
            ),
            (
                pull(
                    "<t:EventTypes><t:EventType>StatusEvent</t:EventType></t:EventTypes><t:Timeout>5</t:Timeout>",
                ),
                "The Enumeration constraint failed",
            ),
            (
                pull("<t:EventTypes/><t:Timeout>5</t:Timeout>"),
                "'EventTypes' in namespace 'http://schemas.microsoft.com/exchange/services/2006/types' has incomplete content",
            ),
            (pull(&format!("{INBOX}{NEW_MAIL}")), "'Timeout'"),
            (
                pull(&format!("{NEW_MAIL}<t:Timeout>0</t:Timeout>")),
                "The MinInclusive constraint failed",
            ),
            (
                pull(&format!("{NEW_MAIL}<t:Timeout>1441</t:Timeout>")),
                "The MaxInclusive constraint failed",
            ),
            (
                pull(&format!("{NEW_MAIL}<t:Timeout>ten</t:Timeout>")),
                "The string 'ten' is not a valid Int32 value",
            ),
            (
                pull(&format!(
                    "{NEW_MAIL}<t:Watermark></t:Watermark><t:Timeout>5</t:Timeout>"
                )),
                "The actual length is less than the MinLength value",
            ),
            (
                pull(&format!("{NEW_MAIL}{INBOX}<t:Timeout>5</t:Timeout>")),
                "invalid child element 'FolderIds'",
            ),
            (
                format!(
                    "<m:StreamingSubscriptionRequest>{NEW_MAIL}<t:Watermark>AQID</t:Watermark></m:StreamingSubscriptionRequest>"
                ),
                "invalid child element 'Watermark'",
            ),
            (
                format!(
                    r#"<m:StreamingSubscriptionRequest SubscribeToAllFolders="yes">{NEW_MAIL}</m:StreamingSubscriptionRequest>"#
                ),
                "'SubscribeToAllFolders' attribute is invalid",
            ),
            (
                format!(
                    "<m:PushSubscriptionRequest>{NEW_MAIL}<t:StatusFrequency>5</t:StatusFrequency><t:URL><t:Uri/></t:URL></m:PushSubscriptionRequest>"
                ),
                "content model is text only",
            ),
            (
                format!(
                    "<m:PushSubscriptionRequest>{NEW_MAIL}<t:StatusFrequency>5</t:StatusFrequency></m:PushSubscriptionRequest>"
                ),
                "'URL'",
            ),
        ];
        for (request, named) in cases {
            assert_schema_refusal(subscribe(&request), named);
        }
    }

    #[test]
    fn reads_unsubscribes_id_and_refuses_an_empty_or_missing_one() {
        let request = read_operation(
            "<m:Unsubscribe><m:SubscriptionId>\n  SUQ=\n</m:SubscriptionId></m:Unsubscribe>",
            read_unsubscribe,
        )
        .expect("valid request");
        assert_eq!(request.subscription_id, SubscriptionId::new("SUQ="));
        assert_schema_refusal(
            read_operation(
                "<m:Unsubscribe><m:SubscriptionId/></m:Unsubscribe>",
                read_unsubscribe,
            ),
            "MinLength",
        );
        assert_schema_refusal(
            read_operation("<m:Unsubscribe/>", read_unsubscribe),
            "'SubscriptionId'",
        );
        assert_schema_refusal(
            read_operation(
                "<m:Unsubscribe><t:SubscriptionId>SUQ=</t:SubscriptionId></m:Unsubscribe>",
                read_unsubscribe,
            ),
            "invalid child element 'SubscriptionId'",
        );
    }
}
