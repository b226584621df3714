//! `MoveItem`: moves messages to one folder of the same mailbox, raising the events a move
//! raises (`MovedEvent`, both folders' `ModifiedEvent`; see `Mailbox::move_item`).
//!
//! Spec: [MoveItem operation](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/moveitem-operation):
//! one response message per item, the new item's id in `Items` (unless `ReturnNewItemIds` is
//! false; [ReturnNewItemIds](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/returnnewitemids)).
//! A move between two mailboxes answers `ErrorCrossMailboxMoveCopy` ("if the source mailbox and
//! destination mailbox are different, you will get this error",
//! [ResponseCode](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/responsecode));
//! an item the caller may not reach is not found, as for delegates
//! ([delegation-related errors](https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/handling-delegation-related-errors-in-ews-in-exchange)).

use axum::response::Response;
use ews_proto::ResponseCode;
use roxmltree::{Document, Node};

use super::Call;
use super::envelope::{Children, Refusal, is, required_attribute};
use super::folder::{error, success, unsupported};
use super::folder_ids::{self, Actor, Failure, FolderRef};
use super::write::{self, MESSAGES, TYPES};
use crate::world::mailbox::FolderKind;

/// A `MoveItem` request as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MoveItem {
    pub(crate) to: FolderRef,
    pub(crate) items: Vec<String>,
    pub(crate) return_new_ids: bool,
}

impl MoveItem {
    /// The mailbox the destination names, for routing.
    pub(crate) fn named_mailbox(&self, world: &crate::world::World) -> Option<usize> {
        self.to.named_mailbox(world)
    }
}

/// Reads `MoveItem` (`BaseMoveCopyItemType`: `ToFolderId`, `ItemIds`, `ReturnNewItemIds`?).
pub(crate) fn read(doc: &Document<'_>, node: Node<'_, '_>) -> Result<MoveItem, Refusal> {
    let mut children = Children::of(doc, node)?;
    let to = children.required(MESSAGES, "ToFolderId")?;
    let to = match folder_ids::read(doc, to)?.as_slice() {
        [one] => one.clone(),
        _ => {
            return Err(Refusal::schema(
                doc,
                to,
                "The element 'ToFolderId' must hold exactly one FolderId or DistinguishedFolderId",
            ));
        }
    };
    let items = read_item_ids(doc, children.required(MESSAGES, "ItemIds")?, "MoveItem")?;
    let return_new_ids = match children.optional(MESSAGES, "ReturnNewItemIds") {
        None => true,
        Some(flag) => match flag.text().unwrap_or_default().trim() {
            "true" | "1" => true,
            "false" | "0" => false,
            other => {
                return Err(Refusal::schema(
                    doc,
                    flag,
                    &format!(
                        "The 'ReturnNewItemIds' element is invalid - The value '{other}' is invalid according to its datatype 'http://www.w3.org/2001/XMLSchema:boolean'"
                    ),
                ));
            }
        },
    };
    children.end()?;
    Ok(MoveItem {
        to,
        items,
        return_new_ids,
    })
}

/// Reads `ItemIds` (`NonEmptyArrayOfBaseItemIdsType`): the `Id` of each `ItemId`, in order.
/// Occurrence and recurring-master ids are valid but not modelled (the simulator has no
/// calendar): `ErrorInvalidRequest` naming `operation`.
pub(crate) fn read_item_ids(
    doc: &Document<'_>,
    list: Node<'_, '_>,
    operation: &str,
) -> Result<Vec<String>, Refusal> {
    let mut ids = Children::of(doc, list)?;
    let mut items = Vec::new();
    while let Some(id) = ids.next_any() {
        if is(id, TYPES, "ItemId") {
            items.push(required_attribute(doc, id, "Id")?.to_owned());
        } else if [
            "OccurrenceItemId",
            "RecurringMasterItemId",
            "RecurringMasterItemIdRanges",
        ]
        .iter()
        .any(|name| is(id, TYPES, name))
        {
            return Err(unsupported(&format!("calendar occurrences in {operation}")));
        } else {
            return Err(Refusal::schema(
                doc,
                id,
                &format!(
                    "The element 'ItemIds' has invalid child element '{}'. List of possible elements expected: 'ItemId' in namespace '{TYPES}'",
                    id.tag_name().name()
                ),
            ));
        }
    }
    if items.is_empty() {
        return Err(Refusal::schema(
            doc,
            list,
            &format!(
                "The element 'ItemIds' has incomplete content. List of possible elements expected: 'ItemId' in namespace '{TYPES}'"
            ),
        ));
    }
    Ok(items)
}

/// Moves one item; its new id and change key.
fn move_one(
    call: &Call,
    actor: &Actor,
    to: (usize, FolderKind),
    id: &str,
) -> Result<(String, String), Failure> {
    let world = &call.ctx.world;
    let (owner, number, _) = folder_ids::reach_item(world, actor, id)?;
    let mailbox = &world.mailboxes[owner];
    if owner != to.0 {
        return Err((
            ResponseCode::ErrorCrossMailboxMoveCopy,
            "Cannot move or copy items between mailboxes.",
        ));
    }
    let new = mailbox
        .move_item(world.clock.now(), number, to.1)
        .ok_or(folder_ids::ITEM_NOT_FOUND)?;
    let new = mailbox.item_id(new, 0);
    Ok((new.id, new.change_key.unwrap_or_default()))
}

/// `MoveItem`: one response message per item, in order.
pub(crate) fn move_item(call: &Call, actor: &Actor, request: &MoveItem) -> Response {
    let world = &call.ctx.world;
    let to = folder_ids::resolve(world, actor, &request.to);
    write::envelope(world, |xml| {
        xml.open(
            "m:MoveItemResponse",
            &[("xmlns:m", MESSAGES), ("xmlns:t", TYPES)],
        )
        .open("m:ResponseMessages", &[]);
        let element = "m:MoveItemResponseMessage";
        for id in &request.items {
            match to.clone().and_then(|to| move_one(call, actor, to, id)) {
                Ok((new, change_key)) => {
                    success(xml, element);
                    xml.open("m:Items", &[]);
                    if request.return_new_ids {
                        xml.open("t:Message", &[])
                            .empty("t:ItemId", &[("Id", &new), ("ChangeKey", &change_key)])
                            .close("t:Message");
                    }
                    xml.close("m:Items");
                }
                Err(failure) => {
                    error(xml, element, failure);
                    xml.empty("m:Items", &[]);
                }
            }
            xml.close(element);
        }
        xml.close("m:ResponseMessages").close("m:MoveItemResponse");
    })
}
