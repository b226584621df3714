//! `GetStreamingEvents`: hold a connection that streams the events of up to 200 subscriptions.
//!
//! The response body is a series of complete SOAP envelopes over chunked HTTP; split it with
//! [`EnvelopeSplitter`](crate::EnvelopeSplitter) and read each envelope as a
//! [`GetStreamingEventsResponse`].
//!
//! Spec: [GetStreamingEvents operation](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/getstreamingevents-operation).

use super::{Operation, messages_action, response_messages, status_accessors};
use crate::error::ProtoError;
use crate::event::Notification;
use crate::soap::sealed::Body;
use crate::soap::{MessageFields, ResponseStatus};
use crate::types::SubscriptionId;
use crate::wire_enum::wire_enum;
use crate::xml::{Element, XmlReader, XmlWriter};

wire_enum! {
    /// Whether the stream stays open ([`ConnectionStatus`]).
    ///
    /// [`ConnectionStatus`]: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/connectionstatus
    pub enum ConnectionStatus {
        /// The connection stays open.
        Ok = "OK",
        /// The server closes the connection after this envelope.
        Closed = "Closed",
    }
}

/// The `GetStreamingEvents` request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct GetStreamingEvents {
    /// `SubscriptionIds`: at most 200 streaming subscriptions.
    pub subscription_ids: Vec<SubscriptionId>,
    /// `m:ConnectionTimeout`: minutes the connection stays open (1-30).
    pub connection_timeout_minutes: u32,
}

impl GetStreamingEvents {
    /// Stream events of `subscription_ids` for `connection_timeout_minutes`.
    pub fn new(subscription_ids: Vec<SubscriptionId>, connection_timeout_minutes: u32) -> Self {
        Self {
            subscription_ids,
            connection_timeout_minutes,
        }
    }
}

impl Operation for GetStreamingEvents {
    type Response = GetStreamingEventsResponse;
    const NAME: &'static str = "GetStreamingEvents";
    /// `services.wsdl` binds `GetStreamingEvents` to the `GetEvents` action, and Microsoft's
    /// generated proxy (`ExchangeServiceBinding.GetStreamingEvents`) sends that.
    const SOAP_ACTION: &'static str = messages_action!("GetEvents");
}

impl Body for GetStreamingEvents {
    const ELEMENT: &'static str = "GetStreamingEvents";

    fn write_xml(&self, w: &mut XmlWriter) {
        w.start("m:GetStreamingEvents").open();
        w.start("m:SubscriptionIds").open();
        for id in &self.subscription_ids {
            w.leaf("t:SubscriptionId", id.as_str());
        }
        w.end("m:SubscriptionIds");
        // The reference page puts ConnectionTimeout in the types namespace, but every client
        // and Exchange itself use the messages namespace.
        w.leaf(
            "m:ConnectionTimeout",
            &self.connection_timeout_minutes.to_string(),
        );
        w.end("m:GetStreamingEvents");
    }

    fn read_xml(r: &mut XmlReader<'_>, element: &Element<'_>) -> Result<Self, ProtoError> {
        let mut subscription_ids = Vec::new();
        let mut timeout = None;
        while let Some(child) = r.child(element)? {
            match child.local() {
                "SubscriptionIds" => subscription_ids = read_ids(r, &child)?,
                "ConnectionTimeout" => {
                    timeout = Some(r.parse(&child, "ConnectionTimeout", "expected minutes")?);
                }
                _ => r.skip(&child)?,
            }
        }
        Ok(Self {
            subscription_ids,
            connection_timeout_minutes: timeout.ok_or(ProtoError::Missing {
                parent: "GetStreamingEvents",
                missing: "ConnectionTimeout",
            })?,
        })
    }
}

fn read_ids(
    r: &mut XmlReader<'_>,
    element: &Element<'_>,
) -> Result<Vec<SubscriptionId>, ProtoError> {
    let mut ids = Vec::new();
    while let Some(child) = r.child(element)? {
        if child.local() == "SubscriptionId" {
            ids.push(SubscriptionId::new(r.trimmed(&child)?));
        } else {
            r.skip(&child)?;
        }
    }
    Ok(ids)
}

/// One `GetStreamingEventsResponseMessage`: a batch of notifications, a heartbeat, or an
/// error naming the subscriptions that failed.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[non_exhaustive]
pub struct GetStreamingEventsResponseMessage {
    /// Class, code and text.
    pub status: ResponseStatus,
    /// `Notifications`.
    pub notifications: Vec<Notification>,
    /// `ErrorSubscriptionIds`: the subscriptions the error is about.
    pub error_subscription_ids: Vec<SubscriptionId>,
    /// `ConnectionStatus`.
    pub connection_status: Option<ConnectionStatus>,
}

impl GetStreamingEventsResponseMessage {
    /// A successful message carrying `notifications`.
    pub fn notifications(notifications: Vec<Notification>) -> Self {
        Self {
            notifications,
            ..Self::default()
        }
    }

    /// A successful message with only a connection status (the first envelope and the last).
    pub fn connection(status: ConnectionStatus) -> Self {
        Self {
            connection_status: Some(status),
            ..Self::default()
        }
    }

    /// An error message.
    pub fn error(status: ResponseStatus) -> Self {
        Self {
            status,
            ..Self::default()
        }
    }
}

impl MessageFields for GetStreamingEventsResponseMessage {
    status_accessors!();

    fn write_fields(&self, w: &mut XmlWriter) {
        if !self.notifications.is_empty() {
            w.start("m:Notifications").open();
            for notification in &self.notifications {
                notification.write_xml(w, "m:Notification");
            }
            w.end("m:Notifications");
        }
        if !self.error_subscription_ids.is_empty() {
            w.start("m:ErrorSubscriptionIds").open();
            for id in &self.error_subscription_ids {
                w.leaf("m:SubscriptionId", id.as_str());
            }
            w.end("m:ErrorSubscriptionIds");
        }
        if let Some(status) = &self.connection_status {
            w.leaf("m:ConnectionStatus", status.as_str());
        }
    }

    fn read_field(
        &mut self,
        r: &mut XmlReader<'_>,
        child: &Element<'_>,
    ) -> Result<bool, ProtoError> {
        match child.local() {
            "Notifications" => {
                while let Some(notification) = r.child(child)? {
                    if notification.local() == "Notification" {
                        self.notifications
                            .push(Notification::read_xml(r, &notification)?);
                    } else {
                        r.skip(&notification)?;
                    }
                }
            }
            "ErrorSubscriptionIds" => self.error_subscription_ids = read_ids(r, child)?,
            "ConnectionStatus" => {
                self.connection_status = Some(ConnectionStatus::parse(&r.trimmed_str(child)?))
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

response_messages! {
    /// One envelope of the `GetStreamingEventsResponse` stream.
    GetStreamingEventsResponse = "GetStreamingEventsResponse",
    GetStreamingEventsResponseMessage = "GetStreamingEventsResponseMessage"
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `services.wsdl` binds `GetStreamingEvents` to the `GetEvents` action (its
    /// `soap:operation`), and `ExchangeServiceBinding.GetStreamingEvents` sends it.
    #[test]
    fn its_soap_action_is_the_one_services_wsdl_binds() {
        assert_eq!(
            GetStreamingEvents::SOAP_ACTION,
            "http://schemas.microsoft.com/exchange/services/2006/messages/GetEvents"
        );
        assert_eq!(GetStreamingEvents::NAME, "GetStreamingEvents");
    }
}
