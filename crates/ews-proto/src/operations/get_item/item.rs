//! An item as a `GetItem` summary answers it: its kind, id, folder, subject, received time,
//! importance and sender.

use crate::error::ProtoError;
use crate::types::{EmailAddress, FolderId, Importance, ItemId};
use crate::wire_enum::wire_enum;
use crate::xml::{Element, XmlReader, XmlWriter};

wire_enum! {
    /// Which element of `Items` ([`GetItemResponseMessage`], the schema's
    /// `ArrayOfRealItemsType`) an item came in: `t:Message` for mail and for every item the
    /// schema does not type more strongly, `t:MeetingRequest` for invitations, and so on. An
    /// element this crate does not know is kept by name.
    ///
    /// [`GetItemResponseMessage`]: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/getitemresponsemessage
    pub enum ItemKind {
        /// `t:Item`: the base item type.
        Item = "Item",
        /// `t:Message`: mail, and items of classes EWS does not type (`IPM.Sharing`, ...).
        Message = "Message",
        /// `t:CalendarItem`.
        CalendarItem = "CalendarItem",
        /// `t:Contact`.
        Contact = "Contact",
        /// `t:DistributionList`.
        DistributionList = "DistributionList",
        /// `t:MeetingMessage`.
        MeetingMessage = "MeetingMessage",
        /// `t:MeetingRequest`: an invitation.
        MeetingRequest = "MeetingRequest",
        /// `t:MeetingResponse`: an acceptance, tentative or decline.
        MeetingResponse = "MeetingResponse",
        /// `t:MeetingCancellation`.
        MeetingCancellation = "MeetingCancellation",
        /// `t:Task`.
        Task = "Task",
        /// `t:PostItem`.
        PostItem = "PostItem",
        /// `t:RoleMember`.
        RoleMember = "RoleMember",
        /// `t:Network`.
        Network = "Network",
        /// `t:Person`.
        Person = "Person",
    }
}

impl ItemKind {
    /// Whether items of this kind have `From`: the kinds derived from `MessageType` in
    /// `types.xsd` (`Message` and the four meeting messages), and kinds this crate does not
    /// know, whose `From` is read and written as sent. On other kinds the schema has no
    /// `From`: it is skipped on read and not written.
    pub fn carries_from(&self) -> bool {
        matches!(
            self,
            Self::Message
                | Self::MeetingMessage
                | Self::MeetingRequest
                | Self::MeetingResponse
                | Self::MeetingCancellation
                | Self::Unknown(_)
        )
    }
}

/// The properties of an item that a new-mail notification shows, as
/// [`GetItem::summaries`](super::GetItem::summaries) asks for them ([`ItemType`],
/// [`MessageType`]). Other properties of the item are skipped on read.
///
/// [`ItemType`]: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/item
/// [`MessageType`]: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/message-ex15websvcsotherref
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ItemSummary {
    /// The element the item came in. An `Unknown` kind is written back as its element name,
    /// so one built by hand must be a plain XML name (the reader makes no other).
    pub kind: ItemKind,
    /// [`ItemId`](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/itemid).
    pub id: ItemId,
    /// [`ParentFolderId`](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/parentfolderid):
    /// the folder that holds the item.
    pub parent_folder: Option<FolderId>,
    /// [`Subject`](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/subject),
    /// as sent (not trimmed).
    pub subject: Option<String>,
    /// [`DateTimeReceived`](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/datetimereceived):
    /// the `xs:dateTime` text as sent (`2024-05-01T08:30:00Z`), trimmed.
    pub received: Option<String>,
    /// [`Importance`](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/importance).
    pub importance: Option<Importance>,
    /// [`From/Mailbox`](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/from):
    /// the sender's name and address (`RoutingType` `SMTP` for Internet mail, `EX` for some
    /// senders inside the organisation). Only kinds that [carry it](ItemKind::carries_from).
    pub from: Option<EmailAddress>,
}

impl ItemSummary {
    /// An item of `kind` with this id and nothing else.
    pub fn new(kind: ItemKind, id: ItemId) -> Self {
        Self {
            kind,
            id,
            parent_folder: None,
            subject: None,
            received: None,
            importance: None,
            from: None,
        }
    }

