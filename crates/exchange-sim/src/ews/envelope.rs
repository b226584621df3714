//! The simulator's own reading of an EWS request's SOAP envelope: who it acts as (the
//! `ExchangeImpersonation` header), which `RequestServerVersion` it asks for, and which
//! operation its body holds.
//!
//! Read with `roxmltree` (strict, namespace-aware, no DTDs), not with the client crates'
//! reader, so the simulator judges requests by the schema rather than by our client.
//! Spec: [EWS SOAP headers](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/ews-soap-headers),
//! [ExchangeImpersonation](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/exchangeimpersonation),
//! [ConnectingSID](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/connectingsid).

use axum::response::Response;
use ews_proto::ResponseCode;
use roxmltree::{Document, Node};

use super::write::{self, MESSAGES, TYPES, Violation};

/// The SOAP 1.1 envelope namespace.
const SOAP11: &str = "http://schemas.xmlsoap.org/soap/envelope/";

/// Why a request is refused before its operation runs: a SOAP fault, as Exchange sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) code: ResponseCode,
    /// The `faultstring`.
    pub(crate) text: String,
    /// Where the schema was broken, for `MessageXml`.
    pub(crate) violation: Option<Violation>,
}

impl Refusal {
    /// `ErrorSchemaValidation` at `node`'s name (after its `<`, where .NET places an element),
    /// naming what is wrong.
    pub(crate) fn schema(doc: &Document<'_>, node: Node<'_, '_>, violation: &str) -> Self {
        let at = doc.text_pos_at(node.range().start + 1);
        Self::schema_at(at.row, at.col, violation)
    }

    fn schema_at(line: u32, position: u32, violation: &str) -> Self {
        Self {
            code: ResponseCode::ErrorSchemaValidation,
            text: format!("The request failed schema validation: {violation}."),
            violation: Some(Violation {
                line,
                position,
                text: format!("{violation}."),
            }),
        }
    }

    /// A refusal without a position.
    pub(crate) fn new(code: ResponseCode, text: impl Into<String>) -> Self {
        Self {
            code,
            text: text.into(),
            violation: None,
        }
    }

    /// The fault answer, written by the simulator's writer.
    pub(crate) fn response(&self) -> Response {
        let message = if self.violation.is_some() {
            "The request failed schema validation."
        } else {
            self.text.as_str()
        };
        write::fault(
            self.code.as_str(),
            &self.text,
            message,
            self.violation.as_ref().map(write::MessageXml::Violation),
        )
    }
}

/// Who the `ExchangeImpersonation` header names (`ConnectingSID`'s one child).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ConnectingSid {
    PrincipalName(String),
    Sid(String),
    PrimarySmtpAddress(String),
    SmtpAddress(String),
}

/// What the SOAP header says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) impersonation: Option<ConnectingSid>,
    /// `RequestServerVersion/@Version`, when present.
    pub(crate) version: Option<String>,
}

/// A parsed request.
pub(crate) struct Request<'a> {
    pub(crate) doc: Document<'a>,
}

/// Parses `body` as XML (UTF-8, no DTD).
pub(crate) fn parse(body: &[u8]) -> Result<Request<'_>, Refusal> {
    let text = std::str::from_utf8(body)
        .map_err(|e| Refusal::schema_at(1, 1, &format!("The request is not UTF-8 ({e})")))?;
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let doc = Document::parse(text).map_err(|e| {
        let at = e.pos();
        Refusal::schema_at(at.row, at.col, &e.to_string())
    })?;
    Ok(Request { doc })
}

/// Whether `node` is the element `name` in namespace `ns`.
pub(crate) fn is(node: Node<'_, '_>, ns: &str, name: &str) -> bool {
    node.is_element() && node.tag_name().name() == name && node.tag_name().namespace() == Some(ns)
}

impl<'a> Request<'a> {
    fn envelope(&self) -> Result<Node<'_, 'a>, Refusal> {
        let root = self.doc.root_element();
        if is(root, SOAP11, "Envelope") {
            Ok(root)
        } else {
            Err(Refusal::schema(
                &self.doc,
                root,
                "the root element is not a SOAP 1.1 Envelope",
            ))
        }
    }

