//! Checking an NTLMv2 AUTHENTICATE message as a domain controller and IIS do
//! ([MS-NLMP 3.2.5.1.2](https://learn.microsoft.com/openspecs/windows_protocols/ms-nlmp/c0250a97-2940-40c7-82fb-20d208c71e96)):
//! the `NTProofStr` against the account's password, the MIC, and the channel binding
//! Extended Protection asks for.

use hmac::{Hmac, Mac};
use md4::{Digest, Md4};
use md5::Md5;
use sha2::{Sha256, Sha384, Sha512};

use super::wire::{self, Authenticate, MIC_RANGE, av_id, flags};
use crate::scenario::ExtendedProtection;
use crate::world::directory::constant_time_eq;

/// What the server remembers of its side of the handshake.
pub(crate) struct Exchange<'a> {
    pub(crate) negotiate: &'a [u8],
    pub(crate) challenge: &'a [u8],
    pub(crate) server_challenge: [u8; 8],
    /// `MsvAvChannelBindings` a client on this connection must send: MD5 of the bindings of
    /// our certificate; `None` on plain HTTP, where there is nothing to bind to.
    pub(crate) binding: Option<[u8; 16]>,
    pub(crate) extended_protection: ExtendedProtection,
}

fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    let Ok(mut mac) = Hmac::<Md5>::new_from_slice(key) else {
        return [0; 16]; // HMAC accepts any key length; never reached.
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// `NTOWFv2`: `HMAC_MD5(MD4(UTF-16LE(password)), UTF-16LE(UPPER(user) + domain))`.
pub(crate) fn ntowfv2(password: &str, user: &str, domain: &str) -> [u8; 16] {
    let nt_hash: [u8; 16] = Md4::digest(wire::utf16le(password)).into();
    // Windows upper-cases one character to one (RtlUpcaseUnicodeString): `ß` stays.
    let upper: String = user
        .chars()
        .flat_map(|c| {
            let mapped: Vec<char> = c.to_uppercase().collect();
            if mapped.len() == 1 { mapped } else { vec![c] }
        })
        .collect();
    let mut identity = wire::utf16le(&upper);
    identity.extend(wire::utf16le(domain));
    hmac_md5(&nt_hash, &[&identity])
}

/// The `MsvAvChannelBindings` value for a server certificate: MD5 over an address-less
/// `gss_channel_bindings_struct` holding `tls-server-end-point:` and the certificate's hash
/// (RFC 5929: the signature's hash, SHA-256 for MD5, SHA-1 and anything else).
pub(crate) fn channel_binding(certificate_der: &[u8]) -> [u8; 16] {
    let hash = match signature_hash(certificate_der) {
        Some(384) => Sha384::digest(certificate_der).to_vec(),
        Some(512) => Sha512::digest(certificate_der).to_vec(),
        _ => Sha256::digest(certificate_der).to_vec(),
    };
    let mut data = b"tls-server-end-point:".to_vec();
    data.extend(hash);
    let mut md5 = Md5::new();
    for word in [0u32, 0, 0, 0, u32::try_from(data.len()).unwrap_or(u32::MAX)] {
        md5.update(word.to_le_bytes());
    }
    md5.update(&data);
    md5.finalize().into()
}

/// 384 or 512 when the certificate is signed with SHA-384 or SHA-512.
fn signature_hash(der: &[u8]) -> Option<u16> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    match cert.signature_algorithm.algorithm.to_id_string().as_str() {
        "1.2.840.113549.1.1.12" | "1.2.840.10045.4.3.3" => Some(384),
        "1.2.840.113549.1.1.13" | "1.2.840.10045.4.3.4" => Some(512),
        _ => None,
    }
}

