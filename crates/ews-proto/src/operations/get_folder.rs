//! `GetFolder`: read folders, here the inbox for its unread count.
//!
//! Spec: [GetFolder operation](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/getfolder-operation).

use super::{Operation, messages_action, response_messages, status_accessors};
use crate::error::ProtoError;
use crate::soap::sealed::Body;
use crate::soap::{MessageFields, ResponseStatus};
use crate::types::{BaseFolderId, FolderId, read_folder_ids, write_folder_ids};
use crate::wire_enum::wire_enum;
use crate::xml::{Element, XmlReader, XmlWriter};

wire_enum! {
    /// How many properties to return ([`BaseShape`]).
    ///
    /// [`BaseShape`]: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/baseshape
    pub enum BaseShape {
        /// Only the identifier.
        IdOnly = "IdOnly",
        /// The default set: name, counts.
        Default = "Default",
        /// Every property.
        AllProperties = "AllProperties",
    }
}

/// The `GetFolder` request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct GetFolder {
    /// `FolderShape/BaseShape`.
    pub shape: BaseShape,
    /// `FolderShape/AdditionalProperties/FieldURI/@FieldURI` (`folder:UnreadCount`, ...).
    pub additional_properties: Vec<String>,
    /// `FolderIds`.
    pub folder_ids: Vec<BaseFolderId>,
}

impl GetFolder {
    /// The default shape of `folder_ids`.
    pub fn new(folder_ids: Vec<BaseFolderId>) -> Self {
        Self {
            shape: BaseShape::Default,
            additional_properties: Vec::new(),
            folder_ids,
        }
    }
}

impl Operation for GetFolder {
    type Response = GetFolderResponse;
    const NAME: &'static str = "GetFolder";
    const SOAP_ACTION: &'static str = messages_action!("GetFolder");
}

impl Body for GetFolder {
    const ELEMENT: &'static str = "GetFolder";

    fn write_xml(&self, w: &mut XmlWriter) {
        w.start("m:GetFolder").open();
        w.start("m:FolderShape").open();
        w.leaf("t:BaseShape", self.shape.as_str());
        if !self.additional_properties.is_empty() {
            w.start("t:AdditionalProperties").open();
            for uri in &self.additional_properties {
                w.start("t:FieldURI").attr("FieldURI", uri).empty();
            }
            w.end("t:AdditionalProperties");
        }
        w.end("m:FolderShape");
        write_folder_ids(w, "m:FolderIds", &self.folder_ids);
        w.end("m:GetFolder");
    }

    fn read_xml(r: &mut XmlReader<'_>, element: &Element<'_>) -> Result<Self, ProtoError> {
        let mut out = Self::new(Vec::new());
        let mut has_shape = false;
        while let Some(child) = r.child(element)? {
            match child.local() {
                "FolderShape" => {
                    while let Some(shape) = r.child(&child)? {
                        match shape.local() {
                            "BaseShape" => {
                                out.shape = BaseShape::parse(&r.trimmed_str(&shape)?);
                                has_shape = true;
                            }
                            "AdditionalProperties" => {
                                while let Some(uri) = r.child(&shape)? {
                                    if let Some(value) = uri.attr("FieldURI")? {
                                        out.additional_properties.push(value);
                                    }
                                    r.skip(&uri)?;
                                }
                            }
                            _ => r.skip(&shape)?,
                        }
                    }
                }
                "FolderIds" => out.folder_ids = read_folder_ids(r, &child)?,
                _ => r.skip(&child)?,
            }
        }
        if !has_shape {
            return Err(ProtoError::Missing {
                parent: "GetFolder",
                missing: "FolderShape/BaseShape",
            });
        }
        Ok(out)
    }
}

/// A folder as `GetFolder` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[non_exhaustive]
pub struct Folder {
    /// The element name: `Folder`, `CalendarFolder`, `ContactsFolder`, `SearchFolder`, ...
    pub element: String,
    /// `FolderId`.
    pub folder_id: Option<FolderId>,
    /// `ParentFolderId`.
    pub parent_folder_id: Option<FolderId>,
    /// `FolderClass` (`IPF.Note` for mail folders).
    pub folder_class: Option<String>,
    /// `DisplayName`.
    pub display_name: Option<String>,
    /// `TotalCount`.
    pub total_count: Option<i32>,
    /// `ChildFolderCount`.
    pub child_folder_count: Option<i32>,
    /// `UnreadCount`: the number behind a device's badge.
    pub unread_count: Option<i32>,
}

