//! `GetItem`: read items, here who sent new mail, its subject, importance, arrival time and
//! folder, for many items of one mailbox in one call.
//!
//! Spec: [GetItem operation](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/getitem-operation),
//! [ItemShape](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/itemshape),
//! [AdditionalProperties](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/additionalproperties),
//! [ItemIds](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/itemids).
//! Element order follows Microsoft's schema (`messages.xsd` `GetItemType`, `types.xsd`
//! `ItemResponseShapeType`, `ItemType`, `MessageType`).

mod item;

pub use item::{ItemKind, ItemSummary};

use super::{BaseShape, Operation, messages_action, response_messages, status_accessors};
use crate::error::ProtoError;
use crate::soap::sealed::Body;
use crate::soap::{MessageFields, ResponseStatus};
use crate::types::ItemId;
use crate::xml::{Element, XmlReader, XmlWriter};

/// A property to return, one child of [`AdditionalProperties`] (the schema's `t:Path`
/// substitution group: `FieldURI`, `IndexedFieldURI`, `ExtendedFieldURI`).
///
/// [`AdditionalProperties`]: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/additionalproperties
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[non_exhaustive]
pub enum PropertyPath {
    /// [`FieldURI`](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/fielduri):
    /// a property by name (`item:Subject`, `message:From`).
    Field(String),
    /// [`IndexedFieldURI`](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/indexedfielduri):
    /// one entry of a dictionary property (`contacts:EmailAddress`, `EmailAddress1`).
    Indexed {
        /// `FieldURI` attribute.
        field_uri: String,
        /// `FieldIndex` attribute.
        field_index: String,
    },
    /// [`ExtendedFieldURI`](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/extendedfielduri):
    /// a MAPI property.
    Extended(ExtendedFieldUri),
}

impl PropertyPath {
    /// A `FieldURI`.
    pub fn field(uri: impl Into<String>) -> Self {
        Self::Field(uri.into())
    }

    fn write_xml(&self, w: &mut XmlWriter) {
        match self {
            Self::Field(uri) => w.start("t:FieldURI").attr("FieldURI", uri).empty(),
            Self::Indexed {
                field_uri,
                field_index,
            } => w
                .start("t:IndexedFieldURI")
                .attr("FieldURI", field_uri)
                .attr("FieldIndex", field_index)
                .empty(),
            Self::Extended(path) => path.write_xml(w),
        }
    }

    /// Reads one path and consumes its element; `None` (element not consumed) for any
    /// element that is not a path.
    fn read_xml(r: &mut XmlReader<'_>, element: &Element<'_>) -> Result<Option<Self>, ProtoError> {
        let path = match element.local() {
            "FieldURI" => Self::Field(element.attr("FieldURI")?.ok_or(ProtoError::Missing {
                parent: "FieldURI",
                missing: "FieldURI attribute",
            })?),
            "IndexedFieldURI" => {
                let [uri, index] = element.attrs(["FieldURI", "FieldIndex"])?;
                let missing = |missing| ProtoError::Missing {
                    parent: "IndexedFieldURI",
                    missing,
                };
                Self::Indexed {
                    field_uri: uri.ok_or_else(|| missing("FieldURI attribute"))?,
                    field_index: index.ok_or_else(|| missing("FieldIndex attribute"))?,
                }
            }
            "ExtendedFieldURI" => Self::Extended(ExtendedFieldUri::read_attributes(element)?),
            _ => return Ok(None),
        };
        r.skip(element)?;
        Ok(Some(path))
    }
}

/// The attributes of an `ExtendedFieldURI` ([`PathToExtendedFieldType`]): a property set and
/// a name or id, or a property tag; always a property type.
///
/// [`PathToExtendedFieldType`]: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/extendedfielduri
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[non_exhaustive]
pub struct ExtendedFieldUri {
    /// `DistinguishedPropertySetId` (`PublicStrings`, `Common`, ...).
    pub distinguished_property_set_id: Option<String>,
    /// `PropertySetId`, a GUID.
    pub property_set_id: Option<String>,
    /// `PropertyTag` (`0x1000` or a decimal number).
    pub property_tag: Option<String>,
    /// `PropertyName`.
    pub property_name: Option<String>,
    /// `PropertyId`.
    pub property_id: Option<String>,
    /// `PropertyType` (`String`, `Integer`, `SystemTime`, ...), required.
    pub property_type: String,
}

