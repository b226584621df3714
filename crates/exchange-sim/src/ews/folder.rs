//! `GetFolder`: the folders of a mailbox, with the properties the request's `FolderShape`
//! asks for.
//!
//! Spec: [GetFolder operation](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/getfolder-operation),
//! [FolderShape](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/foldershape),
//! [BaseShape](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/baseshape)
//! (which properties `Default` returns for which folder).
//! The request is read by the simulator's own reader (element order, required elements and
//! attributes, enumerations of `messages.xsd`/`types.xsd`); the answer is written by its own
//! writer in the schema's element order.

use axum::response::Response;
use ews_proto::ResponseCode;
use roxmltree::{Document, Node};

use super::Call;
use super::envelope::{Children, Refusal, bad_attribute, is};
use super::folder_ids::{self, Actor, FolderRef};
use super::write::{self, MESSAGES, TYPES, Xml};
use crate::world::World;
use crate::world::folders::Element;
use crate::world::mailbox::{FOLDER_CHANGE_KEY, FolderKind, total};

/// `DefaultShapeNamesType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BaseShape {
    IdOnly,
    Default,
    AllProperties,
}

/// The folder properties the simulator models, by `FieldURI`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Property {
    FolderId,
    ParentFolderId,
    FolderClass,
    DisplayName,
    TotalCount,
    ChildFolderCount,
    UnreadCount,
}

impl Property {
    fn from_field_uri(uri: &str) -> Option<Self> {
        Some(match uri {
            "folder:FolderId" => Self::FolderId,
            "folder:ParentFolderId" => Self::ParentFolderId,
            "folder:FolderClass" => Self::FolderClass,
            "folder:DisplayName" => Self::DisplayName,
            "folder:TotalCount" => Self::TotalCount,
            "folder:ChildFolderCount" => Self::ChildFolderCount,
            "folder:UnreadCount" => Self::UnreadCount,
            _ => return None,
        })
    }
}

/// A `FolderShape`: a base set plus additional properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Shape {
    pub(crate) base: BaseShape,
    pub(crate) additional: Vec<Property>,
}

impl Shape {
    /// Whether the answer for `kind` carries `property`. `IdOnly` is the id; `AllProperties`
    /// everything modelled; `Default` what the BaseShape page's table lists per folder: the id,
    /// display name and subfolder count everywhere, the total count except for the calendar,
    /// the unread count except for contacts, calendar, tasks and notes. Additional properties
    /// come on top, in the schema's order whatever order they were asked in.
    fn wants(&self, property: Property, kind: FolderKind) -> bool {
        use Property as P;
        let base = match self.base {
            BaseShape::IdOnly => property == P::FolderId,
            BaseShape::Default => match property {
                P::FolderId | P::DisplayName | P::ChildFolderCount => true,
                P::ParentFolderId | P::FolderClass => false,
                P::TotalCount => kind.element() != Element::CalendarFolder,
                P::UnreadCount => !matches!(kind, FolderKind::Tasks | FolderKind::Notes),
            },
            BaseShape::AllProperties => true,
        };
        base || self.additional.contains(&property)
    }
}

/// Reads `FolderShape` (`FolderResponseShapeType`: `BaseShape`, `AdditionalProperties`?).
/// Field URIs the schema allows but the simulator does not model (`folder:EffectiveRights`,
/// extended properties) are accepted and not answered.
pub(crate) fn read_shape(doc: &Document<'_>, node: Node<'_, '_>) -> Result<Shape, Refusal> {
    let mut children = Children::of(doc, node)?;
    let base_node = children.required(TYPES, "BaseShape")?;
    let text = base_node.text().unwrap_or_default().trim();
    let base = match text {
        "IdOnly" => BaseShape::IdOnly,
        "Default" => BaseShape::Default,
        "AllProperties" => BaseShape::AllProperties,
        other => {
            return Err(Refusal::schema(
                doc,
                base_node,
                &format!(
                    "The '{TYPES}:BaseShape' element is invalid - The value '{other}' is invalid according to its datatype '{TYPES}:DefaultShapeNamesType' - The Enumeration constraint failed"
                ),
            ));
        }
    };
    let mut additional = Vec::new();
    if let Some(list) = children.optional(TYPES, "AdditionalProperties") {
        read_field_uris(doc, list, |_, uri| {
            additional.extend(Property::from_field_uri(uri));
        })?;
    }
    children.end()?;
    Ok(Shape { base, additional })
}

