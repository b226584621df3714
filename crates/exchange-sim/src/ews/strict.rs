//! The simulator's own strict reader of EWS requests: every request is judged against
//! Microsoft's schema (`schema/messages.xsd`, `schema/types.xsd`, compiled once per process by
//! [`schema`]) before the simulator acts on it, and refused as Exchange refuses it. Nothing
//! here comes from the client crates: a misunderstanding of the protocol in ews-proto cannot
//! hide behind the same misunderstanding here.
//!
//! The order of the checks is the order in which Exchange (IIS, then WCF's SOAP 1.1 binding,
//! then EWS) meets the request:
//! 1. `Content-Type` other than `text/xml`: HTTP 415. EWS is SOAP 1.1 (the WSDL's
//!    `soap:binding`), which travels as `text/xml` (SOAP 1.1 §6.1.1,
//!    <https://www.w3.org/TR/2000/NOTE-SOAP-20000508/#_Toc478383526>); `application/soap+xml`
//!    is SOAP 1.2's media type.
//! 2. Not well-formed XML (a DTD included: Exchange reads requests without DTD processing):
//!    `ErrorSchemaValidation` with the position where reading stopped. Exchange validates
//!    while it reads, so a reader error surfaces as a schema-validation failure ("The request
//!    failed schema validation: Data at the root level is invalid. Line 1, position 1." is
//!    .NET's text; ours is roxmltree's). Microsoft documents `ErrorInvalidRequest` for
//!    malformed XML only for the Unified Messaging web service (MS-OXWUMS 2.2.2.1,
//!    <https://learn.microsoft.com/en-us/openspecs/exchange_server_protocols/ms-oxwums/a9e1fd8d-5f87-4caf-84f6-a99031d4bd56>),
//!    not for EWS.
//! 3. An `Envelope` that is not SOAP 1.1's (a SOAP 1.2 envelope): a `VersionMismatch` fault
//!    (SOAP 1.1 §4.4.1, <https://www.w3.org/TR/2000/NOTE-SOAP-20000508/#_Toc478383510>).
//! 4. `RequestServerVersion` naming a version this server does not know:
//!    `ErrorInvalidServerVersion` (<https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/requestserverversion>,
//!    <https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/ews-schema-versions-in-exchange>).
//! 5. A header the simulator does not know with `mustUnderstand="1"`: a `MustUnderstand`
//!    fault (SOAP 1.1 §4.2.3); other unknown headers are ignored.
//! 6. A body that is not one EWS operation: `ErrorInvalidRequest`.
//! 7. The headers the schema declares and the operation, against the schema:
//!    `ErrorSchemaValidation` with `t:MessageXml` (`LineNumber`, `LinePosition`, `Violation`)
//!    for the first violation, worded as .NET's validator words it
//!    (<https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/responsecode>).
//! 8. A valid operation the simulator does not serve: `ErrorInvalidRequest`.
//!
//! Known differences between the schema and the wire are followed as the wire has them (see
//! `schema/README.md`); none of them is in a request today.

mod compile;
mod content;
mod schema;
mod simple;
mod validate;

use std::sync::LazyLock;

use axum::http::{HeaderMap, header};
use roxmltree::{Document, Node, ParsingOptions};

use crate::scenario::Profile;
use schema::{QName, Schema};
use validate::{Validator, Violation};

/// SOAP 1.1's envelope namespace, the one EWS speaks.
pub(crate) const SOAP11: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// SOAP 1.2's envelope namespace.
pub(crate) const SOAP12: &str = "http://www.w3.org/2003/05/soap-envelope";
const MESSAGES: &str = "http://schemas.microsoft.com/exchange/services/2006/messages";
const TYPES: &str = "http://schemas.microsoft.com/exchange/services/2006/types";

/// The operations the simulator serves; any other valid operation is `ErrorInvalidRequest`.
pub(crate) const SERVED: &[&str] = &[
    "Subscribe",
    "Unsubscribe",
    "GetEvents",
    "GetStreamingEvents",
    "GetFolder",
    "FindFolder",
    "MoveItem",
    "GetItem",
    "ResolveNames",
    "GetUserPhoto",
    "ConvertId",
];

/// Most nodes a request may have (a streaming group of 200 subscriptions is a few hundred).
const MAX_NODES: u32 = 200_000;

static SCHEMA: LazyLock<Result<Schema, String>> = LazyLock::new(|| {
    Schema::compile(&[
        include_str!("../../schema/types.xsd"),
        include_str!("../../schema/messages.xsd"),
    ])
});

