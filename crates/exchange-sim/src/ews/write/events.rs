//! The one writer of notification events, used by pull (`GetEvents`), streaming
//! (`GetStreamingEvents`) and push (`SendNotification`).
//!
//! Schema: `NotificationType` of `types.xsd` (`SubscriptionId`, `PreviousWatermark`?,
//! `MoreEvents`?, the events); each event `BaseNotificationEventType` (`Watermark`?), then for
//! item and folder events `BaseObjectChangedEventType` (`TimeStamp`, `FolderId` or `ItemId`,
//! `ParentFolderId`), then `MovedCopiedEventType` (`OldFolderId` or `OldItemId`,
//! `OldParentFolderId`) or `ModifiedEventType` (`UnreadCount`?).
//! Spec: [Notification](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/notification-ex15websvcsotherref).
//!
//! The events themselves are the world's records (`ews_proto::Event`, plain data); only
//! their writing is the simulator's.

use ews_proto::{ChangedObject, Event, FolderId, ItemId, Notification};

use super::Xml;

fn folder_id(xml: &mut Xml, name: &str, id: &FolderId) {
    match &id.change_key {
        Some(key) => xml.empty(name, &[("Id", &id.id), ("ChangeKey", key)]),
        None => xml.empty(name, &[("Id", &id.id)]),
    };
}

fn item_id(xml: &mut Xml, name: &str, id: &ItemId) {
    match &id.change_key {
        Some(key) => xml.empty(name, &[("Id", &id.id), ("ChangeKey", key)]),
        None => xml.empty(name, &[("Id", &id.id)]),
    };
}

fn object(xml: &mut Xml, old: bool, object: &ChangedObject) {
    match (object, old) {
        (ChangedObject::Folder(id), false) => folder_id(xml, "t:FolderId", id),
        (ChangedObject::Folder(id), true) => folder_id(xml, "t:OldFolderId", id),
        (ChangedObject::Item(id), false) => item_id(xml, "t:ItemId", id),
        (ChangedObject::Item(id), true) => item_id(xml, "t:OldItemId", id),
        // `ChangedObject` is non-exhaustive: a kind the simulator does not know is not written.
        _ => {}
    }
}

/// One event (`t:CreatedEvent`, `t:NewMailEvent`, ...), its children in schema order. Fields
/// the world did not set are left out; the world sets those its kind's type requires.
pub(crate) fn event(xml: &mut Xml, event: &Event) {
    let name = format!("t:{}", event.kind.as_str());
    xml.open(&name, &[]);
    if let Some(watermark) = &event.watermark {
        xml.leaf("t:Watermark", watermark.as_str());
    }
    if let Some(timestamp) = &event.timestamp {
        xml.leaf("t:TimeStamp", timestamp);
    }
    if let Some(changed) = &event.object {
        object(xml, false, changed);
    }
    if let Some(parent) = &event.parent_folder_id {
        folder_id(xml, "t:ParentFolderId", parent);
    }
    if let Some(changed) = &event.old_object {
        object(xml, true, changed);
    }
    if let Some(parent) = &event.old_parent_folder_id {
        folder_id(xml, "t:OldParentFolderId", parent);
    }
    if let Some(count) = event.unread_count {
        xml.leaf("t:UnreadCount", &count.to_string());
    }
    xml.close(&name);
}

/// A notification as `element` (`m:Notification` in `GetEvents`, `SendNotification` and
/// `GetStreamingEvents` answers alike: see `schema/README.md`), its children in the types
/// namespace.
pub(crate) fn notification(xml: &mut Xml, element: &str, notification: &Notification) {
    xml.open(element, &[])
        .leaf("t:SubscriptionId", notification.subscription_id.as_str());
    if let Some(previous) = &notification.previous_watermark {
        xml.leaf("t:PreviousWatermark", previous.as_str());
    }
    if let Some(more) = notification.more_events {
        xml.leaf("t:MoreEvents", if more { "true" } else { "false" });
    }
    for each in &notification.events {
        event(xml, each);
    }
    xml.close(element);
}

#[cfg(test)]
mod tests {
    use super::*;
    use ews_proto::{EventType, SubscriptionId, Watermark};

    fn written(e: &Event) -> String {
        let mut xml = Xml::default();
        event(&mut xml, e);
        xml.as_str().to_owned()
    }

    fn children(text: &str) -> Vec<String> {
        let wrapped = format!("<r xmlns:t=\"{}\">{text}</r>", crate::ews::write::TYPES);
        let doc = roxmltree::Document::parse(&wrapped).expect("well-formed");
        let event = doc.root_element().first_element_child().expect("event");
        event
            .children()
            .filter(roxmltree::Node::is_element)
            .map(|n| n.tag_name().name().to_owned())
            .collect()
    }

    fn changed(kind: EventType, object: ChangedObject) -> Event {
        let mut e = Event::new(kind);
        e.watermark = Some(Watermark::new("AQID"));
        e.timestamp = Some("2026-01-01T00:00:00Z".into());
        e.object = Some(object);
        e.parent_folder_id = Some(FolderId::new("P").with_change_key("AQAAAA=="));
        e
    }

    #[test]
    fn object_events_have_watermark_timestamp_id_and_parent_in_order() {
        for kind in [
            EventType::Created,
            EventType::NewMail,
            EventType::Deleted,
            EventType::FreeBusyChanged,
        ] {
            let e = changed(
                kind.clone(),
                ChangedObject::Item(ItemId::new("I").with_change_key("CQ==")),
            );
            let text = written(&e);
            assert!(
                text.starts_with(&format!("<t:{}>", kind.as_str())),
                "{text}"
            );
            assert_eq!(
                children(&text),
                ["Watermark", "TimeStamp", "ItemId", "ParentFolderId"]
            );
            assert!(
                text.contains("<t:ItemId Id=\"I\" ChangeKey=\"CQ==\"/>"),
                "{text}"
            );
        }
    }

