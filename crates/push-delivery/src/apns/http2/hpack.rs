//! HPACK, the header compression of HTTP/2, as much as an APNs client needs.
//!
//! <https://www.rfc-editor.org/rfc/rfc7541>
//!
//! - **The encoder** writes strings as they are (no Huffman code: APNs headers are short and
//!   mostly indexed). A value that repeats on every request (`:authority`, `apns-topic`, the
//!   provider token) is added to the dynamic table once and then sent as a one-byte index; a
//!   value unique to a request (`:path`, `apns-id`) is sent as a literal without indexing,
//!   and a secret as a literal that is never indexed. It keeps its table no larger than the server's
//!   `SETTINGS_HEADER_TABLE_SIZE` and signals every change at the start of the next block.
//! - **The decoder** reads everything a server may send: indexed fields, the three kinds of
//!   literal, Huffman-coded strings, and table size updates up to our limit (4,096 bytes, the
//!   default; we do not announce another). Every fault is a [`CompressionError`] naming it; it
//!   never panics on any input.

use std::collections::VecDeque;

/// The table size both sides start with, and the most we let a server use.
pub(crate) const DEFAULT_TABLE_SIZE: usize = 4096;

/// The overhead the RFC counts for each table entry (§4.1).
const ENTRY_OVERHEAD: usize = 32;

/// The longest string we decode (a header block is bounded by the connection anyway).
const MAX_STRING: usize = 64 * 1024;

/// A header block that cannot be decoded: the connection ends with `COMPRESSION_ERROR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("HPACK: {0}")]
pub(crate) struct CompressionError(pub(crate) &'static str);

/// The static table (Appendix A); index 1 is the first entry.
const STATIC: [(&[u8], &[u8]); 61] = [
    (b":authority", b""),
    (b":method", b"GET"),
    (b":method", b"POST"),
    (b":path", b"/"),
    (b":path", b"/index.html"),
    (b":scheme", b"http"),
    (b":scheme", b"https"),
    (b":status", b"200"),
    (b":status", b"204"),
    (b":status", b"206"),
    (b":status", b"304"),
    (b":status", b"400"),
    (b":status", b"404"),
    (b":status", b"500"),
    (b"accept-charset", b""),
    (b"accept-encoding", b"gzip, deflate"),
    (b"accept-language", b""),
    (b"accept-ranges", b""),
    (b"accept", b""),
    (b"access-control-allow-origin", b""),
    (b"age", b""),
    (b"allow", b""),
    (b"authorization", b""),
    (b"cache-control", b""),
    (b"content-disposition", b""),
    (b"content-encoding", b""),
    (b"content-language", b""),
    (b"content-length", b""),
    (b"content-location", b""),
    (b"content-range", b""),
    (b"content-type", b""),
    (b"cookie", b""),
    (b"date", b""),
    (b"etag", b""),
    (b"expect", b""),
    (b"expires", b""),
    (b"from", b""),
    (b"host", b""),
    (b"if-match", b""),
    (b"if-modified-since", b""),
    (b"if-none-match", b""),
    (b"if-range", b""),
    (b"if-unmodified-since", b""),
    (b"last-modified", b""),
    (b"link", b""),
    (b"location", b""),
    (b"max-forwards", b""),
    (b"proxy-authenticate", b""),
    (b"proxy-authorization", b""),
    (b"range", b""),
    (b"referer", b""),
    (b"refresh", b""),
    (b"retry-after", b""),
    (b"server", b""),
    (b"set-cookie", b""),
    (b"strict-transport-security", b""),
    (b"transfer-encoding", b""),
    (b"user-agent", b""),
    (b"vary", b""),
    (b"via", b""),
    (b"www-authenticate", b""),
];

/// The index of the first static entry with this name.
fn static_name(name: &[u8]) -> Option<usize> {
    STATIC.iter().position(|(n, _)| *n == name).map(|i| i + 1)
}

/// A name and a value.
type Entry = (Box<[u8]>, Box<[u8]>);

/// A dynamic table: newest entry first, its size as the RFC counts it.
#[derive(Debug, Default)]
struct Table {
    entries: VecDeque<Entry>,
    size: usize,
    max: usize,
}

impl Table {
    fn new(max: usize) -> Self {
        Self {
            max,
            ..Self::default()
        }
    }

    fn get(&self, index: usize) -> Option<(&[u8], &[u8])> {
        match index {
            0 => None,
            1..=61 => Some(STATIC[index - 1]),
            _ => self.entries.get(index - 62).map(|(n, v)| (&n[..], &v[..])),
        }
    }

    /// Adds an entry, evicting the oldest as needed; one larger than the table empties it
    /// (§4.4).
    fn insert(&mut self, name: Box<[u8]>, value: Box<[u8]>) {
        let size = name.len() + value.len() + ENTRY_OVERHEAD;
        self.evict_to(self.max.saturating_sub(size));
        if size <= self.max {
            self.size += size;
            self.entries.push_front((name, value));
        }
    }

    fn resize(&mut self, max: usize) {
        self.max = max;
        self.evict_to(max);
    }

    fn evict_to(&mut self, room: usize) {
        while self.size > room {
            let Some((n, v)) = self.entries.pop_back() else {
                self.size = 0;
                break;
            };
            self.size -= n.len() + v.len() + ENTRY_OVERHEAD;
        }
    }
}

/// Writes `value` with an `n`-bit prefix into the first byte, whose other bits are `flags`
/// (§5.1).
fn put_integer(out: &mut Vec<u8>, prefix: u8, flags: u8, value: usize) {
    let max = (1usize << prefix) - 1;
    if value < max {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | max as u8);
    let mut rest = value - max;
    while rest >= 128 {
        out.push((rest % 128) as u8 | 0x80);
        rest /= 128;
    }
    out.push(rest as u8);
}

/// A string as it is, not Huffman-coded (§5.2).
fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    put_integer(out, 7, 0, s.len());
    out.extend_from_slice(s);
}