/// Why the simulator's EWS endpoint refuses a request, with what its answer needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestRefusal {
    /// HTTP 415: the request's media type is not SOAP 1.1's `text/xml`.
    #[error("unsupported media type {0:?} (EWS is SOAP 1.1: text/xml)")]
    UnsupportedMediaType(String),
    /// Not well-formed XML: `ErrorSchemaValidation` where reading stopped.
    #[error("not well-formed XML at {line}:{position}: {reason}")]
    Malformed {
        /// 1-based line.
        line: u32,
        /// 1-based position in the line.
        position: u32,
        /// The parser's reason.
        reason: String,
    },
    /// The `Envelope` is in this namespace, not SOAP 1.1's: a `VersionMismatch` fault.
    #[error("the envelope namespace {0:?} is not SOAP 1.1's")]
    VersionMismatch(String),
    /// A header the server does not know asks to be understood: a `MustUnderstand` fault.
    #[error("header {local:?} in namespace {namespace:?} must be understood")]
    MustUnderstand {
        /// The header's local name.
        local: String,
        /// The header's namespace.
        namespace: String,
    },
    /// `RequestServerVersion` names a version the server does not know:
    /// `ErrorInvalidServerVersion`.
    #[error("the server does not know RequestServerVersion {0:?}")]
    InvalidServerVersion(String),
    /// Not an EWS operation, not exactly one, or one the simulator does not serve:
    /// `ErrorInvalidRequest`.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The first schema violation: `ErrorSchemaValidation` with `t:MessageXml`.
    #[error("schema violation at {line}:{position}: {violation}")]
    SchemaViolation {
        /// 1-based line of the offending node.
        line: u32,
        /// 1-based position of the offending node in its line.
        position: u32,
        /// The violation, in .NET's schema validator's wording.
        violation: String,
    },
    /// The simulator's schema did not compile (a defect of the simulator, never the client's).
    #[error("the simulator's EWS schema did not compile: {0}")]
    Internal(String),
}

/// Judges an EWS request body (sent as `text/xml`) as the simulator's EWS endpoint does for
/// an Exchange of `profile`: `Ok` with the operation's name, or why it is refused. For
/// integrators who want to check what they send before they send it, and for the benches.
pub fn validate_request(profile: Profile, body: &[u8]) -> Result<String, RequestRefusal> {
    let (src, doc) = parse(body)?;
    judge(profile, src, &doc)
}

/// The versions an Exchange of `profile` accepts in `RequestServerVersion`: Exchange 2013
/// knows up to `Exchange2013_SP1`; 2016, 2019 and Exchange Online know every value of the
/// 2016-generation schema's `ExchangeVersionType` (MS-OXWSCDATA's `ExchangeVersionType`
/// lists the public ones up to `Exchange2016`,
/// <https://learn.microsoft.com/en-us/openspecs/exchange_server_protocols/ms-oxwscdata/e5909a94-0cb3-43d6-833a-3b50570ed52a>).
/// Anything else, `Exchange2019` included (which exchangelib tries first on a 15.2 build), is
/// `ErrorInvalidServerVersion`, and a client falls back to an older version.
pub(crate) fn known_versions(profile: Profile) -> &'static [&'static str] {
    const UP_TO_2013: &[&str] = &[
        "Exchange2007",
        "Exchange2007_SP1",
        "Exchange2010",
        "Exchange2010_SP1",
        "Exchange2010_SP2",
        "Exchange2013",
        "Exchange2013_SP1",
    ];
    const UP_TO_2016: &[&str] = &[
        "Exchange2007",
        "Exchange2007_SP1",
        "Exchange2009",
        "Exchange2010",
        "Exchange2010_SP1",
        "Exchange2010_SP2",
        "Exchange2012",
        "Exchange2013",
        "Exchange2013_SP1",
        "Exchange2015",
        "Exchange2016",
        "V2015_10_05",
        "V2016_01_06",
        "V2016_04_13",
        "V2016_07_13",
        "V2016_10_10",
    ];
    match profile {
        Profile::Exchange2013 => UP_TO_2013,
        _ => UP_TO_2016,
    }
}

/// The media type check, before the body is read: WCF's SOAP 1.1 binding takes only
/// `text/xml`.
pub(crate) fn media_type(headers: &HeaderMap) -> Result<(), RequestRefusal> {
    if let Some(value) = headers.get(header::CONTENT_TYPE) {
        let text = String::from_utf8_lossy(value.as_bytes()).into_owned();
        let media = text
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if media != "text/xml" {
            return Err(RequestRefusal::UnsupportedMediaType(text));
        }
    }
    Ok(())
}

