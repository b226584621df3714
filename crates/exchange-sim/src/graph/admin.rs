//! The Graph part of the admin API, nested under `/_sim/graph`:
//!
//! | method and path | body | does |
//! |---|---|---|
//! | `GET /_sim/graph/subscriptions` | | every subscription |
//! | `POST /_sim/graph/subscriptions/{id}/lifecycle` | `{"event":"missed"}` | send a lifecycle notification (`reauthorizationRequired`, `subscriptionRemoved`, `missed`) |
//! | `POST /_sim/graph/mailboxes/{smtp}/drop` | `{"count":1}` | drop the next change notifications of the mailbox's subscriptions |
//! | `POST /_sim/graph/throttle` | `{"count":2,"retry_after_seconds":1}` | answer the next requests 429 |
//! | `GET /_sim/graph/stats` | | counts |

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::{GraphHandle, LifecycleEvent};
use crate::admin::{authorized, outcome};
use crate::sim::Ctx;

/// The routes, nested under `/_sim/graph`.
pub(crate) fn routes() -> Router<Arc<Ctx>> {
    Router::new()
        .route("/subscriptions", get(list))
        .route("/subscriptions/{id}/lifecycle", post(lifecycle))
        .route("/mailboxes/{smtp}/drop", post(drop_notifications))
        .route("/throttle", post(throttle))
        .route("/stats", get(stats))
}

fn handle(ctx: &Arc<Ctx>) -> GraphHandle<'_> {
    let port = ctx
        .world
        .https_port
        .load(std::sync::atomic::Ordering::Relaxed);
    GraphHandle::new(ctx, port)
}

async fn list(State(ctx): State<Arc<Ctx>>, headers: HeaderMap) -> Response {
    if let Err(denied) = authorized(&ctx, &headers) {
        return *denied;
    }
    outcome(Ok(json!(handle(&ctx).subscriptions(None))))
}

#[derive(Deserialize)]
struct Lifecycle {
    event: LifecycleEvent,
}

async fn lifecycle(
    State(ctx): State<Arc<Ctx>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<Lifecycle>,
) -> Response {
    if let Err(denied) = authorized(&ctx, &headers) {
        return *denied;
    }
    outcome(
        handle(&ctx)
            .lifecycle(&id, body.event)
            .map(|()| json!({"sent": body.event.as_str()})),
    )
}

#[derive(Deserialize)]
struct Count {
    count: u64,
}

async fn drop_notifications(
    State(ctx): State<Arc<Ctx>>,
    headers: HeaderMap,
    Path(smtp): Path<String>,
    Json(body): Json<Count>,
) -> Response {
    if let Err(denied) = authorized(&ctx, &headers) {
        return *denied;
    }
    outcome(
        handle(&ctx)
            .drop_notifications(&smtp, body.count)
            .map(|()| json!({"dropping": body.count})),
    )
}

#[derive(Deserialize)]
struct Throttle {
    count: u64,
    #[serde(default = "one")]
    retry_after_seconds: u64,
}

fn one() -> u64 {
    1
}

async fn throttle(
    State(ctx): State<Arc<Ctx>>,
    headers: HeaderMap,
    Json(body): Json<Throttle>,
) -> Response {
    if let Err(denied) = authorized(&ctx, &headers) {
        return *denied;
    }
    handle(&ctx).throttle(body.count, Duration::from_secs(body.retry_after_seconds));
    outcome(Ok(json!({"throttling": body.count})))
}

async fn stats(State(ctx): State<Arc<Ctx>>, headers: HeaderMap) -> Response {
    if let Err(denied) = authorized(&ctx, &headers) {
        return *denied;
    }
    outcome(Ok(json!(handle(&ctx).stats())))
}
