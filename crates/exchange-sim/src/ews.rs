//! EWS at `/EWS/Exchange.asmx`: authentication, impersonation, routing to a back end,
//! budgets, faults, then the operation.
//!
//! Header-level failures (impersonation denied, no such mailbox, throttled) are SOAP faults
//! with HTTP 500, as Exchange sends them; operation-level failures are response messages with
//! class `Error` and HTTP 200.

mod auth;
pub(crate) mod directory_ops;
mod folder;
mod ntlm;
mod pull;
mod push;
mod respond;
mod routing;
mod streaming;
pub(crate) mod strict;
mod subscribe;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use ews_proto::ResponseCode;
use ews_proto::operations::Request;
use ews_proto::soap::{ConnectingSid, Envelope, SoapFault, read_envelope};

use crate::net::ConnInfo;
use crate::sim::{Ctx, Stats};
use crate::world::World;
use crate::world::directory::Principal;
use crate::world::faults::Fault;
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
}

/// The EWS routes.
pub(crate) fn routes() -> Router<Arc<Ctx>> {
    Router::new().route("/ews/exchange.asmx", post(handle))
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
    if let Err(refusal) = strict::check(ctx.world.scenario.profile, &headers, &body) {
        return respond::refused(&refusal);
    }
    let envelope: Envelope<Request> = match read_envelope(&body) {
        Ok(envelope) => envelope,
        Err(error) => return respond::schema_error(&error),
    };
    let (mailbox, impersonating) = match acting_mailbox(&ctx, &principal, &envelope, &headers) {
        Ok(found) => found,
        Err(fault) => return respond::fault(&fault),
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
    let response = match envelope.body {
        Request::GetStreamingEvents(request) => streaming::handle(call, request).await,
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
            dispatch(&call, other).await
        }
    };
    routing::with_affinity_cookie(response, &route)
}

async fn dispatch(call: &Call, request: Request) -> Response {
    match request {
        Request::Subscribe(request) => {
            let response = subscribe::subscribe(call, request);
            // The subscription exists from here on; its answer may be slow to arrive.
            let delay = call.ctx.world.faults.subscribe_answer_delay();
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            response
        }
        Request::Unsubscribe(request) => subscribe::unsubscribe(call, request),
        Request::GetEvents(request) => pull::get_events(call, request),
        Request::GetFolder(request) => folder::get_folder(call, request),
        Request::ResolveNames(request) => directory_ops::resolve_names(call, request),
        Request::GetUserPhoto(request) => directory_ops::get_user_photo(call, request),
        Request::GetStreamingEvents(_) => respond::fault(&SoapFault::client("unexpected request")),
        _ => respond::fault(&SoapFault::ews(
            ResponseCode::ErrorInvalidRequest,
            "The request is not supported by this server.",
        )),
    }
}

/// Which mailbox the request acts as, checking impersonation rights; a SOAP fault otherwise.
fn acting_mailbox(
    ctx: &Ctx,
    principal: &Principal,
    envelope: &Envelope<Request>,
    headers: &HeaderMap,
) -> Result<(usize, bool), Box<SoapFault>> {
    let directory = &ctx.world.directory;
    let app_only = matches!(principal, Principal::App { .. });
    match &envelope.header.impersonation {
        Some(sid) => {
            let target = match sid {
                ConnectingSid::PrimarySmtpAddress(a)
                | ConnectingSid::SmtpAddress(a)
                | ConnectingSid::PrincipalName(a) => directory.user_by_smtp(a),
                _ => None,
            }
            .ok_or_else(|| {
                Box::new(SoapFault::ews(
                    ResponseCode::ErrorNonExistentMailbox,
                    "The SMTP address has no mailbox associated with it.",
                ))
            })?;
            if !directory.may_impersonate(principal, target) {
                return Err(Box::new(SoapFault::ews(
                    ResponseCode::ErrorImpersonateUserDenied,
                    "The account does not have permission to impersonate the requested user.",
                )));
            }
            if app_only && routing::header(headers, ews_proto::affinity::ANCHOR_MAILBOX).is_none() {
                return Err(Box::new(SoapFault::ews(
                    ResponseCode::ErrorInvalidExchangeImpersonationHeaderData,
                    "The X-AnchorMailbox header must be present for app-only tokens.",
                )));
            }
            Ok((target, true))
        }
        None if app_only => Err(Box::new(SoapFault::ews(
            ResponseCode::ErrorInvalidExchangeImpersonationHeaderData,
            "ExchangeImpersonation SOAP header must be present for this type of OAuth token.",
        ))),
        None => directory
            .own_mailbox(principal)
            .map(|m| (m, false))
            .ok_or_else(|| {
                Box::new(SoapFault::ews(
                    ResponseCode::ErrorNonExistentMailbox,
                    "The SMTP address has no mailbox associated with it.",
                ))
            }),
    }
}
