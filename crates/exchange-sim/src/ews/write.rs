//! The simulator's own XML writer for EWS answers: a SOAP 1.1 envelope with the
//! `ServerVersionInfo` header, elements written in the schema's order by the caller, text and
//! attribute values escaped here.
//!
//! Answers written here do not go through the client crates' writer (`ews-proto`), so a
//! misunderstanding of the protocol shared by both sides cannot hide.
//! Envelope shape: [ServerVersionInfo](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/serverversioninfo)
//! in the SOAP header, the operation's response in the body.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::version::Version;
use crate::world::World;

pub(crate) mod events;

/// The SOAP 1.1 envelope namespace.
const SOAP: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// EWS messages namespace (prefix `m`).
pub(crate) const MESSAGES: &str = "http://schemas.microsoft.com/exchange/services/2006/messages";
/// EWS types namespace (prefix `t`).
pub(crate) const TYPES: &str = "http://schemas.microsoft.com/exchange/services/2006/types";

/// An XML document being written.
#[derive(Debug, Default)]
pub(crate) struct Xml {
    out: String,
}

impl Xml {
    /// `<name attrs...>`.
    pub(crate) fn open(&mut self, name: &str, attrs: &[(&str, &str)]) -> &mut Self {
        self.tag(name, attrs);
        self.out.push('>');
        self
    }

    /// `<name attrs.../>`.
    pub(crate) fn empty(&mut self, name: &str, attrs: &[(&str, &str)]) -> &mut Self {
        self.tag(name, attrs);
        self.out.push_str("/>");
        self
    }

    /// `</name>`.
    pub(crate) fn close(&mut self, name: &str) -> &mut Self {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
        self
    }

    /// `<name>text</name>`, the text escaped.
    pub(crate) fn leaf(&mut self, name: &str, text: &str) -> &mut Self {
        self.open(name, &[]);
        escape_into(&mut self.out, text, false);
        self.close(name)
    }

    /// Character data, escaped.
    pub(crate) fn text(&mut self, text: &str) -> &mut Self {
        escape_into(&mut self.out, text, false);
        self
    }

    fn tag(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.out.push('<');
        self.out.push_str(name);
        for (key, value) in attrs {
            self.out.push(' ');
            self.out.push_str(key);
            self.out.push_str("=\"");
            escape_into(&mut self.out, value, true);
            self.out.push('"');
        }
    }

    /// The text written so far.
    #[cfg(test)]
    pub(crate) fn as_str(&self) -> &str {
        &self.out
    }
}

/// Escapes `&`, `<`, `>` (and `"` in attributes); drops characters XML 1.0 cannot carry
/// (controls other than tab, newline, carriage return), which would make the answer
/// unreadable.
fn escape_into(out: &mut String, text: &str, attribute: bool) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\t' | '\n' | '\r' if attribute => {
                out.push_str(&format!("&#x{:X};", u32::from(c)));
            }
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            '\u{FFFE}' | '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
}

/// `200 OK` with an envelope whose body `body` writes (after `<s:Body>`).
pub(crate) fn envelope(world: &World, body: impl FnOnce(&mut Xml)) -> Response {
    response(StatusCode::OK, document(world, body))
}

/// `status` with an XML body, as EWS answers (`text/xml; charset=utf-8`).
pub(crate) fn response(status: StatusCode, body: Vec<u8>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        body,
    )
        .into_response()
}

/// The bytes of an envelope whose body `body` writes (after `<s:Body>`): an answer's, or
/// one envelope of a `GetStreamingEvents` stream.
pub(crate) fn document(world: &World, body: impl FnOnce(&mut Xml)) -> Vec<u8> {
    let Version {
        major,
        minor,
        build,
        revision,
        ews_schema: version,
        ..
    } = Version::of(world.scenario.profile);
    let numbers = [major, minor, build, revision].map(|n| n.to_string());
    let header = |xml: &mut Xml| {
        xml.empty(
            "h:ServerVersionInfo",
            &[
                ("MajorVersion", &numbers[0]),
                ("MinorVersion", &numbers[1]),
                ("MajorBuildNumber", &numbers[2]),
                ("MinorBuildNumber", &numbers[3]),
                ("Version", version),
                ("xmlns:h", TYPES),
            ],
        );
    };
    with_header(header, body)
}

