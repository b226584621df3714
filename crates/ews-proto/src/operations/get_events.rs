//! `GetEvents`: read the events of a pull subscription.
//!
//! Spec: [GetEvents operation](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/getevents-operation).

use super::{Operation, messages_action, response_messages, status_accessors};
use crate::error::ProtoError;
use crate::event::Notification;
use crate::soap::sealed::Body;
use crate::soap::{MessageFields, ResponseStatus};
use crate::types::{SubscriptionId, Watermark};
use crate::xml::{Element, XmlReader, XmlWriter};

/// The `GetEvents` request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct GetEvents {
    /// `SubscriptionId` of a pull subscription.
    pub subscription_id: SubscriptionId,
    /// `Watermark`: the position after the last event the client has.
    pub watermark: Watermark,
}

impl GetEvents {
    /// Events of `subscription_id` after `watermark`.
    pub fn new(subscription_id: SubscriptionId, watermark: Watermark) -> Self {
        Self {
            subscription_id,
            watermark,
        }
    }
}

impl Operation for GetEvents {
    type Response = GetEventsResponse;
    const NAME: &'static str = "GetEvents";
    const SOAP_ACTION: &'static str = messages_action!("GetEvents");
}

impl Body for GetEvents {
    const ELEMENT: &'static str = "GetEvents";

    fn write_xml(&self, w: &mut XmlWriter) {
        w.start("m:GetEvents").open();
        w.leaf("m:SubscriptionId", self.subscription_id.as_str());
        w.leaf("m:Watermark", self.watermark.as_str());
        w.end("m:GetEvents");
    }

    fn read_xml(r: &mut XmlReader<'_>, element: &Element<'_>) -> Result<Self, ProtoError> {
        let mut subscription_id = None;
        let mut watermark = None;
        while let Some(child) = r.child(element)? {
            match child.local() {
                "SubscriptionId" => subscription_id = Some(SubscriptionId::new(r.trimmed(&child)?)),
                "Watermark" => watermark = Some(Watermark::new(r.trimmed(&child)?)),
                _ => r.skip(&child)?,
            }
        }
        Ok(Self {
            subscription_id: subscription_id.ok_or(ProtoError::Missing {
                parent: "GetEvents",
                missing: "SubscriptionId",
            })?,
            watermark: watermark.ok_or(ProtoError::Missing {
                parent: "GetEvents",
                missing: "Watermark",
            })?,
        })
    }
}

/// One `GetEventsResponseMessage`.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[non_exhaustive]
pub struct GetEventsResponseMessage {
    /// Class, code and text.
    pub status: ResponseStatus,
    /// `Notification`, on success.
    pub notification: Option<Notification>,
}

impl GetEventsResponseMessage {
    /// A successful message carrying `notification`.
    pub fn success(notification: Notification) -> Self {
        Self {
            status: ResponseStatus::success(),
            notification: Some(notification),
        }
    }

    /// An error message.
    pub fn error(status: ResponseStatus) -> Self {
        Self {
            status,
            notification: None,
        }
    }
}

impl MessageFields for GetEventsResponseMessage {
    status_accessors!();

    fn write_fields(&self, w: &mut XmlWriter) {
        if let Some(notification) = &self.notification {
            notification.write_xml(w, "m:Notification");
        }
    }

    fn read_field(
        &mut self,
        r: &mut XmlReader<'_>,
        child: &Element<'_>,
    ) -> Result<bool, ProtoError> {
        if child.local() == "Notification" {
            self.notification = Some(Notification::read_xml(r, child)?);
            return Ok(true);
        }
        Ok(false)
    }
}

response_messages! {
    /// The `GetEventsResponse`.
    GetEventsResponse = "GetEventsResponse",
    GetEventsResponseMessage = "GetEventsResponseMessage"
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `services.wsdl`: `<soap:operation soapAction=".../messages/GetEvents"/>`.
    #[test]
    fn its_soap_action_is_the_one_services_wsdl_binds() {
        assert_eq!(
            GetEvents::SOAP_ACTION,
            "http://schemas.microsoft.com/exchange/services/2006/messages/GetEvents"
        );
        assert_eq!(GetEvents::NAME, "GetEvents");
    }
}
