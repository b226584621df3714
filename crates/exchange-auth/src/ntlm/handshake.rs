//! The client's side of one handshake, without I/O: who we are, and the AUTHENTICATE
//! message answering a CHALLENGE (NTLMv2 response, channel binding, MIC).

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use super::av;
use super::binding::channel_bindings_hash;
use super::crypto::{self, Key, ResponseInput};
use super::message::{self, Authenticate, Challenge, Malformed};

/// The account NTLM authenticates, with its `NTOWFv2` key (the password itself is not kept).
pub(crate) struct Credentials {
    /// `UserName` as sent: the name of `DOMAIN\name`, or the whole UPN.
    pub(crate) user: String,
    /// `DomainName` as sent: `DOMAIN` of `DOMAIN\name`, empty for a UPN (as Windows does).
    pub(crate) domain: String,
    response_key: Key,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("domain", &self.domain)
            .field("response_key", &"[redacted]")
            .finish()
    }
}

/// What one connection contributes to the AUTHENTICATE message.
pub(crate) struct Context<'a> {
    /// The NEGOTIATE message sent on this connection (for the MIC).
    pub(crate) negotiate: &'a [u8],
    /// The CHALLENGE message as received (for the MIC).
    pub(crate) challenge_bytes: &'a [u8],
    /// `tls-server-end-point:` + certificate hash, or `None` to send no channel binding.
    pub(crate) binding: Option<&'a [u8]>,
    /// `HTTP/<host>`, sent as `MsvAvTargetName`.
    pub(crate) spn: &'a str,
    /// Eight random bytes.
    pub(crate) client_challenge: [u8; 8],
    /// Now, as a FILETIME (used when the server sent no `MsvAvTimestamp`).
    pub(crate) now: u64,
}

impl Credentials {
    /// Credentials for `logon` (`DOMAIN\user` or `user@domain`).
    pub(crate) fn new(logon: &str, password: &SecretString) -> Self {
        let (domain, user) = match logon.split_once('\\') {
            Some((domain, user)) => (domain.to_owned(), user.to_owned()),
            None => (String::new(), logon.to_owned()),
        };
        let response_key = crypto::ntowfv2(password.expose_secret(), &user, &domain);
        Self {
            user,
            domain,
            response_key,
        }
    }

    /// The AUTHENTICATE message answering `challenge`.
    pub(crate) fn authenticate(
        &self,
        challenge: &Challenge,
        context: &Context<'_>,
    ) -> Result<Vec<u8>, Malformed> {
        let mut target_info = challenge.target_info.clone();
        let server_timestamp = target_info.timestamp();
        let flags = target_info
            .get(av::FLAGS)
            .and_then(|v| <[u8; 4]>::try_from(v).ok())
            .map_or(0, u32::from_le_bytes);
        target_info.set(
            av::FLAGS,
            (flags | av::FLAG_MIC_PRESENT).to_le_bytes().to_vec(),
        );
        if let Some(binding) = context.binding {
            target_info.set(
                av::CHANNEL_BINDINGS,
                channel_bindings_hash(binding).to_vec(),
            );
        }
        target_info.set(av::TARGET_NAME, message::utf16(context.spn));
        let info = target_info.to_bytes();
        let input = ResponseInput {
            server_challenge: challenge.server_challenge,
            client_challenge: context.client_challenge,
            timestamp: server_timestamp.unwrap_or(context.now),
            target_info: &info,
            server_timestamp: server_timestamp.is_some(),
        };
        let responses = crypto::responses(&self.response_key, &input);
        let flags = challenge.flags
            & (message::CLIENT_FLAGS | message::TARGET_TYPE_DOMAIN | message::TARGET_TYPE_SERVER);
        let mut out = Authenticate {
            flags,
            lm_response: &responses.lm_response,
            nt_response: &responses.nt_response,
            domain: &self.domain,
            user: &self.user,
            workstation: "",
        }
        .to_bytes()?;
        // No key exchange: the exported session key is the session base key.
        let mic = crypto::mic(
            &responses.session_base_key,
            context.negotiate,
            context.challenge_bytes,
            &out,
        );
        out[message::MIC_OFFSET..message::MIC_OFFSET + 16].copy_from_slice(&mic);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ntlm::av::AvPairs;
    use crate::ntlm::av::tests::hex;
    use crate::ntlm::message::{TARGET_INFO, UNICODE};

    const SERVER_TIME: u64 = 133_485_408_000_000_000;

    /// A CHALLENGE as a Windows server sends it (target info with a timestamp when asked).
    fn challenge(timestamp: bool) -> Vec<u8> {
        let mut info = AvPairs::default();
        info.set(av::NB_DOMAIN_NAME, message::utf16("CONTOSO"));
        if timestamp {
            info.set(av::TIMESTAMP, SERVER_TIME.to_le_bytes().to_vec());
        }
        let info = info.to_bytes();
        let mut out = b"NTLMSSP\0".to_vec();
        out.extend_from_slice(&2u32.to_le_bytes());
        out.extend_from_slice(&[0, 0, 0, 0, 56, 0, 0, 0]); // no target name
        out.extend_from_slice(&(UNICODE | TARGET_INFO | message::NTLM).to_le_bytes());
        out.extend_from_slice(&hex("0123456789abcdef"));
        out.extend_from_slice(&[0; 8]);
        let len = u16::try_from(info.len()).expect("short");
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&56u32.to_le_bytes());
        out.extend_from_slice(&[10, 0, 0, 0, 0, 0, 0, 15]);
        out.extend_from_slice(&info);
        out
    }

