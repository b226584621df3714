//! `ConvertId`: one response message per source id, read and written by the simulator's own
//! code (roxmltree in, a small escaping writer out), not by ews-proto.
//!
//! <https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/convertid-operation>
//!
//! Clients meet it before they know the server: exchangelib asks for the server's version with a
//! `ConvertId` of `<t:AlternateId Id="DUMMY" Format="EwsId" Mailbox="DUMMY"/>` and reads the
//! `ServerVersionInfo` of the answer, which Exchange 2016 gives as HTTP 200 with one
//! `ConvertIdResponseMessage` of class `Error`, `ErrorInvalidSmtpAddress` (the answer
//! exchangelib's `tests/test_protocol.py` `test_version_guess` keeps from real Exchange).
//!
//! Per source id, in this order:
//! - a `Mailbox` that is not an SMTP address: `ErrorInvalidSmtpAddress`;
//! - a mailbox the directory does not know: `ErrorNonExistentMailbox`;
//! - an `Id` that is not in its `Format`'s encoding (base64; hex for `HexEntryId`):
//!   `ErrorInvalidIdMalformed`;
//! - the same format as `DestinationFormat`: `Success`, the id as it came
//!   ([AlternateId](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/alternateid));
//! - another format, or a public folder id: not modelled (the simulator's ids are its own, not
//!   MAPI entry ids; it has no public folders): `ErrorInvalidRequest`, saying so.
//!
//! A request that breaks the schema's rules for `ConvertId` (`DestinationFormat` required and
//! an `IdFormatType`; one `m:SourceIds` holding one or more ids; `Format`, `Id` and `Mailbox`
//! required on `t:AlternateId`) is refused as Exchange refuses it: the SOAP fault
//! `ErrorSchemaValidation` with `t:MessageXml` `LineNumber`, `LinePosition` and `Violation`
//! ([ResponseCode](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/responsecode)).

use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use roxmltree::{Document, Node};

use super::envelope::Refusal;
use super::write;
use crate::world::World;

const SOAP: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const M: &str = "http://schemas.microsoft.com/exchange/services/2006/messages";
const T: &str = "http://schemas.microsoft.com/exchange/services/2006/types";
const FORMATS: [&str; 6] = [
    "EwsLegacyId",
    "EwsId",
    "EntryId",
    "HexEntryId",
    "StoreId",
    "OwaId",
];

/// Answers the request when it is a SOAP 1.1 `m:ConvertId`; `None` for anything else.
pub(crate) fn handle(world: &World, doc: &Document<'_>) -> Option<Response> {
    let envelope = doc.root_element();
    if !envelope.has_tag_name((SOAP, "Envelope")) {
        return None;
    }
    let soap_body = envelope
        .children()
        .find(|n| n.has_tag_name((SOAP, "Body")))?;
    let request = soap_body.children().find(Node::is_element)?;
    if !request.has_tag_name((M, "ConvertId")) {
        return None;
    }
    Some(match read(request) {
        Ok(conversion) => answer(world, &conversion),
        Err((node, violation)) => schema_error(doc, node, &violation),
    })
}

/// One source id.
enum Source {
    Mailbox {
        format: String,
        id: String,
        mailbox: String,
    },
    PublicFolder,
}

struct Conversion {
    destination: String,
    sources: Vec<Source>,
}

type Violation<'a> = (Node<'a, 'a>, String);

fn read<'a>(request: Node<'a, 'a>) -> Result<Conversion, Violation<'a>> {
    let destination = format_attribute(request, "DestinationFormat")?;
    let mut children = request.children().filter(Node::is_element);
    let source_ids = match children.next() {
        Some(n) if n.has_tag_name((M, "SourceIds")) => n,
        Some(n) => return Err((n, unexpected(n, "m:SourceIds"))),
        None => {
            return Err((
                request,
                "The element 'ConvertId' has incomplete content. List of possible elements expected: 'SourceIds' in namespace 'http://schemas.microsoft.com/exchange/services/2006/messages'.".to_owned(),
            ));
        }
    };
    if let Some(extra) = children.next() {
        return Err((extra, unexpected(extra, "nothing")));
    }
    let mut sources = Vec::new();
    for id in source_ids.children().filter(Node::is_element) {
        if id.has_tag_name((T, "AlternateId")) {
            let format = format_attribute(id, "Format")?;
            let id_value = required(id, "Id")?.to_owned();
            let mailbox = required(id, "Mailbox")?;
            if mailbox.is_empty() {
                return Err((
                    id,
                    "The 'Mailbox' attribute is invalid - The value '' is invalid according to its datatype 'NonEmptyStringType' - The actual length is less than the MinLength value.".to_owned(),
                ));
            }
            sources.push(Source::Mailbox {
                format,
                id: id_value,
                mailbox: mailbox.to_owned(),
            });
        } else if id.has_tag_name((T, "AlternatePublicFolderId"))
            || id.has_tag_name((T, "AlternatePublicFolderItemId"))
        {
            sources.push(Source::PublicFolder);
        } else {
            return Err((id, unexpected(id, "t:AlternateId")));
        }
    }
    if sources.is_empty() {
        return Err((
            source_ids,
            "The element 'SourceIds' has incomplete content. List of possible elements expected: 'AlternateId, AlternatePublicFolderId, AlternatePublicFolderItemId' in namespace 'http://schemas.microsoft.com/exchange/services/2006/types'.".to_owned(),
        ));
    }
    Ok(Conversion {
        destination,
        sources,
    })
}

