//! `GetItem`: messages by id, with the properties the request's `ItemShape` asks for.
//!
//! Spec: [GetItem operation](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/getitem-operation),
//! [GetItem operation (email message)](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/getitem-operation-email-message)
//! (the `Default` shape of a message, and `ErrorInvalidPropertyRequest` with the offending
//! `FieldURI` in `MessageXml` for a property a message does not have),
//! [ItemShape](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/itemshape),
//! [BaseShape](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/baseshape).
//! One `GetItemResponseMessage` per id, in the request's order: the message as `t:Message`,
//! or an error with an empty `m:Items` (`ErrorInvalidIdMalformed` for an id that is not one of
//! the store's; `ErrorItemNotFound` for an item that does not exist or that the caller may not
//! reach, as for delegates:
//! [delegation-related errors](https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/handling-delegation-related-errors-in-ews-in-exchange)).
//!
//! The request is read by the simulator's own reader in `GetItemType`'s order; the answer is
//! written in `ItemType`'s then `MessageType`'s element order. The simulator models no body,
//! MIME content or attachments: body options are read and have nothing to shape, and
//! `IncludeMimeContent` true is refused as not modelled.

use axum::response::Response;
use ews_proto::ResponseCode;
use roxmltree::{Document, Node};

use super::Call;
use super::envelope::{Children, Refusal, bad_value, one_of, text_of};
use super::folder::{BaseShape, error, read_field_uris, success, unsupported};
use super::folder_ids::{Actor, Failure, ITEM_NOT_FOUND, reach_item};
use super::move_item::read_item_ids;
use super::write::{self, MESSAGES, TYPES, Xml};
use crate::world::World;
use crate::world::clock::xs_datetime;
use crate::world::mailbox::{FOLDER_CHANGE_KEY, Item, parse_item_id};
use crate::world::message::sender_name;

/// The message properties the simulator models, in the schema's element order (`ItemType`,
/// then `MessageType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Property {
    ItemId,
    ParentFolderId,
    ItemClass,
    Subject,
    DateTimeReceived,
    Importance,
    HasAttachments,
    Sender,
    From,
    IsRead,
}

impl Property {
    const ALL: [Self; 10] = [
        Self::ItemId,
        Self::ParentFolderId,
        Self::ItemClass,
        Self::Subject,
        Self::DateTimeReceived,
        Self::Importance,
        Self::HasAttachments,
        Self::Sender,
        Self::From,
        Self::IsRead,
    ];

    fn from_field_uri(uri: &str) -> Option<Self> {
        Some(match uri {
            "item:ItemId" => Self::ItemId,
            "item:ParentFolderId" => Self::ParentFolderId,
            "item:ItemClass" => Self::ItemClass,
            "item:Subject" => Self::Subject,
            "item:DateTimeReceived" => Self::DateTimeReceived,
            "item:Importance" => Self::Importance,
            "item:HasAttachments" => Self::HasAttachments,
            "message:Sender" => Self::Sender,
            "message:From" => Self::From,
            "message:IsRead" => Self::IsRead,
            _ => return None,
        })
    }

    /// What `Default` returns for a message, as far as the simulator's item has it: the
    /// email-message page's answer carries `ItemId`, `Subject`, `HasAttachments`, `From` and
    /// `IsRead` (and the body, MIME content, size, times sent and created, response objects
    /// and recipients, which the simulator does not model).
    fn in_default(self) -> bool {
        matches!(
            self,
            Self::ItemId | Self::Subject | Self::HasAttachments | Self::From | Self::IsRead
        )
    }
}

/// An `ItemShape`: a base set plus additional properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Shape {
    pub(crate) base: BaseShape,
    pub(crate) additional: Vec<Property>,
    /// The first `FieldURI` a message does not have (`folder:`, `calendar:`, ...): every
    /// message answers `ErrorInvalidPropertyRequest` naming it.
    pub(crate) invalid: Option<String>,
}

impl Shape {
    fn wants(&self, property: Property) -> bool {
        let base = match self.base {
            BaseShape::IdOnly => property == Property::ItemId,
            BaseShape::Default => property.in_default(),
            BaseShape::AllProperties => true,
        };
        base || self.additional.contains(&property)
    }
}

