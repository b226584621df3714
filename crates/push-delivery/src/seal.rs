//! Alert content sealed for one device with HPKE ([RFC 9180]), so that APNs and FCM carry
//! only ciphertext and the app opens it (on iOS in its notification service extension, sent
//! with APNs `mutable-content: 1`).
//!
//! The device registers an X25519 public key ([`RecipientKey`]); the service [`seal`]s the
//! alert's content to it and sends the [`Sealed::encode`]d text in the notification's data;
//! the app opens it with its private key ([`DeviceSecret::open`] in Rust).
//!
//! ## The suite
//!
//! | parameter | value |
//! | --- | --- |
//! | mode | base (`0x00`): the sender is not authenticated |
//! | KEM | DHKEM(X25519, HKDF-SHA256), `0x0020` |
//! | KDF | HKDF-SHA256, `0x0001` |
//! | AEAD | ChaCha20-Poly1305, `0x0003` |
//! | `info` | the 13 ASCII bytes `bems alert v1` ([`INFO`]) |
//! | `aad` | chosen by the caller of [`seal`]; not sent, so both sides must know the same bytes |
//!
//! One message per encapsulation: every sealed text has its own `enc`, and its ciphertext is
//! the context's first `Seal` (sequence number 0), as RFC 9180 §6.1's single-shot `Seal`.
//!
//! ## The formats
//!
//! | field | encoding | what it is |
//! | --- | --- | --- |
//! | recipient key | base64url without padding (RFC 4648 §5), 43 characters | the device's X25519 public key, the 32 raw bytes (RFC 7748); padding is tolerated when it is registered |
//! | key id | 16 lower-case hex digits | the first 8 bytes of SHA-256 of the 32 raw public key bytes: tells the app which private key to use after a rotation |
//! | sealed text | `enc` `.` `ct` | one ASCII dot between the two fields below |
//! | `enc` | base64url without padding, 43 characters | HPKE's encapsulated key: the sender's ephemeral X25519 public key, 32 bytes |
//! | `ct` | base64url without padding | the ChaCha20-Poly1305 ciphertext followed by its 16-byte tag: the plaintext's length + 16 bytes |
//!
//! A sealed text is at most [`MAX_SEALED_LEN`] characters (APNs and FCM take 4096 bytes
//! of payload); base64url adds a third, so an alert's plaintext stays under about 3 KB, less
//! what else the payload carries.
//!
//! ## Opening on the device
//!
//! - iOS 17+ / macOS 14+: CryptoKit's [`HPKE.Recipient`] with the cipher suite
//!   [`HPKE.Ciphersuite.Curve25519_SHA256_ChachaPoly`], the private key a
//!   `Curve25519.KeyAgreement.PrivateKey` (whose `publicKey.rawRepresentation` is what the app
//!   registers), `info` as above and `encapsulatedKey` = the decoded `enc`; then
//!   `open(ct, authenticating: aad)`.
//! - Android, API level 37 and later: [`android.crypto.hpke.Recipient`] with the same suite;
//!   before that, any RFC 9180 implementation that has this suite (Tink's HPKE, for one).
//! - Rust: [`DeviceSecret`].
//!
//! ```
//! use push_delivery::{DeviceSecret, Notification, RecipientKey, seal};
//!
//! // On the device: a key pair, the public half sent when the device registers.
//! let device = DeviceSecret::generate();
//! let registered: String = device.public_key().to_base64url();
//!
//! // In the service: the alert's content, sealed to that key.
//! let key = RecipientKey::from_base64url(&registered)?;
//! let sealed = seal::seal(&key, br#"{"from":"Mara","subject":"Q3"}"#, b"")?.encode();
//! let alert = Notification::alert("New mail", "")
//!     .mutable_content()
//!     .data("sealed", sealed.as_str())
//!     .data("kid", key.key_id());
//!
//! // Back on the device.
//! let opened = device.open(&alert.data["sealed"], b"")?;
//! assert_eq!(opened, br#"{"from":"Mara","subject":"Q3"}"#);
//! # Ok::<(), push_delivery::Error>(())
//! ```
//!
//! [RFC 9180]: https://www.rfc-editor.org/rfc/rfc9180.html
//! [`HPKE.Recipient`]: https://developer.apple.com/documentation/cryptokit/hpke/recipient
//! [`HPKE.Ciphersuite.Curve25519_SHA256_ChachaPoly`]: https://developer.apple.com/documentation/cryptokit/hpke/ciphersuite/curve25519_sha256_chachapoly
//! [`android.crypto.hpke.Recipient`]: https://developer.android.com/reference/android/crypto/hpke/Recipient

