//! Folder ids in requests (`FolderId`, `DistinguishedFolderId` with an optional
//! `Mailbox`), and whether the caller may reach the folder they name.
//!
//! Access, as Microsoft documents it:
//! - [Impersonation](https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/impersonation-and-ews-in-exchange):
//!   with the `ExchangeImpersonation` header (ApplicationImpersonation role) the caller acts
//!   as the mailbox's owner, so the owner's folders are its own.
//! - [Delegate access](https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/delegate-access-and-ews-in-exchange):
//!   a user or service account with permission on another mailbox (FullAccess, or a
//!   delegate's permission on some folders) names it with `<t:Mailbox><t:EmailAddress>` in
//!   `DistinguishedFolderId`, or uses a `FolderId` from it; without permission on the folder it
//!   is not found
//!   ([delegation-related errors](https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/handling-delegation-related-errors-in-ews-in-exchange):
//!   `ErrorFolderNotFound`).
//! - An account without a mailbox must name the mailbox for any distinguished folder:
//!   `ErrorMissingEmailAddress` ("When making a request as an account that does not have a
//!   mailbox, you must specify the mailbox primary SMTP address for any distinguished folder
//!   Ids", same page).

use ews_proto::ResponseCode;
use roxmltree::{Document, Node};

use super::envelope::{Children, Refusal, bad_attribute, is, required_attribute};
use super::write::TYPES;
use crate::world::World;
use crate::world::directory::Principal;
use crate::world::mailbox::{FolderKind, parse_folder_id, parse_item_id};

/// `DistinguishedFolderIdNameType` of `schema/types.xsd`, in its order.
const DISTINGUISHED_NAMES: [&str; 63] = [
    "calendar",
    "contacts",
    "deleteditems",
    "drafts",
    "inbox",
    "journal",
    "notes",
    "outbox",
    "sentitems",
    "tasks",
    "msgfolderroot",
    "publicfoldersroot",
    "root",
    "junkemail",
    "searchfolders",
    "voicemail",
    "recoverableitemsroot",
    "recoverableitemsdeletions",
    "recoverableitemsversions",
    "recoverableitemspurges",
    "recoverableitemsdiscoveryholds",
    "archiveroot",
    "archivemsgfolderroot",
    "archivedeleteditems",
    "archiveinbox",
    "archiverecoverableitemsroot",
    "archiverecoverableitemsdeletions",
    "archiverecoverableitemsversions",
    "archiverecoverableitemspurges",
    "archiverecoverableitemsdiscoveryholds",
    "syncissues",
    "conflicts",
    "localfailures",
    "serverfailures",
    "recipientcache",
    "quickcontacts",
    "conversationhistory",
    "adminauditlogs",
    "todosearch",
    "mycontacts",
    "directory",
    "imcontactlist",
    "peopleconnect",
    "favorites",
    "mecontact",
    "personmetadata",
    "teamspaceactivity",
    "teamspacemessaging",
    "teamspaceworkitems",
    "scheduled",
    "orionnotes",
    "tagitems",
    "alltaggeditems",
    "externalcontacts",
    "teamchat",
    "yammerroot",
    "yammerinbound",
    "yammeroutbound",
    "yammerfeeds",
    "onedriveroot",
    "onedriverecylebin",
    "onedrivesystem",
    "onedrivevolume",
];

/// Who acts, for access checks.
#[derive(Debug, Clone)]
pub(crate) struct Actor {
    /// The identity whose rights count: the impersonated owner, else the caller.
    pub(crate) identity: Principal,
    /// The mailbox it acts in (its own, or the impersonated one); `None` for an account
    /// without a mailbox.
    pub(crate) mailbox: Option<usize>,
}

/// A folder as a request names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FolderRef {
    Distinguished {
        name: String,
        /// `Mailbox/EmailAddress`, for delegate access.
        mailbox: Option<String>,
    },
    Id(String),
}

impl FolderRef {
    /// The mailbox it names explicitly (for routing), if any.
    pub(crate) fn named_mailbox(&self, world: &World) -> Option<usize> {
        match self {
            Self::Distinguished { mailbox, .. } => mailbox
                .as_deref()
                .and_then(|m| world.directory.user_by_smtp(m)),
            Self::Id(id) => parse_folder_id(id)
                .and_then(|(m, _)| usize::try_from(m).ok())
                .filter(|m| *m < world.mailboxes.len()),
        }
    }
}

/// Reads a `NonEmptyArrayOfBaseFolderIdsType` (`FolderIds`, `ParentFolderIds`).
pub(crate) fn read(doc: &Document<'_>, list: Node<'_, '_>) -> Result<Vec<FolderRef>, Refusal> {
    let mut children = Children::of(doc, list)?;
    let mut out = Vec::new();
    while let Some(child) = children.next_any() {
        if is(child, TYPES, "FolderId") {
            let id = required_attribute(doc, child, "Id")?;
            Children::of(doc, child)?.end()?;
            out.push(FolderRef::Id(id.to_owned()));
        } else if is(child, TYPES, "DistinguishedFolderId") {
            out.push(distinguished(doc, child)?);
        } else {
            return Err(Refusal::schema(
                doc,
                child,
                &format!(
                    "The element '{}' has invalid child element '{}'. List of possible elements expected: 'FolderId, DistinguishedFolderId' in namespace '{TYPES}'",
                    list.tag_name().name(),
                    child.tag_name().name()
                ),
            ));
        }
    }
    if out.is_empty() {
        return Err(Refusal::schema(
            doc,
            list,
            &format!(
                "The element '{}' has incomplete content. List of possible elements expected: 'FolderId, DistinguishedFolderId' in namespace '{TYPES}'",
                list.tag_name().name()
            ),
        ));
    }
    Ok(out)
}