/// A `GetItem` request as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GetItem {
    pub(crate) shape: Shape,
    pub(crate) items: Vec<String>,
}

impl GetItem {
    /// The mailbox the first well-formed id names, for routing an account without a mailbox.
    pub(crate) fn named_mailbox(&self, world: &World) -> Option<usize> {
        self.items.iter().find_map(|id| {
            parse_item_id(id)
                .and_then(|(m, _)| usize::try_from(m).ok())
                .filter(|m| *m < world.mailboxes.len())
        })
    }
}

/// Reads `GetItem` (`GetItemType`: `ItemShape`, `ItemIds`).
pub(crate) fn read(doc: &Document<'_>, node: Node<'_, '_>) -> Result<GetItem, Refusal> {
    let mut children = Children::of(doc, node)?;
    let shape = read_shape(doc, children.required(MESSAGES, "ItemShape")?)?;
    let items = read_item_ids(doc, children.required(MESSAGES, "ItemIds")?, "GetItem")?;
    children.end()?;
    Ok(GetItem { shape, items })
}

/// An optional `xs:boolean` element (white space collapsed).
fn boolean(doc: &Document<'_>, node: Option<Node<'_, '_>>) -> Result<Option<bool>, Refusal> {
    let Some(node) = node else {
        return Ok(None);
    };
    let text = text_of(doc, node)?;
    match text.trim() {
        "true" | "1" => Ok(Some(true)),
        "false" | "0" => Ok(Some(false)),
        other => Err(bad_value(
            doc,
            node,
            other,
            "http://www.w3.org/2001/XMLSchema:boolean",
            &format!("The string '{other}' is not a valid Boolean value"),
        )),
    }
}

/// Reads `ItemShape` (`ItemResponseShapeType`: `BaseShape`, `IncludeMimeContent`?,
/// `BodyType`?, `UniqueBodyType`?, `NormalizedBodyType`?, `FilterHtmlContent`?,
/// `ConvertHtmlCodePageToUTF8`?, `InlineImageUrlTemplate`?, `BlockExternalImages`?,
/// `AddBlankTargetToLinks`?, `MaximumBodySize`?, `AdditionalProperties`?).
pub(crate) fn read_shape(doc: &Document<'_>, node: Node<'_, '_>) -> Result<Shape, Refusal> {
    let mut children = Children::of(doc, node)?;
    let base_node = children.required(TYPES, "BaseShape")?;
    let base = match text_of(doc, base_node)?.as_str() {
        "IdOnly" => BaseShape::IdOnly,
        "Default" => BaseShape::Default,
        "AllProperties" => BaseShape::AllProperties,
        "PcxPeopleSearch" => return Err(unsupported("the PcxPeopleSearch shape")),
        other => {
            return Err(bad_value(
                doc,
                base_node,
                other,
                &format!("{TYPES}:DefaultShapeNamesType"),
                "The Enumeration constraint failed",
            ));
        }
    };
    if boolean(doc, children.optional(TYPES, "IncludeMimeContent"))? == Some(true) {
        return Err(unsupported("MIME content"));
    }
    for name in ["BodyType", "UniqueBodyType", "NormalizedBodyType"] {
        if let Some(body_type) = children.optional(TYPES, name) {
            one_of(
                doc,
                body_type,
                "BodyTypeResponseType",
                &["Best", "HTML", "Text"],
            )?;
        }
    }
    boolean(doc, children.optional(TYPES, "FilterHtmlContent"))?;
    boolean(doc, children.optional(TYPES, "ConvertHtmlCodePageToUTF8"))?;
    if let Some(template) = children.optional(TYPES, "InlineImageUrlTemplate") {
        text_of(doc, template)?;
    }
    boolean(doc, children.optional(TYPES, "BlockExternalImages"))?;
    boolean(doc, children.optional(TYPES, "AddBlankTargetToLinks"))?;
    if let Some(size) = children.optional(TYPES, "MaximumBodySize") {
        let text = text_of(doc, size)?;
        let value = text.trim();
        if value.parse::<i32>().is_err() {
            return Err(bad_value(
                doc,
                size,
                value,
                "http://www.w3.org/2001/XMLSchema:int",
                &format!("The string '{value}' is not a valid Int32 value"),
            ));
        }
    }
    let mut shape = Shape {
        base,
        additional: Vec::new(),
        invalid: None,
    };
    if let Some(list) = children.optional(TYPES, "AdditionalProperties") {
        read_paths(doc, list, &mut shape)?;
    }
    children.end()?;
    Ok(shape)
}

