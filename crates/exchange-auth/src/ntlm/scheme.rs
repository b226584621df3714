//! Which HTTP authentication scheme carries the NTLM messages: `NTLM`, or `Negotiate` with
//! raw NTLM tokens inside it, as Windows clients send when Kerberos is not available
//! ([MS-SPNG 3.3.5.1](https://learn.microsoft.com/openspecs/windows_protocols/ms-spng/f377a379-c24f-4a0f-a3eb-0d835389e28a):
//! a server accepts a raw NTLM token under `Negotiate` and answers in kind).
//!
//! | the server offers | we send |
//! |---|---|
//! | `NTLM` (with or without `Negotiate`) | `NTLM` |
//! | `Negotiate` only (IIS with the NTLM provider removed) | `Negotiate` with raw NTLM |
//! | neither | nothing: the account is refused |
//!
//! The first handshake with a server sends `NTLM` (what IIS offers by default, so no extra
//! round trip); when the server answers that with `401` and offers only `Negotiate`, the same
//! NEGOTIATE message goes again under `Negotiate`, and that scheme is remembered for the
//! server's later connections ([`Remembered`]).

use std::collections::HashMap;
use std::sync::Mutex;

use super::conn::Origin;

/// A scheme that carries NTLM tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// `NTLM`.
    Ntlm,
    /// `Negotiate`, with raw NTLM tokens (no SPNEGO wrapping).
    Negotiate,
}

impl Scheme {
    /// The name in `Authorization` and `WWW-Authenticate`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Ntlm => "NTLM",
            Self::Negotiate => "Negotiate",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        [Self::Ntlm, Self::Negotiate]
            .into_iter()
            .find(|scheme| scheme.name().eq_ignore_ascii_case(name))
    }
}

/// The `WWW-Authenticate` challenges of an answer: scheme name and token68 (empty for a bare
/// offer or one with parameters). Values are split at commas; a part that does not start
/// with a scheme name (a parameter such as `charset="UTF-8"`, or the rest of a quoted string
/// holding a comma) is skipped.
fn challenges(headers: &http::HeaderMap) -> impl Iterator<Item = (&str, &str)> {
    headers
        .get_all(http::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|part| {
            let part = part.trim();
            let (name, rest) = part.split_once(' ').unwrap_or((part, ""));
            let rest = rest.trim();
            // RFC 9110 11.1: a scheme is a token; a token68 has no '=' but at its end.
            let is_token = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            let token = if rest.trim_end_matches('=').contains('=') {
                ""
            } else {
                rest
            };
            is_token.then_some((name, token))
        })
}

/// The token of a `WWW-Authenticate: <scheme> <token>` challenge, if the answer has one.
pub(crate) fn challenge_token(headers: &http::HeaderMap, scheme: Scheme) -> Option<&str> {
    challenges(headers).find_map(|(name, token)| {
        (Scheme::parse(name) == Some(scheme) && !token.is_empty()).then_some(token)
    })
}

/// The NTLM-carrying schemes the answer offers.
pub(crate) fn offered(headers: &http::HeaderMap) -> Vec<Scheme> {
    let mut schemes = Vec::new();
    for scheme in challenges(headers).filter_map(|(name, _)| Scheme::parse(name)) {
        if !schemes.contains(&scheme) {
            schemes.push(scheme);
        }
    }
    schemes
}

/// Every scheme the answer offers, for an error message (`none` when it offers nothing).
pub(crate) fn offers_text(headers: &http::HeaderMap) -> String {
    let mut names: Vec<&str> = Vec::new();
    for (name, _) in challenges(headers) {
        if !names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            names.push(name);
        }
    }
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

/// The scheme to try next after `tried` was answered `401` without a challenge: the other
/// one, when the server offers it and not `tried`.
pub(crate) fn fallback(tried: Scheme, offered: &[Scheme]) -> Option<Scheme> {
    if offered.contains(&tried) {
        return None;
    }
    offered.iter().copied().find(|scheme| *scheme != tried)
}

/// The scheme each server took last, so that its later connections start with it.
#[derive(Debug, Default)]
pub(crate) struct Remembered(Mutex<HashMap<Origin, Scheme>>);

impl Remembered {
    /// The scheme to start a handshake with: the one `origin` took last, else `NTLM`.
    pub(crate) fn get(&self, origin: &Origin) -> Scheme {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(origin).copied().unwrap_or(Scheme::Ntlm)
    }

    /// `origin` challenged under `scheme`.
    pub(crate) fn set(&self, origin: &Origin, scheme: Scheme) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if scheme == Scheme::Ntlm {
            map.remove(origin);
        } else {
            map.insert(origin.clone(), scheme);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        for value in values {
            headers.append(
                http::header::WWW_AUTHENTICATE,
                value.parse().expect("value"),
            );
        }
        headers
    }

    #[test]
    fn finds_the_challenge_under_the_scheme_used() {
        let offers = headers(&["Negotiate", "NTLM", "Basic realm=\"contoso.com\""]);
        assert_eq!(challenge_token(&offers, Scheme::Ntlm), None, "bare offers");
        assert_eq!(offered(&offers), vec![Scheme::Negotiate, Scheme::Ntlm]);
        let ntlm = headers(&["ntlm TlRMTVNTUAACAAAA"]);
        assert_eq!(
            challenge_token(&ntlm, Scheme::Ntlm),
            Some("TlRMTVNTUAACAAAA")
        );
        assert_eq!(challenge_token(&ntlm, Scheme::Negotiate), None);
        let negotiate = headers(&["Negotiate TlRMTVNTUAACAAAA=="]);
        assert_eq!(
            challenge_token(&negotiate, Scheme::Negotiate),
            Some("TlRMTVNTUAACAAAA==")
        );
        assert_eq!(challenge_token(&negotiate, Scheme::Ntlm), None);
    }

    #[test]
    fn parameters_are_not_schemes() {
        // One header value with several challenges, a quoted comma, and a parameter named
        // like a scheme.
        let offers = headers(&["Basic realm=\"a, NTLM\", Negotiate, Bearer ntlm=1"]);
        assert_eq!(offered(&offers), vec![Scheme::Negotiate]);
        assert_eq!(offers_text(&offers), "Basic, Negotiate, Bearer");
        assert_eq!(offers_text(&headers(&[])), "none");
    }

    #[test]
    fn falls_back_only_to_the_other_offered_scheme() {
        use Scheme::{Negotiate, Ntlm};
        assert_eq!(fallback(Ntlm, &[Negotiate]), Some(Negotiate));
        assert_eq!(fallback(Negotiate, &[Ntlm]), Some(Ntlm));
        assert_eq!(fallback(Ntlm, &[Negotiate, Ntlm]), None, "NTLM was refused");
        assert_eq!(fallback(Ntlm, &[]), None);
    }

    #[test]
    fn remembers_a_server_that_took_negotiate() {
        let remembered = Remembered::default();
        let origin = Origin {
            host: "mail.contoso.com".into(),
            port: 443,
        };
        assert_eq!(remembered.get(&origin), Scheme::Ntlm);
        remembered.set(&origin, Scheme::Negotiate);
        assert_eq!(remembered.get(&origin), Scheme::Negotiate);
        remembered.set(&origin, Scheme::Ntlm);
        assert_eq!(remembered.get(&origin), Scheme::Ntlm);
    }
}
