//! Split a `GetStreamingEvents` response body into complete SOAP envelopes.
//!
//! Exchange answers `GetStreamingEvents` with one hanging HTTP response that carries a series
//! of complete SOAP envelopes: the first at once, then one per batch of events or heartbeat,
//! and a last one with `ConnectionStatus` `Closed`. Chunk boundaries have nothing to do with
//! envelope boundaries. [`EnvelopeSplitter`] takes the bytes exactly as they come off the
//! connection and hands out each envelope once it is complete.
//!
//! It is a resumable byte-level scanner: every byte is examined once, however the stream is
//! cut. It recognises the XML constructs that can hide a `>` or a tag (quoted attribute
//! values, comments, CDATA sections, processing instructions), counts element depth, and
//! matches the root element by its *local name*, so `<s:Envelope>`, `<soap:Envelope>` and
//! `<Envelope xmlns="...">` all split the same. Well-formedness inside an envelope is left to
//! the reader that parses it.

use memchr::memchr;

use crate::error::ProtoError;

/// The default limit on one envelope: 8 MiB, far above the 50 events Exchange puts in one.
pub const DEFAULT_MAX_ENVELOPE: usize = 8 * 1024 * 1024;

const MAX_ROOT_NAME: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Character data (between envelopes, or inside one).
    Text,
    /// After `<`.
    Lt,
    /// After `<!`.
    Bang,
    /// After `<!-`.
    BangDash,
    /// Inside `<!-- ... -->`; counts the `-` just seen.
    Comment { dashes: u8 },
    /// Matching `[CDATA[` after `<!`; how many bytes matched.
    CDataOpen { matched: u8 },
    /// Inside `<![CDATA[ ... ]]>`; counts the `]` just seen.
    CData { brackets: u8 },
    /// Inside `<? ... ?>`; whether the last byte was `?`.
    Pi { question: bool },
    /// Reading a start tag's name.
    StartName,
    /// Inside a start tag, after its name.
    StartTag { quote: Option<u8>, slash: bool },
    /// Inside an end tag.
    EndTag,
}

/// A tag read whole by [`EnvelopeSplitter::whole_tag`].
#[derive(Debug, Clone, Copy)]
enum Tag {
    Start,
    SelfClosing,
    End,
}

/// Splits a byte stream into complete SOAP envelopes.
///
/// ```
/// use ews_proto::EnvelopeSplitter;
///
/// let mut splitter = EnvelopeSplitter::new();
/// splitter.push(b"<s:Envelope xmlns:s='http://schemas.xmlsoap.org/soap/envelope/'><s:Bo");
/// assert!(splitter.next_envelope()?.is_none());
/// splitter.push(b"dy/></s:Envelope>\r\n<Envelope><Body/></Envelope>");
/// assert!(splitter.next_envelope()?.is_some());
/// assert_eq!(splitter.next_envelope()?.as_deref(), Some(&b"<Envelope><Body/></Envelope>"[..]));
/// splitter.finish()?;
/// # Ok::<(), ews_proto::ProtoError>(())
/// ```
#[derive(Debug)]
pub struct EnvelopeSplitter {
    buf: Vec<u8>,
    /// Bytes before this offset are handed out or skipped.
    consumed: usize,
    /// The next byte to examine.
    scan: usize,
    state: State,
    /// Open elements inside the current envelope.
    depth: usize,
    /// Offset of the current root element's `<`.
    root_start: Option<usize>,
    /// Offset of the `<` that opened the current markup.
    markup_start: usize,
    /// The root element's name, while it is being read.
    root_name: Vec<u8>,
    max_envelope: usize,
    at_stream_start: bool,
    failed: bool,
}

impl Default for EnvelopeSplitter {
    fn default() -> Self {
        Self::new()
    }
}

impl EnvelopeSplitter {
    /// A splitter with the [default limit](DEFAULT_MAX_ENVELOPE) on one envelope.
    pub fn new() -> Self {
        Self::with_max_envelope(DEFAULT_MAX_ENVELOPE)
    }

    /// A splitter that refuses envelopes (and runs of bytes between them) longer than
    /// `max_envelope` bytes, so a misbehaving server cannot make it buffer without bound.
    pub fn with_max_envelope(max_envelope: usize) -> Self {
        Self {
            buf: Vec::new(),
            consumed: 0,
            scan: 0,
            state: State::Text,
            depth: 0,
            root_start: None,
            markup_start: 0,
            root_name: Vec::new(),
            max_envelope,
            at_stream_start: true,
            failed: false,
        }
    }