fn required<'a>(node: Node<'a, 'a>, name: &str) -> Result<&'a str, Violation<'a>> {
    node.attribute(name).ok_or_else(|| {
        (
            node,
            format!(
                "The required attribute '{name}' is missing on '{}'.",
                node.tag_name().name()
            ),
        )
    })
}

fn format_attribute<'a>(node: Node<'a, 'a>, name: &str) -> Result<String, Violation<'a>> {
    let value = required(node, name)?;
    if FORMATS.contains(&value) {
        Ok(value.to_owned())
    } else {
        Err((
            node,
            format!(
                "The '{name}' attribute is invalid - The value '{value}' is invalid according to its datatype 'http://schemas.microsoft.com/exchange/services/2006/types:IdFormatType' - The Enumeration constraint failed."
            ),
        ))
    }
}

fn unexpected(node: Node<'_, '_>, expected: &str) -> String {
    format!(
        "The element '{}' in namespace '{}' is not expected here; expected: {expected}.",
        node.tag_name().name(),
        node.tag_name().namespace().unwrap_or("")
    )
}

/// One `ConvertIdResponseMessage`'s outcome.
enum Outcome<'a> {
    Converted {
        format: &'a str,
        id: &'a str,
        mailbox: &'a str,
    },
    Error(&'static str, &'static str),
}

fn convert<'a>(world: &World, destination: &'a str, source: &'a Source) -> Outcome<'a> {
    let Source::Mailbox {
        format,
        id,
        mailbox,
    } = source
    else {
        return Outcome::Error(
            "ErrorInvalidRequest",
            "exchange-sim has no public folders: public folder ids are not converted.",
        );
    };
    if !is_smtp_address(mailbox) {
        return Outcome::Error(
            "ErrorInvalidSmtpAddress",
            "The SMTP address format is invalid.",
        );
    }
    if world.directory.user_by_smtp(mailbox).is_none() {
        return Outcome::Error(
            "ErrorNonExistentMailbox",
            "The SMTP address has no mailbox associated with it.",
        );
    }
    if !is_encoded(format, id) {
        return Outcome::Error("ErrorInvalidIdMalformed", "Id is malformed.");
    }
    if format != destination {
        return Outcome::Error(
            "ErrorInvalidRequest",
            "exchange-sim does not convert ids between formats (its ids are not MAPI entry ids).",
        );
    }
    Outcome::Converted {
        format: destination,
        id,
        mailbox,
    }
}

/// `local@domain`: one `@`, both sides present, no white space.
fn is_smtp_address(text: &str) -> bool {
    let mut parts = text.split('@');
    matches!(
        (parts.next(), parts.next(), parts.next()),
        (Some(local), Some(domain), None)
            if !local.is_empty() && !domain.is_empty() && !text.chars().any(char::is_whitespace)
    )
}

/// Whether `id` is in `format`'s encoding: hex for `HexEntryId`, base64 for the others.
fn is_encoded(format: &str, id: &str) -> bool {
    if format == "HexEntryId" {
        !id.is_empty() && id.len().is_multiple_of(2) && id.bytes().all(|b| b.is_ascii_hexdigit())
    } else {
        STANDARD.decode(id).is_ok_and(|bytes| !bytes.is_empty())
    }
}

fn answer(world: &World, conversion: &Conversion) -> Response {
    write::envelope(world, |xml| {
        xml.open(
            "m:ConvertIdResponse",
            &[("xmlns:m", write::MESSAGES), ("xmlns:t", write::TYPES)],
        )
        .open("m:ResponseMessages", &[]);
        for source in &conversion.sources {
            match convert(world, &conversion.destination, source) {
                Outcome::Converted {
                    format,
                    id,
                    mailbox,
                } => {
                    xml.open(
                        "m:ConvertIdResponseMessage",
                        &[("ResponseClass", "Success")],
                    )
                    .leaf("m:ResponseCode", "NoError")
                    .empty(
                        "m:AlternateId",
                        &[
                            ("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance"),
                            ("xsi:type", "t:AlternateIdType"),
                            ("Format", format),
                            ("Id", id),
                            ("Mailbox", mailbox),
                        ],
                    );
                }
                Outcome::Error(code, text) => {
                    xml.open("m:ConvertIdResponseMessage", &[("ResponseClass", "Error")])
                        .leaf("m:MessageText", text)
                        .leaf("m:ResponseCode", code)
                        .leaf("m:DescriptiveLinkKey", "0");
                }
            }
            xml.close("m:ConvertIdResponseMessage");
        }
        xml.close("m:ResponseMessages").close("m:ConvertIdResponse");
    })
}

/// `ErrorSchemaValidation`, with where and what, as Exchange's fault carries it.
fn schema_error(doc: &Document<'_>, node: Node<'_, '_>, violation: &str) -> Response {
    Refusal::schema(doc, node, violation).response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_addresses_and_id_encodings_are_told_apart() {
        assert!(is_smtp_address("mara@contoso.com"));
        for bad in [
            "DUMMY",
            "",
            "@contoso.com",
            "mara@",
            "a@b@c",
            "ma ra@contoso.com",
        ] {
            assert!(!is_smtp_address(bad), "{bad}");
        }
        assert!(is_encoded("EwsId", "QVFNa0YwLjE="));
        assert!(!is_encoded("EwsId", "DUMMY"));
        assert!(!is_encoded("EntryId", ""));
        assert!(is_encoded("HexEntryId", "00ff"));
        assert!(!is_encoded("HexEntryId", "0ff"));
        assert!(!is_encoded("HexEntryId", "zz"));
    }
}
