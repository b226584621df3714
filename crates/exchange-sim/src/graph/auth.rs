//! Who is calling Graph, and whether they may: a bearer token of the identity platform for
//! Graph (`aud` `https://graph.microsoft.com` or Graph's app id), with the permission the
//! endpoint documents:
//!
//! | Endpoint | Application (`roles`) | Delegated (`scp`) |
//! |---|---|---|
//! | mail, subscriptions | `Mail.Read`, `Mail.ReadWrite` | (app-only here) |
//! | [`GET /users`, `GET /users/{id}`](https://learn.microsoft.com/graph/api/user-list#permissions) | `User.ReadBasic.All`, `User.Read.All`, `User.ReadWrite.All`, `Directory.Read.All`, `Directory.ReadWrite.All` | the same |
//! | [`GET /users/{id}/photo/$value`](https://learn.microsoft.com/graph/api/profilephoto-get#permissions) | `ProfilePhoto.Read.All`, `User.Read.All`, `User.ReadWrite.All` | `ProfilePhoto.Read.All`, `User.ReadBasic.All`, `User.Read.All`, `User.ReadWrite.All` |
//!
//! A token without one is refused 403: `ErrorAccessDenied` for mail and photos (Exchange
//! answers them), `Authorization_RequestDenied` for the directory's users.

use axum::http::{HeaderMap, StatusCode, header};

use super::errors::GraphError;
use super::routing::Endpoint;
use crate::identity::TokenClaims;
use crate::identity::scope::GRAPH_APP_ID;
use crate::sim::Ctx;

/// The application permissions that let an app read (and subscribe to) every user's mail.
const MAIL_ROLES: [&str; 2] = ["Mail.Read", "Mail.ReadWrite"];
/// The permissions (application or delegated) that let a caller list and read users.
const USER_PERMISSIONS: [&str; 5] = [
    "User.ReadBasic.All",
    "User.Read.All",
    "User.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
/// The application permissions that let an app read users' photos.
const PHOTO_ROLES: [&str; 3] = [
    "ProfilePhoto.Read.All",
    "User.Read.All",
    "User.ReadWrite.All",
];
/// The delegated permissions that let a user read others' photos.
const PHOTO_SCOPES: [&str; 4] = [
    "ProfilePhoto.Read.All",
    "User.ReadBasic.All",
    "User.Read.All",
    "User.ReadWrite.All",
];

fn unauthenticated(message: impl Into<String>) -> GraphError {
    GraphError::new(
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationToken",
        message,
    )
}

/// The verified claims of the request's bearer token, or the error Graph answers.
pub(crate) fn authenticate(ctx: &Ctx, headers: &HeaderMap) -> Result<TokenClaims, GraphError> {
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
    ctx.identity
        .verify_access_token(token, &audiences)
        .map_err(unauthenticated)
}

fn holds(granted: &[String], wanted: &[&str]) -> bool {
    granted.iter().any(|g| wanted.contains(&g.as_str()))
}

/// Whether `claims` carry the permission `endpoint` needs, or the 403 Graph answers.
pub(crate) fn permit(claims: &TokenClaims, endpoint: &Endpoint) -> Result<(), GraphError> {
    let allowed = match endpoint {
        Endpoint::Users | Endpoint::User(_) => {
            holds(&claims.roles, &USER_PERMISSIONS) || holds(&claims.scopes, &USER_PERMISSIONS)
        }
        Endpoint::Photo(_) => {
            holds(&claims.roles, &PHOTO_ROLES) || holds(&claims.scopes, &PHOTO_SCOPES)
        }
        Endpoint::Subscriptions
        | Endpoint::Subscription(_)
        | Endpoint::Reauthorize(_)
        | Endpoint::Folder { .. }
        | Endpoint::Message { .. }
        | Endpoint::Delta { .. } => holds(&claims.roles, &MAIL_ROLES),
    };
    if allowed {
        return Ok(());
    }
    tracing::debug!(app = %claims.app_id, roles = ?claims.roles, scopes = ?claims.scopes, ?endpoint, "Graph: permission missing");
    Err(match endpoint {
        Endpoint::Users | Endpoint::User(_) => GraphError::new(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        ),
        _ => GraphError::access_denied(),
    })
}
