//! Identifiers and small types shared by the EWS operations.

use std::fmt;

use crate::error::ProtoError;
use crate::wire_enum::wire_enum;
use crate::xml::{Element, XmlReader, XmlWriter};

macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a value as received from, or sent to, Exchange.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The value as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The value as an owned string.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self(value)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }
    };
}

string_id! {
    /// A subscription's identifier ([`SubscriptionId`]), opaque to clients.
    ///
    /// [`SubscriptionId`]: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/subscriptionid-geteventsrequest
    SubscriptionId
}

string_id! {
    /// A bookmark into a mailbox's event table ([`Watermark`]); valid for about 30 days.
    ///
    /// [`Watermark`]: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/watermark
    Watermark
}

macro_rules! store_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Default, serde::Serialize)]
        #[non_exhaustive]
        pub struct $name {
            /// `Id` attribute: the store identifier.
            pub id: String,
            /// `ChangeKey` attribute: the version of the object.
            pub change_key: Option<String>,
        }

        impl $name {
            /// An identifier without a change key.
            pub fn new(id: impl Into<String>) -> Self {
                Self { id: id.into(), change_key: None }
            }

            /// The same identifier with a change key.
            pub fn with_change_key(mut self, change_key: impl Into<String>) -> Self {
                self.change_key = Some(change_key.into());
                self
            }

            pub(crate) fn write_xml(&self, w: &mut XmlWriter, name: &str) {
                w.start(name)
                    .attr("Id", &self.id)
                    .attr_opt("ChangeKey", self.change_key.as_deref())
                    .empty();
            }

            pub(crate) fn read_xml(r: &mut XmlReader<'_>, element: &Element<'_>) -> Result<Self, ProtoError> {
                let [id, change_key] = element.attrs(["Id", "ChangeKey"])?;
                let id = id.ok_or(ProtoError::Missing {
                    parent: stringify!($name),
                    missing: "Id attribute",
                })?;
                r.skip(element)?;
                Ok(Self { id, change_key })
            }
        }
    };
}

store_id! {
    /// An item's identifier ([`ItemId`]).
    ///
    /// [`ItemId`]: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/itemid
    ItemId
}

store_id! {
    /// A folder's identifier ([`FolderId`]).
    ///
    /// [`FolderId`]: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/folderid
    FolderId
}

wire_enum! {
    /// A well-known folder ([`DistinguishedFolderId`] `Id`).
    ///
    /// [`DistinguishedFolderId`]: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/distinguishedfolderid
    #[allow(missing_docs)]
    pub enum DistinguishedFolder {
        Inbox = "inbox",
        Calendar = "calendar",
        Contacts = "contacts",
        DeletedItems = "deleteditems",
        Drafts = "drafts",
        JunkEmail = "junkemail",
        MsgFolderRoot = "msgfolderroot",
        Outbox = "outbox",
        Root = "root",
        SentItems = "sentitems",
        Tasks = "tasks",
        Notes = "notes",
        Journal = "journal",
        ArchiveInbox = "archiveinbox",
    }
}

wire_enum! {
    /// The kind of a notification event, in `EventTypes` and in notifications
    /// ([`EventType`]). `StatusEvent` is sent by the server but cannot be subscribed to.
    ///
    /// [`EventType`]: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/eventtype
    pub enum EventType default Status {
        /// `NewMailEvent`: a message arrived in a folder.
        NewMail = "NewMailEvent",
        /// `CreatedEvent`: an item or folder was created.
        Created = "CreatedEvent",
        /// `DeletedEvent`: an item or folder was deleted.
        Deleted = "DeletedEvent",
        /// `ModifiedEvent`: an item or folder changed (a folder carries `UnreadCount`).
        Modified = "ModifiedEvent",
        /// `MovedEvent`: an item or folder moved.
        Moved = "MovedEvent",
        /// `CopiedEvent`: an item or folder was copied.
        Copied = "CopiedEvent",
        /// `FreeBusyChangedEvent` (Exchange 2010 SP1 and later).
        FreeBusyChanged = "FreeBusyChangedEvent",
        /// `StatusEvent`: a heartbeat with no change.
        Status = "StatusEvent",
    }
}

impl EventType {
    /// The kinds a subscription may ask for: every kind but `StatusEvent`.
    pub const SUBSCRIBABLE: [Self; 7] = [
        Self::NewMail,
        Self::Created,
        Self::Deleted,
        Self::Modified,
        Self::Moved,
        Self::Copied,
        Self::FreeBusyChanged,
    ];
}

wire_enum! {
    /// How important the sender marked an item ([`Importance`]).
    ///
    /// [`Importance`]: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/importance
    pub enum Importance {
        /// `Low`.
        Low = "Low",
        /// `Normal`, what most mail carries.
        Normal = "Normal",
        /// `High`.
        High = "High",
    }
}

/// A mailbox address ([`EmailAddressType`]), as in `DistinguishedFolderId/Mailbox` and
/// `ResolveNames` results.
///
/// [`EmailAddressType`]: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/mailbox
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[non_exhaustive]
pub struct EmailAddress {
    /// `Name`, the display name.
    pub name: Option<String>,
    /// `EmailAddress`, the SMTP address.
    pub email_address: Option<String>,
    /// `RoutingType`, usually `SMTP`.
    pub routing_type: Option<String>,
    /// `MailboxType` (`Mailbox`, `Contact`, `PublicDL`, ...).
    pub mailbox_type: Option<String>,
}