    fn field(message: &[u8], at: usize) -> &[u8] {
        let len = usize::from(u16::from_le_bytes([message[at], message[at + 1]]));
        let offset = usize::try_from(u32::from_le_bytes(
            message[at + 4..at + 8].try_into().expect("4 bytes"),
        ))
        .expect("offset");
        &message[offset..offset + len]
    }

    fn text(bytes: &[u8]) -> String {
        let units: Vec<u16> = bytes
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16(&units).expect("UTF-16")
    }

    fn authenticate(logon: &str, timestamp: bool, binding: Option<&[u8]>) -> Vec<u8> {
        let credentials = Credentials::new(logon, &SecretString::from("Password"));
        let challenge_bytes = challenge(timestamp);
        let parsed = Challenge::parse(&challenge_bytes).expect("parses");
        let negotiate = message::negotiate();
        let context = Context {
            negotiate: &negotiate,
            challenge_bytes: &challenge_bytes,
            binding,
            spn: "HTTP/mail.contoso.com",
            client_challenge: [0xaa; 8],
            now: 42,
        };
        credentials
            .authenticate(&parsed, &context)
            .expect("message")
    }

    #[test]
    fn the_answer_carries_a_verifiable_ntlmv2_response_binding_and_mic() {
        let binding = b"tls-server-end-point:0123";
        let out = authenticate("Domain\\User", true, Some(binding));
        assert_eq!(&out[..12], b"NTLMSSP\0\x03\0\0\0");
        assert_eq!(text(field(&out, 28)), "Domain");
        assert_eq!(text(field(&out, 36)), "User");
        assert_eq!(
            field(&out, 12),
            &[0; 24],
            "LMv2 zeroed after MsvAvTimestamp"
        );
        let nt = field(&out, 20);
        let (proof, blob) = nt.split_at(16);
        assert_eq!(&blob[..8], &[1, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(blob[8..16], SERVER_TIME.to_le_bytes(), "the server's time");
        assert_eq!(&blob[16..24], &[0xaa; 8]);
        let key = crypto::ntowfv2("Password", "User", "Domain");
        let expected = crypto::hmac_md5(key.as_slice(), &[&hex("0123456789abcdef"), blob]);
        assert_eq!(proof, expected);
        let pairs = AvPairs::parse(&blob[28..]).expect("AV pairs");
        assert_eq!(pairs.get(av::FLAGS), Some(&[2, 0, 0, 0][..]));
        assert_eq!(
            pairs.get(av::CHANNEL_BINDINGS),
            Some(&channel_bindings_hash(binding)[..])
        );
        assert_eq!(
            pairs.get(av::TARGET_NAME).map(text),
            Some("HTTP/mail.contoso.com".to_owned())
        );
        assert_eq!(pairs.timestamp(), Some(SERVER_TIME));
        assert_eq!(
            pairs.get(av::NB_DOMAIN_NAME).map(text),
            Some("CONTOSO".into())
        );
        // The MIC, recomputed over the messages with the MIC field zeroed.
        let session_key = crypto::hmac_md5(key.as_slice(), &[proof]);
        let mut zeroed = out.clone();
        zeroed[72..88].fill(0);
        let mic = crypto::hmac_md5(
            &session_key,
            &[&message::negotiate(), &challenge(true), &zeroed],
        );
        assert_eq!(out[72..88], mic);
    }

    #[test]
    fn a_upn_is_the_user_name_with_no_domain() {
        let out = authenticate("svc-bems@contoso.com", true, None);
        assert_eq!(text(field(&out, 28)), "");
        assert_eq!(text(field(&out, 36)), "svc-bems@contoso.com");
        let blob = &field(&out, 20)[16..];
        let pairs = AvPairs::parse(&blob[28..]).expect("AV pairs");
        assert_eq!(
            pairs.get(av::CHANNEL_BINDINGS),
            None,
            "no binding asked for"
        );
    }

    #[test]
    fn without_a_server_timestamp_lmv2_is_sent_and_the_time_is_ours() {
        let out = authenticate("Domain\\User", false, None);
        assert_ne!(field(&out, 12), &[0; 24]);
        assert_eq!(field(&out, 12).len(), 24);
        let blob = &field(&out, 20)[16..];
        assert_eq!(blob[8..16], 42u64.to_le_bytes());
    }

    #[test]
    fn debug_shows_no_key() {
        let credentials = Credentials::new("CONTOSO\\svc", &SecretString::from("Password"));
        let shown = format!("{credentials:?}");
        assert!(
            shown.contains("redacted") && !shown.contains("Password"),
            "{shown}"
        );
        assert_eq!(
            (credentials.domain.as_str(), credentials.user.as_str()),
            ("CONTOSO", "svc")
        );
    }
}