use std::fmt;

use base64::Engine;
use base64::alphabet::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use secrecy::zeroize::Zeroize;
use sha2::{Digest, Sha256};

use crate::Error;

type Kem = hpke::kem::X25519HkdfSha256;
type Kdf = hpke::kdf::HkdfSha256;
type Aead = hpke::aead::ChaCha20Poly1305;
type PrivateKey = <Kem as hpke::Kem>::PrivateKey;
type EncappedKey = <Kem as hpke::Kem>::EncappedKey;

/// HPKE's `info`, the same for every sealed alert of this format's version.
pub const INFO: &[u8] = b"bems alert v1";

/// The longest sealed text [`Sealed::decode`] takes: APNs and FCM carry 4096 bytes at most.
pub const MAX_SEALED_LEN: usize = 4096;

/// Bytes of an X25519 key and of `enc`.
const KEY_LEN: usize = 32;
/// Bytes of ChaCha20-Poly1305's tag, the shortest ciphertext.
const TAG_LEN: usize = 16;

/// base64url; written without padding, read with or without it.
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A device's X25519 public key: what [`seal`] seals to. Valid by construction: 32 bytes
/// that are not a low-order point (with one, every sealed text would be readable by anyone;
/// RFC 9180 §7.1.4).
///
/// `Debug` shows the [key id](Self::key_id).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RecipientKey {
    bytes: [u8; KEY_LEN],
}

impl RecipientKey {
    /// The key as the device registers it: base64url of the 32 raw bytes, without padding
    /// (padding is tolerated).
    pub fn from_base64url(text: &str) -> Result<Self, Error> {
        let trimmed = text.trim_end_matches('=');
        // 32 bytes are 43 characters; anything much longer is not worth decoding.
        if trimmed.len() != 43 || text.len() > 44 {
            return Err(Error::config(
                "recipient key",
                format!(
                    "an X25519 public key is 43 base64url characters (32 bytes), not {}",
                    text.len()
                ),
            ));
        }
        let decoded = BASE64URL.decode(text).map_err(|e| {
            Error::config("recipient key", format!("not base64url (RFC 4648 §5): {e}"))
        })?;
        let bytes: [u8; KEY_LEN] = decoded.as_slice().try_into().map_err(|_| {
            Error::config(
                "recipient key",
                format!("an X25519 public key is 32 bytes, not {}", decoded.len()),
            )
        })?;
        Self::from_bytes(bytes)
    }

    /// The key from its 32 raw bytes (CryptoKit's `rawRepresentation`).
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Result<Self, Error> {
        // One Diffie-Hellman with any clamped scalar: it is all zeros exactly when the point
        // has low order, which HPKE's Decap reports (RFC 9180 §7.1.4).
        let probe = PrivateKey::from_bytes(&[0x42; KEY_LEN]).map_err(|e| hpke_error("probe", e))?;
        let enc = EncappedKey::from_bytes(&bytes).map_err(|e| {
            Error::config("recipient key", format!("not an X25519 public key: {e}"))
        })?;
        hpke::setup_receiver::<Aead, Kdf, Kem>(&OpModeR::Base, &probe, &enc, INFO).map_err(
            |_| {
                Error::config(
                    "recipient key",
                    "a low-order X25519 point, which no device key can be",
                )
            },
        )?;
        Ok(Self { bytes })
    }

    /// The 32 raw bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }

    /// base64url of the 32 raw bytes, without padding: 43 characters.
    pub fn to_base64url(&self) -> String {
        BASE64URL.encode(self.bytes)
    }

    /// The first 8 bytes of SHA-256 of the raw key, as 16 lower-case hex digits: sent beside
    /// the sealed text so the app can pick its private key after a rotation.
    pub fn key_id(&self) -> String {
        let digest = Sha256::digest(self.bytes);
        digest[..8].iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for RecipientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecipientKey({})", self.key_id())
    }
}

