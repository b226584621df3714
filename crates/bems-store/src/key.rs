//! The key that seals the store's secrets.

use std::fmt;
use std::path::Path;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::StoreError;

/// Base64 with or without padding, standard or URL-safe alphabet.
const LENIENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const BASE64: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, LENIENT);
const BASE64_URL: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, LENIENT);

/// The 256-bit key that seals secrets in the store (AES-256-GCM), with the id stored beside
/// each sealed value so that keys can be rotated.
///
/// Zeroed when dropped; `Debug` shows the id only. Load it with [`StoreKey::from_file`] (32 raw
/// bytes, or the key as text) or [`StoreKey::parse`] (an environment variable's value: 64 hex
/// digits or base64).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct StoreKey {
    bytes: [u8; 32],
    id: u32,
}

impl StoreKey {
    /// The length of a key in bytes.
    pub const LEN: usize = 32;

    /// A key of id 1 from its bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self { bytes, id: 1 }
    }

    /// A random key of id 1 (tests, or a first start that writes it out itself).
    pub fn generate() -> Result<Self, StoreError> {
        let mut bytes = [0; Self::LEN];
        aws_lc_rs::rand::fill(&mut bytes)
            .map_err(|_| StoreError::Key("the system random generator failed".into()))?;
        Ok(Self::from_bytes(bytes))
    }

    /// The key written as text: 64 hex digits, or base64 (standard or URL-safe, padding
    /// optional) of 32 bytes. Surrounding whitespace is ignored.
    pub fn parse(text: &str) -> Result<Self, StoreError> {
        let text = text.trim();
        let decoded = if text.len() == 2 * Self::LEN && text.bytes().all(|b| b.is_ascii_hexdigit())
        {
            decode_hex(text)
        } else {
            BASE64
                .decode(text)
                .or_else(|_| BASE64_URL.decode(text))
                .map(Zeroizing::new)
                .map_err(|_| {
                    StoreError::Key("the key is neither 64 hex digits nor base64".into())
                })?
        };
        Self::from_slice(&decoded)
    }

    /// The key in a file: exactly 32 raw bytes, or the key as text (see [`StoreKey::parse`]).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let contents = Zeroizing::new(std::fs::read(path).map_err(|error| {
            StoreError::Key(format!("cannot read {}: {error}", path.display()))
        })?);
        if contents.len() == Self::LEN {
            return Self::from_slice(&contents);
        }
        let text = std::str::from_utf8(&contents).map_err(|_| {
            StoreError::Key(format!(
                "{} holds neither 32 raw bytes nor the key as text",
                path.display()
            ))
        })?;
        Self::parse(text)
    }

    /// The same key with another id (the id of the key a rotation introduces; 1 by default).
    pub fn with_id(mut self, id: u32) -> Self {
        self.id = id;
        self
    }

    /// The key's id, stored beside every value it seals.
    pub fn id(&self) -> u32 {
        self.id
    }

    pub(crate) fn expose(&self) -> &[u8; 32] {
        &self.bytes
    }

    fn from_slice(bytes: &[u8]) -> Result<Self, StoreError> {
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| {
            StoreError::Key(format!(
                "a key is {} bytes, this one is {}",
                Self::LEN,
                bytes.len()
            ))
        })?;
        Ok(Self::from_bytes(bytes))
    }
}

impl fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreKey")
            .field("id", &self.id)
            .field("key", &"[redacted]")
            .finish()
    }
}

/// Decodes hex digits that were checked to be hex and of even length.
fn decode_hex(text: &str) -> Zeroizing<Vec<u8>> {
    let nibble = |b: u8| char::from(b).to_digit(16).map_or(0, |n| n as u8);
    Zeroizing::new(
        text.as_bytes()
            .chunks_exact(2)
            .map(|pair| nibble(pair[0]) << 4 | nibble(pair[1]))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191A1B1C1D1E1F";

    fn counting() -> [u8; 32] {
        std::array::from_fn(|i| i as u8)
    }

    #[test]
    fn keys_parse_from_hex_and_either_base64() {
        assert_eq!(StoreKey::parse(HEX).unwrap().expose(), &counting());
        let standard = base64::engine::general_purpose::STANDARD.encode(counting());
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([0xfb; 32]);
        assert_eq!(
            StoreKey::parse(&format!(" {standard}\n")).unwrap().expose(),
            &counting()
        );
        assert_eq!(StoreKey::parse(&url).unwrap().expose(), &[0xfb; 32]);
    }

    #[test]
    fn short_or_garbled_keys_are_refused() {
        for bad in ["", "00ff", "not a key!", &"ab".repeat(31), &"A".repeat(44)] {
            let error = StoreKey::parse(bad).unwrap_err();
            assert!(error.is_key_problem(), "{bad:?}: {error}");
        }
    }

    #[test]
    fn key_files_hold_raw_bytes_or_text() {
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("raw");
        std::fs::write(&raw, counting()).unwrap();
        assert_eq!(StoreKey::from_file(&raw).unwrap().expose(), &counting());
        let text = dir.path().join("text");
        std::fs::write(&text, format!("{HEX}\n")).unwrap();
        assert_eq!(StoreKey::from_file(&text).unwrap().expose(), &counting());
        let missing = StoreKey::from_file(dir.path().join("missing")).unwrap_err();
        assert!(missing.to_string().contains("missing"), "{missing}");
    }

    #[test]
    fn debug_shows_the_id_but_not_the_key() {
        let key = StoreKey::from_bytes([0xab; 32]).with_id(7);
        let shown = format!("{key:?}");
        assert!(
            shown.contains("id: 7") && shown.contains("redacted"),
            "{shown}"
        );
        assert!(
            !shown.contains("171") && !shown.to_lowercase().contains("abab"),
            "{shown}"
        );
    }
}
