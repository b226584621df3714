//! A pull cursor over quick-xml's reader, with the namespace bookkeeping it needs.

use std::borrow::Cow;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use crate::error::ProtoError;
use crate::namespaces::Ns;

/// Reads one XML document from a byte slice, element by element.
///
/// The contract: after [`child`](Self::child) returns an element, the caller consumes it with
/// [`text`](Self::text), [`skip`](Self::skip), or by reading its children until `child`
/// returns `None`, before asking for the parent's next child.
// `pub` (in a private module) because the sealed `Body` trait names it; not reachable.
#[allow(unreachable_pub)]
pub struct XmlReader<'a> {
    inner: Reader<&'a [u8]>,
    /// Namespace declarations in scope: (depth of the declaring element, prefix, namespace).
    /// Few documents declare more than a handful, so a stack searched from the top is enough.
    scopes: Vec<(usize, Box<str>, Ns)>,
    depth: usize,
}

/// A start tag, with its resolved namespace.
#[allow(unreachable_pub)]
pub struct Element<'a> {
    start: BytesStart<'a>,
    ns: Ns,
    empty: bool,
    /// Where the local name starts in the qualified name (after the prefix's colon).
    local_start: usize,
}

impl<'a> XmlReader<'a> {
    /// A reader over `bytes`, which must be UTF-8 (a byte-order mark is skipped).
    pub(crate) fn new(bytes: &'a [u8]) -> Result<Self, ProtoError> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let text = std::str::from_utf8(bytes)
            .map_err(|error| ProtoError::xml(error.valid_up_to() as u64, "not valid UTF-8"))?;
        let mut inner = Reader::from_str(text);
        let config = inner.config_mut();
        config.check_end_names = true;
        config.expand_empty_elements = false;
        Ok(Self {
            inner,
            scopes: Vec::new(),
            depth: 0,
        })
    }

