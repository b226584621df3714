//! The FCM HTTP v1 sender: `POST {base}/v1/projects/{project}/messages:send`, one token per
//! request, authenticated with an OAuth 2.0 access token from the service account.
//!
//! <https://firebase.google.com/docs/reference/fcm/rest/v1/projects.messages/send>

mod account;
mod message;
mod response;
mod token;

use std::time::Duration;

use async_trait::async_trait;
use tracing::Instrument as _;

use crate::{Error, ExposeSecret, Outcome, Platform, Push, PushSender, SecretString};
use account::ServiceAccount;
use response::Answer;
use token::{AccessToken, TokenSource};

/// Everything an [`FcmSender`] needs.
///
/// ```
/// use push_delivery::FcmConfig;
/// let json = std::fs::read_to_string("service-account.json").unwrap_or_default();
/// let mut config = FcmConfig::new(json);
/// config.base_url = "https://127.0.0.1:8443".into(); // a mock
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FcmConfig {
    /// The service account's JSON key file (`project_id`, `client_email`, `private_key`,
    /// `token_uri`).
    pub service_account_json: SecretString,
    /// The FCM origin (default `https://fcm.googleapis.com`).
    pub base_url: String,
    /// Exchange assertions here instead of the file's `token_uri`.
    pub token_url: Option<String>,
    /// The OAuth scope (default `https://www.googleapis.com/auth/firebase.messaging`).
    pub scope: String,
    /// Extra CA certificates (PEM) to trust, besides the system's roots: a mock's CA.
    pub extra_ca_pem: Vec<String>,
    /// Whether to trust the operating system's roots too (default true).
    pub trust_system_roots: bool,
    /// Time for one request (default 30 s).
    pub request_timeout: Duration,
    /// Time to connect (default 10 s).
    pub connect_timeout: Duration,
    /// Refresh the access token this long before it expires (default 5 min; at most half its
    /// lifetime).
    pub token_refresh_margin: Duration,
    /// Ask FCM to validate without delivering (default false).
    pub validate_only: bool,
}

impl FcmConfig {
    /// Settings with defaults for everything but the service account.
    pub fn new(service_account_json: impl Into<String>) -> Self {
        Self {
            service_account_json: SecretString::from(service_account_json.into()),
            base_url: "https://fcm.googleapis.com".into(),
            token_url: None,
            scope: "https://www.googleapis.com/auth/firebase.messaging".into(),
            extra_ca_pem: Vec::new(),
            trust_system_roots: true,
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            token_refresh_margin: Duration::from_secs(300),
            validate_only: false,
        }
    }
}

/// Sends pushes through FCM HTTP v1.
pub struct FcmSender {
    http: reqwest::Client,
    tokens: TokenSource,
    send_url: String,
    validate_only: bool,
}

impl std::fmt::Debug for FcmSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FcmSender")
            .field("send_url", &self.send_url)
            .finish_non_exhaustive()
    }
}

impl FcmSender {
    /// Checks the settings and reads the service account; fetches a token on the first push.
    pub fn new(config: FcmConfig) -> Result<Self, Error> {
        let account = ServiceAccount::parse(config.service_account_json.expose_secret())?;
        let base = config.base_url.trim_end_matches('/');
        let base_url = url_check("base_url", base)?;
        let token_url = config
            .token_url
            .clone()
            .unwrap_or(account.token_uri.clone());
        url_check("token_url", &token_url)?;
        let mut roots = Vec::new();
        for pem in &config.extra_ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
                .map_err(|e| Error::config("extra_ca_pem", e))?;
            roots.extend(certs);
        }
        let builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.request_timeout)
            .connect_timeout(config.connect_timeout)
            .min_tls_version(reqwest::tls::Version::TLS_1_2)
            .user_agent(concat!("bems-push-delivery/", env!("CARGO_PKG_VERSION")))
            .no_proxy();
        let builder = if config.trust_system_roots {
            builder.tls_certs_merge(roots)
        } else {
            builder.tls_certs_only(roots)
        };
        let http = builder.build().map_err(|e| Error::config("tls", e))?;
        let project = &account.project_id;
        // One path segment of the send URL: Google's ids (`my-app-1234`, the older
        // `example.com:app`), never `.` or `..`.
        let segment = project.len() <= 128
            && project.starts_with(|c: char| c.is_ascii_alphanumeric())
            && project
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b':');
        if !segment {
            return Err(Error::config(
                "service_account_json",
                "project_id is 1 to 128 letters, digits, '-', '.' or ':', starting with a letter or digit",
            ));
        }
        let tokens = TokenSource::new(
            &account,
            token_url,
            config.scope.clone(),
            config.token_refresh_margin,
        )?;
        Ok(Self {
            http,
            tokens,
            send_url: format!("{base_url}/v1/projects/{project}/messages:send"),
            validate_only: config.validate_only,
        })
    }

    async fn attempt(&self, body: &[u8]) -> (Answer, Option<AccessToken>) {
        let token = match self.tokens.token(&self.http).await {
            Ok(token) => token,
            Err(error) => {
                let outcome = if error.retryable {
                    Outcome::retry(None, "Auth", error.detail)
                } else {
                    Outcome::rejected(None, "Auth", error.detail)
                };
                return (Answer::Outcome(outcome), None);
            }
        };
        let result = self
            .http
            .post(&self.send_url)
            .header(http::header::AUTHORIZATION, token.header.expose_secret())
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec())
            .send()
            .await;
        let response = match result {
            Ok(response) => response,
            Err(error) => {
                let code = if error.is_timeout() {
                    "Timeout"
                } else {
                    "Connection"
                };
                let mut detail = error.to_string();
                if let Some(source) = std::error::Error::source(&error) {
                    detail = format!("{detail}: {source}");
                }
                return (
                    Answer::Outcome(Outcome::retry(None, code, detail)),
                    Some(token),
                );
            }
        };
        let status = response.status().as_u16();
        let after = crate::apns::retry_after(response.headers().get(http::header::RETRY_AFTER));
        let bytes = match response.bytes().await {
            Ok(bytes) => bytes,
            Err(error) => {
                return (
                    Answer::Outcome(Outcome::retry(None, "Connection", error.to_string())),
                    Some(token),
                );
            }
        };
        if (200..300).contains(&status) {
            #[derive(serde::Deserialize)]
            struct Sent {
                #[serde(default)]
                name: Option<String>,
            }
            let id = serde_json::from_slice::<Sent>(&bytes)
                .ok()
                .and_then(|s| s.name);
            return (Answer::Outcome(Outcome::Delivered { id }), Some(token));
        }
        (response::classify(status, &bytes, after), Some(token))
    }
}

