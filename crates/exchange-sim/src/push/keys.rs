//! Test keys for the push mocks: an APNs .p8 key and a service account's RSA key.

use rcgen::{KeyPair, PKCS_RSA_SHA256};

use crate::SimError;

/// A private key (PKCS#8 PEM, what the sender loads) and its public key (SPKI PEM, what the
/// mock verifies with).
#[derive(Clone)]
pub struct KeyPairPem {
    /// The private key, PKCS#8 PEM: the content of a .p8 file, or a service account's
    /// `private_key`.
    pub private_pem: String,
    /// The public key, PEM.
    pub public_pem: String,
}

impl std::fmt::Debug for KeyPairPem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPairPem")
            .field("private_pem", &"[redacted]")
            .field("public_pem", &self.public_pem)
            .finish()
    }
}

fn pair(key: KeyPair) -> KeyPairPem {
    KeyPairPem {
        private_pem: key.serialize_pem(),
        public_pem: key.public_key_pem(),
    }
}

/// A new P-256 key, as Apple issues for token-based APNs authentication (ES256).
pub fn p8_key_pair() -> Result<KeyPairPem, SimError> {
    KeyPair::generate()
        .map(pair)
        .map_err(|e| SimError::Tls(e.to_string()))
}

/// A new 2048-bit RSA key, as Google issues for service accounts (RS256).
pub fn rsa_key_pair() -> Result<KeyPairPem, SimError> {
    KeyPair::generate_for(&PKCS_RSA_SHA256)
        .map(pair)
        .map_err(|e| SimError::Tls(e.to_string()))
}
