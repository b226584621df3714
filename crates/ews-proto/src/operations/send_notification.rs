//! `SendNotification`: the body Exchange POSTs to a push subscriber, and the subscriber's
//! `SendNotificationResult` answer.
//!
//! Spec: [SendNotification](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/sendnotification),
//! [SendNotificationResult](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/sendnotificationresult).

use super::{Operation, messages_action, response_messages, status_accessors};
use crate::error::ProtoError;
use crate::event::Notification;
use crate::soap::sealed::Body;
use crate::soap::{MessageFields, ResponseStatus};
use crate::wire_enum::wire_enum;
use crate::xml::{Element, XmlReader, XmlWriter};

/// One `SendNotificationResponseMessage` of a push callback.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[non_exhaustive]
pub struct SendNotificationResponseMessage {
    /// Class, code and text.
    pub status: ResponseStatus,
    /// `Notification`.
    pub notification: Option<Notification>,
}

impl SendNotificationResponseMessage {
    /// A successful message carrying `notification`.
    pub fn success(notification: Notification) -> Self {
        Self {
            status: ResponseStatus::success(),
            notification: Some(notification),
        }
    }
}

impl MessageFields for SendNotificationResponseMessage {
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
    /// The `SendNotification` body of a push callback.
    SendNotification = "SendNotification",
    SendNotificationResponseMessage = "SendNotificationResponseMessage"
}

impl Operation for SendNotification {
    type Response = SendNotificationResult;
    const NAME: &'static str = "SendNotification";
    const SOAP_ACTION: &'static str = messages_action!("SendNotification");
}

wire_enum! {
    /// The subscriber's answer to a push callback ([`SubscriptionStatus`]).
    ///
    /// [`SubscriptionStatus`]: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/subscriptionstatus
    pub enum SubscriptionStatus {
        /// Keep the subscription.
        Ok = "OK",
        /// End the subscription.
        Unsubscribe = "Unsubscribe",
    }
}

/// The `SendNotificationResult` a push subscriber answers with.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct SendNotificationResult {
    /// `SubscriptionStatus`.
    pub subscription_status: SubscriptionStatus,
}

impl SendNotificationResult {
    /// An answer with this status.
    pub fn new(subscription_status: SubscriptionStatus) -> Self {
        Self {
            subscription_status,
        }
    }
}

impl Body for SendNotificationResult {
    const ELEMENT: &'static str = "SendNotificationResult";

    fn write_xml(&self, w: &mut XmlWriter) {
        w.start("m:SendNotificationResult").open();
        w.leaf("m:SubscriptionStatus", self.subscription_status.as_str());
        w.end("m:SendNotificationResult");
    }

    fn read_xml(r: &mut XmlReader<'_>, element: &Element<'_>) -> Result<Self, ProtoError> {
        let mut status = None;
        while let Some(child) = r.child(element)? {
            if child.local() == "SubscriptionStatus" {
                status = Some(SubscriptionStatus::parse(&r.trimmed_str(&child)?));
            } else {
                r.skip(&child)?;
            }
        }
        Ok(Self {
            subscription_status: status.ok_or(ProtoError::Missing {
                parent: "SendNotificationResult",
                missing: "SubscriptionStatus",
            })?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `NotificationService.wsdl`: `<soap:operation soapAction=".../messages/SendNotification"/>`.
    #[test]
    fn its_soap_action_is_the_one_the_notification_service_wsdl_binds() {
        assert_eq!(
            SendNotification::SOAP_ACTION,
            "http://schemas.microsoft.com/exchange/services/2006/messages/SendNotification"
        );
        assert_eq!(SendNotification::NAME, "SendNotification");
    }
}