fn url_check<'a>(setting: &'static str, url: &'a str) -> Result<&'a str, Error> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| Error::config(setting, format!("not a URL: {e}")))?;
    if uri.scheme_str() != Some("https") || uri.host().is_none() {
        return Err(Error::config(setting, "an https URL is required"));
    }
    Ok(url)
}

#[async_trait]
impl PushSender for FcmSender {
    async fn send(&self, push: &Push) -> Outcome {
        let span =
            tracing::debug_span!("fcm_send", push = %push.id(), status = tracing::field::Empty);
        async {
            if push.token.platform() != Platform::Fcm {
                return Outcome::rejected(None, "WrongPlatform", "not an FCM registration token");
            }
            let body = match message::body(push, self.validate_only) {
                Ok(body) => body,
                Err(outcome) => return outcome,
            };
            let outcome = match self.attempt(&body).await {
                (Answer::Outcome(outcome), _) => outcome,
                (Answer::Unauthenticated(reason), token) => {
                    // The cached token was refused: drop it and try once with a new one.
                    if let Some(token) = token {
                        self.tokens.invalidate(&token);
                    }
                    match self.attempt(&body).await {
                        (Answer::Outcome(outcome), _) => outcome,
                        (Answer::Unauthenticated(_), _) => Outcome::Rejected { reason },
                    }
                }
            };
            let span = tracing::Span::current();
            match outcome.reason() {
                Some(reason) => {
                    span.record("status", reason.status.unwrap_or(0));
                    tracing::debug!(outcome = outcome.kind(), %reason, "FCM push not delivered");
                }
                None => {
                    span.record("status", 200);
                }
            }
            outcome
        }
        .instrument(span)
        .await
    }

    fn platform(&self) -> Platform {
        Platform::Fcm
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_does_not_print_the_service_account_key() {
        let config = FcmConfig::new(r#"{"private_key": "-----BEGIN PRIVATE KEY-----\nSECRET"}"#);
        let rendered = format!("{config:?} {config:#?}");
        assert!(!rendered.contains("SECRET"), "{rendered}");
        assert!(!rendered.contains("private_key"), "{rendered}");
        assert!(rendered.contains("fcm.googleapis.com"), "{rendered}");
    }

    #[test]
    fn a_project_id_stays_one_segment_of_the_send_url() {
        for project in ["..", ".", "../other", "a/b", "a?b", "", ".hidden"] {
            let json = serde_json::json!({
                "type": "service_account", "project_id": project,
                "client_email": "a@p.iam.gserviceaccount.com",
                "private_key": "-----BEGIN PRIVATE KEY-----\nSECRET\n-----END PRIVATE KEY-----\n",
            });
            let refused = FcmSender::new(FcmConfig::new(json.to_string()));
            assert!(
                refused
                    .as_ref()
                    .is_err_and(|e| e.to_string().contains("project_id")),
                "{project:?}: {:?}",
                refused.err()
            );
        }
    }
}
