//! `Subscribe`: create a pull, push or streaming subscription.
//!
//! Spec: [Subscribe operation](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/subscribe-operation).

use super::{Operation, messages_action, response_messages, status_accessors};
use crate::error::ProtoError;
use crate::soap::sealed::Body;
use crate::soap::{MessageFields, ResponseStatus};
use crate::types::{
    BaseFolderId, EventType, SubscriptionId, Watermark, read_folder_ids, write_folder_ids,
};
use crate::xml::{Element, XmlReader, XmlWriter};

/// How events reach the subscriber.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub enum SubscriptionKind {
    /// `PullSubscriptionRequest`: the client polls with `GetEvents`.
    Pull {
        /// `Timeout`: minutes of inactivity before the subscription expires (1-1440).
        timeout_minutes: u32,
        /// `Watermark`: resume after this event.
        watermark: Option<Watermark>,
    },
    /// `PushSubscriptionRequest`: Exchange POSTs `SendNotification` to `url`.
    Push {
        /// `StatusFrequency`: minutes between heartbeats (1-1440).
        status_frequency_minutes: u32,
        /// `URL`: the client's listener.
        url: String,
        /// `Watermark`: resume after this event.
        watermark: Option<Watermark>,
        /// `CallerData` (Exchange 2013 and later): echoed in notifications.
        caller_data: Option<String>,
    },
    /// `StreamingSubscriptionRequest`: the client holds a `GetStreamingEvents` connection.
    Streaming,
}

/// The `Subscribe` request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Subscribe {
    /// Pull, push or streaming, with the kind's own settings.
    pub kind: SubscriptionKind,
    /// `FolderIds`: the folders to watch.
    pub folder_ids: Vec<BaseFolderId>,
    /// `SubscribeToAllFolders` attribute. Exchange refuses it together with `folder_ids`.
    pub subscribe_to_all_folders: bool,
    /// `EventTypes`.
    pub event_types: Vec<EventType>,
}

impl Subscribe {
    /// A streaming subscription on `folder_ids`.
    pub fn streaming(folder_ids: Vec<BaseFolderId>, event_types: Vec<EventType>) -> Self {
        Self {
            kind: SubscriptionKind::Streaming,
            folder_ids,
            subscribe_to_all_folders: false,
            event_types,
        }
    }

    /// A pull subscription on `folder_ids`.
    pub fn pull(
        folder_ids: Vec<BaseFolderId>,
        event_types: Vec<EventType>,
        timeout_minutes: u32,
        watermark: Option<Watermark>,
    ) -> Self {
        Self {
            kind: SubscriptionKind::Pull {
                timeout_minutes,
                watermark,
            },
            ..Self::streaming(folder_ids, event_types)
        }
    }

    /// A push subscription on `folder_ids` that calls back `url`.
    pub fn push(
        folder_ids: Vec<BaseFolderId>,
        event_types: Vec<EventType>,
        url: impl Into<String>,
        status_frequency_minutes: u32,
        watermark: Option<Watermark>,
    ) -> Self {
        Self {
            kind: SubscriptionKind::Push {
                status_frequency_minutes,
                url: url.into(),
                watermark,
                caller_data: None,
            },
            ..Self::streaming(folder_ids, event_types)
        }
    }

    /// The watermark to resume from, for pull and push.
    pub fn watermark(&self) -> Option<&Watermark> {
        match &self.kind {
            SubscriptionKind::Pull { watermark, .. } | SubscriptionKind::Push { watermark, .. } => {
                watermark.as_ref()
            }
            SubscriptionKind::Streaming => None,
        }
    }

    fn kind_element(&self) -> &'static str {
        match self.kind {
            SubscriptionKind::Pull { .. } => "m:PullSubscriptionRequest",
            SubscriptionKind::Push { .. } => "m:PushSubscriptionRequest",
            SubscriptionKind::Streaming => "m:StreamingSubscriptionRequest",
        }
    }
}

impl Operation for Subscribe {
    type Response = SubscribeResponse;
    const NAME: &'static str = "Subscribe";
    const SOAP_ACTION: &'static str = messages_action!("Subscribe");
}

impl Body for Subscribe {
    const ELEMENT: &'static str = "Subscribe";

    fn write_xml(&self, w: &mut XmlWriter) {
        w.start("m:Subscribe").open();
        let name = self.kind_element();
        let tag = w.start(name);
        if self.subscribe_to_all_folders {
            tag.attr("SubscribeToAllFolders", "true").open();
        } else {
            tag.open();
        }
        if !self.folder_ids.is_empty() {
            write_folder_ids(w, "t:FolderIds", &self.folder_ids);
        }
        w.start("t:EventTypes").open();
        for event_type in &self.event_types {
            w.leaf("t:EventType", event_type.as_str());
        }
        w.end("t:EventTypes");
        w.leaf_opt("t:Watermark", self.watermark().map(Watermark::as_str));
        match &self.kind {
            SubscriptionKind::Pull {
                timeout_minutes, ..
            } => w.leaf("t:Timeout", &timeout_minutes.to_string()),
            SubscriptionKind::Push {
                status_frequency_minutes,
                url,
                caller_data,
                ..
            } => {
                w.leaf("t:StatusFrequency", &status_frequency_minutes.to_string());
                w.leaf("t:URL", url);
                w.leaf_opt("t:CallerData", caller_data.as_deref());
            }
            SubscriptionKind::Streaming => {}
        }
        w.end(name);
        w.end("m:Subscribe");
    }

