//! The EWS operations this project speaks, one file each.
//!
//! Each request type implements [`Operation`], which names its response type, so a client can
//! be generic over operations. Servers read any request with [`Request`].

mod get_events;
mod get_folder;
mod get_item;
mod get_streaming_events;
mod get_user_photo;
mod resolve_names;
mod send_notification;
mod subscribe;
mod unsubscribe;

pub use get_events::{GetEvents, GetEventsResponse, GetEventsResponseMessage};
pub use get_folder::{BaseShape, Folder, GetFolder, GetFolderResponse, GetFolderResponseMessage};
pub use get_item::{
    ExtendedFieldUri, GetItem, GetItemResponse, GetItemResponseMessage, ItemKind, ItemSummary,
    PropertyPath,
};
pub use get_streaming_events::{
    ConnectionStatus, GetStreamingEvents, GetStreamingEventsResponse,
    GetStreamingEventsResponseMessage,
};
pub use get_user_photo::{GetUserPhoto, GetUserPhotoResponse, UserPhotoSize};
pub use resolve_names::{
    Contact, ContactEmail, Resolution, ResolveNames, ResolveNamesResponse,
    ResolveNamesResponseMessage, SearchScope,
};
pub use send_notification::{
    SendNotification, SendNotificationResponseMessage, SendNotificationResult, SubscriptionStatus,
};
pub use subscribe::{Subscribe, SubscribeResponse, SubscribeResponseMessage, SubscriptionKind};
pub use unsubscribe::{Unsubscribe, UnsubscribeResponse, UnsubscribeResponseMessage};

use crate::error::ProtoError;
use crate::soap::SoapBody;
use crate::soap::sealed::Body;
use crate::xml::{Element, XmlReader, XmlWriter};

/// An EWS request: its name, its `SOAPAction` and its response type.
///
/// [`crate::call`] writes a request of any operation and reads its answer.
pub trait Operation: SoapBody {
    /// The response body this request gets.
    type Response: SoapBody;

    /// The operation name (`Subscribe`, `GetEvents`, ...).
    const NAME: &'static str;

    /// The URI of the `SOAPAction` HTTP header, as Microsoft's `services.wsdl` binds the
    /// operation (`http://schemas.microsoft.com/exchange/services/2006/messages/<Operation>`,
    /// with one exception: `GetStreamingEvents` is bound to `.../GetEvents`).
    const SOAP_ACTION: &'static str;
}

/// `http://schemas.microsoft.com/exchange/services/2006/messages/<name>`, as a literal.
macro_rules! messages_action {
    ($name:literal) => {
        concat!(
            "http://schemas.microsoft.com/exchange/services/2006/messages/",
            $name
        )
    };
}

/// Any request an EWS server built on this crate answers, for dispatch on the server side.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Request {
    /// `Subscribe`.
    Subscribe(Subscribe),
    /// `GetEvents`.
    GetEvents(GetEvents),
    /// `GetStreamingEvents`.
    GetStreamingEvents(GetStreamingEvents),
    /// `Unsubscribe`.
    Unsubscribe(Unsubscribe),
    /// `GetFolder`.
    GetFolder(GetFolder),
    /// `GetItem`.
    GetItem(GetItem),
    /// `ResolveNames`.
    ResolveNames(ResolveNames),
    /// `GetUserPhoto`.
    GetUserPhoto(GetUserPhoto),
}

impl Request {
    /// The operation name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Subscribe(_) => Subscribe::NAME,
            Self::GetEvents(_) => GetEvents::NAME,
            Self::GetStreamingEvents(_) => GetStreamingEvents::NAME,
            Self::Unsubscribe(_) => Unsubscribe::NAME,
            Self::GetFolder(_) => GetFolder::NAME,
            Self::GetItem(_) => GetItem::NAME,
            Self::ResolveNames(_) => ResolveNames::NAME,
            Self::GetUserPhoto(_) => GetUserPhoto::NAME,
        }
    }
}

impl Body for Request {
    const ELEMENT: &'static str = "an EWS request";

    fn accepts(local: &str) -> bool {
        matches!(
            local,
            "Subscribe"
                | "GetEvents"
                | "GetStreamingEvents"
                | "Unsubscribe"
                | "GetFolder"
                | "GetItem"
                | "ResolveNames"
                | "GetUserPhoto"
        )
    }

