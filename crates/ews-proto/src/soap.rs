//! The SOAP 1.1 envelope EWS messages travel in.
//!
//! [`write_envelope`] and [`read_envelope`] turn any message of this crate into bytes and
//! back. A body that holds a `soap:Fault` reads as [`ProtoError::Fault`].
//!
//! Spec: [EWS XML elements in Exchange](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/ews-xml-elements-in-exchange).

mod fault;
mod header;
mod status;

pub use fault::{FaultCode, SoapFault};
pub use header::{ConnectingSid, ExchangeVersion, ServerVersionInfo, SoapHeader};
pub use status::{MessageXml, MessageXmlValue, ResponseClass, ResponseStatus};

pub(crate) use status::{MessageFields, read_message, write_message};

use crate::error::ProtoError;
use crate::namespaces::{self, Ns};
use crate::xml::{Element, XmlReader, XmlWriter};

/// A SOAP envelope: the header blocks and one body element.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Envelope<B> {
    /// The header blocks EWS uses.
    pub header: SoapHeader,
    /// The body element.
    pub body: B,
}

impl<B> Envelope<B> {
    /// An envelope with an empty header.
    pub fn new(body: B) -> Self {
        Self {
            header: SoapHeader::default(),
            body,
        }
    }

    /// The same envelope with this header.
    pub fn with_header(mut self, header: SoapHeader) -> Self {
        self.header = header;
        self
    }
}

/// A message that can be the body of an EWS SOAP envelope.
///
/// This trait is sealed: the messages are the types of this crate.
pub trait SoapBody: sealed::Body {}

impl<T: sealed::Body> SoapBody for T {}

pub(crate) mod sealed {
    use super::*;

    /// How a message writes and reads its body element.
    pub trait Body: Sized {
        /// The local name of the body element, for error messages and dispatch.
        const ELEMENT: &'static str;

        /// Whether an element with this local name is this message.
        fn accepts(local: &str) -> bool {
            local == Self::ELEMENT
        }

        /// Writes the body element.
        fn write_xml(&self, w: &mut XmlWriter);

        /// Reads the body element; `element` is its start tag.
        fn read_xml(r: &mut XmlReader<'_>, element: &Element<'_>) -> Result<Self, ProtoError>;
    }
}

/// Writes an envelope holding `body`.
pub fn write_envelope<B: SoapBody>(header: &SoapHeader, body: &B) -> Vec<u8> {
    let mut w = XmlWriter::new();
    w.start("s:Envelope")
        .attr("xmlns:s", namespaces::SOAP)
        .attr("xmlns:m", namespaces::MESSAGES)
        .attr("xmlns:t", namespaces::TYPES)
        .open();
    if !header.is_empty() {
        w.start("s:Header").open();
        header.write_xml(&mut w);
        w.end("s:Header");
    }
    w.start("s:Body").open();
    body.write_xml(&mut w);
    w.end("s:Body");
    w.end("s:Envelope");
    w.finish()
}

/// Writes an envelope whose body is a SOAP fault, as Exchange sends it with HTTP 500.
pub fn write_fault(header: &SoapHeader, fault: &SoapFault) -> Vec<u8> {
    let mut w = XmlWriter::new();
    w.start("s:Envelope")
        .attr("xmlns:s", namespaces::SOAP)
        .open();
    if !header.is_empty() {
        w.start("s:Header").open();
        header.write_xml(&mut w);
        w.end("s:Header");
    }
    w.start("s:Body").open();
    fault.write_xml(&mut w);
    w.end("s:Body");
    w.end("s:Envelope");
    w.finish()
}

/// Reads an envelope whose body is a `B`.
///
/// A `soap:Fault` body gives [`ProtoError::Fault`]; any other unexpected body element gives
/// [`ProtoError::UnexpectedElement`].
pub fn read_envelope<B: SoapBody>(bytes: &[u8]) -> Result<Envelope<B>, ProtoError> {
    let mut r = XmlReader::new(bytes)?;
    let root = r.root()?;
    expect_soap(&root, "Envelope")?;
    let mut header = SoapHeader::default();
    let mut body = None;
    while let Some(child) = r.child(&root)? {
        match (child.ns(), child.local()) {
            (Ns::Soap, "Header") => header = SoapHeader::read_xml(&mut r, &child)?,
            (Ns::Soap, "Body") => body = Some(read_body::<B>(&mut r, &child)?),
            _ => r.skip(&child)?,
        }
    }
    r.finish()?;
    let body = body.ok_or(ProtoError::Missing {
        parent: "Envelope",
        missing: "Body",
    })?;
    Ok(Envelope { header, body })
}

fn read_body<B: SoapBody>(r: &mut XmlReader<'_>, body: &Element<'_>) -> Result<B, ProtoError> {
    let mut found = None;
    while let Some(child) = r.child(body)? {
        if found.is_some() {
            r.skip(&child)?;
            continue;
        }
        if child.local() == "Fault" && child.ns() == Ns::Soap {
            let fault = SoapFault::read_xml(r, &child)?;
            return Err(ProtoError::Fault(Box::new(fault)));
        }
        if !B::accepts(child.local()) {
            return Err(ProtoError::UnexpectedElement {
                expected: B::ELEMENT,
                found: child.local().to_owned(),
            });
        }
        found = Some(B::read_xml(r, &child)?);
    }
    found.ok_or(ProtoError::Missing {
        parent: "Body",
        missing: B::ELEMENT,
    })
}

fn expect_soap(element: &Element<'_>, name: &'static str) -> Result<(), ProtoError> {
    if element.local() == name && element.ns() == Ns::Soap {
        Ok(())
    } else {
        Err(ProtoError::UnexpectedElement {
            expected: name,
            found: element.local().to_owned(),
        })
    }
}