/// Reads `AdditionalProperties` (`NonEmptyArrayOfPathsToElementType`). Field URIs of items and
/// messages the simulator does not model, and extended or indexed properties, are accepted and
/// not answered; a field URI of another class (`folder:`, `calendar:`, ...) makes every
/// message answer `ErrorInvalidPropertyRequest`.
fn read_paths(doc: &Document<'_>, list: Node<'_, '_>, shape: &mut Shape) -> Result<(), Refusal> {
    read_field_uris(doc, list, |class, uri| {
        match Property::from_field_uri(uri) {
            Some(property) => shape.additional.push(property),
            None if class != "item" && class != "message" && shape.invalid.is_none() => {
                shape.invalid = Some(uri.to_owned());
            }
            None => {}
        }
    })
}

/// The item an id names, if `actor` may reach it: its mailbox, number and a copy.
fn find(world: &World, actor: &Actor, id: &str) -> Result<(usize, u64, Item), Failure> {
    let (owner, number, _) = reach_item(world, actor, id)?;
    let item = world.mailboxes[owner].item(number).ok_or(ITEM_NOT_FOUND)?;
    Ok((owner, number, item))
}

/// `GetItem`: one response message per id, in order. Counts the request and the messages it
/// returned.
pub(crate) fn get_item(call: &Call, actor: &Actor, request: &GetItem) -> Response {
    let world = &call.ctx.world;
    let mut returned = 0u64;
    let response = write::envelope(world, |xml| {
        xml.open(
            "m:GetItemResponse",
            &[("xmlns:m", MESSAGES), ("xmlns:t", TYPES)],
        )
        .open("m:ResponseMessages", &[]);
        let element = "m:GetItemResponseMessage";
        for id in &request.items {
            match find(world, actor, id) {
                Ok(_) if request.shape.invalid.is_some() => {
                    invalid_property(xml, element, request.shape.invalid.as_deref());
                }
                Ok((owner, number, item)) => {
                    success(xml, element);
                    xml.open("m:Items", &[]);
                    write_message(xml, world, (owner, number), &item, &request.shape);
                    xml.close("m:Items");
                    returned += 1;
                }
                Err(failure) => {
                    error(xml, element, failure);
                    xml.empty("m:Items", &[]);
                }
            }
            xml.close(element);
        }
        xml.close("m:ResponseMessages").close("m:GetItemResponse");
    });
    world
        .ews_counters
        .items_read
        .fetch_add(returned, std::sync::atomic::Ordering::Relaxed);
    response
}

/// `ErrorInvalidPropertyRequest` naming the `FieldURI`, as the email-message page shows it.
fn invalid_property(xml: &mut Xml, element: &str, uri: Option<&str>) {
    error(
        xml,
        element,
        (
            ResponseCode::ErrorInvalidPropertyRequest,
            "Property is not valid for this object type.",
        ),
    );
    xml.open("m:MessageXml", &[])
        .empty("t:FieldURI", &[("FieldURI", uri.unwrap_or_default())])
        .close("m:MessageXml")
        .empty("m:Items", &[]);
}

