//! The grants behind tokens: who signed in, what they granted, and authorization codes with
//! their PKCE challenge (RFC 7636).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};

/// How long an authorization code can be redeemed: 10 minutes, as Entra.
pub(crate) const CODE_LIFETIME_SECS: i64 = 600;

/// A signed-in user (or service account) tokens are issued for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Subject {
    /// UPN (the SMTP address of a user).
    pub(crate) upn: String,
    /// Display name.
    pub(crate) name: String,
}

/// What a delegated token grants: the same for a code, a refresh token and the tokens issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Delegation {
    /// The client the grant was issued to.
    pub(crate) client_id: String,
    /// Who signed in.
    pub(crate) subject: Subject,
    /// The resource (the access token's `aud`).
    pub(crate) resource: String,
    /// Delegated permissions granted (`EWS.AccessAsUser.All`).
    pub(crate) permissions: Vec<String>,
    /// OpenID Connect scopes requested (`openid`, `offline_access`, ...).
    pub(crate) oidc: Vec<String>,
}

impl Delegation {
    /// Whether `offline_access` was requested (and so a refresh token is due).
    pub(crate) fn offline(&self) -> bool {
        self.oidc
            .iter()
            .any(|s| s.eq_ignore_ascii_case("offline_access"))
    }
}

/// A PKCE challenge from the authorize request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    /// `code_challenge`.
    pub(crate) value: String,
    /// `true` for `S256`, `false` for `plain`.
    pub(crate) s256: bool,
}

impl Challenge {
    /// Whether `verifier` answers the challenge.
    pub(crate) fn accepts(&self, verifier: &str) -> bool {
        let computed = if self.s256 {
            URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
        } else {
            verifier.to_owned()
        };
        crate::world::directory::constant_time_eq(computed.as_bytes(), self.value.as_bytes())
    }
}

/// An authorization code.
#[derive(Debug, Clone)]
pub(crate) struct Code {
    /// What it grants.
    pub(crate) delegation: Delegation,
    /// The `redirect_uri` of the authorize request.
    pub(crate) redirect_uri: String,
    /// The PKCE challenge, if one was sent.
    pub(crate) challenge: Option<Challenge>,
    /// Unix time after which it is refused.
    pub(crate) expires: i64,
    /// Whether it was redeemed (a second redemption is AADSTS54005).
    pub(crate) redeemed: bool,
}

impl Code {
    /// A new, unredeemed code.
    pub(crate) fn new(
        delegation: Delegation,
        redirect_uri: String,
        challenge: Option<Challenge>,
        now: i64,
    ) -> Self {
        Self {
            delegation,
            redirect_uri,
            challenge,
            expires: now + CODE_LIFETIME_SECS,
            redeemed: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_rfc_7636_appendix_b() {
        let challenge = Challenge {
            value: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
            s256: true,
        };
        assert!(challenge.accepts("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"));
        assert!(!challenge.accepts("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj"));
    }
}