    /// Reads up to the root element and returns it.
    pub(crate) fn root(&mut self) -> Result<Element<'a>, ProtoError> {
        loop {
            let (ns, event) = self.event()?;
            match event {
                Event::Start(start) => return Ok(Element::new(start, ns, false)),
                Event::Empty(start) => return Ok(Element::new(start, ns, true)),
                Event::Eof => {
                    return Err(ProtoError::Missing {
                        parent: "document",
                        missing: "root element",
                    });
                }
                Event::Text(text) if is_whitespace(&text) => {}
                Event::Text(_) | Event::CData(_) | Event::GeneralRef(_) => {
                    return Err(self.error("text before the root element"));
                }
                Event::End(_) => return Err(self.error("end tag before the root element")),
                Event::DocType(_) => {
                    return Err(self.error("document type declarations are refused"));
                }
                Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            }
        }
    }

    /// The next child element of `parent`, or `None` once `parent` has ended.
    ///
    /// Text between child elements is ignored: EWS elements hold either text or elements.
    pub(crate) fn child(
        &mut self,
        parent: &Element<'_>,
    ) -> Result<Option<Element<'a>>, ProtoError> {
        if parent.empty {
            return Ok(None);
        }
        loop {
            let (ns, event) = self.event()?;
            match event {
                Event::Start(start) => return Ok(Some(Element::new(start, ns, false))),
                Event::Empty(start) => return Ok(Some(Element::new(start, ns, true))),
                Event::End(_) => return Ok(None),
                Event::Eof => return Err(parent.eof()),
                Event::DocType(_) => {
                    return Err(self.error("document type declarations are refused"));
                }
                Event::Text(_)
                | Event::CData(_)
                | Event::GeneralRef(_)
                | Event::Comment(_)
                | Event::PI(_)
                | Event::Decl(_) => {}
            }
        }
    }

    /// The text content of `element`, entities resolved; nested elements are skipped.
    pub(crate) fn text(&mut self, element: &Element<'_>) -> Result<String, ProtoError> {
        if element.empty {
            return Ok(String::new());
        }
        let mut out = String::new();
        let mut depth = 0usize;
        loop {
            let (_, event) = self.event()?;
            match event {
                Event::Text(text) if depth == 0 => push_cow(&mut out, text.xml10_content()),
                Event::CData(data) if depth == 0 => push_cow(&mut out, data.xml10_content()),
                Event::GeneralRef(reference) if depth == 0 => {
                    let resolved = match reference.resolve_char_ref() {
                        Ok(Some(ch)) => ch,
                        Ok(None) => match predefined_entity(&reference) {
                            Some(ch) => ch,
                            None => return Err(self.error("unknown entity reference")),
                        },
                        Err(error) => {
                            return Err(ProtoError::xml(self.inner.buffer_position(), error));
                        }
                    };
                    out.push(resolved);
                }
                Event::Start(_) => depth += 1,
                Event::End(_) if depth == 0 => {
                    return if is_xml_text(&out) {
                        Ok(out)
                    } else {
                        Err(self.error("character not allowed in XML"))
                    };
                }
                Event::End(_) => depth -= 1,
                Event::Eof => return Err(element.eof()),
                Event::DocType(_) => {
                    return Err(self.error("document type declarations are refused"));
                }
                _ => {}
            }
        }
    }

    /// The text of `element`, trimmed of surrounding whitespace.
    pub(crate) fn trimmed(&mut self, element: &Element<'_>) -> Result<String, ProtoError> {
        let text = self.text(element)?;
        let trimmed = text.trim();
        Ok(if trimmed.len() == text.len() {
            text
        } else {
            trimmed.to_owned()
        })
    }

    /// Parses the trimmed text of `element` with `FromStr`.
    pub(crate) fn parse<T: std::str::FromStr>(
        &mut self,
        element: &Element<'_>,
        name: &'static str,
        reason: &'static str,
    ) -> Result<T, ProtoError> {
        let text = self.trimmed(element)?;
        text.parse()
            .map_err(|_| ProtoError::invalid(name, &text, reason))
    }

    /// Reads an `xs:boolean` (also the `True` / `False` spelling of POX Autodiscover).
    pub(crate) fn boolean(
        &mut self,
        element: &Element<'_>,
        name: &'static str,
    ) -> Result<bool, ProtoError> {
        let text = self.trimmed(element)?;
        parse_bool(&text).ok_or_else(|| ProtoError::invalid(name, &text, "expected true or false"))
    }

    /// Skips `element` and everything in it.
    pub(crate) fn skip(&mut self, element: &Element<'_>) -> Result<(), ProtoError> {
        if element.empty {
            return Ok(());
        }
        let mut depth = 0usize;
        loop {
            let (_, event) = self.event()?;
            match event {
                Event::Start(_) => depth += 1,
                Event::End(_) if depth == 0 => return Ok(()),
                Event::End(_) => depth -= 1,
                Event::Eof => return Err(element.eof()),
                Event::DocType(_) => {
                    return Err(self.error("document type declarations are refused"));
                }
                _ => {}
            }
        }
    }

    /// Checks that nothing but whitespace, comments and processing instructions follows the root.
    pub(crate) fn finish(&mut self) -> Result<(), ProtoError> {
        loop {
            let (_, event) = self.event()?;
            match event {
                Event::Eof => return Ok(()),
                Event::Text(text) if is_whitespace(&text) => {}
                Event::Comment(_) | Event::PI(_) => {}
                _ => return Err(self.error("content after the root element")),
            }
        }
    }

    fn event(&mut self) -> Result<(Ns, Event<'a>), ProtoError> {
        let event = self
            .inner
            .read_event()
            .map_err(|error| ProtoError::xml(self.inner.error_position(), error))?;
        let ns = match &event {
            Event::Start(start) | Event::Empty(start) => {
                self.depth += 1;
                self.declare(start)?;
                let ns = self.resolve(start.name().0);
                if matches!(event, Event::Empty(_)) {
                    self.leave();
                }
                ns
            }
            Event::End(_) => {
                self.leave();
                Ns::Other
            }
            _ => Ns::Other,
        };
        Ok((ns, event))
    }

    /// Records the `xmlns` / `xmlns:p` declarations of a start tag.
    fn declare(&mut self, start: &BytesStart<'_>) -> Result<(), ProtoError> {
        static XMLNS: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
            std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"xmlns"));
        if XMLNS.find(start.attributes_raw().as_bytes()).is_none() {
            return Ok(());
        }
        for attribute in start.attributes() {
            let attribute =
                attribute.map_err(|error| ProtoError::xml(self.inner.buffer_position(), error))?;
            let key = attribute.key.0;
            let prefix = match key.strip_prefix("xmlns") {
                Some("") => "",
                Some(rest) => match rest.strip_prefix(':') {
                    Some(prefix) => prefix,
                    None => continue,
                },
                None => continue,
            };
            let uri = attribute_value(&attribute)?;
            self.scopes
                .push((self.depth, prefix.into(), Ns::classify(&uri)));
        }
        Ok(())
    }

    /// The namespace of a qualified name, from the declarations in scope.
    fn resolve(&self, qname: &str) -> Ns {
        let prefix = qname.rsplit_once(':').map_or("", |(prefix, _)| prefix);
        self.scopes
            .iter()
            .rev()
            .find(|(_, p, _)| &**p == prefix)
            .map_or(Ns::Other, |(_, _, ns)| *ns)
    }

    /// Closes the current element: its declarations go out of scope.
    fn leave(&mut self) {
        while self
            .scopes
            .last()
            .is_some_and(|(depth, _, _)| *depth >= self.depth)
        {
            self.scopes.pop();
        }
        self.depth = self.depth.saturating_sub(1);
    }

    fn error(&self, message: &'static str) -> ProtoError {
        ProtoError::xml(self.inner.buffer_position(), message)
    }
}