/// Reads `body` as XML once, for the judge and the readers alike: UTF-8, a byte-order mark
/// allowed, no DTD, at most [`MAX_NODES`] nodes. The text returned is the one the document's
/// offsets point into.
pub(crate) fn parse(body: &[u8]) -> Result<(&str, Document<'_>), RequestRefusal> {
    let text = std::str::from_utf8(body).map_err(|e| RequestRefusal::Malformed {
        line: 1,
        position: 1,
        reason: format!("The request is not UTF-8: {e}."),
    })?;
    let src = text.trim_start_matches('\u{feff}');
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
    };
    let doc =
        Document::parse_with_options(src, options).map_err(|e| RequestRefusal::Malformed {
            line: e.pos().row,
            position: e.pos().col,
            reason: e.to_string(),
        })?;
    Ok((src, doc))
}

/// Judges a parsed request for an Exchange of `profile`; `Ok` carries the operation's name.
pub(crate) fn judge(
    profile: Profile,
    src: &str,
    doc: &Document<'_>,
) -> Result<String, RequestRefusal> {
    let schema = SCHEMA
        .as_ref()
        .map_err(|e| RequestRefusal::Internal(e.clone()))?;
    check_document(schema, profile, src, doc)
}

/// What the endpoint does with one request: media type, then [`parse`] and [`judge`].
#[cfg(test)]
fn check(profile: Profile, headers: &HeaderMap, body: &[u8]) -> Result<String, RequestRefusal> {
    media_type(headers)?;
    validate_request(profile, body)
}

/// [`parse`], then the judgement against a given schema.
#[cfg(test)]
fn check_envelope(
    schema: &Schema,
    profile: Profile,
    body: &[u8],
) -> Result<String, RequestRefusal> {
    let (src, doc) = parse(body)?;
    check_document(schema, profile, src, &doc)
}

fn check_document(
    schema: &Schema,
    profile: Profile,
    src: &str,
    doc: &Document<'_>,
) -> Result<String, RequestRefusal> {
    let envelope = doc.root_element();
    let ns = envelope.tag_name().namespace().unwrap_or("");
    if envelope.tag_name().name() == "Envelope" && ns != SOAP11 {
        return Err(RequestRefusal::VersionMismatch(ns.to_owned()));
    }
    let validator = Validator { schema, src };
    let at = |v: Violation| {
        let pos = doc.text_pos_at(v.offset);
        RequestRefusal::SchemaViolation {
            line: pos.row,
            position: pos.col,
            violation: v.text,
        }
    };
    if envelope.tag_name().name() != "Envelope" {
        return Err(RequestRefusal::InvalidRequest(format!(
            "the document element is '{}', not a SOAP Envelope",
            envelope.tag_name().name()
        )));
    }
    let (header, body) = envelope_parts(src, envelope).map_err(at)?;
    if let Some(header) = header {
        server_version(header, profile)?;
        for child in header.children().filter(Node::is_element) {
            let name = QName::new(
                child.tag_name().namespace().unwrap_or(""),
                child.tag_name().name(),
            );
            // Headers the schema declares are judged by it; SOAP lets a receiver ignore others
            // unless they ask to be understood (SOAP 1.1 §4.2.3,
            // <https://www.w3.org/TR/2000/NOTE-SOAP-20000508/#_Toc478383500>).
            match schema.global_elements.get(&name) {
                Some(&decl) if name.ns == TYPES || name.ns == MESSAGES => {
                    validator.element(child, decl, 0).map_err(at)?;
                }
                _ if matches!(
                    child.attribute((SOAP11, "mustUnderstand")),
                    Some("1" | "true")
                ) =>
                {
                    return Err(RequestRefusal::MustUnderstand {
                        local: name.local,
                        namespace: name.ns,
                    });
                }
                _ => {}
            }
        }
    }
    let (operation, decl) = operation(schema, body)?;
    let name = operation.tag_name().name().to_owned();
    validator.element(operation, decl, 0).map_err(at)?;
    if !SERVED.contains(&name.as_str()) {
        return Err(RequestRefusal::InvalidRequest(format!(
            "the simulator does not serve {name}"
        )));
    }
    Ok(name)
}

