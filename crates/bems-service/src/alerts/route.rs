//! A user's alert rules over HTTP: one versioned document per user, kept with the user's
//! Follow-Me documents (under [`RULES_KEY`], which Follow-Me's own routes do not show) and
//! written by the same rules: only by that user (the bearer token's), each write naming the
//! version it replaces.
//!
//! | route | preconditions | answers |
//! |---|---|---|
//! | `GET /v1/tenants/{tenant}/users/{user}/alert-rules` | `If-None-Match` | `200` with `ETag`, `304`, `404` (none written) |
//! | `PUT .../alert-rules` (JSON, [`rules`](super::rules)) | `If-Match: "<version>"` to replace, `If-None-Match: *` or none to create | `201` / `200` with the new `ETag`; `400` naming the rule broken (`quiet_hours.from: ...`); `412`; `428`; `413` over 64 KiB |
//! | `DELETE .../alert-rules` | `If-Match: "<version>"` | `204`, `412`, `428`, `404` |
//!
//! Another user's rules are `403`; a tenant whose `alerts.rules` is off answers `404`.
//!
//! When a write changes the further folders the rules ask for, the node that watches the
//! mailbox subscribes it again with them at once; on the other nodes of a cluster, the change
//! takes effect at the mailbox's next subscription there.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;

use super::decide::RULES_KEY;
use super::rules::{AlertRules, MAX_RULES_BYTES};
use crate::directory::api::problem;
use crate::followme::{read_document, remove_document, the_users_own, write_document};
use crate::service::{Service, Tenant};

/// The alert rules' route.
pub fn routes(service: &Arc<Service>) -> Router {
    Router::new()
        .route(
            "/v1/tenants/{tenant}/users/{user}/alert-rules",
            get(read).put(write).delete(remove),
        )
        .layer(DefaultBodyLimit::max(MAX_RULES_BYTES + 1))
        .with_state(Arc::clone(service))
}

/// The tenant and user of the path, when the caller is that user and rules are on.
async fn owner(
    service: &Service,
    tenant: &str,
    user: &str,
    headers: &HeaderMap,
) -> Result<(Arc<Tenant>, String), Response> {
    let (tenant, user) = the_users_own(service, tenant, user, headers)
        .await
        .map_err(|refused| *refused)?;
    if !tenant.settings.alerts.rules {
        return Err(problem(
            StatusCode::NOT_FOUND,
            "alert rules are not enabled for this tenant",
        ));
    }
    Ok((tenant, user))
}

async fn read(
    State(service): State<Arc<Service>>,
    Path((tenant, user)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    match owner(&service, &tenant, &user, &headers).await {
        Ok((tenant, user)) => read_document(&service, &tenant, &user, RULES_KEY, &headers).await,
        Err(refused) => refused,
    }
}

async fn write(
    State(service): State<Arc<Service>>,
    Path((tenant, user)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (tenant, user) = match owner(&service, &tenant, &user, &headers).await {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    if body.len() > MAX_RULES_BYTES {
        return problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("alert rules have at most {MAX_RULES_BYTES} bytes"),
        );
    }
    let Ok(text) = std::str::from_utf8(&body) else {
        return problem(StatusCode::BAD_REQUEST, "the rules are not UTF-8 JSON");
    };
    let rules = match AlertRules::from_json(text) {
        Ok(rules) => rules,
        Err(error) => return problem(StatusCode::BAD_REQUEST, error.to_string()),
    };
    let before = tenant.alerting.folders_of(&user).await;
    let answer = write_document(
        &service,
        &tenant,
        &user,
        RULES_KEY,
        text,
        &headers,
        usize::MAX,
    )
    .await;
    let after: Vec<_> = rules
        .folders()
        .iter()
        .map(|f| f.to_base_folder_id())
        .collect();
    if answer.status().is_success() && after != before {
        rewatch(&service, &tenant, &user).await;
    }
    answer
}

/// Subscribes `user`'s mailbox again, with the further folders its rules now ask for, when
/// this node watches it.
async fn rewatch(service: &Service, tenant: &Tenant, user: &str) {
    if !service.node.holds(&tenant.id, user) {
        return;
    }
    match service.store.mailbox(&tenant.id, user).await {
        Ok(Some(record)) => service.start_watching(record).await,
        Ok(None) => {}
        Err(error) => {
            tracing::warn!(tenant = %tenant.id, mailbox = user, %error, "not subscribed again with the rules' folders")
        }
    }
}

async fn remove(
    State(service): State<Arc<Service>>,
    Path((tenant, user)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let (tenant, user) = match owner(&service, &tenant, &user, &headers).await {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    let had_folders = !tenant.alerting.folders_of(&user).await.is_empty();
    let answer = remove_document(&service, &tenant, &user, RULES_KEY, &headers).await;
    if answer.status().is_success() && had_folders {
        rewatch(&service, &tenant, &user).await;
    }
    answer
}
