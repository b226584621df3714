//! `clientState`: a random secret per subscription that Graph echoes in every notification.
//! Only its SHA-256 digest is kept (and saved): enough to check a notification, useless to
//! forge one.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

/// A subscription's `clientState`, while it is being created.
pub(crate) struct ClientState(Zeroizing<String>);

impl fmt::Debug for ClientState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientState([redacted])")
    }
}

impl ClientState {
    /// 32 random bytes, URL-safe base64: 43 characters (Graph takes up to 128).
    pub(crate) fn random() -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(bytes.as_mut());
        Self(Zeroizing::new(URL_SAFE_NO_PAD.encode(bytes.as_ref())))
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    pub(crate) fn digest(&self) -> StateDigest {
        StateDigest::of(&self.0)
    }
}

/// The SHA-256 of a `clientState`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct StateDigest([u8; 32]);

impl fmt::Debug for StateDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StateDigest(..)")
    }
}

impl StateDigest {
    pub(crate) fn of(client_state: &str) -> Self {
        Self(Sha256::digest(client_state.as_bytes()).into())
    }

    /// Whether `client_state` is the one this digest was made from, in time that does not
    /// depend on where they differ.
    pub(crate) fn matches(&self, client_state: &str) -> bool {
        let other = Self::of(client_state);
        self.0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }

    pub(crate) fn to_hex(self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub(crate) fn from_hex(text: &str) -> Option<Self> {
        if text.len() != 64 || !text.is_ascii() {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(Self(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_states_are_random_secret_and_checked_by_digest() {
        let a = ClientState::random();
        let b = ClientState::random();
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.expose().len(), 43);
        assert!(!format!("{a:?}").contains(a.expose()));
        let digest = a.digest();
        assert!(digest.matches(a.expose()));
        assert!(!digest.matches(b.expose()));
        assert!(!digest.matches(""));
        assert!(!format!("{digest:?}").contains(&digest.to_hex()));
        assert_eq!(StateDigest::from_hex(&digest.to_hex()), Some(digest));
        assert_eq!(StateDigest::from_hex("zz"), None);
        assert_eq!(StateDigest::from_hex(&"é".repeat(32)), None);
    }
}