/// The bytes of a request the simulator sends as Exchange (push's `SendNotification`):
/// `t:RequestServerVersion` with `version` (`ExchangeVersionType`) in the SOAP header.
pub(crate) fn request(version: &str, body: impl FnOnce(&mut Xml)) -> Vec<u8> {
    with_header(
        |xml| {
            xml.empty(
                "t:RequestServerVersion",
                &[("Version", version), ("xmlns:t", TYPES)],
            );
        },
        body,
    )
}

fn with_header(header: impl FnOnce(&mut Xml), body: impl FnOnce(&mut Xml)) -> Vec<u8> {
    let mut xml = Xml {
        out: String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>"),
    };
    xml.open("s:Envelope", &[("xmlns:s", SOAP)])
        .open("s:Header", &[]);
    header(&mut xml);
    xml.close("s:Header").open("s:Body", &[]);
    body(&mut xml);
    xml.close("s:Body").close("s:Envelope");
    xml.out.into_bytes()
}

/// Where a request broke the schema, for `t:MessageXml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Violation {
    pub(crate) line: u32,
    pub(crate) position: u32,
    pub(crate) text: String,
}

/// What a fault's `t:MessageXml` carries.
#[derive(Debug, Clone, Copy)]
pub(crate) enum MessageXml<'a> {
    /// `LineNumber`, `LinePosition` and `Violation`: where a request broke the schema.
    Violation(&'a Violation),
    /// `<t:Value Name="BackOffMilliseconds">`: how long a throttled client should wait
    /// ([EWS throttling](https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/ews-throttling-in-exchange)).
    BackOff(u64),
}

/// `500` with a SOAP 1.1 fault as Exchange writes it: `faultcode` in the types namespace,
/// `faultstring`, and in `detail` the `ResponseCode`, `Message` and, for schema violations
/// and throttling, `MessageXml`
/// ([MessageXml](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/messagexml)).
pub(crate) fn fault(
    code: &str,
    text: &str,
    message: &str,
    message_xml: Option<MessageXml<'_>>,
) -> Response {
    let mut xml = Xml {
        out: String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>"),
    };
    const ERRORS: &str = "http://schemas.microsoft.com/exchange/services/2006/errors";
    xml.open("s:Envelope", &[("xmlns:s", SOAP)])
        .open("s:Body", &[])
        .open("s:Fault", &[])
        .open("faultcode", &[("xmlns:a", TYPES)]);
    escape_into(&mut xml.out, &format!("a:{code}"), false);
    xml.close("faultcode")
        .open("faultstring", &[("xml:lang", "en-US")]);
    escape_into(&mut xml.out, text, false);
    xml.close("faultstring")
        .open("detail", &[])
        .open("e:ResponseCode", &[("xmlns:e", ERRORS)]);
    escape_into(&mut xml.out, code, false);
    xml.close("e:ResponseCode")
        .open("e:Message", &[("xmlns:e", ERRORS)]);
    escape_into(&mut xml.out, message, false);
    xml.close("e:Message");
    match message_xml {
        Some(MessageXml::Violation(violation)) => {
            xml.open("t:MessageXml", &[("xmlns:t", TYPES)])
                .leaf("t:LineNumber", &violation.line.to_string())
                .leaf("t:LinePosition", &violation.position.to_string())
                .leaf("t:Violation", &violation.text)
                .close("t:MessageXml");
        }
        Some(MessageXml::BackOff(millis)) => {
            xml.open("t:MessageXml", &[("xmlns:t", TYPES)])
                .open("t:Value", &[("Name", "BackOffMilliseconds")])
                .text(&millis.to_string())
                .close("t:Value")
                .close("t:MessageXml");
        }
        None => {}
    }
    xml.close("detail")
        .close("s:Fault")
        .close("s:Body")
        .close("s:Envelope");
    response(StatusCode::INTERNAL_SERVER_ERROR, xml.out.into_bytes())
}