/// One sealed message: HPKE's encapsulated key and the ciphertext with its tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// `enc`: the sender's ephemeral X25519 public key.
    pub encapsulated_key: [u8; KEY_LEN],
    /// The ChaCha20-Poly1305 ciphertext followed by its 16-byte tag.
    pub ciphertext: Vec<u8>,
}

impl Sealed {
    /// `base64url(enc) "." base64url(ct)`, without padding.
    pub fn encode(&self) -> String {
        let mut text = String::with_capacity(44 + self.ciphertext.len().div_ceil(3) * 4);
        BASE64URL.encode_string(self.encapsulated_key, &mut text);
        text.push('.');
        BASE64URL.encode_string(&self.ciphertext, &mut text);
        text
    }

    /// Reads what [`encode`](Self::encode) wrote; anything else (no dot, two dots, bad
    /// base64url, an `enc` that is not 32 bytes, a ciphertext shorter than its tag, more than
    /// [`MAX_SEALED_LEN`] characters) is an [`Error::Sealed`].
    pub fn decode(text: &str) -> Result<Self, Error> {
        if text.len() > MAX_SEALED_LEN {
            return Err(Error::Sealed(format!(
                "{} characters, a sealed text has at most {MAX_SEALED_LEN}",
                text.len()
            )));
        }
        let Some((enc, ct)) = text.split_once('.') else {
            return Err(Error::Sealed("no '.' between enc and ciphertext".into()));
        };
        if ct.contains('.') {
            return Err(Error::Sealed("more than one '.'".into()));
        }
        let enc = BASE64URL
            .decode(enc)
            .map_err(|e| Error::Sealed(format!("enc is not base64url: {e}")))?;
        let encapsulated_key: [u8; KEY_LEN] = enc
            .as_slice()
            .try_into()
            .map_err(|_| Error::Sealed(format!("enc is {KEY_LEN} bytes, not {}", enc.len())))?;
        let ciphertext = BASE64URL
            .decode(ct)
            .map_err(|e| Error::Sealed(format!("the ciphertext is not base64url: {e}")))?;
        if ciphertext.len() < TAG_LEN {
            return Err(Error::Sealed(format!(
                "the ciphertext is {} bytes, shorter than its {TAG_LEN}-byte tag",
                ciphertext.len()
            )));
        }
        Ok(Self {
            encapsulated_key,
            ciphertext,
        })
    }
}

/// Seals `plaintext` to `key`: a fresh encapsulation (from the OS's random numbers) and one
/// ChaCha20-Poly1305 message, bound to `aad` (authenticated, not sent). See the [module
/// docs](self) for the format.
///
/// # Panics
///
/// Only if the operating system cannot give random numbers (as `getrandom` does).
pub fn seal(key: &RecipientKey, plaintext: &[u8], aad: &[u8]) -> Result<Sealed, Error> {
    let public = <Kem as hpke::Kem>::PublicKey::from_bytes(&key.bytes)
        .map_err(|e| hpke_error("the recipient key", e))?;
    let (enc, ciphertext) =
        hpke::single_shot_seal::<Aead, Kdf, Kem>(&OpModeS::Base, &public, INFO, plaintext, aad)
            .map_err(|e| hpke_error("sealing", e))?;
    let encapsulated_key = enc
        .to_bytes()
        .as_slice()
        .try_into()
        .map_err(|_| Error::Sealed("enc is not 32 bytes".into()))?;
    Ok(Sealed {
        encapsulated_key,
        ciphertext,
    })
}

/// A device's X25519 private key: for tests, the demo's simulated device and Rust apps.
/// Zeroed when dropped; `Debug` shows only the public key's id.
pub struct DeviceSecret {
    private: PrivateKey,
    public: RecipientKey,
}

impl DeviceSecret {
    /// A fresh key pair from the OS's random numbers.
    ///
    /// # Panics
    ///
    /// Only if the operating system cannot give random numbers.
    pub fn generate() -> Self {
        let (private, public) = Kem::gen_keypair();
        Self::from_parts(private, public.to_bytes().into())
    }