/// How the encoder sends a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Indexing {
    /// Added to the dynamic table: it will repeat.
    Incremental,
    /// Sent as a literal, not indexed: a value unique to one request.
    Without,
    /// Sent as a literal that no one may index (§6.2.3): secrets.
    Never,
}

/// The encoder of one connection's request headers.
#[derive(Debug)]
pub(crate) struct Encoder {
    table: Table,
    /// The smallest size and the last size set since the last block, to signal (§4.2).
    update: Option<(usize, usize)>,
}

impl Default for Encoder {
    fn default() -> Self {
        Self {
            table: Table::new(DEFAULT_TABLE_SIZE),
            update: None,
        }
    }
}

impl Encoder {
    /// The server's `SETTINGS_HEADER_TABLE_SIZE`: the table stays within it (and within our
    /// default, which is all we use).
    pub(crate) fn set_limit(&mut self, limit: usize) {
        let max = limit.min(DEFAULT_TABLE_SIZE);
        if max == self.table.max && self.update.is_none() {
            return;
        }
        let smallest = self.update.map_or(max, |(s, _)| s.min(max));
        self.update = Some((smallest, max));
        self.table.resize(max);
    }

    /// Starts a header block: the size updates owed come first.
    pub(crate) fn begin(&mut self, out: &mut Vec<u8>) {
        if let Some((smallest, last)) = self.update.take() {
            if smallest < last {
                put_integer(out, 5, 0x20, smallest);
            }
            put_integer(out, 5, 0x20, last);
        }
    }

    /// A field from the static table, by index.
    pub(crate) fn indexed_static(out: &mut Vec<u8>, index: usize) {
        put_integer(out, 7, 0x80, index);
    }

    /// A field.
    pub(crate) fn field(&mut self, out: &mut Vec<u8>, name: &[u8], value: &[u8], how: Indexing) {
        match how {
            Indexing::Incremental => {
                if let Some(index) = self.find(name, value) {
                    put_integer(out, 7, 0x80, index);
                } else if name.len() + value.len() + ENTRY_OVERHEAD <= self.table.max {
                    self.literal(out, 6, 0x40, name, value);
                    self.table.insert(name.into(), value.into());
                } else {
                    self.literal(out, 4, 0x00, name, value);
                }
            }
            Indexing::Without => self.literal(out, 4, 0x00, name, value),
            Indexing::Never => self.literal(out, 4, 0x10, name, value),
        }
    }

