//! EWS at `/EWS/Exchange.asmx`: authentication, impersonation, routing to a back end,
//! budgets, faults, then the operation.
//!
//! Header-level failures (impersonation denied, no such mailbox, throttled) are SOAP faults
//! with HTTP 500, as Exchange sends them; operation-level failures are response messages with
//! class `Error` and HTTP 200.

mod auth;
mod convert_id;
pub(crate) mod directory_ops;
mod envelope;
mod find_folder;
mod folder;
mod folder_ids;
mod get_item;
mod move_item;
mod ntlm;
mod pull;
mod push;
mod respond;
mod routing;
mod streaming;
pub(crate) mod strict;
mod subscribe;
mod write;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use ews_proto::ResponseCode;
use ews_proto::operations::{
    GetEvents, GetStreamingEvents, GetUserPhoto, ResolveNames, Unsubscribe,
};

use crate::net::ConnInfo;
use crate::sim::{Ctx, Stats};
use crate::world::World;
use crate::world::directory::Principal;
use crate::world::faults::Fault;
use envelope::{ConnectingSid, Header, Refusal};
use folder_ids::Actor;
pub(crate) use ntlm::ConnNtlm;
use routing::Route;

/// Counters for load reports.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) streaming_connections: AtomicUsize,
    pub(crate) streamed_envelopes: AtomicU64,
    pub(crate) streamed_events: AtomicU64,
    pub(crate) push_notifications: AtomicU64,
    pub(crate) push_callbacks_failed: AtomicU64,
    /// NTLM handshakes that authenticated a connection.
    pub(crate) ntlm_handshakes: AtomicU64,
    /// `GetItem` requests answered (with items or errors, an injected failure included).
    pub(crate) item_reads: AtomicU64,
    /// Messages `GetItem` returned.
    pub(crate) items_read: AtomicU64,
}

/// The EWS routes, recorded when `EXCHANGE_SIM_RECORD` asks for it (see [`crate::record`]).
pub(crate) fn routes() -> Router<Arc<Ctx>> {
    Router::new()
        .route("/ews/exchange.asmx", post(handle))
        .layer(axum::middleware::from_fn_with_state(
            crate::record::Recorder::from_env(),
            crate::record::layer,
        ))
}

/// Counts for load reports.
pub(crate) fn stats(world: &World) -> Stats {
    let subscriptions = world
        .servers
        .iter()
        .flat_map(|s| s.backends.iter())
        .map(|b| b.subscriptions().len())
        .sum();
    let c = &world.ews_counters;
    Stats {
        subscriptions,
        streaming_connections: c.streaming_connections.load(Ordering::Relaxed),
        streamed_envelopes: c.streamed_envelopes.load(Ordering::Relaxed),
        streamed_events: c.streamed_events.load(Ordering::Relaxed),
        push_notifications: c.push_notifications.load(Ordering::Relaxed),
        push_callbacks_failed: c.push_callbacks_failed.load(Ordering::Relaxed),
        item_reads: c.item_reads.load(Ordering::Relaxed),
        items_read: c.items_read.load(Ordering::Relaxed),
    }
}

/// One authenticated, routed request.
pub(crate) struct Call {
    pub(crate) ctx: Arc<Ctx>,
    pub(crate) principal: Principal,
    /// The mailbox the request acts as.
    pub(crate) mailbox: usize,
    /// Budget key: the impersonated mailbox's copy, or the caller's own.
    pub(crate) budget_key: String,
    pub(crate) route: Route,
}

