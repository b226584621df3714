//! TLS channel binding for Extended Protection: the `tls-server-end-point` binding of the
//! server's certificate ([RFC 5929 §4](https://www.rfc-editor.org/rfc/rfc5929#section-4)),
//! wrapped in a `gss_channel_bindings_struct` and hashed with MD5 into the
//! `MsvAvChannelBindings` AV pair
//! ([MS-NLMP 3.1.5.1.2](https://learn.microsoft.com/openspecs/windows_protocols/ms-nlmp/3a6fbc25-b1a1-4e6a-b8f1-8c5f0c8e32e6)).

use md4::Digest;
use md5::Md5;
use sha2::{Sha256, Sha384, Sha512};
use x509_parser::oid_registry::{
    OID_NIST_HASH_SHA384, OID_NIST_HASH_SHA512, OID_PKCS1_SHA384WITHRSA, OID_PKCS1_SHA512WITHRSA,
    OID_SIG_ECDSA_WITH_SHA384, OID_SIG_ECDSA_WITH_SHA512,
};
use x509_parser::signature_algorithm::SignatureAlgorithm;

/// The hash RFC 5929 picks for a certificate: the one its signature uses, except MD5 and
/// SHA-1 (and anything unknown, such as Ed25519), which become SHA-256.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EndPointHash {
    Sha256,
    Sha384,
    Sha512,
}

impl EndPointHash {
    /// The hash for a DER certificate; SHA-256 when it cannot be parsed.
    pub(crate) fn for_certificate(der: &[u8]) -> Self {
        let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
            return Self::Sha256;
        };
        let algorithm = &cert.signature_algorithm;
        let oid = &algorithm.algorithm;
        if *oid == OID_PKCS1_SHA384WITHRSA || *oid == OID_SIG_ECDSA_WITH_SHA384 {
            return Self::Sha384;
        }
        if *oid == OID_PKCS1_SHA512WITHRSA || *oid == OID_SIG_ECDSA_WITH_SHA512 {
            return Self::Sha512;
        }
        if let Ok(SignatureAlgorithm::RSASSA_PSS(params)) = SignatureAlgorithm::try_from(algorithm)
        {
            let hash = params.hash_algorithm_oid();
            if *hash == OID_NIST_HASH_SHA384 {
                return Self::Sha384;
            }
            if *hash == OID_NIST_HASH_SHA512 {
                return Self::Sha512;
            }
        }
        Self::Sha256
    }

    fn digest(self, der: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => Sha256::digest(der).to_vec(),
            Self::Sha384 => Sha384::digest(der).to_vec(),
            Self::Sha512 => Sha512::digest(der).to_vec(),
        }
    }
}

/// `tls-server-end-point:` followed by the certificate's hash: the channel binding's
/// application data.
pub(crate) fn tls_server_end_point(certificate_der: &[u8]) -> Vec<u8> {
    let mut data = b"tls-server-end-point:".to_vec();
    data.extend(EndPointHash::for_certificate(certificate_der).digest(certificate_der));
    data
}

/// The `MsvAvChannelBindings` value: MD5 of the flattened `gss_channel_bindings_struct`
/// with no addresses (four zero words) and `application_data`.
pub(crate) fn channel_bindings_hash(application_data: &[u8]) -> [u8; 16] {
    let len = u32::try_from(application_data.len()).unwrap_or(u32::MAX);
    let mut md5 = Md5::new();
    md5.update([0u8; 16]); // initiator and acceptor address types and lengths
    md5.update(len.to_le_bytes());
    md5.update(application_data);
    md5.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ntlm::av::tests::hex;

    #[test]
    fn bindings_hash_matches_an_independent_computation() {
        // Python: appdata = b"tls-server-end-point:" + sha256(b"certificate").digest()
        // md5(struct.pack("<IIIII", 0, 0, 0, 0, len(appdata)) + appdata).hexdigest()
        let mut data = b"tls-server-end-point:".to_vec();
        data.extend(Sha256::digest(b"certificate"));
        assert_eq!(
            channel_bindings_hash(&data).to_vec(),
            hex("a8398e96473163fef6cae76013e8ab5a")
        );
    }

    #[test]
    fn the_hash_follows_the_signature() {
        for (alg, expected) in [
            (&rcgen::PKCS_ECDSA_P256_SHA256, EndPointHash::Sha256),
            (&rcgen::PKCS_ECDSA_P384_SHA384, EndPointHash::Sha384),
            (&rcgen::PKCS_ED25519, EndPointHash::Sha256),
        ] {
            let key = rcgen::KeyPair::generate_for(alg).expect("key");
            let params =
                rcgen::CertificateParams::new(vec!["mail.contoso.com".to_owned()]).expect("params");
            let cert = params.self_signed(&key).expect("certificate");
            assert_eq!(EndPointHash::for_certificate(cert.der()), expected);
            let data = tls_server_end_point(cert.der());
            let hash_len = match expected {
                EndPointHash::Sha256 => 32,
                EndPointHash::Sha384 => 48,
                EndPointHash::Sha512 => 64,
            };
            assert_eq!(data.len(), "tls-server-end-point:".len() + hash_len);
        }
        assert_eq!(
            EndPointHash::for_certificate(b"garbage"),
            EndPointHash::Sha256
        );
    }
}