    fn literal(&self, out: &mut Vec<u8>, prefix: u8, flags: u8, name: &[u8], value: &[u8]) {
        match static_name(name) {
            Some(index) => put_integer(out, prefix, flags, index),
            None => {
                out.push(flags);
                put_string(out, name);
            }
        }
        put_string(out, value);
    }

    fn find(&self, name: &[u8], value: &[u8]) -> Option<usize> {
        self.table
            .entries
            .iter()
            .position(|(n, v)| v.len() == value.len() && **n == *name && **v == *value)
            .map(|i| i + 62)
    }
}

/// The decoder of one connection's response headers.
#[derive(Debug)]
pub(crate) struct Decoder {
    table: Table,
    name: Vec<u8>,
    value: Vec<u8>,
}

impl Default for Decoder {
    fn default() -> Self {
        Self {
            table: Table::new(DEFAULT_TABLE_SIZE),
            name: Vec::new(),
            value: Vec::new(),
        }
    }
}

impl Decoder {
    /// Decodes a whole header block, calling `field` for each field in order.
    pub(crate) fn decode(
        &mut self,
        mut block: &[u8],
        mut field: impl FnMut(&[u8], &[u8]),
    ) -> Result<(), CompressionError> {
        let mut first_field = true;
        let mut name_buf = std::mem::take(&mut self.name);
        let mut value_buf = std::mem::take(&mut self.value);
        let result = loop {
            let Some(&byte) = block.first() else {
                break Ok(());
            };
            if byte & 0x80 != 0 {
                let (index, rest) = integer(block, 7)?;
                block = rest;
                let (name, value) = self
                    .table
                    .get(index)
                    .ok_or(CompressionError("an index past the table"))?;
                field(name, value);
                first_field = false;
            } else if byte & 0xE0 == 0x20 {
                if !first_field {
                    break Err(CompressionError("a table size update after a field"));
                }
                let (size, rest) = integer(block, 5)?;
                block = rest;
                if size > DEFAULT_TABLE_SIZE {
                    break Err(CompressionError("a table size over our limit"));
                }
                self.table.resize(size);
            } else {
                let indexing = byte & 0x40 != 0;
                let (index, rest) = integer(block, if indexing { 6 } else { 4 })?;
                block = rest;
                let name: &[u8] = if index == 0 {
                    let (name, rest) = string(block, &mut name_buf)?;
                    block = rest;
                    name
                } else {
                    self.table
                        .get(index)
                        .ok_or(CompressionError("a name index past the table"))?
                        .0
                };
                let (value, rest) = string(block, &mut value_buf)?;
                block = rest;
                field(name, value);
                let entry = indexing.then(|| (Box::<[u8]>::from(name), Box::<[u8]>::from(value)));
                if let Some((name, value)) = entry {
                    self.table.insert(name, value);
                }
                first_field = false;
            }
        };
        self.name = name_buf;
        self.value = value_buf;
        result
    }
}

/// Reads an integer with an `n`-bit prefix (§5.1); at most 2^28, as no field needs more.
fn integer(block: &[u8], prefix: u8) -> Result<(usize, &[u8]), CompressionError> {
    let (&first, mut rest) = block
        .split_first()
        .ok_or(CompressionError("a truncated integer"))?;
    let max = (1usize << prefix) - 1;
    let mut value = usize::from(first) & max;
    if value < max {
        return Ok((value, rest));
    }
    let mut shift = 0;
    loop {
        let (&byte, tail) = rest
            .split_first()
            .ok_or(CompressionError("a truncated integer"))?;
        rest = tail;
        value += usize::from(byte & 0x7F) << shift;
        if byte & 0x80 == 0 {
            return Ok((value, rest));
        }
        shift += 7;
        if shift > 21 {
            return Err(CompressionError("an integer over 2^28"));
        }
    }
}

