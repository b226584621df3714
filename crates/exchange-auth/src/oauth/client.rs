//! Token requests to the Microsoft identity platform (v2 endpoints) through `oauth2`, sent on
//! our own HTTP client, with Entra's error answers mapped to [`AuthError`].

use std::future::Future;
use std::pin::Pin;

use oauth2::basic::{BasicClient, BasicErrorResponse, BasicTokenResponse};
use oauth2::{
    AuthType, ClientId, ClientSecret, EndpointNotSet, EndpointSet, RequestTokenError,
    TokenResponse, TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;

use crate::error::AuthError;
use crate::token::AccessToken;

/// `oauth2`'s HTTP client, on reqwest.
#[derive(Debug, Clone)]
pub(crate) struct OAuthHttp(pub(crate) reqwest::Client);

/// Why a token request did not get an answer.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct HttpFailure(String);

impl<'c> oauth2::AsyncHttpClient<'c> for OAuthHttp {
    type Error = HttpFailure;
    type Future =
        Pin<Box<dyn Future<Output = Result<oauth2::HttpResponse, HttpFailure>> + Send + 'c>>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let mut builder = self
                .0
                .request(parts.method, parts.uri.to_string())
                .timeout(std::time::Duration::from_secs(30))
                .body(body);
            for (name, value) in &parts.headers {
                builder = builder.header(name, value);
            }
            let response = builder
                .send()
                .await
                .map_err(|e| HttpFailure(crate::http::describe(&e)))?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get("Retry-After")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let bytes = response
                .bytes()
                .await
                .map_err(|e| HttpFailure(crate::http::describe(&e)))?;
            if status.is_server_error() || status.as_u16() == 429 {
                // Not an OAuth error answer: a throttle or an outage.
                return Err(HttpFailure(format!(
                    "identity platform answered HTTP {}{}",
                    status.as_u16(),
                    retry_after
                        .map(|r| format!(" (Retry-After {r})"))
                        .unwrap_or_default()
                )));
            }
            let mut answer = http::Response::builder().status(status.as_u16());
            answer = answer.header("Content-Type", "application/json");
            answer
                .body(bytes.to_vec())
                .map_err(|e| HttpFailure(e.to_string()))
        })
    }
}

/// A client for the token endpoint, with this client id and (optionally) secret.
pub(crate) type TokenClient =
    BasicClient<EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

pub(crate) fn token_client(
    token_url: &url::Url,
    client_id: &str,
    secret: Option<&SecretString>,
) -> Result<TokenClient, AuthError> {
    let token_url = TokenUrl::new(token_url.to_string())
        .map_err(|e| AuthError::config("authority", e.to_string()))?;
    let mut client = BasicClient::new(ClientId::new(client_id.to_owned()))
        .set_token_uri(token_url)
        .set_auth_type(AuthType::RequestBody);
    if let Some(secret) = secret {
        client = client.set_client_secret(ClientSecret::new(secret.expose_secret().to_owned()));
    }
    Ok(client)
}

/// A token answer as an [`AccessToken`] (absolute expiry from `expires_in`), and the refresh
/// token when one came.
pub(crate) fn accept(
    response: &BasicTokenResponse,
    asked: &[String],
) -> (AccessToken, Option<SecretString>) {
    let expires_in = response
        .expires_in()
        .unwrap_or(std::time::Duration::from_secs(3600));
    let expires_at = OffsetDateTime::now_utc() + expires_in;
    let scopes = response
        .scopes()
        .map(|scopes| scopes.iter().map(|s| s.to_string()).collect())
        .unwrap_or_else(|| asked.to_vec());
    let token = AccessToken::new(
        SecretString::from(response.access_token().secret().clone()),
        expires_at,
        scopes,
    );
    let refresh = response
        .refresh_token()
        .map(|r| SecretString::from(r.secret().clone()));
    (token, refresh)
}

/// An error of a token request, classified.
pub(crate) fn refusal(error: RequestTokenError<HttpFailure, BasicErrorResponse>) -> AuthError {
    match error {
        RequestTokenError::ServerResponse(response) => {
            let code = response.error().to_string();
            let description = response
                .error_description()
                .cloned()
                .unwrap_or_else(|| code.clone());
            classify(&code, description)
        }
        RequestTokenError::Request(failure) => {
            let text = failure.to_string();
            if let Some(seconds) = text
                .contains("HTTP 429")
                .then(|| retry_after(&text))
                .flatten()
            {
                AuthError::Throttled(std::time::Duration::from_secs(seconds))
            } else {
                AuthError::Network(text)
            }
        }
        RequestTokenError::Parse(error, _) => AuthError::Protocol(format!("token answer: {error}")),
        RequestTokenError::Other(text) => AuthError::Protocol(text),
    }
}

fn retry_after(text: &str) -> Option<u64> {
    text.split("Retry-After ")
        .nth(1)?
        .trim_end_matches(')')
        .trim()
        .parse()
        .ok()
}

/// The AADSTS code in a description (`AADSTS65001: ...`).
pub(crate) fn aadsts(description: &str) -> Option<u32> {
    let rest = description.split("AADSTS").nth(1)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Entra's errors, by AADSTS code where it decides, else by the OAuth error.
fn classify(error: &str, description: String) -> AuthError {
    // Consent, unknown app, scope, tenant or resource: configuration the administrator fixes.
    const NOT_CONFIGURED: &[u32] = &[
        65001, 65004, 700016, 70011, 7000218, 90002, 500011, 1002012, 50011, 500112, 7000112,
    ];
    // Expired, revoked or used-up grants: sign in again.
    const SIGN_IN: &[u32] = &[70008, 700082, 50173, 54005, 9002313, 70000, 50078, 50076];
    let code = aadsts(&description);
    let error = error.to_owned();
    match code {
        Some(c) if NOT_CONFIGURED.contains(&c) => AuthError::NotConfigured { error, description },
        Some(c) if SIGN_IN.contains(&c) => AuthError::SignInRequired { description },
        _ => match error.as_str() {
            "unauthorized_client"
            | "invalid_scope"
            | "unsupported_grant_type"
            | "consent_required" => AuthError::NotConfigured { error, description },
            _ => AuthError::Credentials { error, description },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_entra_errors() {
        assert!(
            classify(
                "invalid_grant",
                "AADSTS65001: The user or administrator has not consented".into()
            )
            .allows_fallback()
        );
        assert!(
            classify(
                "unauthorized_client",
                "AADSTS700016: Application not found".into()
            )
            .allows_fallback()
        );
        assert!(matches!(
            classify(
                "invalid_grant",
                "AADSTS50126: Error validating credentials".into()
            ),
            AuthError::Credentials { .. }
        ));
        assert!(
            classify(
                "invalid_grant",
                "AADSTS70008: The refresh token has expired".into()
            )
            .needs_sign_in()
        );
        assert!(matches!(
            classify(
                "invalid_client",
                "AADSTS7000215: Invalid client secret".into()
            ),
            AuthError::Credentials { .. }
        ));
        assert_eq!(
            aadsts("AADSTS700027: Client assertion failed"),
            Some(700_027)
        );
        assert_eq!(aadsts("no code"), None);
        assert_eq!(
            retry_after("identity platform answered HTTP 429 (Retry-After 7)"),
            Some(7)
        );
    }
}
