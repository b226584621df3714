//! The three NTLM messages
//! ([MS-NLMP 2.2.1](https://learn.microsoft.com/openspecs/windows_protocols/ms-nlmp/907f519d-6217-45b1-b421-dca10fc8af0d)):
//! NEGOTIATE written, CHALLENGE parsed (every offset and length checked; never a panic),
//! AUTHENTICATE written.

use std::fmt;

use super::av::AvPairs;

/// `NTLMSSP\0`.
const SIGNATURE: &[u8; 8] = b"NTLMSSP\0";

/// `NTLMSSP_NEGOTIATE_UNICODE`.
pub(crate) const UNICODE: u32 = 0x0000_0001;
/// `NTLMSSP_REQUEST_TARGET`.
pub(crate) const REQUEST_TARGET: u32 = 0x0000_0004;
/// `NTLMSSP_NEGOTIATE_NTLM`.
pub(crate) const NTLM: u32 = 0x0000_0200;
/// `NTLMSSP_NEGOTIATE_ALWAYS_SIGN`.
pub(crate) const ALWAYS_SIGN: u32 = 0x0000_8000;
/// `NTLMSSP_TARGET_TYPE_DOMAIN`.
pub(crate) const TARGET_TYPE_DOMAIN: u32 = 0x0001_0000;
/// `NTLMSSP_TARGET_TYPE_SERVER`.
pub(crate) const TARGET_TYPE_SERVER: u32 = 0x0002_0000;
/// `NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY`.
pub(crate) const EXTENDED_SESSIONSECURITY: u32 = 0x0008_0000;
/// `NTLMSSP_NEGOTIATE_TARGET_INFO`.
pub(crate) const TARGET_INFO: u32 = 0x0080_0000;
/// `NTLMSSP_NEGOTIATE_VERSION`.
pub(crate) const VERSION: u32 = 0x0200_0000;
/// `NTLMSSP_NEGOTIATE_128`.
pub(crate) const NEGOTIATE_128: u32 = 0x2000_0000;

/// The flags this client asks for. No key exchange, signing or sealing: HTTP authentication
/// needs none of them.
pub(crate) const CLIENT_FLAGS: u32 = UNICODE
    | REQUEST_TARGET
    | NTLM
    | ALWAYS_SIGN
    | EXTENDED_SESSIONSECURITY
    | TARGET_INFO
    | VERSION
    | NEGOTIATE_128;

/// The `VERSION` structure we send: 10.0, build 0, `NTLMSSP_REVISION_W2K3` (debugging only).
const OUR_VERSION: [u8; 8] = [10, 0, 0, 0, 0, 0, 0, 0x0F];

/// Offset of the MIC in an AUTHENTICATE message that carries a `VERSION`.
pub(crate) const MIC_OFFSET: usize = 72;
/// Where the AUTHENTICATE payload starts (after the MIC).
const AUTHENTICATE_HEADER: usize = 88;

/// Why a message could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed(pub(crate) &'static str);

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed NTLM message: {}", self.0)
    }
}

/// The NEGOTIATE message (type 1): flags only, no domain or workstation.
pub(crate) fn negotiate() -> Vec<u8> {
    let mut out = Vec::with_capacity(40);
    out.extend_from_slice(SIGNATURE);
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&CLIENT_FLAGS.to_le_bytes());
    out.extend_from_slice(&[0; 8]); // DomainNameFields: none
    out.extend_from_slice(&[0; 8]); // WorkstationFields: none
    out.extend_from_slice(&OUR_VERSION);
    out
}

/// A parsed CHALLENGE message (type 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    /// The flags the server chose.
    pub(crate) flags: u32,
    /// The 8-byte server challenge.
    pub(crate) server_challenge: [u8; 8],
    /// The target information.
    pub(crate) target_info: AvPairs,
}

