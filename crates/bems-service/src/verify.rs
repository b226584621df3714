//! Who is registering a device: a bearer token from the tenant's identity provider, checked
//! against its published keys, whose address claim must be the mailbox.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tokio::sync::Mutex;
use url::Url;

/// The least time between two fetches of the key set (an unknown `kid` triggers one).
const REFETCH_AFTER: Duration = Duration::from_secs(60);

/// A caller, as its token proves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The caller's address (`email`, else `upn`, else `preferred_username`), lower-cased.
    pub address: String,
}

/// Why a registration's token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// No bearer token, or not a JWT.
    #[error("no valid bearer token: {0}")]
    Malformed(String),
    /// The token is not signed by the tenant's identity provider, or not for us, or expired.
    #[error("the token is not accepted: {0}")]
    Rejected(String),
    /// The identity provider's keys could not be fetched.
    #[error("the identity provider's keys are unavailable: {0}")]
    Unavailable(String),
}

/// Checks the bearer token of a registration; what the API holds per tenant.
#[async_trait]
pub trait RegistrationVerifier: Send + Sync {
    /// Who `bearer` proves the caller to be.
    async fn verify(&self, bearer: &str) -> Result<Caller, VerifyError>;
}

/// Where a tenant's identity provider publishes its keys, and what its tokens must say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtSettings {
    /// The `iss` every token must carry.
    pub issuer: String,
    /// The `aud` every token must carry (our API's identifier at the identity provider).
    pub audience: String,
    /// The JWKS document.
    pub jwks_uri: Url,
    /// Extra CA certificates (PEM) to trust when fetching the keys.
    pub trusted_ca_pem: Vec<String>,
    /// Host names resolved to fixed addresses (tests, split-horizon deployments).
    pub resolve: Vec<(String, std::net::SocketAddr)>,
}

/// Verifies RS256 / PS256 / ES256 tokens against a JWKS document, fetched on first use and
/// again (at most once a minute) when a token names a key it does not hold.
pub struct JwtVerifier {
    settings: JwtSettings,
    http: reqwest::Client,
    keys: Mutex<Option<(Instant, Arc<JwkSet>)>>,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("issuer", &self.settings.issuer)
            .field("audience", &self.settings.audience)
            .field("jwks_uri", &self.settings.jwks_uri.as_str())
            .finish()
    }
}

#[derive(Debug, Deserialize)]
struct Claims {
    email: Option<String>,
    upn: Option<String>,
    preferred_username: Option<String>,
}

impl JwtVerifier {
    /// A verifier for `settings`.
    pub fn new(settings: JwtSettings) -> Result<Self, VerifyError> {
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .min_tls_version(reqwest::tls::Version::TLS_1_2)
            .redirect(reqwest::redirect::Policy::none());
        for pem in &settings.trusted_ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
                .map_err(|e| VerifyError::Unavailable(format!("trusted CA: {e}")))?;
            builder = builder.tls_certs_merge(certs);
        }
        for (host, addr) in &settings.resolve {
            builder = builder.resolve(host, *addr);
        }
        let http = builder
            .build()
            .map_err(|e| VerifyError::Unavailable(e.to_string()))?;
        Ok(Self {
            settings,
            http,
            keys: Mutex::new(None),
        })
    }

    async fn key_set(&self, kid: &str) -> Result<Arc<JwkSet>, VerifyError> {
        let mut keys = self.keys.lock().await;
        if let Some((fetched, set)) = &*keys
            && (set.find(kid).is_some() || fetched.elapsed() < REFETCH_AFTER)
        {
            return Ok(Arc::clone(set));
        }
        let response = self
            .http
            .get(self.settings.jwks_uri.clone())
            .send()
            .await
            .map_err(|e| VerifyError::Unavailable(format!("{}: {e}", self.settings.jwks_uri)))?;
        if !response.status().is_success() {
            return Err(VerifyError::Unavailable(format!(
                "{} answered {}",
                self.settings.jwks_uri,
                response.status()
            )));
        }
        let set: JwkSet = response
            .json()
            .await
            .map_err(|e| VerifyError::Unavailable(format!("not a JWKS document: {e}")))?;
        let set = Arc::new(set);
        *keys = Some((Instant::now(), Arc::clone(&set)));
        Ok(set)
    }
}

#[async_trait]
impl RegistrationVerifier for JwtVerifier {
    async fn verify(&self, bearer: &str) -> Result<Caller, VerifyError> {
        let header = jsonwebtoken::decode_header(bearer)
            .map_err(|e| VerifyError::Malformed(e.to_string()))?;
        if !matches!(
            header.alg,
            Algorithm::RS256 | Algorithm::PS256 | Algorithm::ES256
        ) {
            return Err(VerifyError::Rejected(format!(
                "algorithm {:?} is not accepted",
                header.alg
            )));
        }
        let kid = header
            .kid
            .ok_or_else(|| VerifyError::Rejected("the token names no key (kid)".into()))?;
        let set = self.key_set(&kid).await?;
        let jwk = set.find(&kid).ok_or_else(|| {
            VerifyError::Rejected(format!("key {kid:?} is not the identity provider's"))
        })?;
        let key = DecodingKey::from_jwk(jwk).map_err(|e| VerifyError::Rejected(e.to_string()))?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&[&self.settings.audience]);
        validation.leeway = 60;
        let claims = jsonwebtoken::decode::<Claims>(bearer, &key, &validation)
            .map_err(|e| VerifyError::Rejected(e.to_string()))?
            .claims;
        let address = claims
            .email
            .or(claims.upn)
            .or(claims.preferred_username)
            .ok_or_else(|| VerifyError::Rejected("the token names no user (email, upn)".into()))?;
        Ok(Caller {
            address: address.trim().to_ascii_lowercase(),
        })
    }
}
