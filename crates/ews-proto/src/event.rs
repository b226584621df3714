//! Notifications and the events they carry.

use crate::error::ProtoError;
use crate::types::{EventType, FolderId, ItemId, SubscriptionId, Watermark};
use crate::xml::{Element, XmlReader, XmlWriter};

/// The item or folder an event is about.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ChangedObject {
    /// `ItemId` (or `OldItemId`).
    Item(ItemId),
    /// `FolderId` (or `OldFolderId`).
    Folder(FolderId),
}

/// One event of a notification ([`NotificationType`] choice).
///
/// All kinds share one shape: status events carry only a watermark, item and folder events add
/// the time stamp and identifiers, moves and copies the old identifiers, folder modifications
/// the unread count.
///
/// [`NotificationType`]: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/notification-ex15websvcsotherref
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[non_exhaustive]
pub struct Event {
    /// The kind, from the element name (`NewMailEvent`, ...); unknown kinds are kept.
    pub kind: EventType,
    /// `Watermark`: the position after this event (pull and push; absent in streaming).
    pub watermark: Option<Watermark>,
    /// `TimeStamp`, as sent (`xs:dateTime`).
    pub timestamp: Option<String>,
    /// `ItemId` or `FolderId`.
    pub object: Option<ChangedObject>,
    /// `ParentFolderId`.
    pub parent_folder_id: Option<FolderId>,
    /// `OldItemId` or `OldFolderId` (moves and copies).
    pub old_object: Option<ChangedObject>,
    /// `OldParentFolderId` (moves and copies).
    pub old_parent_folder_id: Option<FolderId>,
    /// `UnreadCount` (modified folders).
    pub unread_count: Option<i32>,
}

impl Event {
    /// An event of this kind with no fields set.
    pub fn new(kind: EventType) -> Self {
        Self {
            kind,
            ..Self::default()
        }
    }

    /// A status (heartbeat) event.
    pub fn status(watermark: Option<Watermark>) -> Self {
        Self {
            watermark,
            ..Self::new(EventType::Status)
        }
    }

    /// The item identifier, for item events.
    pub fn item_id(&self) -> Option<&ItemId> {
        match &self.object {
            Some(ChangedObject::Item(id)) => Some(id),
            _ => None,
        }
    }

    /// The folder identifier, for folder events.
    pub fn folder_id(&self) -> Option<&FolderId> {
        match &self.object {
            Some(ChangedObject::Folder(id)) => Some(id),
            _ => None,
        }
    }

    pub(crate) fn write_xml(&self, w: &mut XmlWriter) {
        let name = format!("t:{}", self.kind.as_str());
        w.start(&name).open();
        w.leaf_opt(
            "t:Watermark",
            self.watermark.as_ref().map(Watermark::as_str),
        );
        w.leaf_opt("t:TimeStamp", self.timestamp.as_deref());
        match &self.object {
            Some(ChangedObject::Item(id)) => id.write_xml(w, "t:ItemId"),
            Some(ChangedObject::Folder(id)) => id.write_xml(w, "t:FolderId"),
            None => {}
        }
        if let Some(parent) = &self.parent_folder_id {
            parent.write_xml(w, "t:ParentFolderId");
        }
        match &self.old_object {
            Some(ChangedObject::Item(id)) => id.write_xml(w, "t:OldItemId"),
            Some(ChangedObject::Folder(id)) => id.write_xml(w, "t:OldFolderId"),
            None => {}
        }
        if let Some(parent) = &self.old_parent_folder_id {
            parent.write_xml(w, "t:OldParentFolderId");
        }
        if let Some(count) = self.unread_count {
            w.leaf("t:UnreadCount", &count.to_string());
        }
        w.end(&name);
    }

    pub(crate) fn read_xml(
        r: &mut XmlReader<'_>,
        element: &Element<'_>,
    ) -> Result<Self, ProtoError> {
        let mut event = Self::new(EventType::parse(element.plain_name()?));
        while let Some(child) = r.child(element)? {
            match child.local() {
                "Watermark" => event.watermark = Some(Watermark::new(r.trimmed(&child)?)),
                "TimeStamp" => event.timestamp = Some(r.trimmed(&child)?),
                "ItemId" => event.object = Some(ChangedObject::Item(ItemId::read_xml(r, &child)?)),
                "FolderId" => {
                    event.object = Some(ChangedObject::Folder(FolderId::read_xml(r, &child)?))
                }
                "ParentFolderId" => event.parent_folder_id = Some(FolderId::read_xml(r, &child)?),
                "OldItemId" => {
                    event.old_object = Some(ChangedObject::Item(ItemId::read_xml(r, &child)?));
                }
                "OldFolderId" => {
                    event.old_object = Some(ChangedObject::Folder(FolderId::read_xml(r, &child)?));
                }
                "OldParentFolderId" => {
                    event.old_parent_folder_id = Some(FolderId::read_xml(r, &child)?)
                }
                "UnreadCount" => {
                    event.unread_count =
                        Some(r.parse(&child, "UnreadCount", "expected an integer")?);
                }
                _ => r.skip(&child)?,
            }
        }
        Ok(event)
    }
}

/// A batch of events for one subscription ([`Notification`]).
///
/// Exchange sends at most 50 events per notification; `more_events` says whether more are
/// waiting.
///
/// [`Notification`]: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/notification-ex15websvcsotherref
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[non_exhaustive]
pub struct Notification {
    /// `SubscriptionId`.
    pub subscription_id: SubscriptionId,
    /// `PreviousWatermark`: the position before the first event.
    pub previous_watermark: Option<Watermark>,
    /// `MoreEvents`: whether more events are queued on the server.
    pub more_events: Option<bool>,
    /// The events, in order.
    pub events: Vec<Event>,
}

impl Notification {
    /// A notification for this subscription with no events.
    pub fn new(subscription_id: SubscriptionId) -> Self {
        Self {
            subscription_id,
            ..Self::default()
        }
    }

    /// The watermark after the last event that carries one.
    pub fn last_watermark(&self) -> Option<&Watermark> {
        self.events.iter().rev().find_map(|e| e.watermark.as_ref())
    }

    pub(crate) fn write_xml(&self, w: &mut XmlWriter, name: &str) {
        w.start(name).open();
        w.leaf("t:SubscriptionId", self.subscription_id.as_str());
        w.leaf_opt(
            "t:PreviousWatermark",
            self.previous_watermark.as_ref().map(Watermark::as_str),
        );
        if let Some(more) = self.more_events {
            w.leaf("t:MoreEvents", if more { "true" } else { "false" });
        }
        for event in &self.events {
            event.write_xml(w);
        }
        w.end(name);
    }

    pub(crate) fn read_xml(
        r: &mut XmlReader<'_>,
        element: &Element<'_>,
    ) -> Result<Self, ProtoError> {
        let mut out = Self::default();
        let mut has_id = false;
        while let Some(child) = r.child(element)? {
            match child.local() {
                "SubscriptionId" => {
                    out.subscription_id = SubscriptionId::new(r.trimmed(&child)?);
                    has_id = true;
                }
                "PreviousWatermark" => {
                    out.previous_watermark = Some(Watermark::new(r.trimmed(&child)?))
                }
                "MoreEvents" => out.more_events = Some(r.boolean(&child, "MoreEvents")?),
                name if name.ends_with("Event") => out.events.push(Event::read_xml(r, &child)?),
                _ => r.skip(&child)?,
            }
        }
        if !has_id {
            return Err(ProtoError::Missing {
                parent: "Notification",
                missing: "SubscriptionId",
            });
        }
        Ok(out)
    }
}