    /// Appends bytes as they came off the connection.
    pub fn push(&mut self, chunk: &[u8]) {
        if self.consumed > 0 {
            self.buf.drain(..self.consumed);
            self.scan -= self.consumed;
            self.markup_start = self.markup_start.saturating_sub(self.consumed);
            if let Some(start) = &mut self.root_start {
                *start -= self.consumed;
            }
            self.consumed = 0;
        }
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete envelope, or `None` until more bytes arrive.
    ///
    /// After an error the splitter is unusable: the stream cannot be resynchronised.
    pub fn next_envelope(&mut self) -> Result<Option<Vec<u8>>, ProtoError> {
        Ok(self.next_envelope_slice()?.map(<[u8]>::to_vec))
    }

    /// [`next_envelope`](Self::next_envelope) without the copy: the envelope is borrowed from
    /// the splitter's buffer, for a caller that reads it before pushing more bytes.
    ///
    /// ```
    /// use ews_proto::EnvelopeSplitter;
    /// use ews_proto::operations::GetStreamingEventsResponse;
    /// use ews_proto::soap::read_envelope;
    ///
    /// let mut splitter = EnvelopeSplitter::new();
    /// splitter.push(br#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>"#);
    /// splitter.push(br#"<GetStreamingEventsResponse/></s:Body></s:Envelope>"#);
    /// while let Some(envelope) = splitter.next_envelope_slice()? {
    ///     let response = read_envelope::<GetStreamingEventsResponse>(envelope)?;
    ///     assert!(response.body.messages.is_empty());
    /// }
    /// # Ok::<(), ews_proto::ProtoError>(())
    /// ```
    pub fn next_envelope_slice(&mut self) -> Result<Option<&[u8]>, ProtoError> {
        if self.failed {
            return Err(ProtoError::Stream("the splitter failed earlier"));
        }
        match self.scan_envelope() {
            Ok(Some((start, end))) => {
                self.consumed = end;
                self.root_start = None;
                Ok(self.buf.get(start..end))
            }
            Ok(None) => Ok(None),
            Err(error) => {
                self.failed = true;
                Err(error)
            }
        }
    }

    /// Bytes buffered but not yet handed out.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.consumed
    }

    /// Declares the end of the stream: an error if an envelope was left unfinished.
    pub fn finish(&self) -> Result<(), ProtoError> {
        if self.failed {
            return Err(ProtoError::Stream("the splitter failed earlier"));
        }
        let pending = &self.buf[self.consumed..];
        if self.root_start.is_some()
            || self.state != State::Text
            || !pending.iter().all(u8::is_ascii_whitespace)
        {
            return Err(ProtoError::Truncated {
                buffered: pending.len(),
            });
        }
        Ok(())
    }

