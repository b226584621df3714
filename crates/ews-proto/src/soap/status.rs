//! What every EWS response message starts with: class, code, text and `MessageXml`.

use std::time::Duration;

use crate::error::ProtoError;
use crate::response_code::ResponseCode;
use crate::wire_enum::wire_enum;
use crate::xml::{Element, XmlReader, XmlWriter};

wire_enum! {
    /// The outcome class of a response message ([`ResponseClass`]).
    ///
    /// [`ResponseClass`]: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/responseclass
    pub enum ResponseClass default Success {
        /// The request succeeded.
        Success = "Success",
        /// The request succeeded in part.
        Warning = "Warning",
        /// The request failed; see the response code.
        Error = "Error",
    }
}

/// One entry of `MessageXml`: `<t:Value Name="BackOffMilliseconds">297749</t:Value>`, or any
/// other simple element (`t:LineNumber`, `t:Violation`, ...), kept as sent.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[non_exhaustive]
pub struct MessageXmlValue {
    /// The element's local name (`Value` for named values).
    pub element: String,
    /// The `Name` attribute, when present.
    pub name: Option<String>,
    /// The text content.
    pub value: String,
}

impl MessageXmlValue {
    /// A named `t:Value`.
    pub fn named(name: &str, value: &str) -> Self {
        Self {
            element: "Value".to_owned(),
            name: Some(name.to_owned()),
            value: value.to_owned(),
        }
    }
}

/// Machine-readable details of an error ([`MessageXml`]).
///
/// [`MessageXml`]: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/messagexml
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[non_exhaustive]
pub struct MessageXml {
    /// The entries, in document order.
    pub values: Vec<MessageXmlValue>,
}

impl MessageXml {
    /// A `MessageXml` that asks the client to wait ([`ResponseCode::ErrorServerBusy`]).
    pub fn back_off(wait: Duration) -> Self {
        let millis = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
        Self {
            values: vec![MessageXmlValue::named(
                "BackOffMilliseconds",
                &millis.to_string(),
            )],
        }
    }

    /// The value named `name`.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|v| v.name.as_deref() == Some(name))
            .map(|v| v.value.as_str())
    }

    /// `BackOffMilliseconds`, the wait Exchange asks for when it throttles.
    pub fn back_off_duration(&self) -> Option<Duration> {
        self.value("BackOffMilliseconds")?
            .trim()
            .parse::<u64>()
            .ok()
            .map(Duration::from_millis)
    }

    pub(crate) fn write_xml(&self, w: &mut XmlWriter, name: &str) {
        w.start(name).open();
        for value in &self.values {
            let element = format!("t:{}", value.element);
            w.start(&element)
                .attr_opt("Name", value.name.as_deref())
                .text(&value.value);
        }
        w.end(name);
    }

    pub(crate) fn read_xml(
        r: &mut XmlReader<'_>,
        element: &Element<'_>,
    ) -> Result<Self, ProtoError> {
        let mut out = Self::default();
        while let Some(child) = r.child(element)? {
            let element = child.name()?;
            let name = child.attr("Name")?;
            let value = r.trimmed(&child)?;
            out.values.push(MessageXmlValue {
                element,
                name,
                value,
            });
        }
        Ok(out)
    }
}

/// The common head of every EWS response message.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[non_exhaustive]
pub struct ResponseStatus {
    /// `ResponseClass` attribute.
    pub class: ResponseClass,
    /// `ResponseCode` (`NoError` when absent).
    pub code: ResponseCode,
    /// `MessageText`, a human-readable description.
    pub message_text: Option<String>,
    /// `DescriptiveLinkKey` (always 0 in practice).
    pub descriptive_link_key: Option<i32>,
    /// `MessageXml`, with `BackOffMilliseconds` for throttling errors.
    pub message_xml: Option<MessageXml>,
}

impl ResponseStatus {
    /// A successful status: class `Success`, code `NoError`.
    pub fn success() -> Self {
        Self::default()
    }

    /// An error status with this code and text.
    pub fn error(code: ResponseCode, text: &str) -> Self {
        Self {
            class: ResponseClass::Error,
            code,
            message_text: Some(text.to_owned()),
            descriptive_link_key: Some(0),
            message_xml: None,
        }
    }

    /// Whether the class is `Success` and the code `NoError`.
    pub fn is_success(&self) -> bool {
        self.class == ResponseClass::Success && self.code.is_success()
    }

    /// The wait the server asked for, if any.
    pub fn back_off(&self) -> Option<Duration> {
        self.message_xml.as_ref()?.back_off_duration()
    }

    fn write_xml(&self, w: &mut XmlWriter) {
        w.leaf_opt("m:MessageText", self.message_text.as_deref());
        w.leaf("m:ResponseCode", self.code.as_str());
        if let Some(key) = self.descriptive_link_key {
            w.leaf("m:DescriptiveLinkKey", &key.to_string());
        }
        if let Some(xml) = &self.message_xml {
            xml.write_xml(w, "m:MessageXml");
        }
    }

    /// Reads `child` if it is one of the status elements; returns whether it was.
    fn read_field(
        &mut self,
        r: &mut XmlReader<'_>,
        child: &Element<'_>,
    ) -> Result<bool, ProtoError> {
        match child.local() {
            "MessageText" => self.message_text = Some(r.text(child)?),
            "ResponseCode" => self.code = ResponseCode::parse(&r.trimmed_str(child)?),
            "DescriptiveLinkKey" => {
                self.descriptive_link_key =
                    Some(r.parse(child, "DescriptiveLinkKey", "expected an integer")?);
            }
            "MessageXml" => self.message_xml = Some(MessageXml::read_xml(r, child)?),
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// A response message: a [`ResponseStatus`] followed by the operation's own elements.
pub(crate) trait MessageFields: Default {
    fn status(&self) -> &ResponseStatus;
    fn status_mut(&mut self) -> &mut ResponseStatus;
    /// Writes the operation's own elements, after the status.
    fn write_fields(&self, w: &mut XmlWriter);
    /// Reads `child` if it is one of the operation's own elements; returns whether it was.
    fn read_field(
        &mut self,
        r: &mut XmlReader<'_>,
        child: &Element<'_>,
    ) -> Result<bool, ProtoError>;
}

/// Writes `<name ResponseClass="...">status fields</name>`.
pub(crate) fn write_message<M: MessageFields>(w: &mut XmlWriter, name: &str, message: &M) {
    w.start(name)
        .attr("ResponseClass", message.status().class.as_str())
        .open();
    message.status().write_xml(w);
    message.write_fields(w);
    w.end(name);
}

/// Reads a response message; children may come in any order, unknown ones are skipped.
pub(crate) fn read_message<M: MessageFields>(
    r: &mut XmlReader<'_>,
    element: &Element<'_>,
) -> Result<M, ProtoError> {
    let mut message = M::default();
    if let Some(class) = element.attr("ResponseClass")? {
        message.status_mut().class = ResponseClass::parse(&class);
    }
    while let Some(child) = r.child(element)? {
        if !message.status_mut().read_field(r, &child)? && !message.read_field(r, &child)? {
            r.skip(&child)?;
        }
    }
    Ok(message)
}