/// `500` with one of SOAP 1.1's own faults (SOAP 1.1 §4.4.1,
/// <https://www.w3.org/TR/2000/NOTE-SOAP-20000508/#_Toc478383510>): `code` is `Client`,
/// `VersionMismatch` or `MustUnderstand`, with no EWS detail.
pub(crate) fn soap_fault(code: &str, text: &str) -> Response {
    let mut xml = Xml {
        out: String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>"),
    };
    xml.open("s:Envelope", &[("xmlns:s", SOAP)])
        .open("s:Body", &[])
        .open("s:Fault", &[])
        .leaf("faultcode", &format!("s:{code}"))
        .open("faultstring", &[("xml:lang", "en-US")])
        .text(text)
        .close("faultstring")
        .close("s:Fault")
        .close("s:Body")
        .close("s:Envelope");
    response(StatusCode::INTERNAL_SERVER_ERROR, xml.out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(response: Response) -> (StatusCode, String) {
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        (status, String::from_utf8(bytes.to_vec()).expect("utf-8"))
    }

    #[tokio::test]
    async fn a_back_off_fault_carries_the_wait_in_message_xml() {
        let (status, text) = body(fault(
            "ErrorServerBusy",
            "busy & <tired>",
            "busy",
            Some(MessageXml::BackOff(1500)),
        ))
        .await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            text.contains(&format!(
                "<faultcode xmlns:a=\"{TYPES}\">a:ErrorServerBusy</faultcode><faultstring xml:lang=\"en-US\">busy &amp; &lt;tired&gt;</faultstring>"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "<t:MessageXml xmlns:t=\"{TYPES}\"><t:Value Name=\"BackOffMilliseconds\">1500</t:Value></t:MessageXml></detail>"
            )),
            "{text}"
        );
        assert!(roxmltree::Document::parse(&text).is_ok());
    }

    #[tokio::test]
    async fn a_client_fault_has_no_detail() {
        let (_, text) = body(soap_fault("Client", "unexpected <request>")).await;
        assert!(
            text.ends_with(
                "<s:Fault><faultcode>s:Client</faultcode><faultstring xml:lang=\"en-US\">unexpected &lt;request&gt;</faultstring></s:Fault></s:Body></s:Envelope>"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_push_request_carries_request_server_version_not_server_version_info() {
        let bytes = request("Exchange2013", |xml| {
            xml.empty("m:X", &[("xmlns:m", MESSAGES)]);
        });
        let text = String::from_utf8(bytes).expect("utf-8");
        assert_eq!(
            text,
            format!(
                "<?xml version=\"1.0\" encoding=\"utf-8\"?><s:Envelope xmlns:s=\"{SOAP}\"><s:Header><t:RequestServerVersion Version=\"Exchange2013\" xmlns:t=\"{TYPES}\"/></s:Header><s:Body><m:X xmlns:m=\"{MESSAGES}\"/></s:Body></s:Envelope>"
            )
        );
    }

    #[test]
    fn text_and_attributes_are_escaped_and_forbidden_characters_dropped() {
        let mut xml = Xml::default();
        xml.open("a", &[("v", "x\"<&>\ty")])
            .leaf("b", "1 < 2 & \u{1}3 > \"0\"")
            .close("a");
        assert_eq!(
            xml.as_str(),
            "<a v=\"x&quot;&lt;&amp;&gt;&#x9;y\"><b>1 &lt; 2 &amp; 3 &gt; \"0\"</b></a>"
        );
        assert!(roxmltree::Document::parse(xml.as_str()).is_ok());
    }
}