impl Challenge {
    /// Parses a CHALLENGE message. NTLMv2 needs the target information and Unicode; a
    /// message without them is refused.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, Malformed> {
        let header = bytes
            .get(..48)
            .ok_or(Malformed("CHALLENGE shorter than 48 bytes"))?;
        if &header[..8] != SIGNATURE {
            return Err(Malformed("no NTLMSSP signature"));
        }
        if u32_at(header, 8) != 2 {
            return Err(Malformed("not a CHALLENGE message"));
        }
        let flags = u32_at(header, 20);
        let mut server_challenge = [0; 8];
        server_challenge.copy_from_slice(&header[24..32]);
        // The target name is read only to check its bounds.
        field(bytes, 12)?;
        if flags & UNICODE == 0 {
            return Err(Malformed("the server offers no Unicode (OEM only)"));
        }
        if flags & TARGET_INFO == 0 {
            return Err(Malformed("no target information (NTLMv2 needs it)"));
        }
        let target_info = AvPairs::parse(field(bytes, 40)?)?;
        Ok(Self {
            flags,
            server_challenge,
            target_info,
        })
    }
}

/// What goes into an AUTHENTICATE message (type 3).
pub(crate) struct Authenticate<'a> {
    pub(crate) flags: u32,
    pub(crate) lm_response: &'a [u8],
    pub(crate) nt_response: &'a [u8],
    pub(crate) domain: &'a str,
    pub(crate) user: &'a str,
    pub(crate) workstation: &'a str,
}

impl Authenticate<'_> {
    /// The message, with `VERSION` and a zeroed MIC (to be filled in by the caller).
    pub(crate) fn to_bytes(&self) -> Result<Vec<u8>, Malformed> {
        let domain = utf16(self.domain);
        let user = utf16(self.user);
        let workstation = utf16(self.workstation);
        let payloads: [&[u8]; 6] = [
            self.lm_response,
            self.nt_response,
            &domain,
            &user,
            &workstation,
            &[], // EncryptedRandomSessionKey: no key exchange
        ];
        let mut header = Vec::with_capacity(AUTHENTICATE_HEADER);
        header.extend_from_slice(SIGNATURE);
        header.extend_from_slice(&3u32.to_le_bytes());
        let mut payload = Vec::new();
        for value in payloads {
            let len = u16::try_from(value.len()).map_err(|_| Malformed("a field over 64 KiB"))?;
            let offset = u32::try_from(AUTHENTICATE_HEADER + payload.len())
                .map_err(|_| Malformed("message too large"))?;
            header.extend_from_slice(&len.to_le_bytes());
            header.extend_from_slice(&len.to_le_bytes());
            header.extend_from_slice(&offset.to_le_bytes());
            payload.extend_from_slice(value);
        }
        header.extend_from_slice(&(self.flags | VERSION).to_le_bytes());
        header.extend_from_slice(&OUR_VERSION);
        header.extend_from_slice(&[0; 16]); // MIC
        header.extend_from_slice(&payload);
        Ok(header)
    }
}

/// UTF-16LE, as every Unicode NTLM string.
pub(crate) fn utf16(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0; 4];
    if let Some(slice) = bytes.get(at..at + 4) {
        word.copy_from_slice(slice);
    }
    u32::from_le_bytes(word)
}

/// The bytes a `(len, maxlen, offset)` field at `at` points to, bounds-checked.
fn field(bytes: &[u8], at: usize) -> Result<&[u8], Malformed> {
    let raw = bytes
        .get(at..at + 8)
        .ok_or(Malformed("a field descriptor is cut off"))?;
    let len = usize::from(u16::from_le_bytes([raw[0], raw[1]]));
    let offset = usize::try_from(u32::from_le_bytes([raw[4], raw[5], raw[6], raw[7]]))
        .map_err(|_| Malformed("an offset does not fit"))?;
    if len == 0 {
        return Ok(&[]);
    }
    offset
        .checked_add(len)
        .and_then(|end| bytes.get(offset..end))
        .ok_or(Malformed("a field points past the message"))
}

#[cfg(test)]
mod tests {
    use rand::{Rng as _, SeedableRng as _};

    use super::*;
    use crate::ntlm::av::tests::hex;