impl<'a> Element<'a> {
    fn new(start: BytesStart<'a>, ns: Ns, empty: bool) -> Self {
        let local_start = start.name().0.find(':').map_or(0, |colon| colon + 1);
        Self {
            start,
            ns,
            empty,
            local_start,
        }
    }

    /// The local name (without prefix).
    pub(crate) fn local(&self) -> &str {
        self.start
            .name()
            .0
            .get(self.local_start..)
            .unwrap_or_default()
    }

    /// The local name, for values that keep it and write it back as an element name: it must
    /// be a plain XML name (letters, digits, `-`, `_`, `.`, not starting with a digit).
    pub(crate) fn name(&self) -> Result<String, ProtoError> {
        let local = self.local();
        let mut chars = local.chars();
        let valid_start = chars.next().is_some_and(|c| c.is_alphabetic() || c == '_');
        if valid_start && chars.all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.')) {
            Ok(local.to_owned())
        } else {
            Err(ProtoError::invalid(
                "element name",
                local,
                "not a plain XML name",
            ))
        }
    }

    /// The resolved namespace.
    pub(crate) fn ns(&self) -> Ns {
        self.ns
    }

    /// The value of the attribute with this local name, entities resolved.
    pub(crate) fn attr(&self, local: &str) -> Result<Option<String>, ProtoError> {
        let [value, _] = self.attrs([local, ""])?;
        Ok(value)
    }

    /// The values of two attributes, in one pass over the tag.
    pub(crate) fn attrs(&self, locals: [&str; 2]) -> Result<[Option<String>; 2], ProtoError> {
        let mut found = [None, None];
        if self.start.attributes_raw().is_empty() {
            return Ok(found);
        }
        for attribute in self.start.attributes() {
            let attribute = attribute.map_err(|error| ProtoError::xml(0, error))?;
            let name = attribute.key.0;
            let name = name.rsplit_once(':').map_or(name, |(_, local)| local);
            if let Some(i) = locals.iter().position(|l| *l == name) {
                found[i] = Some(attribute_value(&attribute)?);
            }
        }
        Ok(found)
    }

    /// Whether the element carries `xsi:nil="true"`.
    pub(crate) fn is_nil(&self) -> Result<bool, ProtoError> {
        Ok(self
            .attr("nil")?
            .as_deref()
            .and_then(parse_bool)
            .unwrap_or(false))
    }

    fn eof(&self) -> ProtoError {
        ProtoError::UnexpectedEof {
            element: self.local().to_owned(),
        }
    }
}

/// An attribute's value: as written when it holds no reference or white space to
/// normalise (the common case, no copy of the work), else normalised per XML 1.0.
fn attribute_value(
    attribute: &quick_xml::events::attributes::Attribute<'_>,
) -> Result<String, ProtoError> {
    let raw: &str = &attribute.value;
    let plain = !raw
        .bytes()
        .any(|b| matches!(b, b'&' | b'\t' | b'\n' | b'\r'));
    let value = if plain {
        Cow::Borrowed(raw)
    } else {
        attribute
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|error| ProtoError::xml(0, error))?
    };
    if !is_xml_text(&value) {
        return Err(ProtoError::xml(0, "character not allowed in XML"));
    }
    Ok(value.into_owned())
}

/// Parses `xs:boolean`, accepting any letter case.
pub(crate) fn parse_bool(text: &str) -> Option<bool> {
    match text.trim() {
        "1" => Some(true),
        "0" => Some(false),
        t if t.eq_ignore_ascii_case("true") => Some(true),
        t if t.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// Whether every character is one XML 1.0 allows (`Char` production): no C0 controls but tab,
/// line feed and carriage return, and no U+FFFE / U+FFFF.
fn is_xml_text(text: &str) -> bool {
    let bytes = text.as_bytes();
    // A branch-free scan for any control byte first (vectorised); the exact check only runs
    // when there is one.
    let any_control = bytes.iter().fold(false, |acc, &b| acc | (b < 0x20));
    let controls_ok = !any_control
        || bytes
            .iter()
            .all(|&b| b >= 0x20 || b == b'\t' || b == b'\n' || b == b'\r');
    controls_ok
        && (memchr::memchr(0xEF, bytes).is_none() || !text.contains(['\u{FFFE}', '\u{FFFF}']))
}

fn push_cow(out: &mut String, text: Cow<'_, str>) {
    if out.is_empty() {
        *out = text.into_owned();
    } else {
        out.push_str(&text);
    }
}

fn is_whitespace(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_whitespace())
}

fn predefined_entity(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => None,
    }
}