fn distinguished(doc: &Document<'_>, node: Node<'_, '_>) -> Result<FolderRef, Refusal> {
    let name = required_attribute(doc, node, "Id")?;
    if !DISTINGUISHED_NAMES.contains(&name) {
        return Err(bad_attribute(
            doc,
            node,
            "Id",
            name,
            &format!("{TYPES}:DistinguishedFolderIdNameType"),
        ));
    }
    let mut children = Children::of(doc, node)?;
    let mailbox = match children.optional(TYPES, "Mailbox") {
        Some(mailbox) => {
            // EmailAddressType: Name?, EmailAddress?, RoutingType?, MailboxType?, ItemId?, ...
            let mut inner = Children::of(doc, mailbox)?;
            inner.optional(TYPES, "Name");
            let address = inner
                .optional(TYPES, "EmailAddress")
                .map(|n| n.text().unwrap_or_default().trim().to_owned());
            for name in [
                "RoutingType",
                "MailboxType",
                "ItemId",
                "OriginalDisplayName",
            ] {
                inner.optional(TYPES, name);
            }
            inner.end()?;
            address
        }
        None => None,
    };
    children.end()?;
    Ok(FolderRef::Distinguished {
        name: name.to_owned(),
        mailbox,
    })
}

/// Why a folder cannot be used: the response message's code and text.
pub(crate) type Failure = (ResponseCode, &'static str);

pub(crate) const NOT_FOUND: Failure = (
    ResponseCode::ErrorFolderNotFound,
    "The specified folder could not be found in the store.",
);

/// The (mailbox, folder) a reference names, if `actor` may reach it.
pub(crate) fn resolve(
    world: &World,
    actor: &Actor,
    folder: &FolderRef,
) -> Result<(usize, FolderKind), Failure> {
    let (mailbox, kind) = match folder {
        FolderRef::Distinguished { name, mailbox } => {
            let mailbox = match mailbox {
                Some(smtp) => world.directory.user_by_smtp(smtp).ok_or((
                    ResponseCode::ErrorNonExistentMailbox,
                    "The SMTP address has no mailbox associated with it.",
                ))?,
                None => actor.mailbox.ok_or((
                    ResponseCode::ErrorMissingEmailAddress,
                    "When making a request as an account that does not have a mailbox, you must specify the mailbox primary SMTP address for any distinguished folder Ids.",
                ))?,
            };
            (
                mailbox,
                FolderKind::from_distinguished(name).ok_or(NOT_FOUND)?,
            )
        }
        FolderRef::Id(id) => {
            let (mailbox, kind) = parse_folder_id(id)
                .ok_or((ResponseCode::ErrorInvalidIdMalformed, "Id is malformed."))?;
            let mailbox = usize::try_from(mailbox)
                .ok()
                .filter(|m| *m < world.mailboxes.len())
                .ok_or(NOT_FOUND)?;
            (mailbox, kind)
        }
    };
    if may_reach(world, actor, mailbox, kind) {
        Ok((mailbox, kind))
    } else {
        Err(NOT_FOUND)
    }
}

/// An item the caller may not reach is not found, as for delegates
/// ([delegation-related errors](https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/handling-delegation-related-errors-in-ews-in-exchange)).
pub(crate) const ITEM_NOT_FOUND: Failure = (
    ResponseCode::ErrorItemNotFound,
    "The specified object was not found in the store.",
);

/// The item an `ItemId` names, if `actor` may reach it: its mailbox, number and folder.
pub(crate) fn reach_item(
    world: &World,
    actor: &Actor,
    id: &str,
) -> Result<(usize, u64, FolderKind), Failure> {
    let (owner, number) =
        parse_item_id(id).ok_or((ResponseCode::ErrorInvalidIdMalformed, "Id is malformed."))?;
    let owner = usize::try_from(owner)
        .ok()
        .filter(|m| *m < world.mailboxes.len())
        .ok_or(ITEM_NOT_FOUND)?;
    let (folder, _) = world.mailboxes[owner]
        .item_place(number)
        .ok_or(ITEM_NOT_FOUND)?;
    if !may_reach(world, actor, owner, folder) {
        return Err(ITEM_NOT_FOUND);
    }
    Ok((owner, number, folder))
}

/// Whether `actor` reaches `kind` of `mailbox`: its own (or impersonated) mailbox, FullAccess,
/// or a delegate's permission on that folder.
pub(crate) fn may_reach(world: &World, actor: &Actor, mailbox: usize, kind: FolderKind) -> bool {
    actor.mailbox == Some(mailbox) || world.directory.may_reach(&actor.identity, mailbox, kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_distinguished_names_are_the_schemas() {
        let schema = include_str!("../../schema/types.xsd");
        let start = schema
            .find("<xs:simpleType name=\"DistinguishedFolderIdNameType\">")
            .unwrap_or_default();
        let end = start + schema[start..].find("</xs:simpleType>").unwrap_or_default();
        let listed: Vec<&str> = schema[start..end]
            .split("<xs:enumeration value=\"")
            .skip(1)
            .filter_map(|s| s.split('"').next())
            .collect();
        assert_eq!(listed, DISTINGUISHED_NAMES);
    }
}