    fn write_xml(&self, w: &mut XmlWriter) {
        match self {
            Self::Subscribe(r) => r.write_xml(w),
            Self::GetEvents(r) => r.write_xml(w),
            Self::GetStreamingEvents(r) => r.write_xml(w),
            Self::Unsubscribe(r) => r.write_xml(w),
            Self::GetFolder(r) => r.write_xml(w),
            Self::GetItem(r) => r.write_xml(w),
            Self::ResolveNames(r) => r.write_xml(w),
            Self::GetUserPhoto(r) => r.write_xml(w),
        }
    }

    fn read_xml(r: &mut XmlReader<'_>, element: &Element<'_>) -> Result<Self, ProtoError> {
        Ok(match element.local() {
            "Subscribe" => Self::Subscribe(Subscribe::read_xml(r, element)?),
            "GetEvents" => Self::GetEvents(GetEvents::read_xml(r, element)?),
            "GetStreamingEvents" => {
                Self::GetStreamingEvents(GetStreamingEvents::read_xml(r, element)?)
            }
            "Unsubscribe" => Self::Unsubscribe(Unsubscribe::read_xml(r, element)?),
            "GetFolder" => Self::GetFolder(GetFolder::read_xml(r, element)?),
            "GetItem" => Self::GetItem(GetItem::read_xml(r, element)?),
            "ResolveNames" => Self::ResolveNames(ResolveNames::read_xml(r, element)?),
            "GetUserPhoto" => Self::GetUserPhoto(GetUserPhoto::read_xml(r, element)?),
            other => {
                return Err(ProtoError::UnexpectedElement {
                    expected: Self::ELEMENT,
                    found: other.to_owned(),
                });
            }
        })
    }
}

/// Declares a `XResponse` body holding `m:ResponseMessages` of one message type.
macro_rules! response_messages {
    ($(#[$meta:meta])* $wrapper:ident = $wrapper_name:literal, $message:ident = $message_name:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
        #[non_exhaustive]
        pub struct $wrapper {
            /// The response messages, one per request item.
            pub messages: Vec<$message>,
        }

        impl $wrapper {
            /// A response with these messages.
            pub fn new(messages: Vec<$message>) -> Self {
                Self { messages }
            }

            /// A response with one message.
            pub fn single(message: $message) -> Self {
                Self { messages: vec![message] }
            }

            /// The first message (EWS sends one per requested item; these requests carry one).
            pub fn into_first(self) -> Option<$message> {
                self.messages.into_iter().next()
            }
        }

        impl crate::soap::sealed::Body for $wrapper {
            const ELEMENT: &'static str = $wrapper_name;

            fn write_xml(&self, w: &mut crate::xml::XmlWriter) {
                let name = concat!("m:", $wrapper_name);
                w.start(name).open();
                w.start("m:ResponseMessages").open();
                for message in &self.messages {
                    crate::soap::write_message(w, concat!("m:", $message_name), message);
                }
                w.end("m:ResponseMessages");
                w.end(name);
            }

            fn read_xml(
                r: &mut crate::xml::XmlReader<'_>,
                element: &crate::xml::Element<'_>,
            ) -> Result<Self, crate::error::ProtoError> {
                let mut messages = Vec::new();
                while let Some(child) = r.child(element)? {
                    if child.local() != "ResponseMessages" {
                        r.skip(&child)?;
                        continue;
                    }
                    while let Some(message) = r.child(&child)? {
                        if message.local() == $message_name {
                            messages.push(crate::soap::read_message(r, &message)?);
                        } else {
                            r.skip(&message)?;
                        }
                    }
                }
                Ok(Self { messages })
            }
        }
    };
}

/// Implements the status accessors of `MessageFields` for a struct with a `status` field.
macro_rules! status_accessors {
    () => {
        fn status(&self) -> &crate::soap::ResponseStatus {
            &self.status
        }

        fn status_mut(&mut self) -> &mut crate::soap::ResponseStatus {
            &mut self.status
        }
    };
}

pub(crate) use {messages_action, response_messages, status_accessors};
