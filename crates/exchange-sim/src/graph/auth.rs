//! Who is calling Graph: an app-only bearer token of the identity platform for Graph
//! (`aud` `https://graph.microsoft.com` or Graph's app id) carrying a role that reads mail.

use axum::http::{HeaderMap, StatusCode, header};

use super::errors::GraphError;
use crate::identity::scope::GRAPH_APP_ID;
use crate::sim::Ctx;

/// The application permissions that let an app read (and subscribe to) every user's mail.
const MAIL_ROLES: [&str; 2] = ["Mail.Read", "Mail.ReadWrite"];

fn unauthenticated(message: impl Into<String>) -> GraphError {
    GraphError::new(
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationToken",
        message,
    )
}

/// The calling app's client id, or the error Graph answers.
pub(crate) fn authorize(ctx: &Ctx, headers: &HeaderMap) -> Result<String, GraphError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| unauthenticated("Access token is empty."))?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .ok_or_else(|| unauthenticated("Access token is empty."))?;
    let audiences = [
        format!("https://{}", super::GRAPH_HOST),
        GRAPH_APP_ID.to_owned(),
    ];
    let claims = ctx
        .identity
        .verify_access_token(token, &audiences)
        .map_err(unauthenticated)?;
    if !claims
        .roles
        .iter()
        .any(|r| MAIL_ROLES.contains(&r.as_str()))
    {
        tracing::debug!(app = %claims.app_id, roles = ?claims.roles, "Graph: no mail role");
        return Err(GraphError::access_denied());
    }
    Ok(claims.app_id)
}