    #[test]
    fn moved_and_copied_events_add_the_old_ids_after_the_parent() {
        for kind in [EventType::Moved, EventType::Copied] {
            let mut e = changed(kind.clone(), ChangedObject::Folder(FolderId::new("F")));
            e.old_object = Some(ChangedObject::Folder(FolderId::new("OF")));
            e.old_parent_folder_id = Some(FolderId::new("OP"));
            assert_eq!(
                children(&written(&e)),
                [
                    "Watermark",
                    "TimeStamp",
                    "FolderId",
                    "ParentFolderId",
                    "OldFolderId",
                    "OldParentFolderId"
                ]
            );
            let mut e = changed(kind, ChangedObject::Item(ItemId::new("I")));
            e.old_object = Some(ChangedObject::Item(ItemId::new("OI")));
            e.old_parent_folder_id = Some(FolderId::new("OP"));
            assert_eq!(
                children(&written(&e))[4..],
                ["OldItemId", "OldParentFolderId"]
            );
        }
    }

    #[test]
    fn a_modified_folder_ends_with_its_unread_count_and_streaming_events_have_no_watermark() {
        let mut e = changed(
            EventType::Modified,
            ChangedObject::Folder(FolderId::new("F")),
        );
        e.watermark = None;
        e.unread_count = Some(3);
        let text = written(&e);
        assert_eq!(
            children(&text),
            ["TimeStamp", "FolderId", "ParentFolderId", "UnreadCount"]
        );
        assert!(text.contains("<t:UnreadCount>3</t:UnreadCount>"), "{text}");
    }

    #[test]
    fn a_status_event_carries_only_its_watermark() {
        assert_eq!(
            written(&Event::status(Some(Watermark::new("AQ==")))),
            "<t:StatusEvent><t:Watermark>AQ==</t:Watermark></t:StatusEvent>"
        );
        assert_eq!(
            written(&Event::status(None)),
            "<t:StatusEvent></t:StatusEvent>"
        );
    }

    #[test]
    fn identifiers_and_watermarks_are_escaped() {
        let mut e = changed(
            EventType::Created,
            ChangedObject::Item(ItemId::new("a\"<&>b").with_change_key("k&")),
        );
        e.watermark = Some(Watermark::new("w<&>"));
        let text = written(&e);
        assert!(
            text.contains("<t:Watermark>w&lt;&amp;&gt;</t:Watermark>"),
            "{text}"
        );
        assert!(
            text.contains("Id=\"a&quot;&lt;&amp;&gt;b\" ChangeKey=\"k&amp;\""),
            "{text}"
        );
        children(&text);
    }

    #[test]
    fn every_kind_is_valid_by_the_schema_in_a_notification() {
        let mut n = Notification::new(SubscriptionId::new("S"));
        n.previous_watermark = Some(Watermark::new("PW"));
        n.more_events = Some(true);
        let item = || ChangedObject::Item(ItemId::new("I").with_change_key("CQ=="));
        let folder = || ChangedObject::Folder(FolderId::new("F").with_change_key("AQ=="));
        for kind in [EventType::Created, EventType::NewMail, EventType::Deleted] {
            n.events.push(changed(kind, item()));
        }
        n.events.push(changed(EventType::FreeBusyChanged, item()));
        let mut modified = changed(EventType::Modified, folder());
        modified.unread_count = Some(2);
        n.events.push(modified);
        n.events.push(changed(EventType::Modified, item()));
        for kind in [EventType::Moved, EventType::Copied] {
            let mut e = changed(kind.clone(), item());
            e.old_object = Some(ChangedObject::Item(ItemId::new("OI")));
            e.old_parent_folder_id = Some(FolderId::new("OP"));
            n.events.push(e);
            let mut e = changed(kind, folder());
            e.old_object = Some(ChangedObject::Folder(FolderId::new("OF")));
            e.old_parent_folder_id = Some(FolderId::new("OP"));
            n.events.push(e);
        }
        n.events.push(Event::status(Some(Watermark::new("W"))));
        let bytes = crate::ews::write::request("Exchange2013", |xml| {
            xml.open(
                "m:SendNotification",
                &[
                    ("xmlns:m", crate::ews::write::MESSAGES),
                    ("xmlns:t", crate::ews::write::TYPES),
                ],
            )
            .open("m:ResponseMessages", &[])
            .open(
                "m:SendNotificationResponseMessage",
                &[("ResponseClass", "Success")],
            )
            .leaf("m:ResponseCode", "NoError");
            notification(xml, "m:Notification", &n);
            xml.close("m:SendNotificationResponseMessage")
                .close("m:ResponseMessages")
                .close("m:SendNotification");
        });
        let text = String::from_utf8(bytes).expect("utf-8");
        crate::ews::strict::validate_answer(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    }

    #[test]
    fn a_notification_lists_its_header_then_the_events() {
        let mut n = Notification::new(SubscriptionId::new("S&1"));
        n.previous_watermark = Some(Watermark::new("PW"));
        n.more_events = Some(false);
        n.events.push(Event::status(Some(Watermark::new("W"))));
        let mut xml = Xml::default();
        notification(&mut xml, "m:Notification", &n);
        assert_eq!(
            xml.as_str(),
            "<m:Notification><t:SubscriptionId>S&amp;1</t:SubscriptionId>\
             <t:PreviousWatermark>PW</t:PreviousWatermark><t:MoreEvents>false</t:MoreEvents>\
             <t:StatusEvent><t:Watermark>W</t:Watermark></t:StatusEvent></m:Notification>"
        );
    }
}
