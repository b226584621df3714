//! Access tokens: RS256 JWTs with Entra's claims
//! (<https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference>), and
//! their validation as a resource (EWS) does it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::errors::AadError;
use super::grant::Subject;
use super::{Identity, TokenClaims, derived_guid};

/// How the client authenticated: `appidacr` / `azpacr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientAuth {
    /// No credential (a public client): `0`.
    None,
    /// A client secret: `1`.
    Secret,
    /// A certificate (client assertion): `2`.
    Certificate,
}

impl ClientAuth {
    fn acr(self) -> &'static str {
        match self {
            Self::None => "0",
            Self::Secret => "1",
            Self::Certificate => "2",
        }
    }
}

/// What an access token is issued for.
#[derive(Debug)]
pub(crate) struct Grant<'a> {
    /// The client.
    pub(crate) client_id: &'a str,
    /// How it authenticated.
    pub(crate) client_auth: ClientAuth,
    /// The `aud`.
    pub(crate) resource: &'a str,
    /// The user of a delegated token; `None` for app-only.
    pub(crate) subject: Option<&'a Subject>,
    /// `roles` (app-only).
    pub(crate) roles: &'a [String],
    /// `scp` (delegated).
    pub(crate) permissions: &'a [String],
}

/// The claims of our access tokens.
#[derive(Debug, Serialize, Deserialize)]
struct AccessClaims {
    aud: String,
    iss: String,
    iat: i64,
    nbf: i64,
    exp: i64,
    tid: String,
    oid: String,
    sub: String,
    appid: String,
    azp: String,
    appidacr: String,
    azpacr: String,
    idtyp: String,
    ver: String,
    uti: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    upn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    preferred_username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    unique_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
}

/// A signed access token and its `expires_in`.
pub(crate) struct Minted {
    /// The JWT.
    pub(crate) token: String,
    /// Seconds until it expires, less one, as Entra counts (`3599` for an hour).
    pub(crate) expires_in: u64,
}

/// Signs an access token for `grant`.
pub(crate) fn mint(identity: &Identity, grant: &Grant<'_>, now: i64) -> Result<Minted, AadError> {
    let lifetime = identity.store.access_lifetime();
    let (oid, sub) = match grant.subject {
        Some(user) => {
            let oid = derived_guid(&format!("user:{}", user.upn.to_ascii_lowercase()));
            let pairwise = Sha256::digest(format!("{}:{oid}", grant.client_id));
            let sub = URL_SAFE_NO_PAD.encode(pairwise);
            (oid, sub)
        }
        None => {
            let oid = derived_guid(&format!("sp:{}", grant.client_id));
            (oid.clone(), oid)
        }
    };
    let user = grant.subject;
    let claims = AccessClaims {
        aud: grant.resource.to_owned(),
        iss: identity.issuer.clone(),
        iat: now,
        nbf: now,
        exp: now.saturating_add(i64::try_from(lifetime).unwrap_or(i64::MAX)),
        tid: identity.tenant_id.clone(),
        oid,
        sub,
        appid: grant.client_id.to_owned(),
        azp: grant.client_id.to_owned(),
        appidacr: grant.client_auth.acr().to_owned(),
        azpacr: grant.client_auth.acr().to_owned(),
        idtyp: if user.is_some() { "user" } else { "app" }.to_owned(),
        ver: "2.0".to_owned(),
        uti: super::store::opaque().chars().take(22).collect(),
        roles: if user.is_none() {
            grant.roles.to_vec()
        } else {
            Vec::new()
        },
        scp: user.map(|_| grant.permissions.join(" ")),
        upn: user.map(|u| u.upn.clone()),
        preferred_username: user.map(|u| u.upn.clone()),
        unique_name: user.map(|u| u.upn.clone()),
        name: user.map(|u| u.name.clone()),
    };
    let mut header = Header::new(Algorithm::RS256);
    header.typ = Some("JWT".to_owned());
    header.kid = Some(identity.kid.clone());
    header.x5t = Some(identity.signing.x5t.clone());
    let token =
        jsonwebtoken::encode(&header, &claims, &identity.signing.encoding).map_err(|error| {
            tracing::error!(%error, "signing an access token failed");
            AadError::internal()
        })?;
    identity.store.count_issued();
    Ok(Minted {
        token,
        expires_in: lifetime.saturating_sub(1),
    })
}