async fn handle(
    State(ctx): State<Arc<Ctx>>,
    conn: Option<axum::Extension<ConnInfo>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let conn = conn.map(|axum::Extension(c)| c);
    let principal = match auth::authenticate(&ctx, &headers, conn.as_ref()) {
        Ok(principal) => principal,
        Err(response) => return *response,
    };
    match ctx.world.faults.next() {
        Some(Fault::Drop) => return respond::dropped(),
        Some(Fault::Malformed) => return respond::malformed(),
        Some(Fault::Busy) => return respond::server_busy(&ctx.world),
        None => {}
    }
    // The body is read once: judged by the schema, then read by the operation's reader.
    let parsed = strict::media_type(&headers).and_then(|()| strict::parse(&body));
    let (src, doc) = match parsed {
        Ok(parsed) => parsed,
        Err(refusal) => return respond::refused(&refusal),
    };
    let operation = match strict::judge(ctx.world.scenario.profile, src, &doc) {
        Ok(operation) => operation,
        Err(refusal) => return respond::refused(&refusal),
    };
    // ConvertId is read and answered by the simulator's own code (app-only callers take the
    // path below, which asks them for ExchangeImpersonation first).
    if operation == "ConvertId"
        && !matches!(principal, Principal::App { .. })
        && let Some(response) = convert_id::handle(&ctx.world, &doc)
    {
        return response;
    }
    let (header, incoming) = match read_request(envelope::Request { doc }) {
        Ok(read) => read,
        Err(refused) => return *refused,
    };
    let (own, impersonating) = match acting_mailbox(&ctx, &principal, &header, &headers) {
        Ok(found) => found,
        Err((code, text)) => return respond::ews_fault(&code, text),
    };
    // An account without a mailbox may still reach others' folders and items by delegate
    // access (folder_ids.rs); every other operation needs a mailbox to act in.
    let mailbox = match (own, &incoming) {
        (Some(own), _) => own,
        (
            None,
            Incoming::GetFolder(_)
            | Incoming::FindFolder(_)
            | Incoming::MoveItem(_)
            | Incoming::GetItem(_),
        ) => incoming.named_mailbox(&ctx.world).unwrap_or(0),
        (None, Incoming::Subscribe(request)) => {
            return subscribe::without_mailbox(&ctx.world, request);
        }
        (None, _) => {
            return respond::ews_fault(
                &ResponseCode::ErrorNonExistentMailbox,
                "The SMTP address has no mailbox associated with it.",
            );
        }
    };
    let actor = Actor {
        identity: if impersonating {
            Principal::User(mailbox)
        } else {
            principal.clone()
        },
        mailbox: own,
    };
    let budget_key = if impersonating {
        format!("mailbox:{mailbox}")
    } else {
        principal.key()
    };
    let route = routing::route(&ctx.world, &headers, mailbox);
    let call = Call {
        ctx: Arc::clone(&ctx),
        principal,
        mailbox,
        budget_key,
        route: route.clone(),
    };
    let response = match incoming {
        Incoming::GetStreamingEvents(request) => streaming::handle(call, request).await,
        other => {
            let limits = ctx.world.throttle.limits();
            let Some(_permit) = ctx
                .world
                .throttle
                .concurrency
                .try_acquire(&call.budget_key, limits.max_concurrency)
            else {
                return respond::server_busy(&ctx.world);
            };
            let delay = ctx.world.faults.delay();
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            dispatch(&call, &actor, other).await
        }
    };
    routing::with_affinity_cookie(response, &route)
}

/// A request's body, as the simulator's own readers read it (each in its operation's file).
enum Incoming {
    GetFolder(folder::GetFolder),
    FindFolder(find_folder::FindFolder),
    MoveItem(move_item::MoveItem),
    GetItem(get_item::GetItem),
    Subscribe(subscribe::Subscribe),
    Unsubscribe(Unsubscribe),
    GetEvents(GetEvents),
    GetStreamingEvents(GetStreamingEvents),
    ResolveNames(ResolveNames),
    GetUserPhoto(GetUserPhoto),
}

impl Incoming {
    /// The first mailbox a folder request names, for routing an account without a mailbox.
    fn named_mailbox(&self, world: &World) -> Option<usize> {
        let ids = match self {
            Self::GetFolder(request) => &request.folder_ids,
            Self::FindFolder(request) => &request.parents,
            Self::MoveItem(request) => return request.named_mailbox(world),
            Self::GetItem(request) => return request.named_mailbox(world),
            _ => return None,
        };
        ids.iter().find_map(|id| id.named_mailbox(world))
    }
}

