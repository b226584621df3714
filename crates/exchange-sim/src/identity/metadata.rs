//! Discovery: `GET /{tenant}/v2.0/.well-known/openid-configuration` and
//! `GET /{tenant}/discovery/v2.0/keys` (the JWKS)
//! (<https://learn.microsoft.com/entra/identity-platform/v2-protocols-oidc#find-your-apps-openid-configuration-document-uri>).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};

use crate::sim::Ctx;

use super::check_tenant;

/// `https://<login host>:<port>`, as endpoints are written.
pub(crate) fn base(ctx: &Ctx) -> String {
    let port = ctx
        .world
        .https_port
        .load(std::sync::atomic::Ordering::Relaxed);
    format!("https://{}:{port}", ctx.world.scenario.login_host)
}

/// The OpenID Connect discovery document. For `common` and `organizations` the issuer holds
/// the `{tenantid}` placeholder, as Entra's does.
pub(crate) async fn openid_configuration(
    State(ctx): State<Arc<Ctx>>,
    Path(tenant): Path<String>,
) -> Response {
    if let Err(error) = check_tenant(&ctx, &tenant) {
        return error.into_response();
    }
    let base = base(&ctx);
    let issuer = if super::is_multi_tenant(&tenant) {
        format!(
            "https://{}/{{tenantid}}/v2.0",
            ctx.world.scenario.login_host
        )
    } else {
        ctx.identity.issuer.clone()
    };
    Json(serde_json::json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{base}/{tenant}/oauth2/v2.0/authorize"),
        "token_endpoint": format!("{base}/{tenant}/oauth2/v2.0/token"),
        "jwks_uri": format!("{base}/{tenant}/discovery/v2.0/keys"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials", "password"],
        "code_challenge_methods_supported": ["S256", "plain"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "name", "oid", "tid", "preferred_username", "upn"],
        "tenant_region_scope": "WW",
        "cloud_instance_name": ctx.world.scenario.login_host,
    }))
    .into_response()
}

/// The signing keys: one RSA key, `kid` = its certificate's `x5t`, with the certificate in `x5c`.
pub(crate) async fn keys(State(ctx): State<Arc<Ctx>>, Path(tenant): Path<String>) -> Response {
    if let Err(error) = check_tenant(&ctx, &tenant) {
        return error.into_response();
    }
    let identity = &ctx.identity;
    let key = identity.signing.jwk(&identity.kid, &identity.issuer);
    Json(serde_json::json!({ "keys": [key] })).into_response()
}