    /// The SOAP header's impersonation and version.
    pub(crate) fn header(&self) -> Result<Header, Refusal> {
        let mut out = Header::default();
        let Some(header) = self
            .envelope()?
            .children()
            .find(|n| is(*n, SOAP11, "Header"))
        else {
            return Ok(out);
        };
        for child in header.children().filter(Node::is_element) {
            if is(child, TYPES, "RequestServerVersion") {
                let version = child.attribute("Version").ok_or_else(|| {
                    Refusal::schema(
                        &self.doc,
                        child,
                        "the required attribute 'Version' of RequestServerVersion is missing",
                    )
                })?;
                out.version = Some(version.to_owned());
            } else if is(child, TYPES, "ExchangeImpersonation") {
                out.impersonation = Some(self.connecting_sid(child)?);
            }
        }
        Ok(out)
    }

    fn connecting_sid(&self, impersonation: Node<'_, 'a>) -> Result<ConnectingSid, Refusal> {
        let mut elements = impersonation.children().filter(Node::is_element);
        let sid = elements
            .next()
            .filter(|n| is(*n, TYPES, "ConnectingSID"))
            .ok_or_else(|| {
                Refusal::schema(
                    &self.doc,
                    impersonation,
                    "ExchangeImpersonation must hold exactly one t:ConnectingSID",
                )
            })?;
        let mut inner = sid.children().filter(Node::is_element);
        let (Some(who), None, None) = (inner.next(), inner.next(), elements.next()) else {
            return Err(Refusal::schema(
                &self.doc,
                sid,
                "ConnectingSID must hold exactly one of PrincipalName, SID, PrimarySmtpAddress, SmtpAddress",
            ));
        };
        let value = who.text().unwrap_or_default().trim().to_owned();
        let named = match who.tag_name().name() {
            "PrincipalName" => ConnectingSid::PrincipalName(value),
            "SID" => ConnectingSid::Sid(value),
            "PrimarySmtpAddress" => ConnectingSid::PrimarySmtpAddress(value),
            "SmtpAddress" => ConnectingSid::SmtpAddress(value),
            other => {
                return Err(Refusal::schema(
                    &self.doc,
                    who,
                    &format!("'{other}' is not a valid child of ConnectingSID"),
                ));
            }
        };
        if who.tag_name().namespace() != Some(TYPES) {
            return Err(Refusal::schema(
                &self.doc,
                who,
                "ConnectingSID's child must be in the types namespace",
            ));
        }
        Ok(named)
    }

    /// The body's operation element (in the messages namespace), if there is one.
    pub(crate) fn operation(&self) -> Result<Option<Node<'_, 'a>>, Refusal> {
        let envelope = self.envelope()?;
        let Some(body) = envelope.children().find(|n| is(*n, SOAP11, "Body")) else {
            return Err(Refusal::schema(
                &self.doc,
                envelope,
                "the Envelope has no Body",
            ));
        };
        Ok(body
            .children()
            .find(Node::is_element)
            .filter(|n| n.tag_name().namespace() == Some(MESSAGES)))
    }
}

/// Reads an element's children in the schema's order, refusing what the schema does not
/// allow with the messages .NET's validator (and so Exchange) gives.
pub(crate) struct Children<'r, 'a, 'i> {
    doc: &'r Document<'i>,
    parent: Node<'a, 'i>,
    rest: std::iter::Peekable<Box<dyn Iterator<Item = Node<'a, 'i>> + 'a>>,
}

/// `'name' in namespace 'ns'`, as the validator names an element.
fn named(node: Node<'_, '_>) -> String {
    format!(
        "'{}' in namespace '{}'",
        node.tag_name().name(),
        node.tag_name().namespace().unwrap_or_default()
    )
}

impl<'r, 'a, 'i> Children<'r, 'a, 'i> {
    /// The element children of `parent`; text other than white space is refused.
    pub(crate) fn of(doc: &'r Document<'i>, parent: Node<'a, 'i>) -> Result<Self, Refusal> {
        if let Some(text) = parent
            .children()
            .find(|n| n.is_text() && !n.text().unwrap_or_default().trim().is_empty())
        {
            return Err(Refusal::schema(
                doc,
                text,
                &format!(
                    "The element {} cannot contain text. Content model is element-only",
                    named(parent)
                ),
            ));
        }
        let elements: Box<dyn Iterator<Item = Node<'a, 'i>> + 'a> =
            Box::new(parent.children().filter(Node::is_element));
        Ok(Self {
            doc,
            parent,
            rest: elements.peekable(),
        })
    }

