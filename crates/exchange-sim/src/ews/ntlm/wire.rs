//! The NTLM messages as a server sees them
//! ([MS-NLMP 2.2](https://learn.microsoft.com/openspecs/windows_protocols/ms-nlmp/907f519d-6217-45b1-b421-dca10fc8af0d)):
//! NEGOTIATE and AUTHENTICATE read (every offset and length checked, never a panic),
//! CHALLENGE written, and `AV_PAIR` lists both ways.

/// `NTLMSSP\0`.
pub(crate) const SIGNATURE: [u8; 8] = *b"NTLMSSP\0";

/// Negotiate flags the simulator knows.
pub(crate) mod flags {
    pub(crate) const UNICODE: u32 = 0x0000_0001;
    pub(crate) const REQUEST_TARGET: u32 = 0x0000_0004;
    pub(crate) const NTLM: u32 = 0x0000_0200;
    pub(crate) const ALWAYS_SIGN: u32 = 0x0000_8000;
    pub(crate) const TARGET_TYPE_DOMAIN: u32 = 0x0001_0000;
    pub(crate) const EXTENDED_SESSIONSECURITY: u32 = 0x0008_0000;
    pub(crate) const TARGET_INFO: u32 = 0x0080_0000;
    pub(crate) const VERSION: u32 = 0x0200_0000;
    pub(crate) const N128: u32 = 0x2000_0000;
    pub(crate) const KEY_EXCH: u32 = 0x4000_0000;
    pub(crate) const N56: u32 = 0x8000_0000;
}

/// `AvId` values ([MS-NLMP 2.2.2.1]).
pub(crate) mod av_id {
    pub(crate) const EOL: u16 = 0;
    pub(crate) const NB_COMPUTER_NAME: u16 = 1;
    pub(crate) const NB_DOMAIN_NAME: u16 = 2;
    pub(crate) const DNS_COMPUTER_NAME: u16 = 3;
    pub(crate) const DNS_DOMAIN_NAME: u16 = 4;
    pub(crate) const DNS_TREE_NAME: u16 = 5;
    pub(crate) const FLAGS: u16 = 6;
    pub(crate) const TIMESTAMP: u16 = 7;
    pub(crate) const CHANNEL_BINDINGS: u16 = 10;
}

/// A message that cannot be read; the text says why (for the log, never the client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bad(pub(crate) &'static str);

/// Little-endian reads that fail instead of panicking.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn u16(&self, at: usize) -> Result<u16, Bad> {
        let b = self
            .0
            .get(at..at.saturating_add(2))
            .ok_or(Bad("cut short"))?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&self, at: usize) -> Result<u32, Bad> {
        let b = self
            .0
            .get(at..at.saturating_add(4))
            .ok_or(Bad("cut short"))?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// The payload a `(Len, MaxLen, BufferOffset)` descriptor at `at` names.
    fn payload(&self, at: usize) -> Result<&'a [u8], Bad> {
        let len = usize::from(self.u16(at)?);
        let offset = usize::try_from(self.u32(at + 4)?).map_err(|_| Bad("offset too large"))?;
        if len == 0 {
            return Ok(&[]);
        }
        let end = offset.checked_add(len).ok_or(Bad("offset overflows"))?;
        self.0
            .get(offset..end)
            .ok_or(Bad("field outside the message"))
    }

    /// The payload's offset, when it is not empty.
    fn offset_if_used(&self, at: usize) -> Result<Option<usize>, Bad> {
        if self.u16(at)? == 0 {
            return Ok(None);
        }
        Ok(usize::try_from(self.u32(at + 4)?).ok())
    }

    fn header(&self, kind: u32) -> Result<(), Bad> {
        if self.0.get(..8) != Some(SIGNATURE.as_slice()) {
            return Err(Bad("no NTLMSSP signature"));
        }
        if self.u32(8)? != kind {
            return Err(Bad("unexpected message type"));
        }
        Ok(())
    }
}

/// A NEGOTIATE message (type 1): only its flags matter to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Negotiate {
    pub(crate) flags: u32,
}

impl Negotiate {
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, Bad> {
        let reader = Reader(bytes);
        reader.header(1)?;
        let flags = reader.u32(12)?;
        // Domain and workstation are optional; when the message is long enough to name
        // them, they must lie inside it.
        if bytes.len() >= 32 {
            reader.payload(16)?;
            reader.payload(24)?;
        }
        Ok(Self { flags })
    }
}

/// A CHALLENGE message (type 2) to send.
pub(crate) struct Challenge<'a> {
    pub(crate) flags: u32,
    pub(crate) server_challenge: [u8; 8],
    pub(crate) target_name: &'a str,
    pub(crate) target_info: &'a [(u16, Vec<u8>)],
}

