//! `AV_PAIR` lists: the target information a server sends in its CHALLENGE message and the
//! client returns, with its own additions, inside the NTLMv2 response
//! ([MS-NLMP 2.2.2.1](https://learn.microsoft.com/openspecs/windows_protocols/ms-nlmp/83f5e789-660d-4781-8491-5f8c6641f75e)).

use super::message::Malformed;

/// `MsvAvEOL`: the end of the list.
pub(crate) const EOL: u16 = 0;
/// `MsvAvNbDomainName`: the server's NetBIOS domain.
#[cfg(test)]
pub(crate) const NB_DOMAIN_NAME: u16 = 2;
/// `MsvAvFlags`: a 32-bit flag set (bit `0x2`: a MIC is present).
pub(crate) const FLAGS: u16 = 6;
/// `MsvAvTimestamp`: the server's time, a FILETIME.
pub(crate) const TIMESTAMP: u16 = 7;
/// `MsvAvTargetName`: the service principal name the client meant (`HTTP/host`).
pub(crate) const TARGET_NAME: u16 = 9;
/// `MsvAvChannelBindings`: MD5 of the `gss_channel_bindings_struct`.
pub(crate) const CHANNEL_BINDINGS: u16 = 10;

/// `MsvAvFlags` bit: the AUTHENTICATE message carries a MIC.
pub(crate) const FLAG_MIC_PRESENT: u32 = 0x0000_0002;

/// One `AV_PAIR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AvPair {
    pub(crate) id: u16,
    pub(crate) value: Vec<u8>,
}

/// A parsed list, in order, without the terminating `MsvAvEOL`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AvPairs(pub(crate) Vec<AvPair>);

impl AvPairs {
    /// Parses a list that must end with `MsvAvEOL` (bytes after it are ignored, as Windows
    /// does). Every length is checked against the input.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, Malformed> {
        let mut pairs = Vec::new();
        let mut rest = bytes;
        loop {
            let (header, tail) = rest
                .split_at_checked(4)
                .ok_or(Malformed("target information ends without MsvAvEOL"))?;
            let id = u16::from_le_bytes([header[0], header[1]]);
            let len = usize::from(u16::from_le_bytes([header[2], header[3]]));
            if id == EOL {
                return Ok(Self(pairs));
            }
            let (value, tail) = tail
                .split_at_checked(len)
                .ok_or(Malformed("an AV_PAIR runs past the target information"))?;
            pairs.push(AvPair {
                id,
                value: value.to_vec(),
            });
            rest = tail;
        }
    }

    /// The value of the first pair with this id.
    pub(crate) fn get(&self, id: u16) -> Option<&[u8]> {
        self.0
            .iter()
            .find(|p| p.id == id)
            .map(|p| p.value.as_slice())
    }

    /// `MsvAvTimestamp`, when present and eight bytes long.
    pub(crate) fn timestamp(&self) -> Option<u64> {
        let value: [u8; 8] = self.get(TIMESTAMP)?.try_into().ok()?;
        Some(u64::from_le_bytes(value))
    }

    /// Replaces (or appends) the pair with this id.
    pub(crate) fn set(&mut self, id: u16, value: Vec<u8>) {
        self.0.retain(|p| p.id != id);
        self.0.push(AvPair { id, value });
    }

    /// The list as bytes, terminated by `MsvAvEOL`.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for pair in &self.0 {
            // Values come from a parsed list (each under 64 KiB) or are ours (16 bytes, an
            // SPN): a longer one is cut rather than written with a wrong length.
            let len = u16::try_from(pair.value.len()).unwrap_or(u16::MAX);
            out.extend_from_slice(&pair.id.to_le_bytes());
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&pair.value[..usize::from(len)]);
        }
        out.extend_from_slice(&[0, 0, 0, 0]);
        out
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn parses_and_writes_the_spec_target_info() {
        // MS-NLMP 4.2.4: MsvAvNbDomainName "Domain", MsvAvNbComputerName "Server", EOL.
        let bytes = hex("02000c0044006f006d00610069006e0001000c0053006500720076006500720000000000");
        let pairs = AvPairs::parse(&bytes).expect("parses");
        assert_eq!(pairs.0.len(), 2);
        assert_eq!(
            pairs.get(NB_DOMAIN_NAME),
            Some(&hex("44006f006d00610069006e00")[..])
        );
        assert_eq!(pairs.timestamp(), None);
        assert_eq!(pairs.to_bytes(), bytes);
    }

    #[test]
    fn refuses_lists_without_an_end_or_with_overlong_pairs() {
        assert!(AvPairs::parse(&[]).is_err());
        assert!(AvPairs::parse(&[2, 0, 4, 0, 1, 2, 3, 4]).is_err(), "no EOL");
        assert!(AvPairs::parse(&[2, 0, 9, 0, 1, 2]).is_err(), "runs past");
        assert!(AvPairs::parse(&[0, 0]).is_err(), "short EOL");
    }

    #[test]
    fn timestamp_needs_eight_bytes_and_set_replaces() {
        let mut pairs = AvPairs::default();
        pairs.set(TIMESTAMP, vec![1, 2, 3]);
        assert_eq!(pairs.timestamp(), None);
        pairs.set(TIMESTAMP, 7u64.to_le_bytes().to_vec());
        assert_eq!(pairs.timestamp(), Some(7));
        assert_eq!(pairs.0.len(), 1);
    }

    pub(crate) fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
            .collect()
    }
}