    /// The next child if it is `name` in `ns`.
    pub(crate) fn optional(&mut self, ns: &str, name: &str) -> Option<Node<'a, 'i>> {
        self.rest.next_if(|n| is(*n, ns, name))
    }

    /// The next child, which must be `name` in `ns`.
    pub(crate) fn required(&mut self, ns: &str, name: &str) -> Result<Node<'a, 'i>, Refusal> {
        if let Some(node) = self.optional(ns, name) {
            return Ok(node);
        }
        let expected = format!("List of possible elements expected: '{name}' in namespace '{ns}'");
        Err(match self.rest.peek() {
            Some(other) => Refusal::schema(
                self.doc,
                *other,
                &format!(
                    "The element {} has invalid child element {}. {expected}",
                    named(self.parent),
                    named(*other)
                ),
            ),
            None => Refusal::schema(
                self.doc,
                self.parent,
                &format!(
                    "The element {} has incomplete content. {expected}",
                    named(self.parent)
                ),
            ),
        })
    }

    /// The next child, whatever it is.
    pub(crate) fn next_any(&mut self) -> Option<Node<'a, 'i>> {
        self.rest.next()
    }

    /// Refuses any child left over.
    pub(crate) fn end(mut self) -> Result<(), Refusal> {
        match self.rest.next() {
            None => Ok(()),
            Some(other) => Err(Refusal::schema(
                self.doc,
                other,
                &format!(
                    "The element {} has invalid child element {}",
                    named(self.parent),
                    named(other)
                ),
            )),
        }
    }
}

/// An attribute's value refused by its type: the validator's wording.
pub(crate) fn bad_attribute(
    doc: &Document<'_>,
    node: Node<'_, '_>,
    attribute: &str,
    value: &str,
    datatype: &str,
) -> Refusal {
    Refusal::schema(
        doc,
        node,
        &format!(
            "The '{attribute}' attribute is invalid - The value '{value}' is invalid according to its datatype '{datatype}'"
        ),
    )
}

/// A required attribute that is missing.
pub(crate) fn required_attribute<'a>(
    doc: &Document<'_>,
    node: Node<'a, '_>,
    attribute: &str,
) -> Result<&'a str, Refusal> {
    node.attribute(attribute).ok_or_else(|| {
        Refusal::schema(
            doc,
            node,
            &format!("The required attribute '{attribute}' is missing"),
        )
    })
}

/// The text of an element of simple type (`xs:string` and types derived from it keep white
/// space as sent); a child element is refused, as the validator refuses it in a text-only
/// content model.
pub(crate) fn text_of(doc: &Document<'_>, node: Node<'_, '_>) -> Result<String, Refusal> {
    if let Some(child) = node.children().find(Node::is_element) {
        return Err(Refusal::schema(
            doc,
            child,
            &format!(
                "The element {} cannot contain child element {} because the parent element's content model is text only",
                named(node),
                named(child)
            ),
        ));
    }
    Ok(node
        .children()
        .filter(Node::is_text)
        .filter_map(|n| n.text())
        .collect())
}

/// An element's value refused by its simple type `datatype` (namespace-qualified, as the
/// validator names it) for `reason`: the validator's wording.
pub(crate) fn bad_value(
    doc: &Document<'_>,
    node: Node<'_, '_>,
    value: &str,
    datatype: &str,
    reason: &str,
) -> Refusal {
    Refusal::schema(
        doc,
        node,
        &format!(
            "The '{}:{}' element is invalid - The value '{value}' is invalid according to its datatype '{datatype}' - {reason}",
            node.tag_name().namespace().unwrap_or_default(),
            node.tag_name().name()
        ),
    )
}

