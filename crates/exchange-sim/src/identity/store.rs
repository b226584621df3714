//! What the identity platform remembers between requests: authorization codes, refresh tokens,
//! the client-assertion ids it has seen, token lifetimes, and request counters.
//!
//! Codes and refresh tokens are kept under their SHA-256 digest, never in clear.
//!
//! Refresh tokens rotate as Entra's do: every redemption returns a new one and **the old one keeps
//! working** until it expires or is revoked (Entra does not revoke it either; clients are told to
//! discard it). Each refresh token expires `refresh_lifetime` after it was issued (Entra's 90-day
//! inactivity window) and is refused with AADSTS700082 after that; revoked ones with AADSTS70008.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};

use super::errors::AadError;
use super::grant::{CODE_LIFETIME_SECS, Code, Delegation};

#[derive(Debug, Clone)]
struct Refresh {
    delegation: Delegation,
    expires: i64,
    revoked: bool,
}

#[derive(Debug, Default)]
struct State {
    codes: HashMap<String, Code>,
    refresh: HashMap<String, Refresh>,
    /// (client id, jti) → the assertion's `exp`.
    assertions: HashMap<(String, String), i64>,
}

/// The identity platform's mutable state.
pub(crate) struct Store {
    state: Mutex<State>,
    access_lifetime: AtomicU64,
    refresh_lifetime: AtomicU64,
    token_requests: AtomicU64,
    tokens_issued: AtomicU64,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("token_requests", &self.token_requests())
            .field("tokens_issued", &self.tokens_issued())
            .finish_non_exhaustive()
    }
}

impl Default for Store {
    fn default() -> Self {
        Self {
            state: Mutex::default(),
            access_lifetime: AtomicU64::new(3600),
            refresh_lifetime: AtomicU64::new(90 * 86_400),
            token_requests: AtomicU64::new(0),
            tokens_issued: AtomicU64::new(0),
        }
    }
}

/// A fresh opaque token: 256 random bits, base64url.
pub(crate) fn opaque() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

