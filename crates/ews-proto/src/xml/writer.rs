//! A compact, byte-stable XML writer.

/// Writes XML into a string. Element names carry their prefix (`m:Subscribe`); the caller
/// declares the prefixes on the root element.
// `pub` (in a private module) because the sealed `Body` trait names it; not reachable.
#[allow(unreachable_pub)]
pub struct XmlWriter {
    out: String,
}

/// An open start tag: add attributes, then finish it with `open`, `empty` or `text`.
pub(crate) struct Tag<'w> {
    writer: &'w mut XmlWriter,
    name: &'w str,
}

impl XmlWriter {
    /// A writer that starts with the XML declaration.
    pub(crate) fn new() -> Self {
        let mut out = String::with_capacity(1024);
        out.push_str(r#"<?xml version="1.0" encoding="utf-8"?>"#);
        Self { out }
    }

    /// Starts an element.
    pub(crate) fn start<'w>(&'w mut self, name: &'w str) -> Tag<'w> {
        self.out.push('<');
        self.out.push_str(name);
        Tag { writer: self, name }
    }

    /// Writes `<name>text</name>`.
    pub(crate) fn leaf(&mut self, name: &str, text: &str) {
        self.start(name).text(text);
    }

    /// Writes `<name>text</name>` when there is a value.
    pub(crate) fn leaf_opt(&mut self, name: &str, text: Option<&str>) {
        if let Some(text) = text {
            self.leaf(name, text);
        }
    }

    /// Closes an element opened with [`Tag::open`].
    pub(crate) fn end(&mut self, name: &str) {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
    }

    /// The document as bytes.
    pub(crate) fn finish(self) -> Vec<u8> {
        self.out.into_bytes()
    }

    fn escaped(&mut self, text: &str, attribute: bool) {
        let mut rest = text;
        while let Some(pos) = rest.find(|c: char| needs_escape(c, attribute)) {
            self.out.push_str(&rest[..pos]);
            let ch = rest[pos..].chars().next().unwrap_or('\u{FFFD}');
            match ch {
                '&' => self.out.push_str("&amp;"),
                '<' => self.out.push_str("&lt;"),
                '>' => self.out.push_str("&gt;"),
                '"' => self.out.push_str("&quot;"),
                '\r' => self.out.push_str("&#13;"),
                '\n' => self.out.push_str("&#10;"),
                '\t' => self.out.push_str("&#9;"),
                // Characters XML 1.0 cannot carry at all, not even as references.
                _ => self.out.push('\u{FFFD}'),
            }
            rest = &rest[pos + ch.len_utf8()..];
        }
        self.out.push_str(rest);
    }
}

impl Tag<'_> {
    /// Adds an attribute.
    pub(crate) fn attr(self, name: &str, value: &str) -> Self {
        let out = &mut self.writer.out;
        out.push(' ');
        out.push_str(name);
        out.push_str("=\"");
        self.writer.escaped(value, true);
        self.writer.out.push('"');
        self
    }

    /// Adds an attribute when there is a value.
    pub(crate) fn attr_opt(self, name: &str, value: Option<&str>) -> Self {
        match value {
            Some(value) => self.attr(name, value),
            None => self,
        }
    }

    /// Ends the start tag; children follow, then [`XmlWriter::end`].
    pub(crate) fn open(self) {
        self.writer.out.push('>');
    }

    /// Writes a self-closing element.
    pub(crate) fn empty(self) {
        self.writer.out.push_str("/>");
    }

    /// Writes the text content and the end tag.
    pub(crate) fn text(self, text: &str) {
        self.writer.out.push('>');
        self.writer.escaped(text, false);
        self.writer.end(self.name);
    }
}

fn needs_escape(c: char, attribute: bool) -> bool {
    match c {
        '&' | '<' | '>' | '\r' => true,
        '"' | '\n' | '\t' => attribute,
        '\u{0}'..='\u{8}' | '\u{B}' | '\u{C}' | '\u{E}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}' => {
            true
        }
        _ => false,
    }
}