impl ExtendedFieldUri {
    /// A property by tag (`0x0E08`) and type (`Integer`).
    pub fn tag(property_tag: impl Into<String>, property_type: impl Into<String>) -> Self {
        Self {
            property_tag: Some(property_tag.into()),
            property_type: property_type.into(),
            ..Self::default()
        }
    }

    fn write_xml(&self, w: &mut XmlWriter) {
        w.start("t:ExtendedFieldURI")
            .attr_opt(
                "DistinguishedPropertySetId",
                self.distinguished_property_set_id.as_deref(),
            )
            .attr_opt("PropertySetId", self.property_set_id.as_deref())
            .attr_opt("PropertyTag", self.property_tag.as_deref())
            .attr_opt("PropertyName", self.property_name.as_deref())
            .attr_opt("PropertyId", self.property_id.as_deref())
            .attr("PropertyType", &self.property_type)
            .empty();
    }

    fn read_attributes(element: &Element<'_>) -> Result<Self, ProtoError> {
        let [property_type, property_tag] = element.attrs(["PropertyType", "PropertyTag"])?;
        let [distinguished_property_set_id, property_set_id] =
            element.attrs(["DistinguishedPropertySetId", "PropertySetId"])?;
        let [property_name, property_id] = element.attrs(["PropertyName", "PropertyId"])?;
        Ok(Self {
            distinguished_property_set_id,
            property_set_id,
            property_tag,
            property_name,
            property_id,
            property_type: property_type.ok_or(ProtoError::Missing {
                parent: "ExtendedFieldURI",
                missing: "PropertyType attribute",
            })?,
        })
    }
}

/// The `GetItem` request: which properties of which items.
///
/// The shape holds `BaseShape` and `AdditionalProperties`; the other options of
/// `ItemShape` (body type, MIME content, ...) are not modelled and are skipped on read.
/// `ItemIds` holds `t:ItemId`s: a request naming occurrences or recurring masters
/// (`OccurrenceItemId`, `RecurringMasterItemId`, `RecurringMasterItemIdRanges`) is refused
/// on read rather than answered for fewer items than it asked about.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct GetItem {
    /// `ItemShape/BaseShape`.
    pub shape: BaseShape,
    /// `ItemShape/AdditionalProperties`, in order.
    pub additional_properties: Vec<PropertyPath>,
    /// `ItemIds`: the items, in the order the response answers them.
    pub item_ids: Vec<ItemId>,
}

impl GetItem {
    /// The properties [`GetItem::summaries`] asks for: what a new-mail notification shows.
    pub const SUMMARY_PROPERTIES: [&'static str; 5] = [
        "item:Subject",
        "message:From",
        "item:Importance",
        "item:DateTimeReceived",
        "item:ParentFolderId",
    ];

    /// `shape` of `item_ids`, with no additional property.
    pub fn new(shape: BaseShape, item_ids: Vec<ItemId>) -> Self {
        Self {
            shape,
            additional_properties: Vec::new(),
            item_ids,
        }
    }

    /// `IdOnly` plus [`SUMMARY_PROPERTIES`](Self::SUMMARY_PROPERTIES) of `ids`: the sender,
    /// subject, importance, received time and parent folder, each answered as an
    /// [`ItemSummary`]. `ids` must not be empty (the schema's `ItemIds` is a non-empty array;
    /// Exchange refuses an empty one).
    pub fn summaries(ids: Vec<ItemId>) -> Self {
        Self {
            additional_properties: Self::SUMMARY_PROPERTIES
                .iter()
                .map(|uri| PropertyPath::field(*uri))
                .collect(),
            ..Self::new(BaseShape::IdOnly, ids)
        }
    }
}

impl Operation for GetItem {
    type Response = GetItemResponse;
    const NAME: &'static str = "GetItem";
    const SOAP_ACTION: &'static str = messages_action!("GetItem");
}