/// Validates an access token: RS256 with our key, our issuer, an `aud` among `audiences`
/// (compared without case or a trailing slash), and `nbf <= now < exp` with no leeway.
///
/// A token whose signature was checked once is remembered with its claims, as resources that
/// see the same token on every request do: the claims are checked again each time, against
/// `audiences` and `now`.
pub(crate) fn verify(
    identity: &Identity,
    token: &str,
    audiences: &[String],
    now: i64,
) -> Result<TokenClaims, String> {
    let claims = match identity.verified.get(token) {
        Some(claims) => claims,
        None => {
            let claims = Arc::new(signed_claims(identity, token)?);
            identity.verified.insert(token, Arc::clone(&claims));
            claims
        }
    };
    if claims.iss != identity.issuer {
        return Err(format!("The issuer '{}' is not trusted.", claims.iss));
    }
    let normal = |s: &str| s.trim_end_matches('/').to_ascii_lowercase();
    if !audiences.iter().any(|a| normal(a) == normal(&claims.aud)) {
        return Err(format!(
            "The audience claim value '{}' is invalid for the current resource.",
            claims.aud
        ));
    }
    if now < claims.nbf {
        return Err("The token is not yet valid.".to_owned());
    }
    if now >= claims.exp {
        return Err("The token has expired.".to_owned());
    }
    Ok(TokenClaims {
        app_id: claims.appid.clone(),
        roles: claims.roles.clone(),
        scopes: claims
            .scp
            .as_deref()
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        upn: claims
            .upn
            .clone()
            .or_else(|| claims.preferred_username.clone()),
    })
}

/// The claims of a token signed with our key (RS256, our `kid`), not yet checked.
fn signed_claims(identity: &Identity, token: &str) -> Result<AccessClaims, String> {
    let header =
        jsonwebtoken::decode_header(token).map_err(|_| "The token is malformed.".to_owned())?;
    if header.alg != Algorithm::RS256 {
        return Err(format!(
            "The token's signing algorithm {:?} is not accepted.",
            header.alg
        ));
    }
    if header.kid.as_deref() != Some(identity.kid.as_str()) {
        return Err("The token was not signed by a key of this identity platform.".to_owned());
    }
    let mut validation = Validation::new(Algorithm::RS256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    jsonwebtoken::decode::<AccessClaims>(token, &identity.signing.decoding, &validation)
        .map(|data| data.claims)
        .map_err(|e| format!("The token is invalid: {e}."))
}

/// Tokens whose signature was checked, with their claims: at most [`Verified::MAX`], forgotten
/// all at once beyond (tokens live an hour; a load's few thousand fit).
#[derive(Default)]
pub(crate) struct Verified {
    tokens: Mutex<HashMap<Box<str>, Arc<AccessClaims>>>,
}

/// Counts the tokens, never shows them: they are bearer credentials.
impl std::fmt::Debug for Verified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verified")
            .field("tokens", &self.lock().len())
            .finish()
    }
}

impl Verified {
    const MAX: usize = 16_384;

    fn get(&self, token: &str) -> Option<Arc<AccessClaims>> {
        self.lock().get(token).cloned()
    }

