//! The admin HTTP endpoint (`/_sim/...`) and the operations it shares with the Rust API.
//!
//! JSON in, JSON out:
//!
//! | method and path | body | does |
//! |---|---|---|
//! | `POST /_sim/mailboxes/{smtp}/messages` | `{"subject":..,"from":..,"from_name":..,"importance":"high"}` (all optional; `importance` `low`, `normal` or `high`) | deliver a new mail; answers `{"item_id":..}` |
//! | `POST /_sim/mailboxes/{smtp}/messages/{id}/read` | `{"read":true}` | mark read or unread |
//! | `POST /_sim/mailboxes/{smtp}/messages/{id}/move` | `{"folder":"deleteditems"}` | move; answers the new id |
//! | `DELETE /_sim/mailboxes/{smtp}/messages/{id}` | | delete for good |
//! | `GET /_sim/mailboxes/{smtp}` | | unread count, EWS URLs, grouping |
//! | `POST /_sim/mailboxes/{smtp}/move` | `{"server":"mbx2"}` | move the mailbox to another server |
//! | `POST /_sim/servers/{name}/restart` | | restart a server: its subscriptions are lost |
//! | `POST /_sim/faults` | `{"server_busy":3,"drop_connections":1,"malformed":1,"slow_ms":200,"ignore_affinity":1,"cut_streams":true,"slow_item_reads_ms":500,"fail_item_reads":2}` | inject faults (`*_item_reads`: EWS `GetItem` and Graph's message GET only) |
//! | `POST /_sim/clock/advance` | `{"seconds":2678400}` | move simulated time forward |
//! | `GET /_sim/stats` | | subscriptions, streams, events |
//! | `POST /_sim/load/deliver` | `{"count":100000,"per_second":10000}` | deliver mails round-robin over every mailbox, in the background (load tests) |
//! | `/_sim/graph/...` | | Microsoft Graph: subscriptions, lifecycle notifications, dropped notifications, throttling (see the `graph` module) |
//!
//! When the scenario sets `admin_token`, every call needs `Authorization: Bearer <token>`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::sim::Ctx;
use crate::world::World;
use crate::world::mailbox::FolderKind;
use crate::{Importance, NewMessage, SimError};

/// The admin routes, nested under `/_sim`.
pub(crate) fn routes() -> Router<Arc<Ctx>> {
    Router::new()
        .route("/mailboxes/{smtp}", get(mailbox))
        .route("/mailboxes/{smtp}/messages", post(deliver))
        .route("/mailboxes/{smtp}/messages/{id}/read", post(read))
        .route("/mailboxes/{smtp}/messages/{id}/move", post(move_message))
        .route("/mailboxes/{smtp}/messages/{id}", delete(delete_message))
        .route("/mailboxes/{smtp}/move", post(move_to_server))
        .route("/servers/{name}/restart", post(restart))
        .route("/faults", post(faults))
        .route("/clock/advance", post(advance))
        .route("/stats", get(stats))
        .route("/load/deliver", post(load_deliver))
        .nest("/graph", crate::graph::admin_routes())
}

pub(crate) fn authorized(ctx: &Ctx, headers: &HeaderMap) -> Result<(), Box<Response>> {
    let Some(token) = ctx.world.scenario.admin_token.as_deref() else {
        return Ok(());
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(given)
            if crate::world::directory::constant_time_eq(given.as_bytes(), token.as_bytes()) =>
        {
            Ok(())
        }
        _ => Err(Box::new(
            (
                StatusCode::UNAUTHORIZED,
                Json(json!({"error": "admin token required"})),
            )
                .into_response(),
        )),
    }
}

pub(crate) fn outcome(result: Result<serde_json::Value, SimError>) -> Response {
    match result {
        Ok(value) => Json(value).into_response(),
        Err(SimError::NotFound(what)) => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": format!("not found: {what}")})),
        )
            .into_response(),
        Err(other) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": other.to_string()})),
        )
            .into_response(),
    }
}

fn find<'a>(
    world: &'a World,
    smtp: &str,
) -> Result<&'a Arc<crate::world::mailbox::Mailbox>, SimError> {
    world
        .mailbox(smtp)
        .ok_or_else(|| SimError::NotFound(format!("mailbox {smtp}")))
}

fn item(mailbox: &crate::world::mailbox::Mailbox, id: &str) -> Result<u64, SimError> {
    mailbox
        .parse_item_id(id)
        .ok_or_else(|| SimError::NotFound(format!("item {id}")))
}