    /// The key from its 32 bytes (clamped as RFC 7748 says, so any 32 bytes are a key).
    pub fn from_bytes(mut bytes: [u8; KEY_LEN]) -> Self {
        let private = PrivateKey::from_bytes(&bytes);
        bytes.zeroize();
        // hpke's only error here is a length other than 32, which the type rules out.
        let private = private.expect("32 bytes are an X25519 private key");
        let public = Kem::sk_to_pk(&private).to_bytes().into();
        Self::from_parts(private, public)
    }

    fn from_parts(private: PrivateKey, public: [u8; KEY_LEN]) -> Self {
        Self {
            private,
            public: RecipientKey { bytes: public },
        }
    }

    /// The public half, to register.
    pub fn public_key(&self) -> RecipientKey {
        self.public.clone()
    }

    /// Opens a sealed text ([`Sealed::encode`]) with the `aad` it was sealed with.
    pub fn open(&self, sealed: &str, aad: &[u8]) -> Result<Vec<u8>, Error> {
        self.open_sealed(&Sealed::decode(sealed)?, aad)
    }

    /// Opens a decoded [`Sealed`].
    pub fn open_sealed(&self, sealed: &Sealed, aad: &[u8]) -> Result<Vec<u8>, Error> {
        self.open_with_info(sealed, INFO, aad)
    }

    fn open_with_info(&self, sealed: &Sealed, info: &[u8], aad: &[u8]) -> Result<Vec<u8>, Error> {
        let enc =
            EncappedKey::from_bytes(&sealed.encapsulated_key).map_err(|e| hpke_error("enc", e))?;
        hpke::single_shot_open::<Aead, Kdf, Kem>(
            &OpModeR::Base,
            &self.private,
            &enc,
            info,
            &sealed.ciphertext,
            aad,
        )
        .map_err(|_| {
            Error::Sealed(
                "does not open: another device's key, altered content, or another aad".into(),
            )
        })
    }
}

impl fmt::Debug for DeviceSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceSecret")
            .field("key_id", &self.public.key_id())
            .finish_non_exhaustive()
    }
}

