//! `POST /{tenant}/oauth2/v2.0/token`
//! (<https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#redeem-a-code-for-an-access-token>):
//! the `client_credentials`, `password`, `authorization_code` and `refresh_token` grants.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::sim::Ctx;

use super::client::{Client, Form, authenticate};
use super::errors::{AadError, no_store};
use super::grant::Delegation;
use super::jwt::{Grant, mint};
use super::{check_tenant, now, scope, sign_in};

/// A successful token response (v2: `expires_in` is a number).
#[derive(Serialize)]
struct Answer {
    token_type: &'static str,
    scope: String,
    expires_in: u64,
    ext_expires_in: u64,
    access_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
}

/// The token endpoint. Every request is counted, whatever its outcome.
pub(crate) async fn token(
    State(ctx): State<Arc<Ctx>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    ctx.identity.store.count_request();
    match handle(&ctx, &tenant, &headers, &body) {
        Ok(answer) => {
            let mut response = Json(answer).into_response();
            no_store(&mut response);
            response
        }
        Err(error) => error.into_response(),
    }
}

/// `GET` on the token endpoint: AADSTS900561, as Entra answers.
pub(crate) async fn token_get() -> Response {
    AadError::new(
        "invalid_request",
        900_561,
        "The endpoint only accepts POST, OPTIONS requests. Received a GET request.",
    )
    .into_response()
}

fn handle(ctx: &Ctx, tenant: &str, headers: &HeaderMap, body: &[u8]) -> Result<Answer, AadError> {
    check_tenant(ctx, tenant)?;
    let form = Form::parse(body)?;
    let grant = form.required("grant_type")?;
    let answer = match grant {
        "client_credentials" => client_credentials(ctx, tenant, &form, headers),
        "password" => password(ctx, tenant, &form, headers),
        "authorization_code" => authorization_code(ctx, tenant, &form, headers),
        "refresh_token" => refresh_token(ctx, tenant, &form, headers),
        other => Err(AadError::new(
            "unsupported_grant_type",
            70_003,
            format!("The app requested an unsupported grant type '{other}'."),
        )),
    }?;
    tracing::debug!(grant, "token issued");
    Ok(answer)
}

fn consented(client: &Client<'_>) -> Result<(), AadError> {
    if client.app.consented {
        Ok(())
    } else {
        Err(AadError::consent_missing(&client.app.client_id))
    }
}

fn client_credentials(
    ctx: &Ctx,
    tenant: &str,
    form: &Form,
    headers: &HeaderMap,
) -> Result<Answer, AadError> {
    let client = authenticate(ctx, tenant, form, headers, true)?;
    consented(&client)?;
    let resource = scope::app_only(&ctx.world, form.required("scope")?)?;
    let grant = Grant {
        client_id: &client.app.client_id,
        client_auth: client.auth,
        resource: &resource,
        subject: None,
        roles: &client.app.roles,
        permissions: &[],
    };
    let minted = mint(&ctx.identity, &grant, now())?;
    Ok(Answer {
        token_type: "Bearer",
        scope: format!("{resource}/.default"),
        expires_in: minted.expires_in,
        ext_expires_in: minted.expires_in,
        access_token: minted.token,
        refresh_token: None,
    })
}

fn password(ctx: &Ctx, tenant: &str, form: &Form, headers: &HeaderMap) -> Result<Answer, AadError> {
    let client = authenticate(ctx, tenant, form, headers, false)?;
    let username = form.required("username")?;
    let password = form.required("password")?;
    let scope = form.required("scope")?;
    let subject = sign_in(ctx, tenant, username, password)?;
    consented(&client)?;
    let parsed = scope::delegated(&ctx.world, client.app, scope)?;
    let delegation = Delegation {
        client_id: client.app.client_id.clone(),
        subject,
        resource: parsed.resource,
        permissions: parsed.permissions,
        oidc: parsed.oidc,
    };
    let refresh = delegation.offline();
    delegated(ctx, &client, delegation, refresh)
}

fn authorization_code(
    ctx: &Ctx,
    tenant: &str,
    form: &Form,
    headers: &HeaderMap,
) -> Result<Answer, AadError> {
    let client = authenticate(ctx, tenant, form, headers, false)?;
    let code = form.required("code")?;
    let redirect_uri = form.required("redirect_uri")?;
    let verifier = form.get("code_verifier");
    let client_id = client.app.client_id.as_str();
    let delegation = ctx.identity.store.redeem_code(code, now(), |code| {
        if code.delegation.client_id != client_id {
            return Err(AadError::invalid_grant("The authorization code was issued to a different client."));
        }
        if code.redirect_uri != redirect_uri {
            return Err(AadError::new(
                "invalid_grant",
                500_112,
                format!(
                    "The reply address '{redirect_uri}' does not match the reply address '{}' provided when \
                     requesting Authorization code.",
                    code.redirect_uri
                ),
            ));
        }
        match (&code.challenge, verifier) {
            (Some(_), None) => Err(AadError::new(
                "invalid_grant",
                50_148,
                "The code_verifier does not match the code_challenge supplied in the authorization request for PKCE.",
            )),
            (Some(challenge), Some(verifier)) if !challenge.accepts(verifier) => Err(AadError::new(
                "invalid_grant",
                501_481,
                "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
            )),
            _ => Ok(()),
        }
    })?;
    consented(&client)?;
    let refresh = delegation.offline();
    delegated(ctx, &client, delegation, refresh)
}

fn refresh_token(
    ctx: &Ctx,
    tenant: &str,
    form: &Form,
    headers: &HeaderMap,
) -> Result<Answer, AadError> {
    let client = authenticate(ctx, tenant, form, headers, false)?;
    let token = form.required("refresh_token")?;
    let mut delegation = ctx
        .identity
        .store
        .use_refresh(token, &client.app.client_id, now())?;
    consented(&client)?;
    if let Some(scope) = form.get("scope") {
        let parsed = scope::delegated(&ctx.world, client.app, scope)?;
        delegation.resource = parsed.resource;
        delegation.permissions = parsed.permissions;
        delegation.oidc = parsed.oidc;
    }
    delegated(ctx, &client, delegation, true)
}

/// Issues a delegated access token, and a refresh token when `refresh`.
fn delegated(
    ctx: &Ctx,
    client: &Client<'_>,
    delegation: Delegation,
    refresh: bool,
) -> Result<Answer, AadError> {
    let now = now();
    let grant = Grant {
        client_id: &delegation.client_id,
        client_auth: client.auth,
        resource: &delegation.resource,
        subject: Some(&delegation.subject),
        roles: &[],
        permissions: &delegation.permissions,
    };
    let minted = mint(&ctx.identity, &grant, now)?;
    let scope = scope::response_scope(
        &delegation.resource,
        &delegation.permissions,
        &delegation.oidc,
    );
    let refresh_token = refresh.then(|| ctx.identity.store.new_refresh(delegation, now));
    Ok(Answer {
        token_type: "Bearer",
        scope,
        expires_in: minted.expires_in,
        ext_expires_in: minted.expires_in,
        access_token: minted.token,
        refresh_token,
    })
}