/// Reads `AdditionalProperties` (`NonEmptyArrayOfPathsToElementType`): each `FieldURI` goes
/// to `each` as its class (`folder`, `item`, ...) and whole URI; extended and indexed
/// properties are accepted and not answered.
pub(crate) fn read_field_uris(
    doc: &Document<'_>,
    list: Node<'_, '_>,
    mut each: impl FnMut(&str, &str),
) -> Result<(), Refusal> {
    let mut paths = Children::of(doc, list)?;
    let mut any = false;
    while let Some(path) = paths.next_any() {
        any = true;
        if is(path, TYPES, "FieldURI") {
            let uri = path.attribute("FieldURI").unwrap_or_default();
            let Some((class, _)) = uri.split_once(':') else {
                return Err(bad_attribute(
                    doc,
                    path,
                    "FieldURI",
                    uri,
                    &format!("{TYPES}:UnindexedFieldURIType"),
                ));
            };
            each(class, uri);
        } else if !is(path, TYPES, "ExtendedFieldURI") && !is(path, TYPES, "IndexedFieldURI") {
            return Err(Refusal::schema(
                doc,
                path,
                &format!(
                    "The element 'AdditionalProperties' in namespace '{TYPES}' has invalid child element '{}'",
                    path.tag_name().name()
                ),
            ));
        }
    }
    if !any {
        return Err(Refusal::schema(
            doc,
            list,
            &format!(
                "The element 'AdditionalProperties' has incomplete content. List of possible elements expected: 'Path' in namespace '{TYPES}'"
            ),
        ));
    }
    Ok(())
}

/// A `GetFolder` request as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GetFolder {
    pub(crate) shape: Shape,
    pub(crate) folder_ids: Vec<FolderRef>,
}

/// Reads `GetFolder` (`GetFolderType`: `FolderShape`, `FolderIds`).
pub(crate) fn read(doc: &Document<'_>, node: Node<'_, '_>) -> Result<GetFolder, Refusal> {
    let mut children = Children::of(doc, node)?;
    let shape = read_shape(doc, children.required(MESSAGES, "FolderShape")?)?;
    let folder_ids = folder_ids::read(doc, children.required(MESSAGES, "FolderIds")?)?;
    children.end()?;
    Ok(GetFolder { shape, folder_ids })
}

/// `GetFolder`: one response message per requested folder, in order.
pub(crate) fn get_folder(call: &Call, actor: &Actor, request: &GetFolder) -> Response {
    let world = &call.ctx.world;
    write::envelope(world, |xml| {
        xml.open(
            "m:GetFolderResponse",
            &[("xmlns:m", MESSAGES), ("xmlns:t", TYPES)],
        )
        .open("m:ResponseMessages", &[]);
        for id in &request.folder_ids {
            match folder_ids::resolve(world, actor, id) {
                Ok((mailbox, kind)) => {
                    success(xml, "m:GetFolderResponseMessage");
                    xml.open("m:Folders", &[]);
                    write_folder(xml, world, mailbox, kind, &request.shape);
                    xml.close("m:Folders");
                }
                Err(failure) => {
                    error(xml, "m:GetFolderResponseMessage", failure);
                }
            }
            xml.close("m:GetFolderResponseMessage");
        }
        xml.close("m:ResponseMessages").close("m:GetFolderResponse");
    })
}

/// Opens a successful response message.
pub(crate) fn success(xml: &mut Xml, element: &str) {
    xml.open(element, &[("ResponseClass", "Success")])
        .leaf("m:ResponseCode", "NoError");
}

/// Opens an error response message (`ResponseMessageType`: `MessageText`, `ResponseCode`,
/// `DescriptiveLinkKey`).
pub(crate) fn error(xml: &mut Xml, element: &str, (code, text): (ResponseCode, &str)) {
    xml.open(element, &[("ResponseClass", "Error")])
        .leaf("m:MessageText", text)
        .leaf("m:ResponseCode", code.as_str())
        .leaf("m:DescriptiveLinkKey", "0");
}

