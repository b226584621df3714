//! `Unsubscribe`: end a pull or streaming subscription.
//!
//! Spec: [Unsubscribe operation](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/unsubscribe-operation).

use super::{Operation, messages_action, response_messages, status_accessors};
use crate::error::ProtoError;
use crate::soap::sealed::Body;
use crate::soap::{MessageFields, ResponseStatus};
use crate::types::SubscriptionId;
use crate::xml::{Element, XmlReader, XmlWriter};

/// The `Unsubscribe` request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Unsubscribe {
    /// `SubscriptionId`.
    pub subscription_id: SubscriptionId,
}

impl Unsubscribe {
    /// End `subscription_id`.
    pub fn new(subscription_id: SubscriptionId) -> Self {
        Self { subscription_id }
    }
}

impl Operation for Unsubscribe {
    type Response = UnsubscribeResponse;
    const NAME: &'static str = "Unsubscribe";
    const SOAP_ACTION: &'static str = messages_action!("Unsubscribe");
}

impl Body for Unsubscribe {
    const ELEMENT: &'static str = "Unsubscribe";

    fn write_xml(&self, w: &mut XmlWriter) {
        w.start("m:Unsubscribe").open();
        w.leaf("m:SubscriptionId", self.subscription_id.as_str());
        w.end("m:Unsubscribe");
    }

    fn read_xml(r: &mut XmlReader<'_>, element: &Element<'_>) -> Result<Self, ProtoError> {
        let mut subscription_id = None;
        while let Some(child) = r.child(element)? {
            if child.local() == "SubscriptionId" {
                subscription_id = Some(SubscriptionId::new(r.trimmed(&child)?));
            } else {
                r.skip(&child)?;
            }
        }
        Ok(Self {
            subscription_id: subscription_id.ok_or(ProtoError::Missing {
                parent: "Unsubscribe",
                missing: "SubscriptionId",
            })?,
        })
    }
}

/// One `UnsubscribeResponseMessage`.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[non_exhaustive]
pub struct UnsubscribeResponseMessage {
    /// Class, code and text.
    pub status: ResponseStatus,
}

impl UnsubscribeResponseMessage {
    /// A message with this status.
    pub fn new(status: ResponseStatus) -> Self {
        Self { status }
    }
}

impl MessageFields for UnsubscribeResponseMessage {
    status_accessors!();

    fn write_fields(&self, _w: &mut XmlWriter) {}

    fn read_field(
        &mut self,
        _r: &mut XmlReader<'_>,
        _child: &Element<'_>,
    ) -> Result<bool, ProtoError> {
        Ok(false)
    }
}

response_messages! {
    /// The `UnsubscribeResponse`.
    UnsubscribeResponse = "UnsubscribeResponse",
    UnsubscribeResponseMessage = "UnsubscribeResponseMessage"
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `services.wsdl`: `<soap:operation soapAction=".../messages/Unsubscribe"/>`.
    #[test]
    fn its_soap_action_is_the_one_services_wsdl_binds() {
        assert_eq!(
            Unsubscribe::SOAP_ACTION,
            "http://schemas.microsoft.com/exchange/services/2006/messages/Unsubscribe"
        );
        assert_eq!(Unsubscribe::NAME, "Unsubscribe");
    }
}