    fn insert(&self, token: &str, claims: Arc<AccessClaims>) {
        let mut tokens = self.lock();
        if tokens.len() >= Self::MAX {
            tokens.clear();
        }
        tokens.insert(token.into(), claims);
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Box<str>, Arc<AccessClaims>>> {
        self.tokens.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::keys::RsaCredential;
    use crate::identity::now;
    use crate::scenario::Scenario;
    use crate::tls::Pki;
    use crate::world::World;

    const RESOURCE: &str = "https://graph.microsoft.com";

    fn identity() -> Identity {
        let world = World::new(Scenario::default());
        Identity::new(&world, &Pki::new(&[]).expect("pki")).expect("identity")
    }

    fn token(identity: &Identity) -> String {
        let grant = Grant {
            client_id: "app",
            client_auth: ClientAuth::Secret,
            resource: RESOURCE,
            subject: None,
            roles: &["Mail.Read".to_owned()],
            permissions: &[],
        };
        mint(identity, &grant, now()).expect("minted").token
    }

    #[test]
    fn a_token_we_signed_is_accepted_with_its_claims() {
        let identity = identity();
        let claims =
            verify(&identity, &token(&identity), &[RESOURCE.into()], now()).expect("accepted");
        assert_eq!(claims.app_id, "app");
        assert_eq!(claims.roles, ["Mail.Read"]);
    }

    #[test]
    fn a_changed_payload_a_changed_signature_or_another_key_is_refused() {
        let identity = identity();
        let good = token(&identity);
        // The good token's signature is remembered: its forgeries are still refused.
        verify(&identity, &good, &[RESOURCE.into()], now()).expect("accepted");
        let (rest, signature) = good.rsplit_once('.').expect("three parts");
        let (header, payload) = rest.split_once('.').expect("three parts");
        let mut claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64"))
                .expect("json");
        claims["roles"] = serde_json::json!(["Mail.ReadWrite"]);
        let forged_payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        let mut flipped = URL_SAFE_NO_PAD.decode(signature).expect("base64");
        flipped[10] ^= 1;
        let other = RsaCredential::generate("another key").expect("key");
        let mut other_header = Header::new(Algorithm::RS256);
        other_header.kid = Some(identity.kid.clone());
        let cases = [
            format!("{header}.{forged_payload}.{signature}"),
            format!("{header}.{payload}.{}", URL_SAFE_NO_PAD.encode(flipped)),
            jsonwebtoken::encode(&other_header, &claims, &other.encoding).expect("signed"),
        ];
        for forged in cases {
            let refused = verify(&identity, &forged, &[RESOURCE.into()], now());
            assert_eq!(
                refused.expect_err("refused"),
                "The token is invalid: InvalidSignature.",
                "{forged}"
            );
        }
        let malformed = verify(&identity, &format!("{rest}.%%%"), &[RESOURCE.into()], now())
            .expect_err("refused");
        assert!(malformed.starts_with("The token is invalid"), "{malformed}");
    }

    #[test]
    fn a_remembered_token_is_checked_again_for_its_audience_and_its_lifetime() {
        let identity = identity();
        let good = token(&identity);
        let claims = verify(&identity, &good, &[RESOURCE.into()], now()).expect("accepted");
        assert_eq!(claims.app_id, "app");
        let elsewhere = verify(
            &identity,
            &good,
            &["https://outlook.office365.com".into()],
            now(),
        );
        assert!(
            elsewhere
                .expect_err("refused")
                .starts_with("The audience claim value"),
            "another resource"
        );
        let later = verify(&identity, &good, &[RESOURCE.into()], now() + 24 * 3600);
        assert_eq!(later.expect_err("refused"), "The token has expired.");
        let earlier = verify(&identity, &good, &[RESOURCE.into()], now() - 3600);
        assert_eq!(earlier.expect_err("refused"), "The token is not yet valid.");
        // And still accepted now.
        verify(&identity, &good, &[RESOURCE.into()], now()).expect("accepted");
        // Remembered, never shown.
        let debug = format!("{identity:?}");
        assert!(debug.contains("Verified { tokens: 1 }"), "{debug}");
        assert!(!debug.contains(&good), "{debug}");
    }
}