/// Reads a string (§5.2): borrowed from the block when sent as it is, decoded into `buf`
/// when Huffman-coded.
fn string<'a, 'b: 'a>(
    block: &'b [u8],
    buf: &'a mut Vec<u8>,
) -> Result<(&'a [u8], &'b [u8]), CompressionError> {
    let huffman = block.first().is_some_and(|b| b & 0x80 != 0);
    let (len, rest) = integer(block, 7)?;
    if len > MAX_STRING {
        return Err(CompressionError("a string over 64 KiB"));
    }
    if len > rest.len() {
        return Err(CompressionError("a truncated string"));
    }
    let (raw, rest) = rest.split_at(len);
    if !huffman {
        return Ok((raw, rest));
    }
    buf.clear();
    huffman::decode(raw, buf)?;
    Ok((&buf[..], rest))
}

/// The Huffman code of Appendix B, decoded as the canonical code it is: every code of a
/// length follows the last code of the length before, in the order of the symbols. The
/// table below is Appendix B's column of code lengths; the codes follow from it.
pub(crate) mod huffman {
    use super::CompressionError;

    /// Appendix B: the length in bits of the code of each symbol, 0 to 255 and EOS (256).
    const LENGTHS: [u8; 257] = [
        13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, //
        28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28, //
        6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, //
        5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, //
        13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, //
        7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, //
        15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, //
        6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, //
        20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, //
        24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, //
        22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, //
        21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, //
        26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, //
        19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, //
        20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, //
        26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, //
        30,
    ];

    const EOS: u16 = 256;
    const MAX_LEN: usize = 30;

    /// The canonical code: for each length, its first code, how many codes it has, and
    /// where its symbols start in `symbols` (ordered by length, then symbol).
    pub(crate) struct Code {
        pub(crate) first: [u32; MAX_LEN + 1],
        count: [u32; MAX_LEN + 1],
        offset: [u16; MAX_LEN + 1],
        symbols: [u16; 257],
    }

    pub(crate) const CODE: Code = build();

    const fn build() -> Code {
        let mut count = [0u32; MAX_LEN + 1];
        let mut s = 0;
        while s < 257 {
            count[LENGTHS[s] as usize] += 1;
            s += 1;
        }
        let mut first = [0u32; MAX_LEN + 1];
        let mut offset = [0u16; MAX_LEN + 1];
        let mut code = 0u32;
        let mut before = 0u16;
        let mut len = 1;
        while len <= MAX_LEN {
            code = (code + count[len - 1]) << 1;
            first[len] = code;
            offset[len] = before;
            before += count[len] as u16;
            len += 1;
        }
        let mut symbols = [0u16; 257];
        let mut next = 0;
        let mut len = 1;
        while len <= MAX_LEN {
            let mut s = 0;
            while s < 257 {
                if LENGTHS[s] as usize == len {
                    symbols[next] = s as u16;
                    next += 1;
                }
                s += 1;
            }
            len += 1;
        }
        Code {
            first,
            count,
            offset,
            symbols,
        }
    }

    /// The code and its length of a symbol (for tests, which encode with it).
    #[cfg(test)]
    pub(crate) fn code_of(symbol: u16) -> (u32, u8) {
        let len = LENGTHS[symbol as usize];
        let l = len as usize;
        let start = CODE.offset[l] as usize;
        let rank = CODE.symbols[start..start + CODE.count[l] as usize]
            .iter()
            .position(|&s| s == symbol)
            .unwrap_or(0);
        (CODE.first[l] + rank as u32, len)
    }