/// The value of an element of a `NonEmptyStringType` (`minLength` 1) named `datatype` in the
/// types namespace.
pub(crate) fn non_empty(
    doc: &Document<'_>,
    node: Node<'_, '_>,
    datatype: &str,
) -> Result<String, Refusal> {
    let value = text_of(doc, node)?;
    if value.is_empty() {
        return Err(bad_value(
            doc,
            node,
            &value,
            &format!("{TYPES}:{datatype}"),
            "The actual length is less than the MinLength value",
        ));
    }
    Ok(value)
}

/// The value of an element of an `xs:int` restricted to `min..=max` (`datatype` in the types
/// namespace); `xs:int` collapses white space.
pub(crate) fn int_between(
    doc: &Document<'_>,
    node: Node<'_, '_>,
    datatype: &str,
    (min, max): (u32, u32),
) -> Result<u32, Refusal> {
    let text = text_of(doc, node)?;
    let value = text.trim();
    let datatype = format!("{TYPES}:{datatype}");
    let number: i32 = value.parse().map_err(|_| {
        bad_value(
            doc,
            node,
            value,
            &datatype,
            &format!("The string '{value}' is not a valid Int32 value"),
        )
    })?;
    let reason = match u32::try_from(number) {
        Ok(n) if (min..=max).contains(&n) => return Ok(n),
        Ok(n) if n > max => "The MaxInclusive constraint failed",
        _ => "The MinInclusive constraint failed",
    };
    Err(bad_value(doc, node, value, &datatype, reason))
}

/// The value of an element of an enumeration of `xs:string` (`datatype` in the types
/// namespace, white space kept): one of `allowed`.
pub(crate) fn one_of(
    doc: &Document<'_>,
    node: Node<'_, '_>,
    datatype: &str,
    allowed: &[&str],
) -> Result<String, Refusal> {
    let value = text_of(doc, node)?;
    if allowed.contains(&value.as_str()) {
        Ok(value)
    } else {
        Err(bad_value(
            doc,
            node,
            &value,
            &format!("{TYPES}:{datatype}"),
            "The Enumeration constraint failed",
        ))
    }
}

/// An optional `xs:boolean` attribute (`true`, `false`, `1`, `0`; white space collapsed).
pub(crate) fn boolean_attribute(
    doc: &Document<'_>,
    node: Node<'_, '_>,
    attribute: &str,
) -> Result<Option<bool>, Refusal> {
    let Some(value) = node.attribute(attribute) else {
        return Ok(None);
    };
    match value.trim() {
        "true" | "1" => Ok(Some(true)),
        "false" | "0" => Ok(Some(false)),
        _ => Err(bad_attribute(
            doc,
            node,
            attribute,
            value,
            "http://www.w3.org/2001/XMLSchema:boolean",
        )),
    }
}

/// An optional attribute of an enumeration of `xs:string` (`datatype` in the types namespace).
pub(crate) fn enum_attribute<'a>(
    doc: &Document<'_>,
    node: Node<'a, '_>,
    attribute: &str,
    datatype: &str,
    allowed: &[&str],
) -> Result<Option<&'a str>, Refusal> {
    match node.attribute(attribute) {
        Some(value) if !allowed.contains(&value) => Err(bad_attribute(
            doc,
            node,
            attribute,
            value,
            &format!("{TYPES}:{datatype}"),
        )),
        other => Ok(other),
    }
}