/// SOAP 1.1's envelope: an optional `Header`, then `Body`, then namespace-qualified elements
/// (SOAP 1.1 §4.1.2, <https://www.w3.org/TR/2000/NOTE-SOAP-20000508/#_Toc478383494>).
fn envelope_parts<'a, 'i>(
    src: &str,
    envelope: Node<'a, 'i>,
) -> Result<(Option<Node<'a, 'i>>, Node<'a, 'i>), Violation> {
    let mut header = None;
    let mut body = None;
    let soap = |n: &Node<'_, '_>, local: &str| {
        n.tag_name().namespace() == Some(SOAP11) && n.tag_name().name() == local
    };
    let describe = |n: &Node<'_, '_>| match n.tag_name().namespace() {
        Some(ns) => format!("'{}' in namespace '{ns}'", n.tag_name().name()),
        None => format!("'{}'", n.tag_name().name()),
    };
    for child in envelope.children() {
        if child.is_text() && child.text().is_some_and(|t| !t.trim().is_empty()) {
            return Err(Violation {
                offset: child.range().start,
                text: format!(
                    "The element 'Envelope' in namespace '{SOAP11}' cannot contain text."
                ),
            });
        }
        if !child.is_element() {
            continue;
        }
        let expected = match (header.is_some(), body.is_some()) {
            (false, false) => Some("'Header, Body'"),
            (true, false) => Some("'Body'"),
            _ => None,
        };
        let fits = match (soap(&child, "Header"), soap(&child, "Body")) {
            (true, _) => header.is_none() && body.is_none(),
            (_, true) => body.is_none(),
            // After the Body, SOAP 1.1 allows further namespace-qualified elements.
            _ => body.is_some() && child.tag_name().namespace().is_some(),
        };
        if !fits {
            return Err(Violation {
                offset: child.range().start + 1,
                text: format!(
                    "The element 'Envelope' in namespace '{SOAP11}' has invalid child element {}.{}",
                    describe(&child),
                    expected.map_or(String::new(), |e| format!(
                        " List of possible elements expected: {e} in namespace '{SOAP11}'."
                    ))
                ),
            });
        }
        if soap(&child, "Header") {
            header = Some(child);
        } else if soap(&child, "Body") {
            body = Some(child);
        }
    }
    match body {
        Some(body) => Ok((header, body)),
        None => Err(Violation {
            offset: validate::end_of(src, &envelope),
            text: format!(
                "The element 'Envelope' in namespace '{SOAP11}' has incomplete content. List of possible elements expected: 'Body' in namespace '{SOAP11}'."
            ),
        }),
    }
}

/// `RequestServerVersion`'s `Version`, when sent, must be one this server knows.
fn server_version(header: Node<'_, '_>, profile: Profile) -> Result<(), RequestRefusal> {
    let requested = header.children().find(|n| {
        n.is_element()
            && n.tag_name().namespace() == Some(TYPES)
            && n.tag_name().name() == "RequestServerVersion"
    });
    if let Some(version) = requested.and_then(|n| n.attribute("Version"))
        && !known_versions(profile).contains(&version)
    {
        return Err(RequestRefusal::InvalidServerVersion(version.to_owned()));
    }
    Ok(())
}

/// The body's single child, which must be a declared EWS operation (a global element of
/// messages.xsd whose type derives from `m:BaseRequestType`).
fn operation<'a, 'i>(
    schema: &Schema,
    body: Node<'a, 'i>,
) -> Result<(Node<'a, 'i>, schema::ElemId), RequestRefusal> {
    let mut children = body.children().filter(Node::is_element);
    let Some(first) = children.next() else {
        return Err(RequestRefusal::InvalidRequest(
            "the Body is empty".to_owned(),
        ));
    };
    if children.next().is_some() {
        return Err(RequestRefusal::InvalidRequest(
            "the Body holds more than one element".to_owned(),
        ));
    }
    let name = QName::new(
        first.tag_name().namespace().unwrap_or(""),
        first.tag_name().name(),
    );
    let base = schema
        .global_types
        .get(&QName::new(MESSAGES, "BaseRequestType"));
    match (schema.global_elements.get(&name), base) {
        (Some(&decl), Some(&base))
            if name.ns == MESSAGES && schema.derives_from(schema.elements[decl].ty, base) =>
        {
            Ok((first, decl))
        }
        _ => Err(RequestRefusal::InvalidRequest(format!(
            "{} is not an EWS operation",
            name.display()
        ))),
    }
}

/// Judges an answer (or push request) the simulator writes: every element of the SOAP header
/// and body that `messages.xsd`/`types.xsd` declare globally, against the schema. For the
/// writers' unit tests: what the simulator writes is checked by the schema, not by ews-proto.
#[cfg(test)]
pub(crate) fn validate_answer(text: &str) -> Result<(), String> {
    let schema = SCHEMA.as_ref().map_err(Clone::clone)?;
    let doc = Document::parse(text).map_err(|e| e.to_string())?;
    let validator = Validator { schema, src: text };
    let envelope = doc.root_element();
    let mut checked = 0;
    for part in envelope.children().filter(Node::is_element) {
        for child in part.children().filter(Node::is_element) {
            let name = QName::new(
                child.tag_name().namespace().unwrap_or(""),
                child.tag_name().name(),
            );
            let decl = schema
                .global_elements
                .get(&name)
                .ok_or_else(|| format!("{} is not a global element", name.display()))?;
            validator.element(child, *decl, 0).map_err(|v| {
                let pos = doc.text_pos_at(v.offset);
                format!("{}:{}: {}", pos.row, pos.col, v.text)
            })?;
            checked += 1;
        }
    }
    if checked == 0 {
        return Err("nothing to validate".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests;