impl Body for GetItem {
    const ELEMENT: &'static str = "GetItem";

    fn write_xml(&self, w: &mut XmlWriter) {
        w.start("m:GetItem").open();
        w.start("m:ItemShape").open();
        w.leaf("t:BaseShape", self.shape.as_str());
        if !self.additional_properties.is_empty() {
            w.start("t:AdditionalProperties").open();
            for path in &self.additional_properties {
                path.write_xml(w);
            }
            w.end("t:AdditionalProperties");
        }
        w.end("m:ItemShape");
        w.start("m:ItemIds").open();
        for id in &self.item_ids {
            id.write_xml(w, "t:ItemId");
        }
        w.end("m:ItemIds");
        w.end("m:GetItem");
    }

    fn read_xml(r: &mut XmlReader<'_>, element: &Element<'_>) -> Result<Self, ProtoError> {
        let mut shape = None;
        let mut additional_properties = Vec::new();
        let mut item_ids = None;
        while let Some(child) = r.child(element)? {
            match child.local() {
                "ItemShape" => {
                    while let Some(part) = r.child(&child)? {
                        match part.local() {
                            "BaseShape" => {
                                shape = Some(BaseShape::parse(&r.trimmed_str(&part)?));
                            }
                            "AdditionalProperties" => {
                                while let Some(path) = r.child(&part)? {
                                    match PropertyPath::read_xml(r, &path)? {
                                        Some(path) => additional_properties.push(path),
                                        None => r.skip(&path)?,
                                    }
                                }
                            }
                            _ => r.skip(&part)?,
                        }
                    }
                }
                "ItemIds" => item_ids = Some(read_item_ids(r, &child)?),
                _ => r.skip(&child)?,
            }
        }
        let missing = |missing| ProtoError::Missing {
            parent: "GetItem",
            missing,
        };
        Ok(Self {
            shape: shape.ok_or_else(|| missing("ItemShape/BaseShape"))?,
            additional_properties,
            item_ids: item_ids.ok_or_else(|| missing("ItemIds"))?,
        })
    }
}

/// Reads `ItemIds`: `t:ItemId`s kept, the other id kinds of `NonEmptyArrayOfBaseItemIdsType`
/// refused, anything else skipped.
fn read_item_ids(r: &mut XmlReader<'_>, element: &Element<'_>) -> Result<Vec<ItemId>, ProtoError> {
    let mut ids = Vec::new();
    while let Some(child) = r.child(element)? {
        match child.local() {
            "ItemId" => ids.push(ItemId::read_xml(r, &child)?),
            found @ ("OccurrenceItemId"
            | "RecurringMasterItemId"
            | "RecurringMasterItemIdRanges") => {
                return Err(ProtoError::UnexpectedElement {
                    expected: "ItemId",
                    found: found.to_owned(),
                });
            }
            _ => r.skip(&child)?,
        }
    }
    Ok(ids)
}

/// One `GetItemResponseMessage` ([`ItemInfoResponseMessageType`]): the answer for one
/// requested id, in request order. Success carries the item in `items`; an error (such as
/// `ErrorItemNotFound` for mail deleted since the notification) carries its code and text
/// in `status` and no item.
///
/// [`ItemInfoResponseMessageType`]: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/getitemresponsemessage
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[non_exhaustive]
pub struct GetItemResponseMessage {
    /// Class, code and text.
    pub status: ResponseStatus,
    /// `Items`: one item for a successful message, none for an error.
    pub items: Vec<ItemSummary>,
}

impl GetItemResponseMessage {
    /// A successful message with one item.
    pub fn success(item: ItemSummary) -> Self {
        Self {
            status: ResponseStatus::success(),
            items: vec![item],
        }
    }

    /// An error message.
    pub fn error(status: ResponseStatus) -> Self {
        Self {
            status,
            items: Vec::new(),
        }
    }

    /// The item, when the message is a success that carries one.
    pub fn item(&self) -> Option<&ItemSummary> {
        if self.status.is_success() {
            self.items.first()
        } else {
            None
        }
    }
}

impl MessageFields for GetItemResponseMessage {
    status_accessors!();

