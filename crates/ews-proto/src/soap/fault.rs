//! SOAP 1.1 faults, as Exchange sends them for throttling and malformed requests.

use std::time::Duration;

use crate::error::ProtoError;
use crate::namespaces;
use crate::response_code::ResponseCode;
use crate::soap::MessageXml;
use crate::xml::{Element, XmlReader, XmlWriter};

/// The `faultcode` of a SOAP fault.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub enum FaultCode {
    /// `soap:Client`: the request was wrong.
    Client,
    /// `soap:Server`: the server failed.
    Server,
    /// An EWS code in the types namespace (`a:ErrorServerBusy`).
    Ews(ResponseCode),
    /// Any other code, as sent (prefix removed).
    Other(String),
}

impl FaultCode {
    fn parse(text: &str) -> Self {
        let local = text
            .trim()
            .rsplit_once(':')
            .map_or(text.trim(), |(_, local)| local);
        match local {
            "Client" => Self::Client,
            "Server" => Self::Server,
            code if code.starts_with("Error") => Self::Ews(ResponseCode::parse(code)),
            other => Self::Other(other.to_owned()),
        }
    }
}

/// A SOAP fault ([SOAP 1.1 §4.4]) with Exchange's `detail`: the response code, its message and
/// `MessageXml` (with `BackOffMilliseconds` when the server is busy).
///
/// [SOAP 1.1 §4.4]: https://www.w3.org/TR/2000/NOTE-SOAP-20000508/#_Toc478383507
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct SoapFault {
    /// `faultcode`.
    pub code: FaultCode,
    /// `faultstring`, the human-readable reason.
    pub string: String,
    /// `faultactor`, when sent.
    pub actor: Option<String>,
    /// `detail/e:ResponseCode`.
    pub response_code: Option<ResponseCode>,
    /// `detail/e:Message`.
    pub message: Option<String>,
    /// `detail/t:MessageXml`.
    pub message_xml: Option<MessageXml>,
}

impl std::fmt::Display for SoapFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.response_code() {
            Some(code) => write!(f, "{code}: {}", self.string),
            None => f.write_str(&self.string),
        }
    }
}

impl SoapFault {
    /// A fault carrying an EWS response code, as Exchange writes it.
    pub fn ews(code: ResponseCode, text: &str) -> Self {
        Self {
            code: FaultCode::Ews(code.clone()),
            string: text.to_owned(),
            actor: None,
            response_code: Some(code),
            message: Some(text.to_owned()),
            message_xml: None,
        }
    }

    /// `ErrorServerBusy` asking the client to wait `wait`.
    pub fn server_busy(wait: Duration) -> Self {
        let mut fault = Self::ews(
            ResponseCode::ErrorServerBusy,
            "The server cannot service this request right now. Try again later.",
        );
        fault.message_xml = Some(MessageXml::back_off(wait));
        fault
    }

    /// A `soap:Client` fault, for requests that cannot be read at all.
    pub fn client(text: &str) -> Self {
        Self {
            code: FaultCode::Client,
            string: text.to_owned(),
            actor: None,
            response_code: None,
            message: None,
            message_xml: None,
        }
    }

    /// The EWS response code: from `detail`, else from `faultcode`.
    pub fn response_code(&self) -> Option<&ResponseCode> {
        self.response_code.as_ref().or(match &self.code {
            FaultCode::Ews(code) => Some(code),
            _ => None,
        })
    }

    /// `BackOffMilliseconds`, when the server asked us to wait.
    pub fn back_off(&self) -> Option<Duration> {
        self.message_xml.as_ref()?.back_off_duration()
    }

    pub(crate) fn write_xml(&self, w: &mut XmlWriter) {
        w.start("s:Fault").open();
        match &self.code {
            FaultCode::Client => w.leaf("faultcode", "s:Client"),
            FaultCode::Server => w.leaf("faultcode", "s:Server"),
            FaultCode::Ews(code) => w
                .start("faultcode")
                .attr("xmlns:a", namespaces::TYPES)
                .text(&format!("a:{code}")),
            FaultCode::Other(code) => w.leaf("faultcode", code),
        }
        w.start("faultstring")
            .attr("xml:lang", "en-US")
            .text(&self.string);
        w.leaf_opt("faultactor", self.actor.as_deref());
        if self.response_code.is_some() || self.message.is_some() || self.message_xml.is_some() {
            w.start("detail").open();
            if let Some(code) = &self.response_code {
                w.start("e:ResponseCode")
                    .attr("xmlns:e", namespaces::ERRORS)
                    .text(code.as_str());
            }
            if let Some(message) = &self.message {
                w.start("e:Message")
                    .attr("xmlns:e", namespaces::ERRORS)
                    .text(message);
            }
            if let Some(xml) = &self.message_xml {
                w.start("t:MessageXml")
                    .attr("xmlns:t", namespaces::TYPES)
                    .open();
                for value in &xml.values {
                    let element = format!("t:{}", value.element);
                    w.start(&element)
                        .attr_opt("Name", value.name.as_deref())
                        .text(&value.value);
                }
                w.end("t:MessageXml");
            }
            w.end("detail");
        }
        w.end("s:Fault");
    }

    pub(crate) fn read_xml(
        r: &mut XmlReader<'_>,
        element: &Element<'_>,
    ) -> Result<Self, ProtoError> {
        let mut code = None;
        let mut fault = Self::client("");
        while let Some(child) = r.child(element)? {
            match child.local() {
                "faultcode" => code = Some(FaultCode::parse(&r.text(&child)?)),
                "faultstring" => fault.string = r.text(&child)?,
                "faultactor" => fault.actor = Some(r.text(&child)?),
                "detail" => {
                    while let Some(detail) = r.child(&child)? {
                        match detail.local() {
                            "ResponseCode" => {
                                fault.response_code =
                                    Some(ResponseCode::parse(&r.trimmed_str(&detail)?));
                            }
                            "Message" => fault.message = Some(r.text(&detail)?),
                            "MessageXml" => {
                                fault.message_xml = Some(MessageXml::read_xml(r, &detail)?)
                            }
                            _ => r.skip(&detail)?,
                        }
                    }
                }
                _ => r.skip(&child)?,
            }
        }
        fault.code = code.ok_or(ProtoError::Missing {
            parent: "Fault",
            missing: "faultcode",
        })?;
        Ok(fault)
    }
}