    fn scan_envelope(&mut self) -> Result<Option<(usize, usize)>, ProtoError> {
        if self.at_stream_start {
            const BOM: &[u8] = b"\xEF\xBB\xBF";
            let pending = &self.buf[self.consumed..];
            if pending.len() < BOM.len() && BOM.starts_with(pending) {
                return Ok(None);
            }
            if pending.starts_with(BOM) {
                self.consumed += BOM.len();
                self.scan = self.scan.max(self.consumed);
            }
            self.at_stream_start = false;
        }
        while self.scan < self.buf.len() {
            self.check_size()?;
            let byte = self.buf[self.scan];
            match self.state {
                State::Text => {
                    if self.depth > 0 {
                        // Fast path: character data inside an envelope.
                        match memchr(b'<', &self.buf[self.scan..]) {
                            Some(offset) => self.scan += offset,
                            None => {
                                self.scan = self.buf.len();
                                break;
                            }
                        }
                        // And the tag it reaches, in one go when it can be.
                        if let Some((end, tag)) = self.whole_tag(self.scan) {
                            self.markup_start = self.scan;
                            self.scan = end;
                            self.check_size()?;
                            match tag {
                                Tag::Start => self.depth += 1,
                                Tag::SelfClosing => {}
                                Tag::End => {
                                    self.depth -= 1;
                                    if self.depth == 0 {
                                        return Ok(self.complete());
                                    }
                                }
                            }
                            self.scan += 1;
                            continue;
                        }
                    } else if byte != b'<' {
                        if !byte.is_ascii_whitespace() {
                            return Err(ProtoError::Stream("text between envelopes"));
                        }
                        self.scan += 1;
                        if self.root_start.is_none() {
                            self.consumed = self.scan;
                        }
                        continue;
                    }
                    self.markup_start = self.scan;
                    self.state = State::Lt;
                }
                State::Lt => match byte {
                    b'!' => self.state = State::Bang,
                    b'?' => self.state = State::Pi { question: false },
                    b'/' => {
                        if self.depth == 0 {
                            return Err(ProtoError::Stream("end tag outside an envelope"));
                        }
                        self.state = State::EndTag;
                    }
                    b'<' | b'>' => return Err(ProtoError::Stream("malformed tag")),
                    b if b.is_ascii_whitespace() => {
                        return Err(ProtoError::Stream("malformed tag"));
                    }
                    _ if self.depth == 0 => {
                        self.root_start = Some(self.markup_start);
                        self.root_name.clear();
                        self.root_name.push(byte);
                        self.state = State::StartName;
                    }
                    // Inside an envelope the name does not matter: scan the tag for its end.
                    _ => {
                        self.state = State::StartTag {
                            quote: None,
                            slash: false,
                        };
                    }
                },
                State::Bang => match byte {
                    b'-' => self.state = State::BangDash,
                    b'[' if self.depth > 0 => self.state = State::CDataOpen { matched: 1 },
                    _ => return Err(ProtoError::Stream("document type declaration or stray <!")),
                },
                State::BangDash => {
                    if byte != b'-' {
                        return Err(ProtoError::Stream("malformed comment"));
                    }
                    self.state = State::Comment { dashes: 0 };
                }
                State::Comment { dashes } => {
                    self.state = match (byte, dashes) {
                        (b'-', d) => State::Comment {
                            dashes: (d + 1).min(2),
                        },
                        (b'>', 2) => self.after_markup(),
                        _ => {
                            // Skip ahead to the next dash.
                            self.state = State::Comment { dashes: 0 };
                            if let Some(offset) = memchr(b'-', &self.buf[self.scan..]) {
                                self.scan += offset;
                                continue;
                            }
                            self.scan = self.buf.len();
                            self.state = State::Comment { dashes: 0 };
                            break;
                        }
                    };
                }
                State::CDataOpen { matched } => {
                    const OPEN: &[u8] = b"[CDATA[";
                    if byte != OPEN[usize::from(matched)] {
                        return Err(ProtoError::Stream("malformed CDATA section"));
                    }
                    self.state = if usize::from(matched) + 1 == OPEN.len() {
                        State::CData { brackets: 0 }
                    } else {
                        State::CDataOpen {
                            matched: matched + 1,
                        }
                    };
                }
                State::CData { brackets } => {
                    self.state = match (byte, brackets) {
                        (b']', b) => State::CData {
                            brackets: (b + 1).min(2),
                        },
                        (b'>', 2) => State::Text,
                        _ => {
                            if let Some(offset) = memchr(b']', &self.buf[self.scan..]) {
                                self.scan += offset;
                                self.state = State::CData { brackets: 0 };
                                continue;
                            }
                            self.scan = self.buf.len();
                            self.state = State::CData { brackets: 0 };
                            break;
                        }
                    };
                }
                State::Pi { question } => {
                    self.state = match byte {
                        b'>' if question => self.after_markup(),
                        b'?' => State::Pi { question: true },
                        _ => State::Pi { question: false },
                    };
                }
                State::StartName => {
                    if is_name_end(byte) {
                        if self.depth == 0 {
                            self.check_root_name()?;
                        }
                        self.state = State::StartTag {
                            quote: None,
                            slash: false,
                        };
                        continue; // examine this byte as part of the tag
                    }
                    if self.depth == 0 {
                        if self.root_name.len() >= MAX_ROOT_NAME {
                            return Err(ProtoError::Stream("root element name too long"));
                        }
                        self.root_name.push(byte);
                    }
                }
                State::StartTag { quote, slash } => match (quote, byte) {
                    (Some(q), b) if b == q => {
                        self.state = State::StartTag {
                            quote: None,
                            slash: false,
                        };
                    }
                    (Some(q), _) => {
                        if let Some(offset) = memchr(q, &self.buf[self.scan..]) {
                            self.scan += offset;
                            continue;
                        }
                        self.scan = self.buf.len();
                        break;
                    }
                    (None, b'"' | b'\'') => {
                        self.state = State::StartTag {
                            quote: Some(byte),
                            slash: false,
                        };
                    }
                    (None, b'>') => {
                        self.state = State::Text;
                        if !slash {
                            self.depth += 1;
                        } else if self.depth == 0 {
                            // A self-closing root: the whole envelope is this tag.
                            return Ok(self.complete());
                        }
                    }
                    (None, b'/') => {
                        self.state = State::StartTag {
                            quote: None,
                            slash: true,
                        };
                    }
                    (None, b'<') => return Err(ProtoError::Stream("'<' inside a tag")),
                    (None, b) if b.is_ascii_whitespace() => {}
                    (None, _) => {
                        // Skip ahead to the next byte that matters in a tag; `/` and `<` are
                        // only looked for before the first of the others.
                        let rest = &self.buf[self.scan..];
                        let next = match memchr::memchr3(b'>', b'"', b'\'', rest) {
                            Some(a) => Some(memchr::memchr2(b'/', b'<', &rest[..a]).unwrap_or(a)),
                            None => memchr::memchr2(b'/', b'<', rest),
                        };
                        match next {
                            Some(offset) if offset > 0 => {
                                self.scan += offset;
                                self.state = State::StartTag {
                                    quote: None,
                                    slash: false,
                                };
                                continue;
                            }
                            Some(_) => {}
                            None => {
                                self.scan = self.buf.len();
                                self.state = State::StartTag {
                                    quote: None,
                                    slash: false,
                                };
                                break;
                            }
                        }
                        self.state = State::StartTag {
                            quote: None,
                            slash: false,
                        };
                    }
                },
                State::EndTag => {
                    if byte != b'>' && byte != b'<' {
                        let rest = &self.buf[self.scan..];
                        match memchr::memchr2(b'>', b'<', rest) {
                            Some(offset) => {
                                self.scan += offset;
                                continue;
                            }
                            None => {
                                self.scan = self.buf.len();
                                break;
                            }
                        }
                    }
                    if byte == b'>' {
                        self.state = State::Text;
                        self.depth -= 1;
                        if self.depth == 0 {
                            return Ok(self.complete());
                        }
                    } else if byte == b'<' {
                        return Err(ProtoError::Stream("'<' inside an end tag"));
                    }
                }
            }
            self.scan += 1;
        }
        self.check_size()?;
        Ok(None)
    }

