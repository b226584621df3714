//! `GetUserPhoto`: a user's photo from the directory (Directory Lookup).
//!
//! Spec: [GetUserPhoto operation](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/getuserphoto-operation).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::{Operation, messages_action};
use crate::error::ProtoError;
use crate::soap::sealed::Body;
use crate::soap::{MessageFields, ResponseStatus, read_message, write_message};
use crate::wire_enum::wire_enum;
use crate::xml::{Element, XmlReader, XmlWriter};

wire_enum! {
    /// The photo size ([`SizeRequested`]).
    ///
    /// [`SizeRequested`]: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/sizerequested
    #[allow(missing_docs)]
    pub enum UserPhotoSize {
        HR48x48 = "HR48x48",
        HR64x64 = "HR64x64",
        HR96x96 = "HR96x96",
        HR120x120 = "HR120x120",
        HR240x240 = "HR240x240",
        HR360x360 = "HR360x360",
        HR432x432 = "HR432x432",
        HR504x504 = "HR504x504",
        HR648x648 = "HR648x648",
        HR1024xN = "HR1024xN",
        HR1920xN = "HR1920xN",
    }
}

/// The `GetUserPhoto` request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct GetUserPhoto {
    /// `Email`: whose photo.
    pub email: String,
    /// `SizeRequested`.
    pub size: UserPhotoSize,
    /// `TypeRequested` (`UserPhoto`, `Contact`).
    pub type_requested: Option<String>,
}

impl GetUserPhoto {
    /// The photo of `email` at `size`.
    pub fn new(email: impl Into<String>, size: UserPhotoSize) -> Self {
        Self {
            email: email.into(),
            size,
            type_requested: None,
        }
    }
}

impl Operation for GetUserPhoto {
    type Response = GetUserPhotoResponse;
    const NAME: &'static str = "GetUserPhoto";
    const SOAP_ACTION: &'static str = messages_action!("GetUserPhoto");
}

impl Body for GetUserPhoto {
    const ELEMENT: &'static str = "GetUserPhoto";

    fn write_xml(&self, w: &mut XmlWriter) {
        w.start("m:GetUserPhoto").open();
        w.leaf("m:Email", &self.email);
        w.leaf("m:SizeRequested", self.size.as_str());
        w.leaf_opt("m:TypeRequested", self.type_requested.as_deref());
        w.end("m:GetUserPhoto");
    }

    fn read_xml(r: &mut XmlReader<'_>, element: &Element<'_>) -> Result<Self, ProtoError> {
        let mut email = None;
        let mut size = None;
        let mut type_requested = None;
        while let Some(child) = r.child(element)? {
            match child.local() {
                "Email" => email = Some(r.trimmed(&child)?),
                "SizeRequested" => size = Some(UserPhotoSize::parse(&r.trimmed_str(&child)?)),
                "TypeRequested" => type_requested = Some(r.trimmed(&child)?),
                _ => r.skip(&child)?,
            }
        }
        Ok(Self {
            email: email.ok_or(ProtoError::Missing {
                parent: "GetUserPhoto",
                missing: "Email",
            })?,
            size: size.ok_or(ProtoError::Missing {
                parent: "GetUserPhoto",
                missing: "SizeRequested",
            })?,
            type_requested,
        })
    }
}

/// The `GetUserPhotoResponse`: itself a response message (no `ResponseMessages` wrapper).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[non_exhaustive]
pub struct GetUserPhotoResponse {
    /// Class, code and text.
    pub status: ResponseStatus,
    /// `HasChanged`.
    pub has_changed: bool,
    /// `PictureData`, decoded from base64.
    #[serde(skip)]
    pub picture_data: Option<Vec<u8>>,
}

impl GetUserPhotoResponse {
    /// A photo.
    pub fn photo(data: Vec<u8>) -> Self {
        Self {
            status: ResponseStatus::success(),
            has_changed: true,
            picture_data: Some(data),
        }
    }
}

impl MessageFields for GetUserPhotoResponse {
    fn status(&self) -> &ResponseStatus {
        &self.status
    }

    fn status_mut(&mut self) -> &mut ResponseStatus {
        &mut self.status
    }

    fn write_fields(&self, w: &mut XmlWriter) {
        w.leaf(
            "m:HasChanged",
            if self.has_changed { "true" } else { "false" },
        );
        if let Some(data) = &self.picture_data {
            w.leaf("m:PictureData", &STANDARD.encode(data));
        }
    }

    fn read_field(
        &mut self,
        r: &mut XmlReader<'_>,
        child: &Element<'_>,
    ) -> Result<bool, ProtoError> {
        match child.local() {
            "HasChanged" => self.has_changed = r.boolean(child, "HasChanged")?,
            "PictureData" => {
                let text = r.text(child)?;
                let compact: String = text.split_ascii_whitespace().collect();
                let data = STANDARD
                    .decode(compact.as_bytes())
                    .map_err(|_| ProtoError::invalid("PictureData", &compact, "expected base64"))?;
                self.picture_data = Some(data);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl Body for GetUserPhotoResponse {
    const ELEMENT: &'static str = "GetUserPhotoResponse";

    fn write_xml(&self, w: &mut XmlWriter) {
        write_message(w, "m:GetUserPhotoResponse", self);
    }

    fn read_xml(r: &mut XmlReader<'_>, element: &Element<'_>) -> Result<Self, ProtoError> {
        read_message(r, element)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `services.wsdl`: `<soap:operation soapAction=".../messages/GetUserPhoto"/>`.
    #[test]
    fn its_soap_action_is_the_one_services_wsdl_binds() {
        assert_eq!(
            GetUserPhoto::SOAP_ACTION,
            "http://schemas.microsoft.com/exchange/services/2006/messages/GetUserPhoto"
        );
        assert_eq!(GetUserPhoto::NAME, "GetUserPhoto");
    }
}