/// Checks `message` (whose raw bytes are `raw`) against `password`; the reason when refused.
pub(crate) fn check(
    message: &Authenticate,
    raw: &[u8],
    password: &str,
    exchange: &Exchange<'_>,
) -> Result<(), &'static str> {
    let nt = &message.nt_response;
    if nt.len() <= 24 {
        return Err("NTLMv1 or anonymous authentication is not accepted");
    }
    let (proof, blob) = nt.split_at(16);
    if blob.len() < 28 || blob[0] != 1 || blob[1] != 1 {
        return Err("not an NTLMv2 response");
    }
    let key = ntowfv2(password, &message.user, &message.domain);
    let expected = hmac_md5(&key, &[&exchange.server_challenge, blob]);
    if !constant_time_eq(&expected, proof) {
        return Err("wrong password");
    }
    let pairs = wire::read_av_pairs(&blob[28..]).map_err(|_| "bad target information")?;
    let av = |id| {
        pairs
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, v)| v.as_slice())
    };
    let av_flags = av(av_id::FLAGS)
        .and_then(|v| <[u8; 4]>::try_from(v).ok())
        .map_or(0, u32::from_le_bytes);
    if av_flags & 0x2 != 0 {
        // Without key exchange (never offered), the exported key is the session base key.
        if message.flags & flags::KEY_EXCH != 0 || !message.session_key.is_empty() {
            return Err("key exchange was not offered");
        }
        let session_key = hmac_md5(&key, &[proof]);
        let mic = message.mic.ok_or("MIC announced but missing")?;
        let mut zeroed = raw.to_vec();
        if let Some(field) = zeroed.get_mut(MIC_RANGE) {
            field.fill(0);
        }
        let expected = hmac_md5(
            &session_key,
            &[exchange.negotiate, exchange.challenge, &zeroed],
        );
        if !constant_time_eq(&expected, &mic) {
            return Err("MIC mismatch");
        }
    }
    let sent = av(av_id::CHANNEL_BINDINGS).filter(|v| v.iter().any(|b| *b != 0));
    match (exchange.extended_protection, sent, exchange.binding) {
        (ExtendedProtection::None, _, _) => Ok(()),
        (ExtendedProtection::Require, None, _) => Err("channel binding required"),
        (_, None, _) => Ok(()),
        (_, Some(sent), Some(ours)) if constant_time_eq(sent, &ours) => Ok(()),
        (_, Some(_), _) => Err("channel binding mismatch"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ews::ntlm::wire::tests::{authenticate_bytes, hex};

    // MS-NLMP 4.2.4: "User", "Domain", "Password", server challenge 0123456789abcdef.
    const SERVER_CHALLENGE: [u8; 8] = [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];
    const SPEC_TEMP: &str = concat!(
        "0101000000000000",
        "0000000000000000",
        "aaaaaaaaaaaaaaaa",
        "00000000",
        "02000c0044006f006d00610069006e0001000c0053006500720076006500720000000000",
        "00000000"
    );

    fn exchange(binding: Option<[u8; 16]>, mode: ExtendedProtection) -> Exchange<'static> {
        Exchange {
            negotiate: b"NEGOTIATE",
            challenge: b"CHALLENGE",
            server_challenge: SERVER_CHALLENGE,
            binding,
            extended_protection: mode,
        }
    }

    #[test]
    fn ntowfv2_matches_the_spec() {
        assert_eq!(
            ntowfv2("Password", "User", "Domain").to_vec(),
            hex("0c868a403bfd7a93a3001ef22ef02e3f")
        );
    }

    #[test]
    fn accepts_the_spec_response_and_only_with_the_password() {
        let mut nt = hex("68cd0ab851e51c96aabc927bebef6a1c");
        nt.extend(hex(SPEC_TEMP));
        let raw = authenticate_bytes(&[0; 24], &nt, "Domain", "User", &[], false);
        let message = Authenticate::parse(&raw).expect("parses");
        let ok = exchange(None, ExtendedProtection::Allow);
        assert_eq!(check(&message, &raw, "Password", &ok), Ok(()));
        assert_eq!(
            check(&message, &raw, "password", &ok),
            Err("wrong password")
        );
        let required = exchange(None, ExtendedProtection::Require);
        assert_eq!(
            check(&message, &raw, "Password", &required),
            Err("channel binding required")
        );
        let mut v1 = message.clone();
        v1.nt_response.truncate(24);
        assert!(check(&v1, &raw, "Password", &ok).is_err(), "NTLMv1");
    }

    /// A client's AUTHENTICATE with MsvAvFlags (MIC present) and a channel binding.
    fn signed(binding: [u8; 16]) -> (Vec<u8>, Authenticate) {
        let key = ntowfv2("Svc-Pa55w.rd", "svc-bems", "CONTOSO");
        let pairs = [
            (av_id::FLAGS, 2u32.to_le_bytes().to_vec()),
            (av_id::CHANNEL_BINDINGS, binding.to_vec()),
        ];
        let mut blob = hex("01010000000000000000000000000000aaaaaaaaaaaaaaaa00000000");
        blob.extend(wire::write_av_pairs(&pairs));
        blob.extend([0; 4]);
        let proof = hmac_md5(&key, &[&SERVER_CHALLENGE, &blob]);
        let mut nt = proof.to_vec();
        nt.extend(&blob);
        let mut raw = authenticate_bytes(&[0; 24], &nt, "CONTOSO", "svc-bems", &[], true);
        let session_key = hmac_md5(&key, &[&proof]);
        let mic = hmac_md5(&session_key, &[b"NEGOTIATE", b"CHALLENGE", &raw]);
        raw[MIC_RANGE].copy_from_slice(&mic);
        let message = Authenticate::parse(&raw).expect("parses");
        (raw, message)
    }

    #[test]
    fn checks_the_mic_and_the_channel_binding() {
        let ours = channel_binding(b"certificate");
        let (raw, message) = signed(ours);
        for mode in [ExtendedProtection::Allow, ExtendedProtection::Require] {
            assert_eq!(
                check(&message, &raw, "Svc-Pa55w.rd", &exchange(Some(ours), mode)),
                Ok(())
            );
        }
        let theirs = exchange(Some(channel_binding(b"another")), ExtendedProtection::Allow);
        assert_eq!(
            check(&message, &raw, "Svc-Pa55w.rd", &theirs),
            Err("channel binding mismatch")
        );
        let plain = exchange(None, ExtendedProtection::Allow);
        assert_eq!(
            check(&message, &raw, "Svc-Pa55w.rd", &plain),
            Err("channel binding mismatch")
        );
        let ignored = exchange(Some(channel_binding(b"another")), ExtendedProtection::None);
        assert_eq!(check(&message, &raw, "Svc-Pa55w.rd", &ignored), Ok(()));
        let mut tampered = message.clone();
        if let Some(mic) = tampered.mic.as_mut() {
            mic[0] ^= 1;
        }
        let allow = exchange(Some(ours), ExtendedProtection::Allow);
        assert_eq!(
            check(&tampered, &raw, "Svc-Pa55w.rd", &allow),
            Err("MIC mismatch")
        );
        // All zeros is "no binding" (what Windows sends without one).
        let (raw, message) = signed([0; 16]);
        assert_eq!(check(&message, &raw, "Svc-Pa55w.rd", &allow), Ok(()));
        let require = exchange(Some(ours), ExtendedProtection::Require);
        assert_eq!(
            check(&message, &raw, "Svc-Pa55w.rd", &require),
            Err("channel binding required")
        );
    }

    #[test]
    fn channel_binding_matches_an_independent_computation() {
        // Python: appdata = b"tls-server-end-point:" + sha256(b"certificate").digest()
        // md5(struct.pack("<IIIII", 0, 0, 0, 0, len(appdata)) + appdata).hexdigest()
        assert_eq!(
            channel_binding(b"certificate").to_vec(),
            hex("a8398e96473163fef6cae76013e8ab5a")
        );
    }
}