    fn read_xml(r: &mut XmlReader<'_>, element: &Element<'_>) -> Result<Self, ProtoError> {
        let mut found = None;
        while let Some(child) = r.child(element)? {
            let kind = match child.local() {
                "PullSubscriptionRequest" => "pull",
                "PushSubscriptionRequest" => "push",
                "StreamingSubscriptionRequest" => "streaming",
                _ => {
                    r.skip(&child)?;
                    continue;
                }
            };
            found = Some(read_request(r, &child, kind)?);
        }
        found.ok_or(ProtoError::Missing {
            parent: "Subscribe",
            missing: "a subscription request",
        })
    }
}

fn read_request(
    r: &mut XmlReader<'_>,
    element: &Element<'_>,
    kind: &str,
) -> Result<Subscribe, ProtoError> {
    let all = element
        .attr("SubscribeToAllFolders")?
        .map(|v| {
            crate::xml::parse_bool(&v).ok_or_else(|| {
                ProtoError::invalid("SubscribeToAllFolders", &v, "expected true or false")
            })
        })
        .transpose()?
        .unwrap_or(false);
    let mut subscribe = Subscribe::streaming(Vec::new(), Vec::new());
    subscribe.subscribe_to_all_folders = all;
    let mut watermark = None;
    let mut timeout = None;
    let mut frequency = None;
    let mut url = None;
    let mut caller_data = None;
    while let Some(child) = r.child(element)? {
        match child.local() {
            "FolderIds" => subscribe.folder_ids = read_folder_ids(r, &child)?,
            "EventTypes" => {
                while let Some(event_type) = r.child(&child)? {
                    if event_type.local() == "EventType" {
                        subscribe
                            .event_types
                            .push(EventType::parse(&r.trimmed_str(&event_type)?));
                    } else {
                        r.skip(&event_type)?;
                    }
                }
            }
            "Watermark" => watermark = Some(Watermark::new(r.trimmed(&child)?)),
            "Timeout" => timeout = Some(r.parse(&child, "Timeout", "expected minutes")?),
            "StatusFrequency" => {
                frequency = Some(r.parse(&child, "StatusFrequency", "expected minutes")?)
            }
            "URL" => url = Some(r.trimmed(&child)?),
            "CallerData" => caller_data = Some(r.text(&child)?),
            _ => r.skip(&child)?,
        }
    }
    subscribe.kind = match kind {
        "pull" => SubscriptionKind::Pull {
            timeout_minutes: timeout.ok_or(ProtoError::Missing {
                parent: "PullSubscriptionRequest",
                missing: "Timeout",
            })?,
            watermark,
        },
        "push" => SubscriptionKind::Push {
            status_frequency_minutes: frequency.ok_or(ProtoError::Missing {
                parent: "PushSubscriptionRequest",
                missing: "StatusFrequency",
            })?,
            url: url.ok_or(ProtoError::Missing {
                parent: "PushSubscriptionRequest",
                missing: "URL",
            })?,
            watermark,
            caller_data,
        },
        _ => SubscriptionKind::Streaming,
    };
    Ok(subscribe)
}

/// One `SubscribeResponseMessage`.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[non_exhaustive]
pub struct SubscribeResponseMessage {
    /// Class, code and text.
    pub status: ResponseStatus,
    /// `SubscriptionId`, on success.
    pub subscription_id: Option<SubscriptionId>,
    /// `Watermark`, on success for pull and push.
    pub watermark: Option<Watermark>,
}

impl SubscribeResponseMessage {
    /// A successful message.
    pub fn success(subscription_id: SubscriptionId, watermark: Option<Watermark>) -> Self {
        Self {
            status: ResponseStatus::success(),
            subscription_id: Some(subscription_id),
            watermark,
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

impl MessageFields for SubscribeResponseMessage {
    status_accessors!();

    fn write_fields(&self, w: &mut XmlWriter) {
        w.leaf_opt(
            "m:SubscriptionId",
            self.subscription_id.as_ref().map(SubscriptionId::as_str),
        );
        w.leaf_opt(
            "m:Watermark",
            self.watermark.as_ref().map(Watermark::as_str),
        );
    }

    fn read_field(
        &mut self,
        r: &mut XmlReader<'_>,
        child: &Element<'_>,
    ) -> Result<bool, ProtoError> {
        match child.local() {
            "SubscriptionId" => self.subscription_id = Some(SubscriptionId::new(r.trimmed(child)?)),
            "Watermark" => self.watermark = Some(Watermark::new(r.trimmed(child)?)),
            _ => return Ok(false),
        }
        Ok(true)
    }
}

response_messages! {
    /// The `SubscribeResponse`.
    SubscribeResponse = "SubscribeResponse",
    SubscribeResponseMessage = "SubscribeResponseMessage"
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `services.wsdl`: `<soap:operation soapAction=".../messages/Subscribe"/>`.
    #[test]
    fn its_soap_action_is_the_one_services_wsdl_binds() {
        assert_eq!(
            Subscribe::SOAP_ACTION,
            "http://schemas.microsoft.com/exchange/services/2006/messages/Subscribe"
        );
        assert_eq!(Subscribe::NAME, "Subscribe");
    }
}
