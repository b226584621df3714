//! `GET|POST /{tenant}/oauth2/v2.0/authorize`
//! (<https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#request-an-authorization-code>):
//! signs a test user in and redirects back with a code.
//!
//! Non-interactive shortcut for tests: `login_hint` plus a `password` query parameter signs
//! in at once; a wrong password redirects back with `error=access_denied`. Without a password
//! the endpoint serves a minimal login page that posts the same parameters back; a wrong
//! password there shows the page again with the error. An unknown client or a redirect URI
//! that is not registered gets a 400 page, never a redirect.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::scenario::App;
use crate::sim::Ctx;

use super::client::Form;
use super::errors::{AadError, error_page, escape};
use super::grant::{Challenge, Code, Delegation};
use super::{check_tenant, now, scope, sign_in};

/// Parameters the login page carries through as hidden fields.
const CARRIED: [&str; 9] = [
    "client_id",
    "response_type",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "response_mode",
    "nonce",
];

/// `GET`: the authorize request, with the non-interactive shortcut.
pub(crate) async fn get(
    State(ctx): State<Arc<Ctx>>,
    Path(tenant): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    match Form::parse(query.unwrap_or_default().as_bytes()) {
        Ok(form) => authorize(&ctx, &tenant, &form, false),
        Err(error) => error_page(&error),
    }
}