/// Writes one message with the properties `shape` asks for, in the schema's order. `From` and
/// `Sender` are the same mailbox (the simulator's sender sends for itself): `Name` is the
/// display name, or the address for a sender without one, `RoutingType` `SMTP`.
fn write_message(
    xml: &mut Xml,
    world: &World,
    (owner, number): (usize, u64),
    item: &Item,
    shape: &Shape,
) {
    let Some(store) = world.mailboxes.get(owner) else {
        return;
    };
    xml.open("t:Message", &[]);
    for property in Property::ALL.into_iter().filter(|p| shape.wants(*p)) {
        match property {
            Property::ItemId => {
                let id = store.item_id(number, item.version);
                let change_key = id.change_key.unwrap_or_default();
                xml.empty("t:ItemId", &[("Id", &id.id), ("ChangeKey", &change_key)]);
            }
            Property::ParentFolderId => {
                let id = store.folder_id(item.folder);
                xml.empty(
                    "t:ParentFolderId",
                    &[("Id", &id.id), ("ChangeKey", FOLDER_CHANGE_KEY)],
                );
            }
            Property::ItemClass => {
                xml.leaf("t:ItemClass", "IPM.Note");
            }
            Property::Subject => {
                xml.leaf("t:Subject", &item.subject);
            }
            Property::DateTimeReceived => {
                xml.leaf("t:DateTimeReceived", &xs_datetime(item.received));
            }
            Property::Importance => {
                xml.leaf("t:Importance", item.importance.ews());
            }
            Property::HasAttachments => {
                xml.leaf("t:HasAttachments", "false");
            }
            Property::Sender => mailbox(xml, "t:Sender", item),
            Property::From => mailbox(xml, "t:From", item),
            Property::IsRead => {
                xml.leaf("t:IsRead", if item.read { "true" } else { "false" });
            }
        }
    }
    xml.close("t:Message");
}