    /// Decodes `src` onto `dst`. The padding must be the most significant bits of EOS, at
    /// most seven; EOS itself is an error (§5.2).
    pub(crate) fn decode(src: &[u8], dst: &mut Vec<u8>) -> Result<(), CompressionError> {
        // The next bits, most significant first, `bits` of them valid.
        let mut acc: u64 = 0;
        let mut bits: usize = 0;
        let mut next = 0;
        loop {
            while bits <= 56 && next < src.len() {
                acc |= u64::from(src[next]) << (56 - bits);
                bits += 8;
                next += 1;
            }
            if bits == 0 {
                return Ok(());
            }
            let mut len = 5;
            let mut symbol = None;
            while len <= MAX_LEN.min(bits) {
                let code = (acc >> (64 - len)) as u32;
                let rank = code.wrapping_sub(CODE.first[len]);
                if rank < CODE.count[len] {
                    symbol = Some(CODE.symbols[CODE.offset[len] as usize + rank as usize]);
                    break;
                }
                len += 1;
            }
            match symbol {
                Some(EOS) => return Err(CompressionError("EOS in a Huffman string")),
                Some(symbol) => {
                    dst.push(symbol as u8);
                    acc <<= len;
                    bits -= len;
                }
                None => {
                    let ones = (1u64 << bits) - 1;
                    return if next == src.len() && bits <= 7 && acc >> (64 - bits) == ones {
                        Ok(())
                    } else {
                        Err(CompressionError("bad Huffman padding"))
                    };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn decode_all(
        decoder: &mut Decoder,
        block: &[u8],
    ) -> Result<Vec<(String, String)>, CompressionError> {
        let mut fields = Vec::new();
        decoder.decode(block, |n, v| {
            fields.push((
                String::from_utf8_lossy(n).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            ))
        })?;
        Ok(fields)
    }

    fn pairs(fields: &[(&str, &str)]) -> Vec<(String, String)> {
        fields
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    /// Decodes each block in turn on one decoder, checking its fields.
    fn decode_in_turn(d: &mut Decoder, blocks: &[(&str, &[(&str, &str)])]) {
        for (block, fields) in blocks {
            assert_eq!(
                decode_all(d, &hex(block)).unwrap(),
                pairs(fields),
                "{block}"
            );
        }
    }

    /// RFC 7541 Appendix C.6: three responses with Huffman coding and a 256-byte table, so
    /// entries are evicted on the way.
    #[test]
    fn rfc_c6_responses_with_huffman_and_eviction() {
        let mut d = Decoder::default();
        d.table.resize(256);
        let first = [
            (":status", "302"),
            ("cache-control", "private"),
            ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
            ("location", "https://www.example.com"),
        ];
        let mut second = first;
        second[0] = (":status", "307");
        let third = [
            (":status", "200"),
            ("cache-control", "private"),
            ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
            ("location", "https://www.example.com"),
            ("content-encoding", "gzip"),
            (
                "set-cookie",
                "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
            ),
        ];
        decode_in_turn(
            &mut d,
            &[(
                "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
                 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
                &first,
            )],
        );
        assert_eq!(d.table.size, 222);
        decode_in_turn(&mut d, &[("4883 640e ff c1 c0 bf", &second)]);
        assert_eq!(d.table.size, 222);
        decode_in_turn(
            &mut d,
            &[(
                "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
                 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
                 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
                &third,
            )],
        );
        assert_eq!(d.table.size, 215);
        assert_eq!(d.table.entries.len(), 3);
    }

    /// RFC 7541 Appendix C.4: requests with Huffman coding.
    #[test]
    fn rfc_c4_requests_with_huffman() {
        let mut d = Decoder::default();
        let first = [
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/"),
            (":authority", "www.example.com"),
        ];
        let second = [
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/"),
            (":authority", "www.example.com"),
            ("cache-control", "no-cache"),
        ];
        let third = [
            (":method", "GET"),
            (":scheme", "https"),
            (":path", "/index.html"),
            (":authority", "www.example.com"),
            ("custom-key", "custom-value"),
        ];
        decode_in_turn(
            &mut d,
            &[
                ("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff", &first),
                ("8286 84be 5886 a8eb 1064 9cbf", &second),
                (
                    "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
                    &third,
                ),
            ],
        );
        assert_eq!(d.table.size, 164);
    }

    /// RFC 7541 Appendix C.1-C.2: integers and the literal kinds without Huffman.
    #[test]
    fn rfc_c1_c2_integers_and_literals() {
        assert_eq!(integer(&[0x0a], 5).unwrap().0, 10);
        assert_eq!(integer(&[0x1f, 0x9a, 0x0a], 5).unwrap().0, 1337);
        assert_eq!(integer(&[0x2a], 8).unwrap().0, 42);
        let mut out = Vec::new();
        put_integer(&mut out, 5, 0, 1337);
        assert_eq!(out, [0x1f, 0x9a, 0x0a]);

        let mut d = Decoder::default();
        let block = hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572");
        assert_eq!(
            decode_all(&mut d, &block).unwrap(),
            pairs(&[("custom-key", "custom-header")])
        );
        assert_eq!(d.table.size, 55);
        let block = hex("040c 2f73 616d 706c 652f 7061 7468");
        assert_eq!(
            decode_all(&mut d, &block).unwrap(),
            pairs(&[(":path", "/sample/path")])
        );
        let block = hex("1008 7061 7373 776f 7264 0673 6563 7265 74");
        assert_eq!(
            decode_all(&mut d, &block).unwrap(),
            pairs(&[("password", "secret")])
        );
        assert_eq!(d.table.size, 55, "neither literal was indexed");
    }

    /// What the encoder writes, the decoder reads back, across table changes.
    #[test]
    fn the_encoder_round_trips_and_indexes_what_repeats() {
        let mut e = Encoder::default();
        let mut d = Decoder::default();
        let token = "bearer ".to_owned() + &"x".repeat(200);
        for i in 0..50 {
            let mut block = Vec::new();
            e.begin(&mut block);
            Encoder::indexed_static(&mut block, 3);
            e.field(
                &mut block,
                b":authority",
                b"api.push.apple.com",
                Indexing::Incremental,
            );
            e.field(
                &mut block,
                b"authorization",
                token.as_bytes(),
                Indexing::Incremental,
            );
            let id = format!("id-{i}");
            e.field(&mut block, b"apns-id", id.as_bytes(), Indexing::Never);
            let fields = decode_all(&mut d, &block).unwrap();
            assert_eq!(
                fields,
                pairs(&[
                    (":method", "POST"),
                    (":authority", "api.push.apple.com"),
                    ("authorization", &token),
                    ("apns-id", &id),
                ])
            );
            if (1..20).contains(&i) || i > 31 {
                // POST, then two indexed fields, then the literal apns-id.
                assert_eq!(&block[..3], &[0x83, 0xbf, 0xbe], "block {i}");
            }
            assert_eq!(d.table.size, e.table.size, "block {i}");
            // The server's SETTINGS change between blocks.
            if i == 20 {
                e.set_limit(100);
            }
            if i == 30 {
                e.set_limit(0);
                e.set_limit(8192);
            }
        }
    }

    #[test]
    fn huffman_round_trips_every_byte() {
        let text: Vec<u8> = (0..=255u8)
            .chain(b"apns-id: 9b1c5e7e-0000".iter().copied())
            .collect();
        let mut bits: Vec<bool> = Vec::new();
        for &b in &text {
            let (code, len) = huffman::code_of(u16::from(b));
            bits.extend((0..len).rev().map(|i| code >> i & 1 == 1));
        }
        while !bits.len().is_multiple_of(8) {
            bits.push(true);
        }
        let bytes: Vec<u8> = bits
            .chunks(8)
            .map(|c| c.iter().fold(0u8, |acc, &b| acc << 1 | u8::from(b)))
            .collect();
        let mut out = Vec::new();
        huffman::decode(&bytes, &mut out).unwrap();
        assert_eq!(out, text);
    }

    #[test]
    fn bad_blocks_are_errors_not_panics() {
        let cases: &[(&[u8], &str)] = &[
            (&[0x80], "an index past the table"),
            (&[0xbe], "an index past the table"),
            (
                &[0x82, 0x3f, 0xe1, 0x1f],
                "a table size update after a field",
            ),
            (&[0x3f, 0xe2, 0x1f], "a table size over our limit"),
            (&[0x41, 0x05, b'a'], "a truncated string"),
            (
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
                "an integer over 2^28",
            ),
            (&[0xff], "a truncated integer"),
            // A Huffman string of eight padding bits.
            (&[0x41, 0x81, 0xff], "bad Huffman padding"),
            // Padding that is not EOS's bits ('0' is 00000, then 000).
            (&[0x41, 0x81, 0x00], "bad Huffman padding"),
            // EOS itself: 30 ones.
            (
                &[0x41, 0x84, 0xff, 0xff, 0xff, 0xfc],
                "EOS in a Huffman string",
            ),
        ];
        for (block, message) in cases {
            let mut d = Decoder::default();
            assert_eq!(
                decode_all(&mut d, block).unwrap_err(),
                CompressionError(message),
                "{block:02x?}"
            );
        }
    }
}