fn hpke_error(what: &str, error: hpke::HpkeError) -> Error {
    Error::Sealed(format!("{what}: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    fn hex32(text: &str) -> [u8; 32] {
        hex(text).try_into().unwrap()
    }

    fn is_sealed_error<T>(result: Result<T, Error>) -> bool {
        matches!(result, Err(Error::Sealed(_)))
    }

    /// RFC 9180 Appendix A.2.1: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305,
    /// base mode; the first encryption (sequence number 0), opened with skRm.
    /// <https://www.rfc-editor.org/rfc/rfc9180.html#appendix-A.2.1>
    #[test]
    fn rfc_9180_a_2_1_known_answer() {
        let sk_rm = hex32("8057991eef8f1f1af18f4a9491d16a1ce333f695d4db8e38da75975c4478e0fb");
        let pk_rm = hex32("4310ee97d88cc1f088a5576c77ab0cf5c3ac797f3d95139c6c84b5429c59662a");
        let enc = hex32("1afa08d3dec047a643885163f1180476fa7ddb54c6a8029ea33f95796bf2ac4a");
        let info = hex("4f6465206f6e2061204772656369616e2055726e");
        let aad = hex("436f756e742d30");
        let ct = hex(concat!(
            "1c5250d8034ec2b784ba2cfd69dbdb8af406cfe3ff938e131f0def8c8b60b4db",
            "21993c62ce81883d2dd1b51a28",
        ));
        let pt = hex("4265617574792069732074727574682c20747275746820626561757479");

        let device = DeviceSecret::from_bytes(sk_rm);
        assert_eq!(device.public_key().as_bytes(), &pk_rm);
        let sealed = Sealed {
            encapsulated_key: enc,
            ciphertext: ct,
        };
        assert_eq!(device.open_with_info(&sealed, &info, &aad).unwrap(), pt);
        assert_eq!(pt, b"Beauty is truth, truth beauty");
        // The same bytes through the text format.
        let text = sealed.encode();
        let opened = Sealed::decode(&text).unwrap();
        assert_eq!(device.open_with_info(&opened, &info, &aad).unwrap(), pt);
        // With this format's own info, the RFC's message does not open.
        assert!(is_sealed_error(device.open(&text, &aad)));
    }

    #[test]
    fn a_sealed_text_opens_with_the_right_secret() {
        let device = DeviceSecret::generate();
        let key = RecipientKey::from_base64url(&device.public_key().to_base64url()).unwrap();
        let plaintext = "{\"from\":\"Zoë\",\"subject\":\"Re: Q3\"}".as_bytes();
        let sealed = seal(&key, plaintext, b"device-1").unwrap();
        assert_eq!(sealed.ciphertext.len(), plaintext.len() + TAG_LEN);
        let text = sealed.encode();
        assert_eq!(device.open(&text, b"device-1").unwrap(), plaintext);
        // A fresh encapsulation every time: the same plaintext never seals the same way.
        let again = seal(&key, plaintext, b"device-1").unwrap();
        assert_ne!(again.encapsulated_key, sealed.encapsulated_key);
        assert_ne!(again.ciphertext, sealed.ciphertext);
        // An empty plaintext is only the tag.
        let empty = seal(&key, b"", b"").unwrap();
        assert_eq!(empty.ciphertext.len(), TAG_LEN);
        assert_eq!(device.open(&empty.encode(), b"").unwrap(), b"");
    }

    #[test]
    fn another_secret_does_not_open_it() {
        let device = DeviceSecret::generate();
        let other = DeviceSecret::generate();
        let text = seal(&device.public_key(), b"secret subject", b"")
            .unwrap()
            .encode();
        let result = other.open(&text, b"");
        assert!(matches!(result, Err(Error::Sealed(_))), "{result:?}");
    }

    #[test]
    fn a_flipped_bit_or_another_aad_fails() {
        let device = DeviceSecret::generate();
        let sealed = seal(&device.public_key(), b"New mail from Mara", b"aad").unwrap();
        assert!(device.open_sealed(&sealed, b"aad").is_ok());
        for byte in [0, 13, 31] {
            for bit in [0, 7] {
                let mut bad = sealed.clone();
                bad.encapsulated_key[byte] ^= 1 << bit;
                assert!(
                    is_sealed_error(device.open(&bad.encode(), b"aad")),
                    "enc byte {byte} bit {bit}"
                );
            }
        }
        for byte in 0..sealed.ciphertext.len() {
            let mut bad = sealed.clone();
            bad.ciphertext[byte] ^= 0x80;
            assert!(
                is_sealed_error(device.open(&bad.encode(), b"aad")),
                "ct byte {byte}"
            );
        }
        for aad in [&b""[..], b"aae", b"aad\0"] {
            assert!(is_sealed_error(device.open_sealed(&sealed, aad)));
        }
        let mut short = sealed.clone();
        short.ciphertext.pop();
        assert!(is_sealed_error(device.open_sealed(&short, b"aad")));
    }

    #[test]
    fn the_text_format() {
        let device = DeviceSecret::generate();
        let sealed = seal(&device.public_key(), b"x", b"").unwrap();
        let text = sealed.encode();
        let (enc, ct) = text.split_once('.').unwrap();
        assert_eq!(enc.len(), 43);
        assert_eq!(ct.len(), 23); // 17 bytes
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        );
        assert_eq!(Sealed::decode(&text).unwrap(), sealed);
        // Padding is read too.
        let padded = format!("{enc}=.{ct}=");
        assert_eq!(Sealed::decode(&padded).unwrap(), sealed);
    }

    #[test]
    fn hostile_texts_are_errors() {
        let good = seal(&DeviceSecret::generate().public_key(), b"x", b"")
            .unwrap()
            .encode();
        let (enc, ct) = good.split_once('.').unwrap();
        let huge = "A".repeat(1 << 20);
        let huge_with_dot = format!("{enc}.{}", "A".repeat(MAX_SEALED_LEN));
        let hostile = [
            "",
            ".",
            "..",
            "no dot at all",
            &good.replace('.', ""),
            &format!("{good}.{ct}"),
            &format!("{enc}."),
            &format!(".{ct}"),
            "!!!!.####",
            &format!("{enc}.{}", &ct[..ct.len() - 1]), // a ciphertext one char short
            &format!("{}.{ct}", &enc[..42]),
            &format!("{enc}AAAA.{ct}"),
            &format!("{enc}.AAAAAAAAAAAAAAAAAAAA"), // 15 bytes: shorter than the tag
            &format!("{enc}.{ct}é"),
            &format!(
                "{}.{ct}",
                enc.replace(|c: char| c.is_ascii_lowercase(), "+")
            ),
            &huge,
            &huge_with_dot,
        ];
        let device = DeviceSecret::generate();
        for text in hostile {
            let shown = text.get(..60).unwrap_or(text);
            assert!(is_sealed_error(Sealed::decode(text)), "{shown:?}");
            assert!(is_sealed_error(device.open(text, b"")), "{shown:?}");
        }
    }

    #[test]
    fn recipient_keys_are_32_bytes_of_base64url() {
        let key = DeviceSecret::generate().public_key();
        let text = key.to_base64url();
        assert_eq!(text.len(), 43);
        assert!(!text.contains('='));
        assert_eq!(RecipientKey::from_base64url(&text).unwrap(), key);
        assert_eq!(
            RecipientKey::from_base64url(&format!("{text}=")).unwrap(),
            key
        );

        let config_error = |text: &str| match RecipientKey::from_base64url(text) {
            Err(Error::Config { setting, reason }) => {
                assert_eq!(setting, "recipient key");
                reason
            }
            other => panic!("{text:?}: {other:?}"),
        };
        let b64 = |bytes: &[u8]| BASE64URL.encode(bytes);
        assert!(config_error(&b64(&[7; 31])).contains("not 42"));
        assert!(config_error(&b64(&[7; 33])).contains("not 44"));
        assert!(config_error("").contains("not 0"));
        assert!(config_error(&"A".repeat(10_000)).contains("not 10000"));
        assert!(config_error(&format!("{}!", &text[..42])).contains("base64url"));
        // The standard alphabet's '+' and '/' are not base64url.
        let standard = base64::engine::general_purpose::STANDARD_NO_PAD.encode([0xfb; 32]);
        assert!(standard.contains('+') || standard.contains('/'));
        assert!(config_error(&standard).contains("base64url"));
        // Not canonical: the last character's unused bits set.
        let last = &text[42..];
        let flipped = if last == "B" { "A" } else { "B" };
        let _ = config_error(&format!("{}{flipped}", &text[..42]));
    }

    #[test]
    fn low_order_points_are_refused() {
        // u = 0 and u = 1 have order 4 and 1 on Curve25519 (RFC 7748 §6.1 warns of them).
        let mut one = [0; 32];
        one[0] = 1;
        for bytes in [[0; 32], one] {
            match RecipientKey::from_bytes(bytes) {
                Err(Error::Config { setting, reason }) => {
                    assert_eq!(setting, "recipient key");
                    assert!(reason.contains("low-order"), "{reason}");
                }
                other => panic!("{other:?}"),
            }
            assert!(RecipientKey::from_base64url(&BASE64URL.encode(bytes)).is_err());
        }
    }

    #[test]
    fn key_ids_and_debug_output() {
        // RFC 9180 A.2.1's pkRm; SHA-256 of its 32 bytes starts 9e07479c8d8279a4.
        let pk_rm = hex32("4310ee97d88cc1f088a5576c77ab0cf5c3ac797f3d95139c6c84b5429c59662a");
        let key = RecipientKey::from_bytes(pk_rm).unwrap();
        assert_eq!(key.key_id(), "9e07479c8d8279a4");
        assert_eq!(
            key.to_base64url(),
            "QxDul9iMwfCIpVdsd6sM9cOseX89lROcbIS1QpxZZio"
        );
        assert_eq!(format!("{key:?}"), "RecipientKey(9e07479c8d8279a4)");

        let secret = [0x5a; 32];
        let device = DeviceSecret::from_bytes(secret);
        let shown = format!("{device:?} {device:#?}");
        assert!(shown.contains(&device.public_key().key_id()), "{shown}");
        for leak in [
            "5a5a".to_owned(),
            "90, 90".to_owned(),
            BASE64URL.encode(secret)[..8].to_owned(),
        ] {
            assert!(!shown.contains(&leak), "{shown}");
        }
        // The same bytes, the same key pair.
        assert_eq!(
            DeviceSecret::from_bytes(secret).public_key(),
            device.public_key()
        );
    }
}
