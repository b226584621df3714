//! Tests of the simulator's identity endpoints, over TLS on loopback: every grant, discovery,
//! and Entra's errors for what goes wrong.

mod assertions;
mod code_flow;
mod grants;
mod refusals;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use exchange_sim::{CertifiedKey, Sim};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::support;

/// The consented app: secret, certificate, `full_access_as_app`, `EWS.AccessAsUser.All`.
const APP: &str = "11111111-1111-1111-1111-111111111111";
const APP_SECRET: &str = "app-secret-1";
/// The app nobody consented to.
const UNCONSENTED: &str = "22222222-2222-2222-2222-222222222222";
const REDIRECT: &str = "https://bems.contoso.com/callback";
const EXO: &str = "https://outlook.office365.com";
const EWS_SCOPE: &str = "https://outlook.office365.com/EWS.AccessAsUser.All offline_access";

/// POSTs a form to the token endpoint; the status and the JSON answer.
async fn post_token(sim: &Sim, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let response = support::client(sim)
        .post(sim.identity().token_endpoint())
        .form(form)
        .send()
        .await
        .expect("token endpoint answers");
    let status = response.status();
    (status, response.json().await.expect("JSON answer"))
}

/// Asserts an Entra error answer: status, `error`, `error_codes`, and the description's
/// `AADSTS<code>:` prefix with trace and correlation ids.
#[track_caller]
fn assert_aad(answer: &(StatusCode, Value), status: StatusCode, error: &str, code: u64) {
    let (actual, body) = answer;
    assert_eq!(*actual, status, "status of {body}");
    assert_eq!(body["error"], error, "error of {body}");
    assert_eq!(
        body["error_codes"],
        serde_json::json!([code]),
        "codes of {body}"
    );
    let description = body["error_description"]
        .as_str()
        .expect("error_description");
    assert!(
        description.starts_with(&format!("AADSTS{code}: ")),
        "{description}"
    );
    assert!(description.contains("\r\nTrace ID: "), "{description}");
    assert!(
        body["trace_id"].as_str().is_some_and(|t| t.len() == 36),
        "{body}"
    );
    assert!(
        body["correlation_id"]
            .as_str()
            .is_some_and(|t| t.len() == 36),
        "{body}"
    );
    assert!(
        body["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{body}"
    );
}

/// Checks a token against the published JWKS (signature, `kid`, issuer, audience) and returns
/// its claims.
async fn verified_claims(sim: &Sim, token: &str, audience: &str) -> Value {
    let header = jsonwebtoken::decode_header(token).expect("JWT header");
    assert_eq!(header.alg, Algorithm::RS256);
    let kid = header.kid.expect("kid");
    let jwks: jsonwebtoken::jwk::JwkSet = support::client(sim)
        .get(sim.identity().jwks_uri())
        .send()
        .await
        .expect("JWKS")
        .json()
        .await
        .expect("JWKS JSON");
    let jwk = jwks.find(&kid).expect("the signing kid is in the JWKS");
    let key = DecodingKey::from_jwk(jwk).expect("RSA JWK");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[sim.identity().issuer()]);
    validation.set_required_spec_claims(&["exp", "nbf", "aud", "iss"]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .expect("token verifies with the JWKS")
        .claims
}

/// How a test assertion names the certificate.
#[derive(Clone, Copy)]
enum Thumbprint {
    /// `x5t#S256` of the certificate.
    S256,
    /// `x5t` (SHA-1) of the certificate.
    Sha1,
    /// `x5t#S256` of some other certificate.
    Other,
}

/// A client assertion to build; `Default` is a valid PS256 one for [`APP`] at `aud`.
struct Assertion {
    alg: Algorithm,
    thumbprint: Thumbprint,
    aud: String,
    iss: String,
    /// Seconds from now.
    nbf: i64,
    /// Seconds from now.
    exp: i64,
    jti: String,
}

impl Assertion {
    fn for_endpoint(aud: String) -> Self {
        Self {
            alg: Algorithm::PS256,
            thumbprint: Thumbprint::S256,
            aud,
            iss: APP.to_owned(),
            nbf: 0,
            exp: 600,
            jti: uuid::Uuid::new_v4().to_string(),
        }
    }

    /// Signs with `key`'s private key; the thumbprint is `cert`'s.
    fn sign(&self, cert: &CertifiedKey, key: &CertifiedKey) -> String {
        let mut header = Header::new(self.alg);
        header.typ = Some("JWT".to_owned());
        match self.thumbprint {
            Thumbprint::S256 => {
                header.x5t_s256 = Some(URL_SAFE_NO_PAD.encode(Sha256::digest(&cert.cert_der)))
            }
            Thumbprint::Sha1 => {
                header.x5t = Some(URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(&cert.cert_der)))
            }
            Thumbprint::Other => {
                header.x5t_s256 = Some(URL_SAFE_NO_PAD.encode(Sha256::digest(b"another cert")))
            }
        }
        let now = jsonwebtoken::get_current_timestamp().cast_signed();
        let claims = serde_json::json!({
            "aud": self.aud,
            "iss": self.iss,
            "sub": self.iss,
            "jti": self.jti,
            "nbf": now + self.nbf,
            "iat": now + self.nbf,
            "exp": now + self.exp,
        });
        let signing =
            EncodingKey::from_rsa_pem(key.key_pem.as_bytes()).expect("app key is RSA PKCS#8");
        jsonwebtoken::encode(&header, &claims, &signing).expect("assertion signs")
    }
}

/// The form of a client-credentials request with a client assertion.
fn assertion_form(assertion: &str) -> Vec<(&'static str, String)> {
    vec![
        ("grant_type", "client_credentials".to_owned()),
        ("client_id", APP.to_owned()),
        ("scope", format!("{EXO}/.default")),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
        ),
        ("client_assertion", assertion.to_owned()),
    ]
}

/// Posts [`assertion_form`].
async fn post_assertion(sim: &Sim, assertion: &str) -> (StatusCode, Value) {
    let form = assertion_form(assertion);
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    post_token(sim, &pairs).await
}

/// A ROPC request as `mara` with [`EWS_SCOPE`].
async fn ropc(sim: &Sim, client_id: &str, password: &str) -> (StatusCode, Value) {
    post_token(
        sim,
        &[
            ("grant_type", "password"),
            ("client_id", client_id),
            ("username", "mara@contoso.com"),
            ("password", password),
            ("scope", EWS_SCOPE),
        ],
    )
    .await
}

/// A refresh-token request for [`APP`].
async fn refresh(sim: &Sim, refresh_token: &str) -> (StatusCode, Value) {
    post_token(
        sim,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", APP),
            ("refresh_token", refresh_token),
            ("scope", EWS_SCOPE),
        ],
    )
    .await
}

/// The string at `key` of a JSON answer.
#[track_caller]
fn text<'v>(body: &'v Value, key: &str) -> &'v str {
    body[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {body}"))
}