async fn mailbox(
    State(ctx): State<Arc<Ctx>>,
    headers: HeaderMap,
    Path(smtp): Path<String>,
) -> Response {
    if let Err(denied) = authorized(&ctx, &headers) {
        return *denied;
    }
    let world = &ctx.world;
    outcome(find(world, &smtp).map(|mailbox| {
        let index = mailbox.id as usize;
        json!({
            "address": mailbox.address,
            "unread": mailbox.unread(FolderKind::Inbox),
            "server": world.servers.get(mailbox.server()).map(|s| s.name.clone()),
            "grouping_information": world.grouping_information(index),
            "external_ews_url": world.external_ews_url(index),
            "internal_ews_url": world.internal_ews_url(index),
            "subscriptions": mailbox.subscriptions().len(),
            "messages": mailbox.lock().items.iter().map(|(number, item)| json!({
                "item_id": mailbox.item_id(*number, item.version).id,
                "subject": item.subject,
                "from": item.from,
                "from_name": item.from_name,
                "importance": item.importance,
                "read": item.read,
                "folder": item.folder,
            })).collect::<Vec<_>>(),
        })
    }))
}

#[derive(Deserialize)]
struct NewMail {
    #[serde(default = "default_subject")]
    subject: String,
    #[serde(default = "default_from")]
    from: String,
    /// The sender's display name; none by default.
    #[serde(default)]
    from_name: Option<String>,
    /// `low`, `normal` (the default) or `high`.
    #[serde(default)]
    importance: Importance,
}

impl NewMail {
    fn message(self) -> NewMessage {
        let message = NewMessage::new(self.subject, self.from).with_importance(self.importance);
        match self.from_name {
            Some(name) => message.with_from_name(name),
            None => message,
        }
    }
}

fn default_subject() -> String {
    "Hello".to_owned()
}

fn default_from() -> String {
    "sender@example.com".to_owned()
}

async fn deliver(
    State(ctx): State<Arc<Ctx>>,
    headers: HeaderMap,
    Path(smtp): Path<String>,
    body: Option<Json<NewMail>>,
) -> Response {
    if let Err(denied) = authorized(&ctx, &headers) {
        return *denied;
    }
    let mail = body.map_or_else(
        || NewMessage::new(default_subject(), default_from()),
        |Json(m)| m.message(),
    );
    outcome(find(&ctx.world, &smtp).map(|mailbox| {
        let number = mailbox.deliver_message(ctx.world.clock.now(), &mail);
        json!({"item_id": mailbox.item_id(number, 0).id, "unread": mailbox.unread(FolderKind::Inbox)})
    }))
}

#[derive(Deserialize)]
struct Read {
    #[serde(default = "yes")]
    read: bool,
}

fn yes() -> bool {
    true
}

async fn read(
    State(ctx): State<Arc<Ctx>>,
    headers: HeaderMap,
    Path((smtp, id)): Path<(String, String)>,
    body: Option<Json<Read>>,
) -> Response {
    if let Err(denied) = authorized(&ctx, &headers) {
        return *denied;
    }
    let read = body.is_none_or(|Json(r)| r.read);
    outcome(find(&ctx.world, &smtp).and_then(|mailbox| {
        let number = item(mailbox, &id)?;
        mailbox
            .set_read(ctx.world.clock.now(), number, read)
            .ok_or_else(|| SimError::NotFound(format!("item {id}")))?;
        Ok(json!({"unread": mailbox.unread(FolderKind::Inbox)}))
    }))
}

#[derive(Deserialize)]
struct MoveTo {
    folder: FolderKind,
}

async fn move_message(
    State(ctx): State<Arc<Ctx>>,
    headers: HeaderMap,
    Path((smtp, id)): Path<(String, String)>,
    Json(to): Json<MoveTo>,
) -> Response {
    if let Err(denied) = authorized(&ctx, &headers) {
        return *denied;
    }
    outcome(find(&ctx.world, &smtp).and_then(|mailbox| {
        let number = item(mailbox, &id)?;
        let new = mailbox
            .move_item(ctx.world.clock.now(), number, to.folder)
            .ok_or_else(|| SimError::NotFound(format!("item {id}")))?;
        Ok(json!({"item_id": mailbox.item_id(new, 0).id}))
    }))
}

async fn delete_message(
    State(ctx): State<Arc<Ctx>>,
    headers: HeaderMap,
    Path((smtp, id)): Path<(String, String)>,
) -> Response {
    if let Err(denied) = authorized(&ctx, &headers) {
        return *denied;
    }
    outcome(find(&ctx.world, &smtp).and_then(|mailbox| {
        let number = item(mailbox, &id)?;
        mailbox
            .delete_item(ctx.world.clock.now(), number)
            .ok_or_else(|| SimError::NotFound(format!("item {id}")))?;
        Ok(json!({"deleted": id}))
    }))
}

#[derive(Deserialize)]
struct ToServer {
    server: String,
}

async fn move_to_server(
    State(ctx): State<Arc<Ctx>>,
    headers: HeaderMap,
    Path(smtp): Path<String>,
    Json(to): Json<ToServer>,
) -> Response {
    if let Err(denied) = authorized(&ctx, &headers) {
        return *denied;
    }
    outcome(
        move_mailbox(&ctx.world, &smtp, &to.server)
            .map(|()| json!({"moved": smtp, "server": to.server})),
    )
}