    /// The start or end tag at `lt` (a `<` inside an envelope) read in one go, when it is
    /// whole in the buffer and plain: a name, attributes with their quotes closed, no `<`
    /// outside them. The offset of its `>` and what it does to the depth, as the state machine
    /// would find them byte by byte; `None` leaves the tag to the state machine (incomplete,
    /// comments, CDATA, processing instructions, and every error).
    fn whole_tag(&self, lt: usize) -> Option<(usize, Tag)> {
        let rest = self.buf.get(lt + 1..)?;
        match *rest.first()? {
            b'/' => {
                let end = memchr::memchr2(b'>', b'<', rest)?;
                (rest.get(end) == Some(&b'>')).then_some((lt + 1 + end, Tag::End))
            }
            b'!' | b'?' | b'<' | b'>' => None,
            b if b.is_ascii_whitespace() => None,
            _ => {
                // A `/` makes the tag self-closing when it is the last byte before `>` other
                // than white space; quoted values and the name's first byte are not `/`.
                let mut from = 1;
                let mut slash = false;
                loop {
                    let rest_from = rest.get(from..)?;
                    let next = memchr::memchr3(b'>', b'"', b'\'', rest_from)?;
                    let between = rest_from.get(..next)?;
                    if memchr(b'<', between).is_some() {
                        return None;
                    }
                    if let Some(last) = between.iter().rposition(|b| !b.is_ascii_whitespace()) {
                        slash = between.get(last) == Some(&b'/');
                    }
                    let at = from + next;
                    match *rest.get(at)? {
                        b'>' => {
                            let tag = if slash { Tag::SelfClosing } else { Tag::Start };
                            return Some((lt + 1 + at, tag));
                        }
                        quote => {
                            let close = memchr(quote, rest.get(at + 1..)?)?;
                            slash = false;
                            from = at + 1 + close + 1;
                        }
                    }
                }
            }
        }
    }

    /// Where scanning continues after a comment or processing instruction.
    fn after_markup(&mut self) -> State {
        if self.depth == 0 && self.root_start.is_none() {
            self.consumed = self.scan + 1;
        }
        State::Text
    }

    /// Marks the envelope ending at the current byte as complete.
    fn complete(&mut self) -> Option<(usize, usize)> {
        self.scan += 1;
        let start = self.root_start.unwrap_or(self.markup_start);
        Some((start, self.scan))
    }

    fn check_root_name(&self) -> Result<(), ProtoError> {
        let name = &self.root_name[..];
        let local = match name.iter().rposition(|&b| b == b':') {
            Some(colon) => &name[colon + 1..],
            None => name,
        };
        if local == b"Envelope" {
            Ok(())
        } else {
            Err(ProtoError::Stream("root element is not a SOAP Envelope"))
        }
    }

    fn check_size(&self) -> Result<(), ProtoError> {
        let from = self.root_start.unwrap_or(self.consumed);
        if self.scan.saturating_sub(from) > self.max_envelope {
            return Err(ProtoError::EnvelopeTooLarge {
                limit: self.max_envelope,
            });
        }
        Ok(())
    }
}

fn is_name_end(byte: u8) -> bool {
    byte.is_ascii_whitespace() || byte == b'>' || byte == b'/'
}