/// Reads `operation` (the body's one element, written with the prefixes `m` and `t`) with
/// `read`, as `read_request` does: for the operations' reader tests.
#[cfg(test)]
pub(crate) fn read_operation<T>(
    operation: &str,
    read: impl Fn(&Document<'_>, Node<'_, '_>) -> Result<T, Refusal>,
) -> Result<T, Refusal> {
    let text = format!(
        r#"<s:Envelope xmlns:s="{SOAP11}" xmlns:m="{MESSAGES}" xmlns:t="{TYPES}"><s:Body>{operation}</s:Body></s:Envelope>"#
    );
    let request = parse(text.as_bytes())?;
    let node = request
        .operation()?
        .ok_or_else(|| Refusal::new(ResponseCode::ErrorInvalidRequest, "no operation"))?;
    read(&request.doc, node)
}

/// Asserts that `refused` is `ErrorSchemaValidation` at a position, naming `named`.
#[cfg(test)]
pub(crate) fn assert_schema_refusal<T: std::fmt::Debug>(refused: Result<T, Refusal>, named: &str) {
    let refusal = refused.expect_err(named);
    assert_eq!(refusal.code, ResponseCode::ErrorSchemaValidation, "{named}");
    assert!(refusal.text.contains(named), "{named}: {}", refusal.text);
    assert!(refusal.violation.is_some(), "{}", refusal.text);
}

#[cfg(test)]
mod tests {
    use super::*;

    const IMPERSONATING: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"
  xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"
  xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">
  <soap:Header>
    <t:RequestServerVersion Version="Exchange2016"/>
    <t:ExchangeImpersonation><t:ConnectingSID>
      <t:PrimarySmtpAddress> mara@contoso.com </t:PrimarySmtpAddress>
    </t:ConnectingSID></t:ExchangeImpersonation>
  </soap:Header>
  <soap:Body><m:GetFolder/></soap:Body>
</soap:Envelope>"#;

    #[test]
    fn reads_impersonation_version_and_operation() {
        let request = parse(IMPERSONATING.as_bytes()).expect("well-formed");
        let header = request.header().expect("valid header");
        assert_eq!(header.version.as_deref(), Some("Exchange2016"));
        assert_eq!(
            header.impersonation,
            Some(ConnectingSid::PrimarySmtpAddress("mara@contoso.com".into()))
        );
        let op = request
            .operation()
            .ok()
            .flatten()
            .map(|n| n.tag_name().name());
        assert_eq!(op, Some("GetFolder"));
    }

    #[test]
    fn refuses_two_connecting_sid_children_with_their_position() {
        let text = IMPERSONATING.replace(
            "</t:PrimarySmtpAddress>",
            "</t:PrimarySmtpAddress><t:SID>S-1-5</t:SID>",
        );
        let request = parse(text.as_bytes()).expect("well-formed");
        let refusal = request.header().expect_err("two children");
        assert_eq!(refusal.code, ResponseCode::ErrorSchemaValidation);
        let at = refusal.violation.map(|v| (v.line, v.position));
        assert_eq!(at, Some((7, 31)), "{}", refusal.text);
    }

    #[test]
    fn refuses_a_dtd_and_a_missing_version() {
        let dtd = format!("<!DOCTYPE x [<!ENTITY a \"b\">]>{}", &IMPERSONATING[38..]);
        assert!(parse(dtd.as_bytes()).is_err());
        let text = IMPERSONATING.replace(" Version=\"Exchange2016\"", "");
        let refusal = parse(text.as_bytes()).and_then(|r| r.header());
        assert!(refusal.is_err_and(|r| r.text.contains("'Version'")));
    }

    #[test]
    fn simple_values_are_read_as_their_types_say() {
        let doc = Document::parse(
            r#"<m:V xmlns:m="urn:m"><m:S> a<!-- split -->b </m:S><m:I>
 +7 </m:I><m:E> OK</m:E><m:B F=" false "/></m:V>"#,
        )
        .expect("well-formed");
        let child = |name: &str| {
            doc.root_element()
                .children()
                .find(|n| n.tag_name().name() == name)
                .expect("child")
        };
        // xs:string keeps white space; text around a comment is one value.
        assert_eq!(text_of(&doc, child("S")).ok().as_deref(), Some(" ab "));
        // xs:int collapses it.
        assert_eq!(int_between(&doc, child("I"), "T", (1, 30)).ok(), Some(7));
        assert!(
            int_between(&doc, child("I"), "T", (1, 5))
                .is_err_and(|r| r.text.contains("MaxInclusive"))
        );
        // An enumeration of xs:string does not trim.
        assert!(one_of(&doc, child("E"), "T", &["OK"]).is_err());
        assert_eq!(
            boolean_attribute(&doc, child("B"), "F").ok(),
            Some(Some(false))
        );
        assert_eq!(boolean_attribute(&doc, child("B"), "G").ok(), Some(None));
        assert!(text_of(&doc, doc.root_element()).is_err_and(|r| r.text.contains("text only")));
    }
}