/// Writes one folder with the properties `shape` asks for, in `BaseFolderType`'s order
/// (`FolderId`, `ParentFolderId`, `FolderClass`, `DisplayName`, `TotalCount`,
/// `ChildFolderCount`, then `FolderType`'s `UnreadCount`).
///
/// The mailbox root's `ParentFolderId` is its own id. Microsoft does not document the root's
/// parent; the store's root has none, and clients such as exchangelib expect a folder whose
/// parent is itself, so the simulator answers that (a choice, listed in the README).
pub(crate) fn write_folder(
    xml: &mut Xml,
    world: &World,
    mailbox: usize,
    kind: FolderKind,
    shape: &Shape,
) {
    let Some(store) = world.mailboxes.get(mailbox) else {
        return;
    };
    let element = format!("t:{}", kind.element().name());
    xml.open(&element, &[]);
    let id = |xml: &mut Xml, name: &str, folder: FolderKind| {
        let id = store.folder_id(folder);
        xml.empty(name, &[("Id", &id.id), ("ChangeKey", FOLDER_CHANGE_KEY)]);
    };
    if shape.wants(Property::FolderId, kind) {
        id(xml, "t:FolderId", kind);
    }
    if shape.wants(Property::ParentFolderId, kind) {
        id(xml, "t:ParentFolderId", kind.parent().unwrap_or(kind));
    }
    if shape.wants(Property::FolderClass, kind)
        && let Some(class) = kind.folder_class()
    {
        xml.leaf("t:FolderClass", class);
    }
    if shape.wants(Property::DisplayName, kind) {
        xml.leaf("t:DisplayName", kind.display_name());
    }
    let (count, unread) = {
        let state = store.lock();
        (
            total(&state, kind),
            crate::world::mailbox::unread(&state, kind),
        )
    };
    if shape.wants(Property::TotalCount, kind) {
        xml.leaf("t:TotalCount", &count.to_string());
    }
    if shape.wants(Property::ChildFolderCount, kind) {
        xml.leaf("t:ChildFolderCount", &kind.children().count().to_string());
    }
    if shape.wants(Property::UnreadCount, kind) && kind.element().has_unread_count() {
        xml.leaf("t:UnreadCount", &unread.to_string());
    }
    xml.close(&element);
}

/// `ErrorInvalidRequest` for what the simulator does not model, said plainly.
pub(crate) fn unsupported(what: &str) -> Refusal {
    Refusal::new(
        ResponseCode::ErrorInvalidRequest,
        format!("The request is valid but the simulator does not model {what}."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ews::envelope;

    fn body(operation: &str) -> String {
        format!(
            r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="{MESSAGES}" xmlns:t="{TYPES}"><s:Body>{operation}</s:Body></s:Envelope>"#
        )
    }

    fn read_text(operation: &str) -> Result<GetFolder, Refusal> {
        let text = body(operation);
        let request = envelope::parse(text.as_bytes())?;
        let node = request.operation()?.ok_or_else(|| unsupported("no body"))?;
        read(&request.doc, node)
    }

    #[test]
    fn reads_shape_ids_and_a_delegates_mailbox() {
        let request = read_text(
            r#"<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties><t:FieldURI FieldURI="folder:DisplayName"/><t:ExtendedFieldURI PropertyTag="0x3613" PropertyType="String"/></t:AdditionalProperties></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="inbox"><t:Mailbox><t:EmailAddress>sadie@contoso.com</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId><t:FolderId Id="QUJD" ChangeKey="x"/></m:FolderIds></m:GetFolder>"#,
        )
        .expect("valid request");
        assert_eq!(request.shape.base, BaseShape::IdOnly);
        assert_eq!(request.shape.additional, [Property::DisplayName]);
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
    }

    #[test]
    fn refuses_what_the_schema_refuses() {
        let cases = [
            (
                r#"<m:GetFolder><m:FolderShape><t:BaseShape>Everything</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:GetFolder>"#,
                "DefaultShapeNamesType",
            ),
            (
                r#"<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds/></m:GetFolder>"#,
                "incomplete content",
            ),
            (
                r#"<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape></m:GetFolder>"#,
                "'FolderIds'",
            ),
            (
                r#"<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds><t:FolderId/></m:FolderIds></m:GetFolder>"#,
                "'Id'",
            ),
            (
                r#"<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="inbox"><t:Bogus/></t:DistinguishedFolderId></m:FolderIds></m:GetFolder>"#,
                "'Bogus'",
            ),
            (
                r#"<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties/></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:GetFolder>"#,
                "incomplete content",
            ),
        ];
        for (operation, named) in cases {
            let refusal = read_text(operation).expect_err(operation);
            assert_eq!(
                refusal.code,
                ResponseCode::ErrorSchemaValidation,
                "{operation}"
            );
            assert!(refusal.text.contains(named), "{}: {}", named, refusal.text);
            let at = refusal.violation.as_ref().map(|v| (v.line, v.position > 1));
            assert_eq!(at, Some((1, true)), "{}", refusal.text);
        }
    }
}