    /// The CHALLENGE of MS-NLMP 4.2.4.3 (NTLMv2), as the spec prints it.
    const SPEC_CHALLENGE: &str = concat!(
        "4e544c4d53535000020000000c000c003800000033828ae20123456789abcdef",
        "00000000000000002400240044000000060070170000000f53006500720076006500720002000c00",
        "44006f006d00610069006e0001000c0053006500720076006500720000000000",
    );

    #[test]
    fn negotiate_has_the_flags_and_layout() {
        let out = negotiate();
        assert_eq!(out.len(), 40);
        assert_eq!(&out[..12], b"NTLMSSP\0\x01\0\0\0");
        let flags = u32_at(&out, 12);
        for flag in [
            UNICODE,
            NTLM,
            ALWAYS_SIGN,
            EXTENDED_SESSIONSECURITY,
            NEGOTIATE_128,
        ] {
            assert_eq!(flags & flag, flag, "{flag:#x}");
        }
        assert_eq!(flags & 0x4000_0000, 0, "no key exchange");
    }

    #[test]
    fn parses_the_spec_challenge() {
        let challenge = Challenge::parse(&hex(SPEC_CHALLENGE)).expect("parses");
        assert_eq!(challenge.flags, 0xe28a_8233);
        assert_eq!(
            challenge.server_challenge,
            *b"\x01\x23\x45\x67\x89\xab\xcd\xef"
        );
        assert_eq!(
            challenge.target_info.to_bytes(),
            hex("02000c0044006f006d00610069006e0001000c0053006500720076006500720000000000")
        );
    }

    #[test]
    fn refuses_what_ntlmv2_cannot_use() {
        let spec = hex(SPEC_CHALLENGE);
        let mut oem = spec.clone();
        oem[20] &= !0x01;
        assert!(Challenge::parse(&oem).is_err(), "OEM only");
        let mut no_info = spec.clone();
        no_info[22] &= !0x80;
        assert!(Challenge::parse(&no_info).is_err(), "no target info");
        let mut negotiate_type = spec.clone();
        negotiate_type[8] = 1;
        assert!(Challenge::parse(&negotiate_type).is_err());
        let mut huge_offset = spec;
        huge_offset[44..48].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(Challenge::parse(&huge_offset).is_err());
    }

    #[test]
    fn authenticate_points_at_its_fields() {
        let out = Authenticate {
            flags: UNICODE,
            lm_response: &[1; 24],
            nt_response: &[2; 40],
            domain: "Domain",
            user: "User",
            workstation: "",
        }
        .to_bytes()
        .expect("message");
        assert_eq!(u32_at(&out, 8), 3);
        assert_eq!(field(&out, 12).expect("LM"), &[1; 24]);
        assert_eq!(field(&out, 20).expect("NT"), &[2; 40]);
        assert_eq!(field(&out, 28).expect("domain"), utf16("Domain").as_slice());
        assert_eq!(field(&out, 36).expect("user"), utf16("User").as_slice());
        assert_eq!(u32_at(&out, 60), UNICODE | VERSION);
        assert_eq!(&out[MIC_OFFSET..MIC_OFFSET + 16], &[0; 16]);
        assert_eq!(out.len(), 88 + 24 + 40 + 12 + 8);
    }

    /// Random bytes, every truncation of a valid message, and random corruptions of it:
    /// the parser answers (mostly errors) and never panics.
    #[test]
    fn never_panics_on_hostile_input() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x4e54_4c4d);
        let spec = hex(SPEC_CHALLENGE);
        for len in 0..=spec.len() {
            let result = Challenge::parse(&spec[..len]);
            assert_eq!(result.is_ok(), len == spec.len(), "cut at {len}");
        }
        for _ in 0..20_000 {
            let len = rng.random_range(0..160);
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            if rng.random_bool(0.5) && bytes.len() >= 12 {
                bytes[..8].copy_from_slice(SIGNATURE);
                bytes[8..12].copy_from_slice(&2u32.to_le_bytes());
            }
            let _ = Challenge::parse(&bytes);
            let mut mutated = spec.clone();
            for _ in 0..rng.random_range(1..6) {
                let at = rng.random_range(0..mutated.len());
                mutated[at] = rng.random();
            }
            let _ = Challenge::parse(&mutated);
        }
    }
}