impl Challenge<'_> {
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        const HEADER: usize = 56; // with VERSION
        let name = utf16le(self.target_name);
        let info = write_av_pairs(self.target_info);
        let mut out = Vec::with_capacity(HEADER + name.len() + info.len());
        out.extend_from_slice(&SIGNATURE);
        out.extend_from_slice(&2u32.to_le_bytes());
        push_descriptor(&mut out, name.len(), HEADER);
        out.extend_from_slice(&self.flags.to_le_bytes());
        out.extend_from_slice(&self.server_challenge);
        out.extend_from_slice(&[0; 8]);
        push_descriptor(&mut out, info.len(), HEADER + name.len());
        // Windows Server 2019, build 17763, NTLMSSP_REVISION_W2K3.
        out.extend_from_slice(&[10, 0, 0x63, 0x45, 0, 0, 0, 15]);
        out.extend_from_slice(&name);
        out.extend_from_slice(&info);
        out
    }
}

fn push_descriptor(out: &mut Vec<u8>, len: usize, offset: usize) {
    let len = u16::try_from(len).unwrap_or(u16::MAX);
    let offset = u32::try_from(offset).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&offset.to_le_bytes());
}

/// An AUTHENTICATE message (type 3), with its fields decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Authenticate {
    pub(crate) flags: u32,
    pub(crate) lm_response: Vec<u8>,
    pub(crate) nt_response: Vec<u8>,
    pub(crate) domain: String,
    pub(crate) user: String,
    pub(crate) session_key: Vec<u8>,
    /// The MIC, when the message has room for one (a `VERSION` and MIC before the payload).
    pub(crate) mic: Option<[u8; 16]>,
}

/// Where the MIC sits in an AUTHENTICATE message.
pub(crate) const MIC_RANGE: std::ops::Range<usize> = 72..88;

impl Authenticate {
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, Bad> {
        let reader = Reader(bytes);
        reader.header(3)?;
        let flags = reader.u32(60)?;
        if flags & flags::UNICODE == 0 {
            return Err(Bad("OEM strings are not supported"));
        }
        let text = |at| reader.payload(at).and_then(utf16le_decode);
        // The payload starts after the fixed fields; where it starts says whether VERSION
        // and a MIC were sent (the MIC ends at offset 88).
        let mut first_payload = bytes.len();
        for at in [12, 20, 28, 36, 44, 52] {
            if let Some(offset) = reader.offset_if_used(at)? {
                first_payload = first_payload.min(offset);
            }
        }
        let mic = (first_payload >= MIC_RANGE.end)
            .then(|| {
                bytes
                    .get(MIC_RANGE)
                    .and_then(|m| <[u8; 16]>::try_from(m).ok())
            })
            .flatten();
        Ok(Self {
            flags,
            lm_response: reader.payload(12)?.to_vec(),
            nt_response: reader.payload(20)?.to_vec(),
            domain: text(28)?,
            user: text(36)?,
            session_key: reader.payload(52)?.to_vec(),
            mic,
        })
    }
}

/// Reads an `AV_PAIR` list up to `MsvAvEOL`.
pub(crate) fn read_av_pairs(mut bytes: &[u8]) -> Result<Vec<(u16, Vec<u8>)>, Bad> {
    let mut pairs = Vec::new();
    loop {
        let reader = Reader(bytes);
        let id = reader.u16(0)?;
        let len = usize::from(reader.u16(2)?);
        if id == av_id::EOL {
            return Ok(pairs);
        }
        let value = bytes
            .get(4..4 + len)
            .ok_or(Bad("AV_PAIR outside the list"))?;
        pairs.push((id, value.to_vec()));
        bytes = &bytes[4 + len..];
    }
}

/// Writes an `AV_PAIR` list and its `MsvAvEOL`.
pub(crate) fn write_av_pairs(pairs: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (id, value) in pairs {
        let len = u16::try_from(value.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(value.get(..usize::from(len)).unwrap_or(value));
    }
    out.extend_from_slice(&[0; 4]);
    out
}

/// UTF-16LE.
pub(crate) fn utf16le(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() * 2);
    for unit in text.encode_utf16() {
        out.extend_from_slice(&unit.to_le_bytes());
    }
    out
}

fn utf16le_decode(bytes: &[u8]) -> Result<String, Bad> {
    if !bytes.len().is_multiple_of(2) {
        return Err(Bad("odd-length UTF-16 string"));
    }
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
        .collect();
    String::from_utf16(&units).map_err(|_| Bad("invalid UTF-16 string"))
}

#[cfg(test)]
pub(crate) mod tests {
    use rand::{Rng as _, SeedableRng as _};

    use super::*;