impl Folder {
    /// A mail folder (`t:Folder`).
    pub fn mail(folder_id: FolderId, display_name: &str) -> Self {
        Self {
            element: "Folder".to_owned(),
            folder_id: Some(folder_id),
            folder_class: Some("IPF.Note".to_owned()),
            display_name: Some(display_name.to_owned()),
            ..Self::default()
        }
    }

    fn write_xml(&self, w: &mut XmlWriter) {
        let name = format!(
            "t:{}",
            if self.element.is_empty() {
                "Folder"
            } else {
                &self.element
            }
        );
        w.start(&name).open();
        if let Some(id) = &self.folder_id {
            id.write_xml(w, "t:FolderId");
        }
        if let Some(id) = &self.parent_folder_id {
            id.write_xml(w, "t:ParentFolderId");
        }
        w.leaf_opt("t:FolderClass", self.folder_class.as_deref());
        w.leaf_opt("t:DisplayName", self.display_name.as_deref());
        for (element, value) in [
            ("t:TotalCount", self.total_count),
            ("t:ChildFolderCount", self.child_folder_count),
            ("t:UnreadCount", self.unread_count),
        ] {
            if let Some(value) = value {
                w.leaf(element, &value.to_string());
            }
        }
        w.end(&name);
    }

    fn read_xml(r: &mut XmlReader<'_>, element: &Element<'_>) -> Result<Self, ProtoError> {
        let mut out = Self {
            element: element.name()?,
            ..Self::default()
        };
        while let Some(child) = r.child(element)? {
            match child.local() {
                "FolderId" => out.folder_id = Some(FolderId::read_xml(r, &child)?),
                "ParentFolderId" => out.parent_folder_id = Some(FolderId::read_xml(r, &child)?),
                "FolderClass" => out.folder_class = Some(r.text(&child)?),
                "DisplayName" => out.display_name = Some(r.text(&child)?),
                "TotalCount" => {
                    out.total_count = Some(r.parse(&child, "TotalCount", "expected an integer")?)
                }
                "ChildFolderCount" => {
                    out.child_folder_count =
                        Some(r.parse(&child, "ChildFolderCount", "expected an integer")?);
                }
                "UnreadCount" => {
                    out.unread_count =
                        Some(r.parse(&child, "UnreadCount", "expected an integer")?)
                }
                _ => r.skip(&child)?,
            }
        }
        Ok(out)
    }
}

/// One `GetFolderResponseMessage`.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[non_exhaustive]
pub struct GetFolderResponseMessage {
    /// Class, code and text.
    pub status: ResponseStatus,
    /// `Folders`.
    pub folders: Vec<Folder>,
}

impl GetFolderResponseMessage {
    /// A successful message with one folder.
    pub fn success(folder: Folder) -> Self {
        Self {
            status: ResponseStatus::success(),
            folders: vec![folder],
        }
    }

    /// An error message.
    pub fn error(status: ResponseStatus) -> Self {
        Self {
            status,
            folders: Vec::new(),
        }
    }
}

impl MessageFields for GetFolderResponseMessage {
    status_accessors!();

    fn write_fields(&self, w: &mut XmlWriter) {
        if !self.folders.is_empty() {
            w.start("m:Folders").open();
            for folder in &self.folders {
                folder.write_xml(w);
            }
            w.end("m:Folders");
        }
    }

    fn read_field(
        &mut self,
        r: &mut XmlReader<'_>,
        child: &Element<'_>,
    ) -> Result<bool, ProtoError> {
        if child.local() != "Folders" {
            return Ok(false);
        }
        while let Some(folder) = r.child(child)? {
            self.folders.push(Folder::read_xml(r, &folder)?);
        }
        Ok(true)
    }
}

response_messages! {
    /// The `GetFolderResponse`.
    GetFolderResponse = "GetFolderResponse",
    GetFolderResponseMessage = "GetFolderResponseMessage"
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `services.wsdl`: `<soap:operation soapAction=".../messages/GetFolder"/>`.
    #[test]
    fn its_soap_action_is_the_one_services_wsdl_binds() {
        assert_eq!(
            GetFolder::SOAP_ACTION,
            "http://schemas.microsoft.com/exchange/services/2006/messages/GetFolder"
        );
        assert_eq!(GetFolder::NAME, "GetFolder");
    }
}
