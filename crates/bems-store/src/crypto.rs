//! Sealing secrets with AES-256-GCM: a random 96-bit nonce per value, and associated data that
//! binds the ciphertext to its tenant, name and key id, so a row copied to another tenant or
//! name does not open.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use secrecy::{ExposeSecret, SecretSlice};
use zeroize::Zeroizing;

use super::{StoreError, StoreKey};
use crate::model::TenantId;

/// Labels the associated data, so that a later format cannot be confused with this one.
const CONTEXT: &[u8] = b"bems store secret v1";

/// A secret as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sealed {
    /// The id of the key that sealed it.
    pub(crate) key_id: u32,
    /// The nonce.
    pub(crate) nonce: [u8; NONCE_LEN],
    /// The ciphertext followed by the tag.
    pub(crate) ciphertext: Vec<u8>,
}

/// Seals `value` as `tenant`'s secret `name`.
pub(crate) fn seal(
    key: &StoreKey,
    tenant: &TenantId,
    name: &str,
    value: &SecretSlice<u8>,
) -> Result<Sealed, StoreError> {
    let failed = |what: &str| StoreError::Key(format!("sealing secret {name:?} failed: {what}"));
    let mut nonce = [0; NONCE_LEN];
    aws_lc_rs::rand::fill(&mut nonce).map_err(|_| failed("no random nonce"))?;
    let aad = associated_data(key.id(), tenant, name);
    // The plaintext copy is overwritten in place by the ciphertext.
    let mut buffer = value.expose_secret().to_vec();
    cipher(key)?
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&aad),
            &mut buffer,
        )
        .map_err(|_| failed("the value is too long"))?;
    Ok(Sealed {
        key_id: key.id(),
        nonce,
        ciphertext: buffer,
    })
}

/// Opens `tenant`'s secret `name`; a wrong key, or an altered value, tenant, name or key id, is
/// a [`StoreError::Decrypt`].
pub(crate) fn open(
    key: &StoreKey,
    tenant: &TenantId,
    name: &str,
    sealed: Sealed,
) -> Result<SecretSlice<u8>, StoreError> {
    if sealed.key_id != key.id() {
        return Err(StoreError::KeyMismatch {
            tenant: tenant.to_string(),
            name: name.to_owned(),
            sealed: sealed.key_id,
            current: key.id(),
        });
    }
    let aad = associated_data(sealed.key_id, tenant, name);
    // Zeroed when dropped, whatever a failed open left in it.
    let mut buffer = Zeroizing::new(sealed.ciphertext);
    let plaintext = cipher(key)?
        .open_in_place(
            Nonce::assume_unique_for_key(sealed.nonce),
            Aad::from(&aad),
            &mut buffer,
        )
        .map_err(|_| StoreError::Decrypt {
            tenant: tenant.to_string(),
            name: name.to_owned(),
        })?;
    Ok(SecretSlice::from(plaintext.to_vec()))
}

fn cipher(key: &StoreKey) -> Result<LessSafeKey, StoreError> {
    UnboundKey::new(&AES_256_GCM, key.expose())
        .map(LessSafeKey::new)
        .map_err(|_| StoreError::Key("AES-256-GCM refused the key".into()))
}

/// `CONTEXT`, the key id, then the tenant and the name each prefixed by its length, so that no
/// two (tenant, name) pairs give the same bytes.
fn associated_data(key_id: u32, tenant: &TenantId, name: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(CONTEXT.len() + 12 + tenant.as_str().len() + name.len());
    aad.extend_from_slice(CONTEXT);
    aad.extend_from_slice(&key_id.to_be_bytes());
    for part in [tenant.as_str(), name] {
        aad.extend_from_slice(&(part.len() as u32).to_be_bytes());
        aad.extend_from_slice(part.as_bytes());
    }
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(id: &str) -> TenantId {
        TenantId::new(id).unwrap()
    }

    fn sealed() -> (StoreKey, Sealed) {
        let key = StoreKey::generate().unwrap();
        let value = SecretSlice::from(b"refresh-token-value".to_vec());
        let sealed = seal(&key, &tenant("contoso"), "oauth", &value).unwrap();
        (key, sealed)
    }

    #[test]
    fn a_sealed_value_opens_with_its_key_tenant_and_name() {
        let (key, sealed) = sealed();
        assert!(!sealed.ciphertext.windows(7).any(|w| w == b"refresh"));
        let opened = open(&key, &tenant("contoso"), "oauth", sealed).unwrap();
        assert_eq!(opened.expose_secret(), b"refresh-token-value");
    }

    #[test]
    fn each_seal_takes_a_fresh_nonce() {
        let (key, first) = sealed();
        let value = SecretSlice::from(b"refresh-token-value".to_vec());
        let second = seal(&key, &tenant("contoso"), "oauth", &value).unwrap();
        assert_ne!(first.nonce, second.nonce);
        assert_ne!(first.ciphertext, second.ciphertext);
    }

    #[test]
    fn another_tenant_name_or_key_does_not_open_it() {
        let (key, sealed) = sealed();
        let other_key = StoreKey::generate().unwrap();
        for (key, tenant, name) in [
            (&key, tenant("fabrikam"), "oauth"),
            (&key, tenant("contoso"), "oauth2"),
            (&other_key, tenant("contoso"), "oauth"),
        ] {
            let error = open(key, &tenant, name, sealed.clone()).unwrap_err();
            assert!(matches!(error, StoreError::Decrypt { .. }), "{error:?}");
        }
    }

    #[test]
    fn a_flipped_bit_or_key_id_is_detected() {
        let (key, sealed) = sealed();
        let mut tampered = sealed.clone();
        tampered.ciphertext[0] ^= 1;
        assert!(matches!(
            open(&key, &tenant("contoso"), "oauth", tampered),
            Err(StoreError::Decrypt { .. })
        ));
        let rotated = key.clone().with_id(2);
        let error = open(&rotated, &tenant("contoso"), "oauth", sealed).unwrap_err();
        assert!(matches!(
            error,
            StoreError::KeyMismatch {
                sealed: 1,
                current: 2,
                ..
            }
        ));
    }

    #[test]
    fn tenant_and_name_boundaries_are_unambiguous() {
        let a = associated_data(1, &tenant("ab"), "c");
        let b = associated_data(1, &tenant("a"), "bc");
        assert_ne!(a, b);
    }
}
