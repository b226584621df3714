//! Errors shaped like Microsoft Entra's: the OAuth `error`, an `AADSTS` code and message, and
//! the trace and correlation ids, as JSON for the token endpoint and as a page for authorize.
//!
//! Codes and texts follow Entra's (see
//! <https://learn.microsoft.com/entra/identity-platform/reference-error-codes>). Messages never
//! carry a secret: no password, client secret, assertion or token appears in them.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use time::OffsetDateTime;

/// An Entra-style OAuth error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AadError {
    /// The OAuth `error` (`invalid_grant`, `invalid_client`, ...).
    pub(crate) error: &'static str,
    /// The `AADSTS` number.
    pub(crate) code: u32,
    /// The message after `AADSTS<code>: `.
    pub(crate) message: String,
}

impl AadError {
    /// An error with this OAuth `error`, code and message.
    pub(crate) fn new(error: &'static str, code: u32, message: impl Into<String>) -> Self {
        Self {
            error,
            code,
            message: message.into(),
        }
    }

    /// `invalid_client` is answered with 401, as Entra does; everything else with 400.
    pub(crate) fn status(&self) -> StatusCode {
        match self.error {
            "invalid_client" => StatusCode::UNAUTHORIZED,
            "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// `AADSTS<code>: <message>`.
    pub(crate) fn text(&self) -> String {
        format!("AADSTS{}: {}", self.code, self.message)
    }

    /// AADSTS900144: a required parameter is missing.
    pub(crate) fn missing(parameter: &str) -> Self {
        Self::new(
            "invalid_request",
            900_144,
            format!("The request body must contain the following parameter: '{parameter}'."),
        )
    }

    /// AADSTS9002313: the request is malformed.
    pub(crate) fn malformed(detail: &str) -> Self {
        Self::new(
            "invalid_request",
            9_002_313,
            format!("Invalid request. Request is malformed or invalid. - {detail}"),
        )
    }

    /// AADSTS90002: no such tenant.
    pub(crate) fn unknown_tenant(tenant: &str) -> Self {
        Self::new(
            "invalid_request",
            90_002,
            format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into \
                 the correct cloud."
            ),
        )
    }

    /// AADSTS700016: no such application.
    pub(crate) fn unknown_app(client_id: &str, tenant: &str) -> Self {
        Self::new(
            "unauthorized_client",
            700_016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen \
                 if the application has not been installed by the administrator of the tenant or consented to by any \
                 user in the tenant. You may have sent your authentication request to the wrong tenant."
            ),
        )
    }

    /// AADSTS65001: no consent.
    pub(crate) fn consent_missing(client_id: &str) -> Self {
        Self::new(
            "invalid_grant",
            65_001,
            format!(
                "The user or administrator has not consented to use the application with ID '{client_id}' named \
                 '{client_id}'. Send an interactive authorization request for this user and resource."
            ),
        )
    }

    /// AADSTS50126: wrong user name or password.
    pub(crate) fn bad_password() -> Self {
        Self::new(
            "invalid_grant",
            50_126,
            "Error validating credentials due to invalid username or password.",
        )
    }

    /// AADSTS50034: no such user.
    pub(crate) fn unknown_user(tenant: &str) -> Self {
        Self::new(
            "invalid_grant",
            50_034,
            format!(
                "The user account {{EUII Hidden}} does not exist in the {tenant} directory. To sign into this \
                 application, the account must be added to the directory."
            ),
        )
    }

