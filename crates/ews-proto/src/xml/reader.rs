//! A pull cursor over quick-xml's reader, with the namespace bookkeeping it needs.

use std::borrow::Cow;

use quick_xml::Reader;
use quick_xml::events::attributes::{AttrError, Attribute};
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::QName;

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
    /// Few documents declare more than a handful, so a stack searched from the top is enough;
    /// a declaration is looked up by comparing the prefix's bytes, with no allocation per
    /// element.
    scopes: Vec<(usize, Box<str>, Ns)>,
    depth: usize,
    /// The last event was an empty element, still counted in `depth` and `scopes`.
    empty_open: bool,
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
            empty_open: false,
        })
    }

    /// Reads up to the root element and returns it.
    pub(crate) fn root(&mut self) -> Result<Element<'a>, ProtoError> {
        loop {
            match self.bookkeeping_event()? {
                Event::Start(start) => return Ok(self.element(start, false)),
                Event::Empty(start) => return Ok(self.element(start, true)),
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
            match self.bookkeeping_event()? {
                Event::Start(start) => return Ok(Some(self.element(start, false))),
                Event::Empty(start) => return Ok(Some(self.element(start, true))),
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
        self.text_cow(element).map(Cow::into_owned)
    }

    /// The text content of `element`, borrowed from the document when it is one run of
    /// characters with no reference and no line end to normalise (the common case).
    fn text_cow(&mut self, element: &Element<'_>) -> Result<Cow<'a, str>, ProtoError> {
        if element.empty {
            return Ok(Cow::Borrowed(""));
        }
        let mut out = Cow::Borrowed("");
        // Whether every piece so far had no control character (so no line end to normalise)
        // and nothing that could start U+FFFE or U+FFFF: then the text needs no second look.
        let mut plain = true;
        let mut depth = 0usize;
        loop {
            let event = self.bookkeeping_event()?;
            match event {
                Event::Text(text) if depth == 0 => {
                    if any_special(text.as_bytes(), 0) {
                        plain = false;
                        push_cow(&mut out, text.xml10_content());
                    } else {
                        push_cow(&mut out, text.into_inner());
                    }
                }
                Event::CData(data) if depth == 0 => {
                    plain = false;
                    push_cow(&mut out, data.xml10_content());
                }
                Event::GeneralRef(reference) if depth == 0 => {
                    plain = false;
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
                    out.to_mut().push(resolved);
                }
                Event::Start(_) => depth += 1,
                Event::End(_) if depth == 0 => {
                    return if plain || is_xml_text(&out) {
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
        Ok(self.trimmed_str(element)?.into_owned())
    }

    /// The text of `element`, trimmed, without a copy when it can be borrowed: for values
    /// that are parsed rather than kept.
    pub(crate) fn trimmed_str(
        &mut self,
        element: &Element<'_>,
    ) -> Result<Cow<'a, str>, ProtoError> {
        Ok(match self.text_cow(element)? {
            Cow::Borrowed(text) => Cow::Borrowed(text.trim()),
            Cow::Owned(text) => {
                let trimmed = text.trim();
                if trimmed.len() == text.len() {
                    Cow::Owned(text)
                } else {
                    Cow::Owned(trimmed.to_owned())
                }
            }
        })
    }

    /// Parses the trimmed text of `element` with `FromStr`.
    pub(crate) fn parse<T: std::str::FromStr>(
        &mut self,
        element: &Element<'_>,
        name: &'static str,
        reason: &'static str,
    ) -> Result<T, ProtoError> {
        let text = self.trimmed_str(element)?;
        text.parse()
            .map_err(|_| ProtoError::invalid(name, &text, reason))
    }

    /// Reads an `xs:boolean` (also the `True` / `False` spelling of POX Autodiscover).
    pub(crate) fn boolean(
        &mut self,
        element: &Element<'_>,
        name: &'static str,
    ) -> Result<bool, ProtoError> {
        let text = self.trimmed_str(element)?;
        parse_bool(&text).ok_or_else(|| ProtoError::invalid(name, &text, "expected true or false"))
    }

    /// Skips `element` and everything in it.
    pub(crate) fn skip(&mut self, element: &Element<'_>) -> Result<(), ProtoError> {
        if element.empty {
            return Ok(());
        }
        let mut depth = 0usize;
        loop {
            let event = self.bookkeeping_event()?;
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
            let event = self.bookkeeping_event()?;
            match event {
                Event::Eof => return Ok(()),
                Event::Text(text) if is_whitespace(&text) => {}
                Event::Comment(_) | Event::PI(_) => {}
                _ => return Err(self.error("content after the root element")),
            }
        }
    }

    /// The element a start tag opens, its namespace resolved.
    fn element(&self, start: BytesStart<'a>, empty: bool) -> Element<'a> {
        let qname = start.name().0.as_bytes();
        // The prefix ends at the last colon, the local name starts after the first.
        let (ns, local_start) = match qname.iter().rposition(|&b| b == b':') {
            None => (self.resolve(b""), 0),
            Some(last) => (
                self.resolve(qname.get(..last).unwrap_or_default()),
                qname.iter().position(|&b| b == b':').map_or(0, |c| c + 1),
            ),
        };
        Element {
            start,
            ns,
            empty,
            local_start,
        }
    }

    /// The next event, with the depth and the namespace declarations in scope kept up to date.
    #[inline(always)]
    fn bookkeeping_event(&mut self) -> Result<Event<'a>, ProtoError> {
        if self.empty_open {
            self.empty_open = false;
            self.leave();
        }
        let event = self
            .inner
            .read_event()
            .map_err(|error| ProtoError::xml(self.inner.error_position(), error))?;
        match &event {
            Event::Start(start) => {
                self.depth += 1;
                self.declare(start)?;
            }
            Event::Empty(start) => {
                self.depth += 1;
                self.declare(start)?;
                // It closes at once, but its own name is resolved with its declarations in
                // scope: they go out of scope when the next event is read.
                self.empty_open = true;
            }
            Event::End(_) => self.leave(),
            _ => {}
        }
        Ok(event)
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

    /// The namespace bound to `prefix` (empty: the default namespace) by the declarations in
    /// scope.
    fn resolve(&self, prefix: &[u8]) -> Ns {
        self.scopes
            .iter()
            .rev()
            .find(|(_, p, _)| same_bytes(p.as_bytes(), prefix))
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
        self.plain_name().map(str::to_owned)
    }

    /// [`name`](Self::name), borrowed: for names that are matched rather than kept.
    pub(crate) fn plain_name(&self) -> Result<&str, ProtoError> {
        let local = self.local();
        let mut chars = local.chars();
        let valid_start = chars.next().is_some_and(|c| c.is_alphabetic() || c == '_');
        if valid_start && chars.all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.')) {
            Ok(local)
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
    ///
    /// Tags written plainly (`name="value"` or `name='value'`, nothing around the `=`) are read
    /// here, without quick-xml's attribute iterator and the allocation its duplicate check
    /// makes for every tag. Anything else, and tags with many attributes, go to quick-xml's
    /// iterator with its check, so the values and errors are the ones it gives.
    pub(crate) fn attrs(&self, locals: [&str; 2]) -> Result<[Option<String>; 2], ProtoError> {
        let mut found = [None, None];
        let raw = self.start.attributes_raw();
        if raw.is_empty() {
            return Ok(found);
        }
        let tag: &str = &self.start;
        let mut seen = SeenNames::default();
        let mut rest = raw;
        loop {
            rest = rest.trim_start_matches(is_xml_space);
            if rest.is_empty() {
                return Ok(found);
            }
            let Some((name, value, after)) = plain_attribute(rest) else {
                return self.attrs_checked(locals);
            };
            if !seen
                .insert(tag, name)
                .map_err(|error| ProtoError::xml(0, error))?
            {
                return self.attrs_checked(locals);
            }
            let local = local_part(name);
            if let Some(i) = locals.iter().position(|l| *l == local) {
                found[i] = Some(attribute_value(&Attribute {
                    key: QName(name),
                    value: Cow::Borrowed(value),
                })?);
            }
            rest = after;
        }
    }

    /// [`attrs`](Self::attrs) with quick-xml's duplicate check.
    #[cold]
    fn attrs_checked(&self, locals: [&str; 2]) -> Result<[Option<String>; 2], ProtoError> {
        let mut found = [None, None];
        for attribute in self.start.attributes() {
            let attribute = attribute.map_err(|error| ProtoError::xml(0, error))?;
            let name = local_part(attribute.key.0);
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

/// The attribute names of one tag seen so far, to find a duplicate without allocating.
/// A tag with more names than it holds goes to quick-xml's check, which stays linear in the
/// number of attributes (hostile tags with thousands of them).
#[derive(Default)]
struct SeenNames<'t> {
    names: [&'t str; 8],
    len: usize,
}

impl<'t> SeenNames<'t> {
    /// Records `name`, a slice of `tag`. A name seen before is the error quick-xml's own check
    /// gives, with the same positions (offsets in the tag); `Ok(false)` when the tag has more
    /// names than this holds.
    fn insert(&mut self, tag: &str, name: &'t str) -> Result<bool, AttrError> {
        let seen = self.names.get(..self.len).unwrap_or_default();
        if let Some(previous) = seen.iter().find(|p| **p == name) {
            let offset = |s: &str| (s.as_ptr() as usize).wrapping_sub(tag.as_ptr() as usize);
            return Err(AttrError::Duplicated(offset(name), offset(previous)));
        }
        let Some(slot) = self.names.get_mut(self.len) else {
            return Ok(false);
        };
        *slot = name;
        self.len += 1;
        Ok(true)
    }
}

/// Splits `name="value"` (or with `'`) off the front of `text`, which starts with the name:
/// `None` for anything written otherwise (no `=` right after the name, white space before the
/// quote, no closing quote, an empty name).
fn plain_attribute(text: &str) -> Option<(&str, &str, &str)> {
    let bytes = text.as_bytes();
    let eq = bytes
        .iter()
        .position(|&b| b == b'=' || is_xml_space(char::from(b)))?;
    if eq == 0 || bytes.get(eq) != Some(&b'=') {
        return None;
    }
    let quote = *bytes.get(eq + 1).filter(|&&q| q == b'"' || q == b'\'')?;
    let value_start = eq + 2;
    let len = memchr::memchr(quote, bytes.get(value_start..)?)?;
    Some((
        text.get(..eq)?,
        text.get(value_start..value_start + len)?,
        text.get(value_start + len + 1..)?,
    ))
}

/// XML white space, as quick-xml's attribute reader knows it.
fn is_xml_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// The local part of an attribute's name (after the last colon).
fn local_part(name: &str) -> &str {
    match name.as_bytes().iter().rposition(|&b| b == b':') {
        Some(colon) => name.get(colon + 1..).unwrap_or_default(),
        None => name,
    }
}

/// An attribute's value: as written when it holds no reference or white space to
/// normalise (the common case, no copy of the work), else normalised per XML 1.0.
fn attribute_value(attribute: &Attribute<'_>) -> Result<String, ProtoError> {
    let raw: &str = &attribute.value;
    if !any_special(raw.as_bytes(), b'&') {
        // Nothing to resolve or normalise, and no character to refuse.
        return Ok(raw.to_owned());
    }
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
    if !any_special(bytes, 0) {
        return true;
    }
    let controls_ok = bytes
        .iter()
        .all(|&b| b >= 0x20 || b == b'\t' || b == b'\n' || b == b'\r');
    controls_ok && !has_noncharacter(text)
}

/// Whether `text` holds U+FFFE or U+FFFF, which XML does not allow (both start with `0xEF`).
fn has_noncharacter(text: &str) -> bool {
    memchr::memchr(0xEF, text.as_bytes()).is_some() && text.contains(['\u{FFFE}', '\u{FFFF}'])
}

/// Whether any byte needs a closer look: a control character (below 0x20, among them the line
/// ends), `0xEF` (the first byte of U+FFFE and U+FFFF), or `extra`. Eight bytes at a time
/// with the usual bit tricks: one pass, where the byte loop would not be vectorised.
fn any_special(bytes: &[u8], extra: u8) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    /// Whether a byte of `x` is zero (exact as a yes/no test).
    fn zero_byte(x: u64) -> u64 {
        x.wrapping_sub(ONES) & !x & HIGH
    }
    let extra_splat = ONES * u64::from(extra);
    let mut words = bytes.chunks_exact(8);
    let mut found = 0u64;
    for word in &mut words {
        let Ok(word) = <[u8; 8]>::try_from(word) else {
            continue;
        };
        let x = u64::from_ne_bytes(word);
        // A byte below 0x20 (exact as a yes/no test, as `zero_byte`), `extra`, or 0xEF.
        found |= (x.wrapping_sub(ONES * 0x20) & !x & HIGH)
            | zero_byte(x ^ extra_splat)
            | zero_byte(x ^ (ONES * 0xEF));
    }
    found != 0
        || words
            .remainder()
            .iter()
            .any(|&b| b < 0x20 || b == extra || b == 0xEF)
}

fn push_cow<'a>(out: &mut Cow<'a, str>, text: Cow<'a, str>) {
    if out.is_empty() {
        *out = text;
    } else {
        out.to_mut().push_str(&text);
    }
}

/// Byte equality, written out: prefixes are a few bytes, shorter than a call to `memcmp`.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The word-at-a-time scan agrees with the byte loop for every byte value at every
    /// position of a word and of the tail, next to every other kind of byte.
    #[test]
    fn any_special_matches_the_byte_loop() {
        let naive =
            |bytes: &[u8], extra: u8| bytes.iter().any(|&b| b < 0x20 || b == extra || b == 0xEF);
        for extra in [0, b'&'] {
            for len in [1, 7, 8, 9, 16, 19] {
                for at in 0..len {
                    for byte in 0..=255u8 {
                        for fill in [b'a', 0x7F, 0x80, 0xFF, 0x20, 0xF0] {
                            let mut bytes = vec![fill; len];
                            bytes[at] = byte;
                            assert_eq!(
                                any_special(&bytes, extra),
                                naive(&bytes, extra),
                                "{bytes:?} with {extra}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn plain_attributes_split_as_quick_xml_reads_them() {
        assert_eq!(
            plain_attribute("Id=\"a b\" ChangeKey='c'"),
            Some(("Id", "a b", " ChangeKey='c'"))
        );
        assert_eq!(plain_attribute("Id='x\"y'"), Some(("Id", "x\"y", "")));
        // Anything else is left to quick-xml.
        for other in ["Id = \"a\"", "Id=\"a", "Id=a", "=\"a\"", "Id", "Id= \"a\""] {
            assert_eq!(plain_attribute(other), None, "{other}");
        }
    }
}