impl EmailAddress {
    /// An SMTP address without a name.
    pub fn smtp(address: impl Into<String>) -> Self {
        Self {
            email_address: Some(address.into()),
            ..Self::default()
        }
    }

    pub(crate) fn write_xml(&self, w: &mut XmlWriter, name: &str) {
        w.start(name).open();
        w.leaf_opt("t:Name", self.name.as_deref());
        w.leaf_opt("t:EmailAddress", self.email_address.as_deref());
        w.leaf_opt("t:RoutingType", self.routing_type.as_deref());
        w.leaf_opt("t:MailboxType", self.mailbox_type.as_deref());
        w.end(name);
    }

    pub(crate) fn read_xml(
        r: &mut XmlReader<'_>,
        element: &Element<'_>,
    ) -> Result<Self, ProtoError> {
        let mut out = Self::default();
        while let Some(child) = r.child(element)? {
            let slot = match child.local() {
                "Name" => &mut out.name,
                "EmailAddress" => &mut out.email_address,
                "RoutingType" => &mut out.routing_type,
                "MailboxType" => &mut out.mailbox_type,
                _ => {
                    r.skip(&child)?;
                    continue;
                }
            };
            *slot = Some(r.text(&child)?);
        }
        Ok(out)
    }
}

/// A folder, named by identifier or by well-known name ([`BaseFolderIdType`]).
///
/// [`BaseFolderIdType`]: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/folderids
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub enum BaseFolderId {
    /// `t:FolderId`.
    Folder(FolderId),
    /// `t:DistinguishedFolderId`, optionally in another mailbox.
    Distinguished {
        /// The well-known folder.
        id: DistinguishedFolder,
        /// `ChangeKey`, rarely sent.
        change_key: Option<String>,
        /// `t:Mailbox`: the mailbox that holds it (delegate access).
        mailbox: Option<EmailAddress>,
    },
}

impl BaseFolderId {
    /// A well-known folder of the mailbox the request acts as.
    pub fn distinguished(id: DistinguishedFolder) -> Self {
        Self::Distinguished {
            id,
            change_key: None,
            mailbox: None,
        }
    }

    /// The inbox of the mailbox the request acts as.
    pub fn inbox() -> Self {
        Self::distinguished(DistinguishedFolder::Inbox)
    }

    pub(crate) fn write_xml(&self, w: &mut XmlWriter) {
        match self {
            Self::Folder(id) => id.write_xml(w, "t:FolderId"),
            Self::Distinguished {
                id,
                change_key,
                mailbox,
            } => {
                let tag = w
                    .start("t:DistinguishedFolderId")
                    .attr("Id", id.as_str())
                    .attr_opt("ChangeKey", change_key.as_deref());
                match mailbox {
                    Some(mailbox) => {
                        tag.open();
                        mailbox.write_xml(w, "t:Mailbox");
                        w.end("t:DistinguishedFolderId");
                    }
                    None => tag.empty(),
                }
            }
        }
    }

    /// Reads a `FolderId` or `DistinguishedFolderId`; `None` for any other element.
    pub(crate) fn read_xml(
        r: &mut XmlReader<'_>,
        element: &Element<'_>,
    ) -> Result<Option<Self>, ProtoError> {
        match element.local() {
            "FolderId" => Ok(Some(Self::Folder(FolderId::read_xml(r, element)?))),
            "DistinguishedFolderId" => {
                let id = element.attr("Id")?.ok_or(ProtoError::Missing {
                    parent: "DistinguishedFolderId",
                    missing: "Id attribute",
                })?;
                let change_key = element.attr("ChangeKey")?;
                let mut mailbox = None;
                while let Some(child) = r.child(element)? {
                    if child.local() == "Mailbox" {
                        mailbox = Some(EmailAddress::read_xml(r, &child)?);
                    } else {
                        r.skip(&child)?;
                    }
                }
                Ok(Some(Self::Distinguished {
                    id: DistinguishedFolder::parse(&id),
                    change_key,
                    mailbox,
                }))
            }
            _ => Ok(None),
        }
    }
}

/// Reads a list of folder ids (`FolderIds`, `ParentFolderIds`), skipping unknown elements.
pub(crate) fn read_folder_ids(
    r: &mut XmlReader<'_>,
    element: &Element<'_>,
) -> Result<Vec<BaseFolderId>, ProtoError> {
    let mut ids = Vec::new();
    while let Some(child) = r.child(element)? {
        match BaseFolderId::read_xml(r, &child)? {
            Some(id) => ids.push(id),
            None => r.skip(&child)?,
        }
    }
    Ok(ids)
}

/// Writes a list of folder ids inside `name`.
pub(crate) fn write_folder_ids(w: &mut XmlWriter, name: &str, ids: &[BaseFolderId]) {
    w.start(name).open();
    for id in ids {
        id.write_xml(w);
    }
    w.end(name);
}