    pub(crate) fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
            .collect()
    }

    /// An AUTHENTICATE message as a client writes it: `VERSION` and a MIC slot (zeroed)
    /// before the payload when `with_mic`.
    pub(crate) fn authenticate_bytes(
        lm: &[u8],
        nt: &[u8],
        domain: &str,
        user: &str,
        session_key: &[u8],
        with_mic: bool,
    ) -> Vec<u8> {
        let header = if with_mic { 88 } else { 64 };
        let fields = [
            lm.to_vec(),
            nt.to_vec(),
            utf16le(domain),
            utf16le(user),
            vec![],
            session_key.to_vec(),
        ];
        let mut out = SIGNATURE.to_vec();
        out.extend_from_slice(&3u32.to_le_bytes());
        let mut payload = Vec::new();
        for field in &fields {
            push_descriptor(&mut out, field.len(), header + payload.len());
            payload.extend_from_slice(field);
        }
        out.extend_from_slice(&(flags::UNICODE | flags::NTLM | flags::VERSION).to_le_bytes());
        if with_mic {
            out.extend_from_slice(&[10, 0, 0, 0, 0, 0, 0, 15]);
            out.extend_from_slice(&[0; 16]);
        }
        out.extend_from_slice(&payload);
        out
    }

    #[test]
    fn reads_a_negotiate() {
        // Flags 0xe2088297 as Windows sends them, no domain or workstation, a VERSION.
        let bytes =
            hex("4e544c4d5353500001000000978208e2000000000000000000000000000000000a0063450000000f");
        let negotiate = Negotiate::parse(&bytes).expect("parses");
        assert_eq!(negotiate.flags, 0xe208_8297);
        assert!(Negotiate::parse(&bytes[..12]).is_err(), "no flags");
        assert!(
            Negotiate::parse(&hex("4e544c4d5353500002000000978208e2")).is_err(),
            "type 2"
        );
        let mut far = bytes.clone();
        far[16] = 8; // a domain of 8 bytes at offset 0 is fine...
        far[20..24].copy_from_slice(&u32::MAX.to_le_bytes()); // ...but not at 4 GiB
        assert!(Negotiate::parse(&far).is_err());
    }

    #[test]
    fn writes_a_challenge_a_client_can_read() {
        let info = [
            (av_id::NB_DOMAIN_NAME, utf16le("CONTOSO")),
            (av_id::TIMESTAMP, 7u64.to_le_bytes().to_vec()),
        ];
        let bytes = Challenge {
            flags: flags::UNICODE | flags::TARGET_INFO,
            server_challenge: [1, 2, 3, 4, 5, 6, 7, 8],
            target_name: "CONTOSO",
            target_info: &info,
        }
        .to_bytes();
        let reader = Reader(&bytes);
        reader.header(2).expect("a CHALLENGE");
        assert_eq!(
            reader.payload(12).expect("name"),
            utf16le("CONTOSO").as_slice()
        );
        assert_eq!(
            reader.u32(20).expect("flags"),
            flags::UNICODE | flags::TARGET_INFO
        );
        assert_eq!(&bytes[24..32], &[1, 2, 3, 4, 5, 6, 7, 8]);
        let pairs = read_av_pairs(reader.payload(40).expect("info")).expect("pairs");
        assert_eq!(pairs, info.to_vec());
    }

    #[test]
    fn reads_an_authenticate_with_and_without_mic() {
        for with_mic in [true, false] {
            let bytes =
                authenticate_bytes(&[0; 24], &[9; 48], "CONTOSO", "svc-bems", &[], with_mic);
            let message = Authenticate::parse(&bytes).expect("parses");
            assert_eq!(message.domain, "CONTOSO");
            assert_eq!(message.user, "svc-bems");
            assert_eq!(message.nt_response, vec![9; 48]);
            assert_eq!(message.mic.is_some(), with_mic);
        }
        let upn = authenticate_bytes(&[], &[9; 48], "", "svc-bems@contoso.com", &[], true);
        let message = Authenticate::parse(&upn).expect("parses");
        assert_eq!(
            (message.domain.as_str(), message.user.as_str()),
            ("", "svc-bems@contoso.com")
        );
        let mut odd = upn;
        odd[36] = 3; // user name of 3 bytes: not UTF-16
        assert!(Authenticate::parse(&odd).is_err());
    }

    /// Random bytes, every truncation of valid messages, random corruptions: the parsers
    /// answer and never panic.
    #[test]
    fn never_panic_on_hostile_input() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x0053_494d);
        let authenticate = authenticate_bytes(&[0; 24], &[7; 60], "CONTOSO", "svc", &[], true);
        let negotiate =
            hex("4e544c4d5353500001000000978208e2000000000000000000000000000000000a0063450000000f");
        for len in 0..authenticate.len() {
            let _ = Authenticate::parse(&authenticate[..len]);
            let _ = read_av_pairs(&authenticate[..len]);
        }
        for len in 0..negotiate.len() {
            let _ = Negotiate::parse(&negotiate[..len]);
        }
        for _ in 0..20_000 {
            let len = rng.random_range(0..200);
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            if bytes.len() >= 12 && rng.random_bool(0.5) {
                bytes[..8].copy_from_slice(&SIGNATURE);
                bytes[8] = rng.random_range(1..4);
            }
            let _ = Negotiate::parse(&bytes);
            let _ = Authenticate::parse(&bytes);
            let _ = read_av_pairs(&bytes);
            for valid in [&authenticate, &negotiate] {
                let mut mutated = valid.clone();
                for _ in 0..rng.random_range(1..6) {
                    let at = rng.random_range(0..mutated.len());
                    mutated[at] = rng.random();
                }
                let _ = Negotiate::parse(&mutated);
                let _ = Authenticate::parse(&mutated);
            }
        }
    }
}