/// Reads the envelope with the simulator's own reader: its header, and its operation's body
/// by that operation's reader.
fn read_request(request: envelope::Request<'_>) -> Result<(Header, Incoming), Box<Response>> {
    let header = request.header().map_err(|r| Box::new(r.response()))?;
    let operation = request.operation().map_err(|r| Box::new(r.response()))?;
    let doc = &request.doc;
    let incoming = match operation.map(|n| (n, n.tag_name().name())) {
        Some((node, "GetFolder")) => folder::read(doc, node).map(Incoming::GetFolder),
        Some((node, "FindFolder")) => find_folder::read(doc, node).map(Incoming::FindFolder),
        Some((node, "MoveItem")) => move_item::read(doc, node).map(Incoming::MoveItem),
        Some((node, "GetItem")) => get_item::read(doc, node).map(Incoming::GetItem),
        Some((node, "Subscribe")) => subscribe::read(doc, node).map(Incoming::Subscribe),
        Some((node, "Unsubscribe")) => {
            subscribe::read_unsubscribe(doc, node).map(Incoming::Unsubscribe)
        }
        Some((node, "GetEvents")) => pull::read(doc, node).map(Incoming::GetEvents),
        Some((node, "GetStreamingEvents")) => {
            streaming::read(doc, node).map(Incoming::GetStreamingEvents)
        }
        Some((node, "ResolveNames")) => {
            directory_ops::read_resolve_names(doc, node).map(Incoming::ResolveNames)
        }
        Some((node, "GetUserPhoto")) => {
            directory_ops::read_get_user_photo(doc, node).map(Incoming::GetUserPhoto)
        }
        // An operation no reader here reads (ConvertId from an app-only caller, which is
        // answered above for everyone else): the request is not one this server serves.
        _ => Err(Refusal::new(
            ResponseCode::ErrorInvalidRequest,
            "The request is invalid.",
        )),
    };
    incoming
        .map(|incoming| (header, incoming))
        .map_err(|r| Box::new(r.response()))
}

async fn dispatch(call: &Call, actor: &Actor, request: Incoming) -> Response {
    match request {
        Incoming::GetFolder(request) => folder::get_folder(call, actor, &request),
        Incoming::FindFolder(request) => find_folder::find_folder(call, actor, &request),
        Incoming::MoveItem(request) => move_item::move_item(call, actor, &request),
        Incoming::GetItem(request) => {
            let world = &call.ctx.world;
            world
                .ews_counters
                .item_reads
                .fetch_add(1, Ordering::Relaxed);
            // The details path's own faults: a failed read is what the busy fault writes.
            if world.faults.take_fail_item_read() {
                return respond::server_busy(world);
            }
            let delay = world.faults.item_read_delay();
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            get_item::get_item(call, actor, &request)
        }
        Incoming::Subscribe(request) => {
            let response = subscribe::subscribe(call, request);
            // The subscription exists from here on; its answer may be slow to arrive.
            let delay = call.ctx.world.faults.subscribe_answer_delay();
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            response
        }
        Incoming::Unsubscribe(request) => subscribe::unsubscribe(call, request),
        Incoming::GetEvents(request) => pull::get_events(call, request),
        Incoming::ResolveNames(request) => directory_ops::resolve_names(call, request),
        Incoming::GetUserPhoto(request) => directory_ops::get_user_photo(call, request),
        Incoming::GetStreamingEvents(_) => respond::client_fault("unexpected request"),
    }
}

/// Which mailbox the request acts as (none for an account without one) and whether by
/// impersonation, checking impersonation rights; a SOAP fault otherwise.
fn acting_mailbox(
    ctx: &Ctx,
    principal: &Principal,
    header: &Header,
    headers: &HeaderMap,
) -> Result<(Option<usize>, bool), (ResponseCode, &'static str)> {
    let directory = &ctx.world.directory;
    let app_only = matches!(principal, Principal::App { .. });
    match &header.impersonation {
        Some(sid) => {
            let target = match sid {
                ConnectingSid::PrimarySmtpAddress(a)
                | ConnectingSid::SmtpAddress(a)
                | ConnectingSid::PrincipalName(a) => directory.user_by_smtp(a),
                ConnectingSid::Sid(_) => None,
            }
            .ok_or((
                ResponseCode::ErrorNonExistentMailbox,
                "The SMTP address has no mailbox associated with it.",
            ))?;
            if !directory.may_impersonate(principal, target) {
                return Err((
                    ResponseCode::ErrorImpersonateUserDenied,
                    "The account does not have permission to impersonate the requested user.",
                ));
            }
            if app_only && routing::header(headers, ews_proto::affinity::ANCHOR_MAILBOX).is_none() {
                return Err((
                    ResponseCode::ErrorInvalidExchangeImpersonationHeaderData,
                    "The X-AnchorMailbox header must be present for app-only tokens.",
                ));
            }
            Ok((Some(target), true))
        }
        None if app_only => Err((
            ResponseCode::ErrorInvalidExchangeImpersonationHeaderData,
            "ExchangeImpersonation SOAP header must be present for this type of OAuth token.",
        )),
        None => Ok((directory.own_mailbox(principal), false)),
    }
}
