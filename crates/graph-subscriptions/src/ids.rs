//! Message ids. Graph's default (`restId`) format is the EWS id in URL-safe base64 (`+` as
//! `-`, `/` as `_`); events carry the EWS form, so that a consumer that sees the same message
//! through EWS and through Graph (a tenant moving from one to the other) can tell.

use sha2::{Digest as _, Sha256};

/// The EWS form of a Graph message id.
pub fn rest_to_ews(rest_id: &str) -> String {
    rest_id.replace('-', "+").replace('_', "/")
}

/// A short digest of a message id, for the set of messages already reported.
pub(crate) fn short(id: &str) -> u64 {
    let digest = Sha256::digest(id.as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_ids_become_ews_ids() {
        assert_eq!(rest_to_ews("AAMk-abc_def=="), "AAMk+abc/def==");
        assert_eq!(rest_to_ews("AAMkAGI2"), "AAMkAGI2");
        assert_ne!(short("a"), short("b"));
        assert_eq!(short("a"), short("a"));
    }
}