fn digest(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

impl Store {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Access token lifetime, in seconds.
    pub(crate) fn access_lifetime(&self) -> u64 {
        self.access_lifetime.load(Ordering::Relaxed)
    }

    /// Sets the access token lifetime (whole seconds).
    pub(crate) fn set_access_lifetime(&self, lifetime: Duration) {
        self.access_lifetime
            .store(lifetime.as_secs(), Ordering::Relaxed);
    }

    /// Sets the refresh token lifetime (whole seconds) for tokens issued from now on.
    pub(crate) fn set_refresh_lifetime(&self, lifetime: Duration) {
        self.refresh_lifetime
            .store(lifetime.as_secs(), Ordering::Relaxed);
    }

    /// Counts a request to the token endpoint.
    pub(crate) fn count_request(&self) {
        self.token_requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an access token issued.
    pub(crate) fn count_issued(&self) {
        self.tokens_issued.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests to the token endpoint so far.
    pub(crate) fn token_requests(&self) -> u64 {
        self.token_requests.load(Ordering::Relaxed)
    }

    /// Access tokens issued so far.
    pub(crate) fn tokens_issued(&self) -> u64 {
        self.tokens_issued.load(Ordering::Relaxed)
    }

    /// Stores a code; returns it.
    pub(crate) fn new_code(&self, code: Code, now: i64) -> String {
        let value = opaque();
        let mut state = self.lock();
        state
            .codes
            .retain(|_, c| c.expires + CODE_LIFETIME_SECS > now);
        state.codes.insert(digest(&value), code);
        value
    }

    /// Redeems a code: refuses an unknown (AADSTS70000), redeemed (AADSTS54005) or expired
    /// (AADSTS70008) one, then runs `check` (client, redirect URI, PKCE) and marks it redeemed
    /// only if that passes. All under one lock, so a code is redeemed at most once.
    pub(crate) fn redeem_code(
        &self,
        value: &str,
        now: i64,
        check: impl FnOnce(&Code) -> Result<(), AadError>,
    ) -> Result<Delegation, AadError> {
        let mut state = self.lock();
        let Some(code) = state.codes.get_mut(&digest(value)) else {
            return Err(AadError::invalid_grant(
                "The provided value for the 'code' parameter is not valid.",
            ));
        };
        if code.redeemed {
            return Err(AadError::new(
                "invalid_grant",
                54_005,
                "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an \
                 existing refresh token.",
            ));
        }
        if now >= code.expires {
            return Err(AadError::expired_or_revoked(
                "The authorization code has expired.",
            ));
        }
        check(code)?;
        code.redeemed = true;
        Ok(code.delegation.clone())
    }

    /// Stores a refresh token for `delegation`; returns it.
    pub(crate) fn new_refresh(&self, delegation: Delegation, now: i64) -> String {
        let value = opaque();
        let lifetime =
            i64::try_from(self.refresh_lifetime.load(Ordering::Relaxed)).unwrap_or(i64::MAX);
        let refresh = Refresh {
            delegation,
            expires: now.saturating_add(lifetime),
            revoked: false,
        };
        let mut state = self.lock();
        state.refresh.retain(|_, r| r.expires > now);
        state.refresh.insert(digest(&value), refresh);
        value
    }

    /// The delegation behind a refresh token presented by `client_id`.
    pub(crate) fn use_refresh(
        &self,
        value: &str,
        client_id: &str,
        now: i64,
    ) -> Result<Delegation, AadError> {
        let state = self.lock();
        let Some(refresh) = state.refresh.get(&digest(value)) else {
            return Err(AadError::new(
                "invalid_grant",
                9_002_313,
                "Invalid request. Request is malformed or invalid. - The refresh token is not valid.",
            ));
        };
        if refresh.delegation.client_id != client_id {
            return Err(AadError::invalid_grant(
                "The refresh token was issued to a different client.",
            ));
        }
        if refresh.revoked {
            return Err(AadError::expired_or_revoked(
                "The refresh token was revoked by an administrator.",
            ));
        }
        if now >= refresh.expires {
            return Err(AadError::new(
                "invalid_grant",
                700_082,
                "The refresh token has expired due to inactivity. The token was inactive for longer than its \
                 lifetime.",
            ));
        }
        Ok(refresh.delegation.clone())
    }

    /// Revokes every refresh token of a user (UPN, case-insensitive) or issued to a client id;
    /// returns how many.
    pub(crate) fn revoke(&self, subject: &str) -> usize {
        let mut state = self.lock();
        let mut count = 0;
        for refresh in state.refresh.values_mut() {
            let d = &refresh.delegation;
            if !refresh.revoked
                && (d.subject.upn.eq_ignore_ascii_case(subject) || d.client_id == subject)
            {
                refresh.revoked = true;
                count += 1;
            }
        }
        count
    }

    /// Records a client assertion's `jti`; `false` if the client used it before.
    pub(crate) fn remember_assertion(
        &self,
        client_id: &str,
        jti: &str,
        exp: i64,
        now: i64,
    ) -> bool {
        let mut state = self.lock();
        state
            .assertions
            .retain(|_, exp| *exp + super::assertion::SKEW_SECS >= now);
        let key = (client_id.to_owned(), jti.to_owned());
        if state.assertions.contains_key(&key) {
            return false;
        }
        state.assertions.insert(key, exp);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::grant::Subject;

    fn delegation(client: &str, upn: &str) -> Delegation {
        Delegation {
            client_id: client.into(),
            subject: Subject {
                upn: upn.into(),
                name: "N".into(),
            },
            resource: "https://outlook.office365.com".into(),
            permissions: vec!["EWS.AccessAsUser.All".into()],
            oidc: vec!["offline_access".into()],
        }
    }

    #[test]
    fn a_code_is_redeemed_once_and_a_failed_check_does_not_burn_it() {
        let store = Store::default();
        let code = store.new_code(
            Code::new(delegation("c", "u@x"), "https://r".into(), None, 100),
            100,
        );
        let refused = store.redeem_code(&code, 101, |_| Err(AadError::bad_password()));
        assert_eq!(refused.map_err(|e| e.code), Err(50_126));
        assert!(store.redeem_code(&code, 101, |_| Ok(())).is_ok());
        assert_eq!(
            store
                .redeem_code(&code, 102, |_| Ok(()))
                .map_err(|e| e.code),
            Err(54_005)
        );
        let late = store.new_code(
            Code::new(delegation("c", "u@x"), "https://r".into(), None, 100),
            100,
        );
        assert_eq!(
            store
                .redeem_code(&late, 100 + CODE_LIFETIME_SECS, |_| Ok(()))
                .map_err(|e| e.code),
            Err(70_008)
        );
        assert_eq!(
            store
                .redeem_code("nope", 100, |_| Ok(()))
                .map_err(|e| e.code),
            Err(70_000)
        );
    }

    #[test]
    fn refresh_tokens_expire_and_are_revoked_by_user_or_client() {
        let store = Store::default();
        let a = store.new_refresh(delegation("c1", "Mara@x"), 0);
        let b = store.new_refresh(delegation("c2", "sadie@x"), 0);
        assert!(store.use_refresh(&a, "c1", 1).is_ok());
        assert_eq!(
            store.use_refresh(&a, "c2", 1).map_err(|e| e.code),
            Err(70_000)
        );
        assert_eq!(store.revoke("mara@x"), 1);
        assert_eq!(
            store.use_refresh(&a, "c1", 1).map_err(|e| e.code),
            Err(70_008)
        );
        assert_eq!(store.revoke("c2"), 1);
        assert_eq!(
            store.use_refresh(&b, "c2", 1).map_err(|e| e.code),
            Err(70_008)
        );
        store.set_refresh_lifetime(Duration::from_secs(10));
        let c = store.new_refresh(delegation("c1", "u@x"), 0);
        assert_eq!(
            store.use_refresh(&c, "c1", 10).map_err(|e| e.code),
            Err(700_082)
        );
    }

    #[test]
    fn an_assertion_id_is_accepted_once_per_client() {
        let store = Store::default();
        assert!(store.remember_assertion("c", "j", 1000, 0));
        assert!(!store.remember_assertion("c", "j", 1000, 1));
        assert!(store.remember_assertion("other", "j", 1000, 1));
    }
}