    /// The sender's address (`From/Mailbox/EmailAddress`), if there is one.
    pub fn sender_address(&self) -> Option<&str> {
        self.from.as_ref()?.email_address.as_deref()
    }

    /// Writes the item in schema order: `ItemType`'s `ItemId`, `ParentFolderId`, `Subject`,
    /// `DateTimeReceived`, `Importance`, then `MessageType`'s `From`.
    pub(super) fn write_xml(&self, w: &mut XmlWriter) {
        let name = format!("t:{}", self.kind.as_str());
        w.start(&name).open();
        self.id.write_xml(w, "t:ItemId");
        if let Some(folder) = &self.parent_folder {
            folder.write_xml(w, "t:ParentFolderId");
        }
        w.leaf_opt("t:Subject", self.subject.as_deref());
        w.leaf_opt("t:DateTimeReceived", self.received.as_deref());
        w.leaf_opt(
            "t:Importance",
            self.importance.as_ref().map(Importance::as_str),
        );
        if let Some(from) = self.from.as_ref().filter(|_| self.kind.carries_from()) {
            w.start("t:From").open();
            from.write_xml(w, "t:Mailbox");
            w.end("t:From");
        }
        w.end(&name);
    }

    /// Reads any item element: the kind is its name (which must be a plain XML name, as it is
    /// written back); children are read in any order, unknown ones skipped.
    pub(super) fn read_xml(
        r: &mut XmlReader<'_>,
        element: &Element<'_>,
    ) -> Result<Self, ProtoError> {
        let kind = ItemKind::parse(element.plain_name()?);
        let mut id = None;
        let mut out = Self::new(kind, ItemId::default());
        while let Some(child) = r.child(element)? {
            match child.local() {
                "ItemId" => id = Some(ItemId::read_xml(r, &child)?),
                "ParentFolderId" => out.parent_folder = Some(FolderId::read_xml(r, &child)?),
                "Subject" => out.subject = Some(r.text(&child)?),
                "DateTimeReceived" => out.received = Some(r.trimmed(&child)?),
                "Importance" => {
                    out.importance = Some(Importance::parse(&r.trimmed_str(&child)?));
                }
                "From" if out.kind.carries_from() => out.from = read_single_recipient(r, &child)?,
                _ => r.skip(&child)?,
            }
        }
        out.id = id.ok_or(ProtoError::Missing {
            parent: "item",
            missing: "ItemId",
        })?;
        Ok(out)
    }
}

/// Reads a `SingleRecipientType` (`From`, `Sender`): its `Mailbox`, or `None` without one.
fn read_single_recipient(
    r: &mut XmlReader<'_>,
    element: &Element<'_>,
) -> Result<Option<EmailAddress>, ProtoError> {
    let mut mailbox = None;
    while let Some(child) = r.child(element)? {
        if child.local() == "Mailbox" {
            mailbox = Some(EmailAddress::read_xml(r, &child)?);
        } else {
            r.skip(&child)?;
        }
    }
    Ok(mailbox)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `From` belongs to `MessageType` and its descendants; unknown kinds keep it as sent.
    #[test]
    fn only_message_kinds_carry_from() {
        for kind in [
            ItemKind::Message,
            ItemKind::MeetingMessage,
            ItemKind::MeetingRequest,
            ItemKind::MeetingResponse,
            ItemKind::MeetingCancellation,
            ItemKind::Unknown("FutureMessage".into()),
        ] {
            assert!(kind.carries_from(), "{kind}");
        }
        for kind in [
            ItemKind::Item,
            ItemKind::CalendarItem,
            ItemKind::Contact,
            ItemKind::DistributionList,
            ItemKind::Task,
            ItemKind::PostItem,
            ItemKind::RoleMember,
            ItemKind::Network,
            ItemKind::Person,
        ] {
            assert!(!kind.carries_from(), "{kind}");
        }
    }

    #[test]
    fn sender_address_is_the_from_mailbox_address() {
        let mut item = ItemSummary::new(ItemKind::Message, ItemId::new("a"));
        assert_eq!(item.sender_address(), None);
        item.from = Some(EmailAddress::smtp("sadie@contoso.com"));
        assert_eq!(item.sender_address(), Some("sadie@contoso.com"));
    }
}
