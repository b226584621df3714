//! Reading a token request: the form body, and who the client is (RFC 6749 section 2.3: a
//! secret in the body or in HTTP Basic, or a client assertion per RFC 7523).

use std::collections::HashMap;

use axum::http::{HeaderMap, header};
use base64::Engine as _;

use crate::scenario::App;
use crate::sim::Ctx;
use crate::world::directory::constant_time_eq;

use super::errors::AadError;
use super::jwt::ClientAuth;
use super::{assertion, now};

/// `client_assertion_type` of a JWT client assertion.
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A form body (`application/x-www-form-urlencoded`). Values may be secrets: `Debug` shows
/// the parameter names only.
pub(crate) struct Form(HashMap<String, String>);

impl std::fmt::Debug for Form {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.0.keys().collect();
        names.sort();
        f.debug_tuple("Form").field(&names).finish()
    }
}

impl Form {
    /// Parses a form body or query string; a parameter given twice is malformed.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, AadError> {
        let mut map = HashMap::new();
        for (name, value) in url::form_urlencoded::parse(bytes) {
            if map.insert(name.to_string(), value.into_owned()).is_some() {
                return Err(AadError::malformed(&format!(
                    "The parameter '{name}' is given more than once."
                )));
            }
        }
        Ok(Self(map))
    }

    /// A parameter; an empty one counts as absent.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A parameter that must be there (AADSTS900144 otherwise).
    pub(crate) fn required(&self, name: &str) -> Result<&str, AadError> {
        self.get(name).ok_or_else(|| AadError::missing(name))
    }
}

/// A client that presented itself.
#[derive(Debug)]
pub(crate) struct Client<'a> {
    /// Its registration.
    pub(crate) app: &'a App,
    /// How it proved who it is.
    pub(crate) auth: ClientAuth,
}

/// `Authorization: Basic` credentials: the client id (form-urlencoded first, RFC 6749 2.3.1,
/// so decoded here) and the secret as sent (see [`secret_matches`]).
fn basic(headers: &HeaderMap) -> Result<Option<(String, String)>, AadError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || AadError::malformed("The Authorization header is not valid Basic credentials.");
    let text = value.to_str().map_err(|_| bad())?;
    let Some((scheme, encoded)) = text.split_once(' ') else {
        return Err(bad());
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(bad());
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
    Ok(Some((unescape(id), secret.to_owned())))
}