async fn restart(
    State(ctx): State<Arc<Ctx>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    if let Err(denied) = authorized(&ctx, &headers) {
        return *denied;
    }
    outcome(
        restart_server(&ctx.world, &name)
            .map(|lost| json!({"restarted": name, "subscriptions_lost": lost})),
    )
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct FaultRequest {
    server_busy: Option<u64>,
    drop_connections: Option<u64>,
    malformed: Option<u64>,
    slow_ms: Option<u64>,
    ignore_affinity: Option<u64>,
    cut_streams: bool,
    slow_item_reads_ms: Option<u64>,
    fail_item_reads: Option<u64>,
}

async fn faults(
    State(ctx): State<Arc<Ctx>>,
    headers: HeaderMap,
    Json(request): Json<FaultRequest>,
) -> Response {
    if let Err(denied) = authorized(&ctx, &headers) {
        return *denied;
    }
    let faults = &ctx.world.faults;
    if let Some(n) = request.server_busy {
        faults.busy(n);
    }
    if let Some(n) = request.drop_connections {
        faults.drop_connections(n);
    }
    if let Some(n) = request.malformed {
        faults.malformed(n);
    }
    if let Some(ms) = request.slow_ms {
        faults.slow(Duration::from_millis(ms));
    }
    if let Some(n) = request.ignore_affinity {
        faults.ignore_affinity(n);
    }
    if request.cut_streams {
        faults.cut_streams();
    }
    if let Some(ms) = request.slow_item_reads_ms {
        faults.slow_item_reads(Duration::from_millis(ms));
    }
    if let Some(n) = request.fail_item_reads {
        faults.fail_item_reads(n);
    }
    Json(json!({"ok": true})).into_response()
}

#[derive(Deserialize)]
struct Advance {
    seconds: u64,
}

async fn advance(
    State(ctx): State<Arc<Ctx>>,
    headers: HeaderMap,
    Json(by): Json<Advance>,
) -> Response {
    if let Err(denied) = authorized(&ctx, &headers) {
        return *denied;
    }
    ctx.world.clock.advance(Duration::from_secs(by.seconds));
    Json(json!({"advanced_seconds": by.seconds})).into_response()
}

async fn stats(State(ctx): State<Arc<Ctx>>, headers: HeaderMap) -> Response {
    if let Err(denied) = authorized(&ctx, &headers) {
        return *denied;
    }
    Json(crate::ews::stats(&ctx.world)).into_response()
}

/// Restarts every back end of `server`; returns how many subscriptions were lost.
pub(crate) fn restart_server(world: &World, server: &str) -> Result<usize, SimError> {
    let server = world
        .servers
        .iter()
        .find(|s| s.name.eq_ignore_ascii_case(server))
        .ok_or_else(|| SimError::NotFound(format!("server {server}")))?;
    Ok(server.backends.iter().map(|b| b.restart()).sum())
}

/// Moves a mailbox to `server`.
pub(crate) fn move_mailbox(world: &World, smtp: &str, server: &str) -> Result<(), SimError> {
    let mailbox = world
        .mailbox(smtp)
        .ok_or_else(|| SimError::NotFound(format!("mailbox {smtp}")))?;
    let target = world
        .servers
        .iter()
        .position(|s| s.name.eq_ignore_ascii_case(server))
        .ok_or_else(|| SimError::NotFound(format!("server {server}")))?;
    if mailbox.server() == target {
        return Ok(());
    }
    mailbox.set_server(target);
    for subscription in mailbox.subscriptions() {
        let (server, backend) = subscription.home;
        if let Some(backend) = world
            .servers
            .get(server)
            .and_then(|s| s.backends.get(backend))
        {
            backend.remove(subscription.id.as_str());
        }
        subscription.fail(ews_proto::ResponseCode::ErrorInvalidSubscription);
    }
    Ok(())
}

#[derive(Deserialize)]
struct Load {
    count: u64,
    per_second: u64,
}

/// Delivers `count` mails round-robin over every mailbox at `per_second`, in the background.
async fn load_deliver(
    State(ctx): State<Arc<Ctx>>,
    headers: HeaderMap,
    Json(load): Json<Load>,
) -> Response {
    if let Err(denied) = authorized(&ctx, &headers) {
        return *denied;
    }
    if ctx.world.mailboxes.is_empty() || load.per_second == 0 {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "no mailboxes, or per_second is 0"})),
        )
            .into_response();
    }
    let world = Arc::clone(&ctx.world);
    let shutdown = ctx.shutdown.clone();
    tokio::spawn(async move {
        // Deliver in ticks of 10 ms to hold the rate without a timer per mail.
        let per_tick = (load.per_second / 100).max(1);
        let mut interval = tokio::time::interval(Duration::from_millis(10));
        let mut sent = 0u64;
        while sent < load.count {
            tokio::select! {
                _ = interval.tick() => {}
                () = shutdown.cancelled() => return,
            }
            for _ in 0..per_tick.min(load.count - sent) {
                let index = usize::try_from(sent % world.mailboxes.len() as u64).unwrap_or(0);
                world.mailboxes[index].deliver(world.clock.now(), "load", "load@example.com");
                sent += 1;
            }
        }
    });
    Json(json!({"started": load.count, "per_second": load.per_second})).into_response()
}