    fn write_fields(&self, w: &mut XmlWriter) {
        // `Items` is required by `ItemInfoResponseMessageType`, even when empty.
        w.start("m:Items").open();
        for item in &self.items {
            item.write_xml(w);
        }
        w.end("m:Items");
    }

    fn read_field(
        &mut self,
        r: &mut XmlReader<'_>,
        child: &Element<'_>,
    ) -> Result<bool, ProtoError> {
        if child.local() != "Items" {
            return Ok(false);
        }
        while let Some(item) = r.child(child)? {
            self.items.push(ItemSummary::read_xml(r, &item)?);
        }
        Ok(true)
    }
}

response_messages! {
    /// The `GetItemResponse`: one message per requested id, in request order.
    GetItemResponse = "GetItemResponse",
    GetItemResponseMessage = "GetItemResponseMessage"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soap::{read_envelope, write_envelope};

    /// `services.wsdl`: `<soap:operation soapAction=".../messages/GetItem"/>`.
    #[test]
    fn its_soap_action_is_the_one_services_wsdl_binds() {
        assert_eq!(
            GetItem::SOAP_ACTION,
            "http://schemas.microsoft.com/exchange/services/2006/messages/GetItem"
        );
        assert_eq!(GetItem::NAME, "GetItem");
    }

    /// Every kind of path writes the attributes the schema declares and reads back.
    #[test]
    fn property_paths_write_their_attributes_and_read_back() {
        let named = ExtendedFieldUri {
            distinguished_property_set_id: Some("PublicStrings".into()),
            property_name: Some("x-bems".into()),
            property_type: "String".into(),
            ..ExtendedFieldUri::default()
        };
        let mut request = GetItem::new(BaseShape::Default, vec![ItemId::new("a")]);
        request.additional_properties = vec![
            PropertyPath::field("item:Subject"),
            PropertyPath::Indexed {
                field_uri: "message:InternetMessageHeader".into(),
                field_index: "X-Priority".into(),
            },
            PropertyPath::Extended(ExtendedFieldUri::tag("0x0E08", "Integer")),
            PropertyPath::Extended(named),
        ];
        let bytes = write_envelope(&Default::default(), &request);
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains(concat!(
            r#"<t:IndexedFieldURI FieldURI="message:InternetMessageHeader" FieldIndex="X-Priority"/>"#,
            r#"<t:ExtendedFieldURI PropertyTag="0x0E08" PropertyType="Integer"/>"#,
            r#"<t:ExtendedFieldURI DistinguishedPropertySetId="PublicStrings" PropertyName="x-bems" PropertyType="String"/>"#,
        )));
        assert_eq!(read_envelope::<GetItem>(&bytes).unwrap().body, request);
    }

    /// A path without its required attribute is an error, not a path with an empty value.
    #[test]
    fn a_path_without_its_required_attribute_is_refused() {
        for path in [
            "<t:FieldURI/>",
            r#"<t:IndexedFieldURI FieldURI="contacts:EmailAddress"/>"#,
            r#"<t:ExtendedFieldURI PropertyTag="0x0E08"/>"#,
        ] {
            let body = format!(
                r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:t="t"><s:Body><GetItem><ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>{path}</t:AdditionalProperties></ItemShape><ItemIds><t:ItemId Id="a"/></ItemIds></GetItem></s:Body></s:Envelope>"#
            );
            let error = read_envelope::<GetItem>(body.as_bytes()).unwrap_err();
            assert!(
                matches!(error, ProtoError::Missing { .. }),
                "{path}: {error}"
            );
        }
    }

    /// `item` is the item of a success only.
    #[test]
    fn item_is_none_for_an_error_message() {
        let item = ItemSummary::new(ItemKind::Message, ItemId::new("a"));
        assert_eq!(
            GetItemResponseMessage::success(item.clone()).item(),
            Some(&item)
        );
        let mut error = GetItemResponseMessage::error(ResponseStatus::error(
            crate::ResponseCode::ErrorItemNotFound,
            "gone",
        ));
        error.items.push(item);
        assert_eq!(error.item(), None);
    }
}