/// A `SingleRecipientType`: `t:Mailbox` with `Name`, `EmailAddress`, `RoutingType`.
fn mailbox(xml: &mut Xml, element: &str, item: &Item) {
    xml.open(element, &[])
        .open("t:Mailbox", &[])
        .leaf("t:Name", sender_name(&item.from, item.from_name.as_deref()))
        .leaf("t:EmailAddress", &item.from)
        .leaf("t:RoutingType", "SMTP")
        .close("t:Mailbox")
        .close(element);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ews::envelope::{assert_schema_refusal, read_operation};

    const IDS: &str = r#"<m:ItemIds><t:ItemId Id="QUFNa0kwLjA=" ChangeKey="CQAAAB"/><t:ItemId Id="b"/></m:ItemIds>"#;

    fn get_item(shape: &str) -> String {
        format!("<m:GetItem><m:ItemShape>{shape}</m:ItemShape>{IDS}</m:GetItem>")
    }

    #[test]
    fn reads_the_shape_and_the_ids_in_order() {
        let request = read_operation(
            &get_item(
                r#"<t:BaseShape>IdOnly</t:BaseShape><t:BodyType>Text</t:BodyType><t:AdditionalProperties><t:FieldURI FieldURI="message:From"/><t:FieldURI FieldURI="item:Subject"/><t:FieldURI FieldURI="item:Size"/><t:ExtendedFieldURI PropertyTag="0x1000" PropertyType="String"/><t:FieldURI FieldURI="item:Importance"/></t:AdditionalProperties>"#,
            ),
            read,
        )
        .expect("valid request");
        assert_eq!(request.shape.base, BaseShape::IdOnly);
        assert_eq!(
            request.shape.additional,
            [Property::From, Property::Subject, Property::Importance]
        );
        assert_eq!(request.shape.invalid, None);
        assert_eq!(request.items, ["QUFNa0kwLjA=", "b"]);
    }

    #[test]
    fn a_folder_property_is_noted_for_error_invalid_property_request() {
        let request = read_operation(
            &get_item(
                r#"<t:BaseShape>Default</t:BaseShape><t:AdditionalProperties><t:FieldURI FieldURI="folder:DisplayName"/><t:FieldURI FieldURI="calendar:Start"/></t:AdditionalProperties>"#,
            ),
            read,
        )
        .expect("valid request");
        assert_eq!(request.shape.invalid.as_deref(), Some("folder:DisplayName"));
    }

    #[test]
    fn refuses_what_the_schema_refuses() {
        let cases = [
            (get_item("<t:BaseShape>Everything</t:BaseShape>"), "DefaultShapeNamesType"),
            (
                get_item("<t:BaseShape>IdOnly</t:BaseShape><t:BodyType>Rtf</t:BodyType>"),
                "BodyTypeResponseType",
            ),
            (
                get_item("<t:BodyType>Text</t:BodyType><t:BaseShape>IdOnly</t:BaseShape>"),
                "'BaseShape'",
            ),
            (
                get_item("<t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties/>"),
                "incomplete content",
            ),
            (
                get_item("<t:BaseShape>IdOnly</t:BaseShape><t:IncludeMimeContent>yes</t:IncludeMimeContent>"),
                "Boolean",
            ),
            (
                "<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:ItemIds/></m:GetItem>".to_owned(),
                "incomplete content",
            ),
            (
                "<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape></m:GetItem>".to_owned(),
                "'ItemIds'",
            ),
            (
                "<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:ItemIds><t:ItemId/></m:ItemIds></m:GetItem>".to_owned(),
                "'Id'",
            ),
        ];
        for (operation, named) in cases {
            assert_schema_refusal(read_operation(&operation, read), named);
        }
    }

    #[test]
    fn occurrences_and_mime_content_are_not_modelled() {
        for operation in [
            get_item("<t:BaseShape>IdOnly</t:BaseShape><t:IncludeMimeContent>true</t:IncludeMimeContent>"),
            r#"<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:ItemIds><t:OccurrenceItemId RecurringMasterId="x" InstanceIndex="1"/></m:ItemIds></m:GetItem>"#.to_owned(),
        ] {
            let refusal = read_operation(&operation, read).expect_err(&operation);
            assert_eq!(refusal.code, ResponseCode::ErrorInvalidRequest, "{operation}");
        }
    }

    #[test]
    fn default_is_the_documented_set_and_additional_properties_come_on_top() {
        let shape = Shape {
            base: BaseShape::Default,
            additional: vec![Property::Importance],
            invalid: None,
        };
        let wanted: Vec<Property> = Property::ALL
            .into_iter()
            .filter(|p| shape.wants(*p))
            .collect();
        assert_eq!(
            wanted,
            [
                Property::ItemId,
                Property::Subject,
                Property::Importance,
                Property::HasAttachments,
                Property::From,
                Property::IsRead
            ]
        );
        let id_only = Shape {
            base: BaseShape::IdOnly,
            ..shape
        };
        assert!(!id_only.wants(Property::Subject) && id_only.wants(Property::ItemId));
    }

    #[test]
    fn the_answer_is_valid_against_the_schema() {
        let world = World::new(
            crate::Scenario::from_toml(
                "[[domains]]\nname = \"contoso.com\"\n[[servers]]\nname = \"mbx1\"\n[[users]]\nsmtp = \"mara@contoso.com\"\n",
            )
            .expect("scenario"),
        );
        let message = crate::NewMessage::new("Q3 <numbers> & more", "boss@contoso.com")
            .with_from_name("The Boss")
            .with_importance(crate::Importance::High);
        let number = world.mailboxes[0].deliver_message(world.clock.now(), &message);
        let item = world.mailboxes[0].item(number).expect("delivered");
        let all = Shape {
            base: BaseShape::AllProperties,
            additional: Vec::new(),
            invalid: None,
        };
        let bytes = write::document(&world, |xml| {
            xml.open(
                "m:GetItemResponse",
                &[("xmlns:m", MESSAGES), ("xmlns:t", TYPES)],
            )
            .open("m:ResponseMessages", &[]);
            success(xml, "m:GetItemResponseMessage");
            xml.open("m:Items", &[]);
            write_message(xml, &world, (0, number), &item, &all);
            xml.close("m:Items").close("m:GetItemResponseMessage");
            invalid_property(xml, "m:GetItemResponseMessage", Some("folder:DisplayName"));
            xml.close("m:GetItemResponseMessage");
            xml.close("m:ResponseMessages").close("m:GetItemResponse");
        });
        let text = String::from_utf8(bytes).expect("UTF-8");
        crate::ews::strict::validate_answer(&text).expect("valid against the schema");
        assert!(
            text.contains("<t:Subject>Q3 &lt;numbers&gt; &amp; more</t:Subject>"),
            "{text}"
        );
        assert!(text.contains("<t:Importance>High</t:Importance>"), "{text}");
        assert!(
            text.contains("<t:From><t:Mailbox><t:Name>The Boss</t:Name><t:EmailAddress>boss@contoso.com</t:EmailAddress><t:RoutingType>SMTP</t:RoutingType></t:Mailbox></t:From><t:IsRead>false</t:IsRead></t:Message>"),
            "{text}"
        );
    }
}