/// `POST`: the login page's form.
pub(crate) async fn post(
    State(ctx): State<Arc<Ctx>>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Response {
    match Form::parse(&body) {
        Ok(form) => authorize(&ctx, &tenant, &form, true),
        Err(error) => error_page(&error),
    }
}

fn authorize(ctx: &Ctx, tenant: &str, form: &Form, from_page: bool) -> Response {
    if let Err(error) = check_tenant(ctx, tenant) {
        return error_page(&error);
    }
    let app = match form.required("client_id") {
        Ok(id) => match ctx.world.directory.app(id) {
            Some(app) => app,
            None => return error_page(&AadError::unknown_app(id, tenant)),
        },
        Err(error) => return error_page(&error),
    };
    let redirect_uri = match registered_redirect(app, form.get("redirect_uri")) {
        Ok(uri) => uri,
        Err(error) => return error_page(&error),
    };
    let state = form.get("state");
    let (challenge, parsed) = match request(ctx, app, form) {
        Ok(parts) => parts,
        Err((error, aad)) => {
            return redirect(
                &redirect_uri,
                &[("error", error), ("error_description", &aad.text())],
                state,
            );
        }
    };
    let login = form.get("login_hint").or(form.get("username"));
    let (Some(login), Some(password)) = (login, form.get("password")) else {
        let missing = if login.is_none() {
            "login_hint"
        } else {
            "password"
        };
        let error = from_page.then(|| AadError::missing(missing));
        return login_page(form, error.as_ref());
    };
    match sign_in(ctx, tenant, login, password) {
        Ok(subject) => {
            let now = now();
            let delegation = Delegation {
                client_id: app.client_id.clone(),
                subject,
                resource: parsed.resource,
                permissions: parsed.permissions,
                oidc: parsed.oidc,
            };
            let code = ctx.identity.store.new_code(
                Code::new(delegation, redirect_uri.clone(), challenge, now),
                now,
            );
            redirect(&redirect_uri, &[("code", &code)], state)
        }
        Err(error) if from_page => login_page(form, Some(&error)),
        Err(error) => redirect(
            &redirect_uri,
            &[
                ("error", "access_denied"),
                ("error_description", &error.text()),
            ],
            state,
        ),
    }
}

/// The redirect URI to answer to: the one given, if registered; else the first registered.
fn registered_redirect(app: &App, given: Option<&str>) -> Result<String, AadError> {
    match given {
        Some(uri) if app.redirect_uris.iter().any(|r| r == uri) => Ok(uri.to_owned()),
        Some(uri) => Err(AadError::new(
            "invalid_request",
            50_011,
            format!(
                "The redirect URI '{uri}' specified in the request does not match the redirect URIs configured for \
                 the application '{}'. Make sure the redirect URI sent in the request matches one added to your \
                 application in the Azure portal.",
                app.client_id
            ),
        )),
        None => app.redirect_uris.first().cloned().ok_or_else(|| {
            AadError::new(
                "invalid_request",
                500_113,
                "No reply address is registered for the application.",
            )
        }),
    }
}

/// Checks what can be checked before sign-in; an error comes with the OAuth `error` to redirect with.
fn request(
    ctx: &Ctx,
    app: &App,
    form: &Form,
) -> Result<(Option<Challenge>, scope::Delegated), (&'static str, AadError)> {
    if form.get("response_type") != Some("code") {
        let error = AadError::new(
            "unsupported_response_type",
            700_051,
            "response_type must be 'code': the implicit grant is not enabled for the application.",
        );
        return Err(("unsupported_response_type", error));
    }
    let challenge = match (
        form.get("code_challenge"),
        form.get("code_challenge_method"),
    ) {
        (None, None) => None,
        (None, Some(_)) => return Err(("invalid_request", AadError::missing("code_challenge"))),
        (Some(value), None | Some("plain")) => Some(Challenge {
            value: value.to_owned(),
            s256: false,
        }),
        (Some(value), Some("S256")) => Some(Challenge {
            value: value.to_owned(),
            s256: true,
        }),
        (Some(_), Some(_)) => {
            let error = AadError::malformed("code_challenge_method must be 'S256' or 'plain'.");
            return Err(("invalid_request", error));
        }
    };
    let scope = form.required("scope").map_err(|e| ("invalid_request", e))?;
    if !app.consented {
        return Err((
            "consent_required",
            AadError::consent_missing(&app.client_id),
        ));
    }
    let parsed = scope::delegated(&ctx.world, app, scope).map_err(|e| match e.code {
        65_001 => ("consent_required", e),
        _ => (e.error, e),
    })?;
    Ok((challenge, parsed))
}

/// `302` to `uri` with `params` (and `state`) added to its query.
fn redirect(uri: &str, params: &[(&str, &str)], state: Option<&str>) -> Response {
    let Ok(mut url) = url::Url::parse(uri) else {
        return error_page(&AadError::malformed(
            "The registered redirect URI is not a valid URL.",
        ));
    };
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in params {
            query.append_pair(name, value);
        }
        if let Some(state) = state {
            query.append_pair("state", state);
        }
    }
    (StatusCode::FOUND, [(header::LOCATION, url.to_string())]).into_response()
}

/// The login page: the request's parameters as hidden fields, a user name and a password.
fn login_page(form: &Form, error: Option<&AadError>) -> Response {
    let hidden: String = CARRIED
        .iter()
        .filter_map(|name| form.get(name).map(|value| (name, value)))
        .map(|(name, value)| {
            format!(
                "<input type=\"hidden\" name=\"{name}\" value=\"{}\">\n",
                escape(value)
            )
        })
        .collect();
    let login = escape(
        form.get("login_hint")
            .or(form.get("username"))
            .unwrap_or_default(),
    );
    let error = error
        .map(|e| format!("<p id=\"error\" role=\"alert\">{}</p>\n", escape(&e.text())))
        .unwrap_or_default();
    let body = format!(
        "<!DOCTYPE html>\n<html><head><title>Sign in to your account</title></head><body>\n\
         <h1>Sign in</h1>\n{error}<form method=\"post\">\n{hidden}\
         <label>Email, phone, or Skype <input type=\"email\" name=\"login_hint\" value=\"{login}\"></label>\n\
         <label>Password <input type=\"password\" name=\"password\"></label>\n\
         <button type=\"submit\">Sign in</button>\n</form>\n</body></html>\n"
    );
    Html(body).into_response()
}