/// Form-urlencoding undone.
fn unescape(text: &str) -> String {
    url::form_urlencoded::parse(text.as_bytes())
        .map(|(name, value)| {
            if value.is_empty() {
                name.into_owned()
            } else {
                format!("{name}={value}")
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Whether a presented secret is the app's. A secret from HTTP Basic may come form-urlencoded
/// (as RFC 6749 asks) or raw (as many clients send it): either form is accepted.
fn secret_matches(expected: &str, presented: &str, from_basic: bool) -> bool {
    let raw = constant_time_eq(expected.as_bytes(), presented.as_bytes());
    let decoded =
        from_basic && constant_time_eq(expected.as_bytes(), unescape(presented).as_bytes());
    !expected.is_empty() && (raw || decoded)
}

/// Identifies and authenticates the client of a token request.
///
/// A presented credential is always checked. `credential_required` is true for
/// `client_credentials`; the delegated grants accept a confidential client without its
/// credential (Entra would insist unless public client flows are enabled: the simulator is
/// lenient here so clients that send only `client_id` work against the standard scenario).
pub(crate) fn authenticate<'a>(
    ctx: &'a Ctx,
    tenant: &str,
    form: &Form,
    headers: &HeaderMap,
    credential_required: bool,
) -> Result<Client<'a>, AadError> {
    let basic = basic(headers)?;
    let client_id = match (form.get("client_id"), &basic) {
        (Some(id), Some((basic_id, _))) if id != basic_id => {
            return Err(AadError::malformed(
                "client_id differs from the Authorization header's.",
            ));
        }
        (Some(id), _) => id.to_owned(),
        (None, Some((basic_id, _))) if !basic_id.is_empty() => basic_id.clone(),
        _ => return Err(AadError::missing("client_id")),
    };
    let directory = &ctx.world.directory;
    let Some(app) = directory.app(&client_id) else {
        return Err(AadError::unknown_app(&client_id, tenant));
    };
    let from_basic = form.get("client_secret").is_none();
    let secret = form
        .get("client_secret")
        .or(basic.as_ref().map(|(_, s)| s.as_str()));
    let assertion = form.get("client_assertion");
    if app.public_client && (secret.is_some() || assertion.is_some()) {
        return Err(AadError::public_client_with_credential());
    }
    let auth = match (secret, assertion) {
        (Some(_), Some(_)) => {
            return Err(AadError::malformed(
                "Present either client_secret or client_assertion, not both.",
            ));
        }
        (Some(secret), None) => {
            if !secret_matches(&app.secret, secret, from_basic) {
                return Err(AadError::bad_secret(&app.client_id));
            }
            ClientAuth::Secret
        }
        (None, Some(jwt)) => {
            if form.get("client_assertion_type") != Some(JWT_BEARER) {
                return Err(AadError::malformed(&format!(
                    "client_assertion_type must be '{JWT_BEARER}'."
                )));
            }
            let audience_ok = |aud: &str| token_endpoint_matches(ctx, tenant, aud);
            assertion::verify(&ctx.identity, &app.client_id, jwt, audience_ok, now())?;
            ClientAuth::Certificate
        }
        (None, None) if credential_required => {
            return Err(AadError::no_client_credential());
        }
        (None, None) => ClientAuth::None,
    };
    Ok(Client { app, auth })
}

/// Whether `aud` names this token endpoint: `https://<login host>[:port]/<tenant>/oauth2/v2.0/token`
/// (or the v1 `/oauth2/token`), the tenant being the one in the request path or the scenario's.
fn token_endpoint_matches(ctx: &Ctx, path_tenant: &str, aud: &str) -> bool {
    let Ok(url) = url::Url::parse(aud) else {
        return false;
    };
    let port = ctx
        .world
        .https_port
        .load(std::sync::atomic::Ordering::Relaxed);
    let host_ok = url.scheme() == "https"
        && url
            .host_str()
            .is_some_and(|h| h.eq_ignore_ascii_case(&ctx.world.scenario.login_host))
        && url.port_or_known_default() == Some(port)
        && url.query().is_none();
    let path = url.path().trim_end_matches('/');
    host_ok
        && [path_tenant, ctx.world.scenario.tenant.as_str()]
            .iter()
            .any(|tenant| {
                ["oauth2/v2.0/token", "oauth2/token"]
                    .iter()
                    .any(|endpoint| path.eq_ignore_ascii_case(&format!("/{tenant}/{endpoint}")))
            })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_secrets_match_raw_or_form_urlencoded() {
        assert!(secret_matches("a+b~c/d", "a+b~c/d", true));
        assert!(secret_matches("a+b~c/d", "a%2Bb%7Ec%2Fd", true));
        assert!(
            !secret_matches("a+b~c/d", "a%2Bb%7Ec%2Fd", false),
            "form fields are already decoded"
        );
        assert!(
            !secret_matches("", "", true),
            "an app without a secret accepts none"
        );
        assert!(!secret_matches("secret", "Secret", true));
    }

    #[test]
    fn a_parameter_given_twice_is_malformed_and_debug_hides_values() {
        assert_eq!(
            Form::parse(b"a=1&a=2").map(|_| ()).map_err(|e| e.code),
            Err(9_002_313)
        );
        let form = Form::parse(b"client_secret=hunter2&grant_type=x").expect("form");
        assert_eq!(
            format!("{form:?}"),
            r#"Form(["client_secret", "grant_type"])"#
        );
        assert_eq!(form.get("grant_type"), Some("x"));
    }
}