    /// AADSTS7000215: wrong client secret.
    pub(crate) fn bad_secret(client_id: &str) -> Self {
        Self::new(
            "invalid_client",
            7_000_215,
            format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret \
                 value, not the client secret ID, for a secret added to app '{client_id}'."
            ),
        )
    }

    /// AADSTS7000218: a confidential grant without any client credential.
    pub(crate) fn no_client_credential() -> Self {
        Self::new(
            "invalid_client",
            7_000_218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )
    }

    /// AADSTS700025: a public client presented a credential.
    pub(crate) fn public_client_with_credential() -> Self {
        Self::new(
            "invalid_client",
            700_025,
            "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
        )
    }

    /// AADSTS70011: an unusable scope.
    pub(crate) fn invalid_scope(scope: &str) -> Self {
        Self::new(
            "invalid_scope",
            70_011,
            format!(
                "The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."
            ),
        )
    }

    /// AADSTS70008: an expired authorization code, or a revoked refresh token
    /// (`ExpiredOrRevokedGrant`).
    pub(crate) fn expired_or_revoked(detail: &str) -> Self {
        Self::new(
            "invalid_grant",
            70_008,
            format!(
                "The provided authorization code or refresh token has expired due to inactivity or was revoked. \
                 {detail} Send a new interactive authorization request for this user and resource."
            ),
        )
    }

    /// AADSTS70000: a grant that does not fit this request.
    pub(crate) fn invalid_grant(detail: &str) -> Self {
        Self::new(
            "invalid_grant",
            70_000,
            format!("Provided grant is invalid or malformed. {detail}"),
        )
    }

    /// AADSTS90033: something failed on our side.
    pub(crate) fn internal() -> Self {
        Self::new(
            "server_error",
            90_033,
            "A transient error has occurred. Please try again.",
        )
    }

    /// The JSON token endpoint answer.
    fn body(&self) -> ErrorBody {
        let trace_id = uuid::Uuid::new_v4().to_string();
        let correlation_id = uuid::Uuid::new_v4().to_string();
        let timestamp = timestamp(OffsetDateTime::now_utc());
        ErrorBody {
            error: self.error,
            error_description: format!(
                "{}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}",
                self.text()
            ),
            error_codes: [self.code],
            timestamp,
            trace_id,
            correlation_id,
        }
    }
}

#[derive(Serialize)]
struct ErrorBody {
    error: &'static str,
    error_description: String,
    error_codes: [u32; 1],
    timestamp: String,
    trace_id: String,
    correlation_id: String,
}

impl IntoResponse for AadError {
    fn into_response(self) -> Response {
        tracing::debug!(
            error = self.error,
            code = self.code,
            "identity request refused"
        );
        let mut response = (self.status(), axum::Json(self.body())).into_response();
        no_store(&mut response);
        response
    }
}

/// Marks a response uncacheable, as the token endpoint's always are.
pub(crate) fn no_store(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache"),
    );
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// Entra's timestamp format: `2016-01-09 02:02:12Z`.
pub(crate) fn timestamp(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// The 400 page the authorize endpoint shows when it must not redirect (unknown client, or a
/// redirect URI that is not registered).
pub(crate) fn error_page(error: &AadError) -> Response {
    let body = format!(
        "<!DOCTYPE html>\n<html><head><title>Sign in to your account</title></head><body>\n\
         <h1>Sorry, but we're having trouble signing you in.</h1>\n<p id=\"error\">{}</p>\n\
         <p>Timestamp: {}</p>\n</body></html>\n",
        escape(&error.text()),
        timestamp(OffsetDateTime::now_utc())
    );
    (StatusCode::BAD_REQUEST, axum::response::Html(body)).into_response()
}

/// Escapes text for HTML element content and double-quoted attributes.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_client_is_401_and_the_description_carries_the_code() {
        let error = AadError::bad_secret("app");
        assert_eq!(error.status(), StatusCode::UNAUTHORIZED);
        let body = error.body();
        assert!(
            body.error_description
                .starts_with("AADSTS7000215: Invalid client secret")
        );
        assert!(body.error_description.contains("\r\nTrace ID: "));
        assert_eq!(body.error_codes, [7_000_215]);
        assert_eq!(AadError::bad_password().status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn escape_neutralises_markup() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn timestamps_look_like_entra_s() {
        let at = time::macros::datetime!(2016-01-09 02:02:12 UTC);
        assert_eq!(timestamp(at), "2016-01-09 02:02:12Z");
    }
}
