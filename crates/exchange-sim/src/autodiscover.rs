//! Autodiscover endpoints: POX, SOAP `GetUserSettings`, v2 JSON and the plain-HTTP redirect,
//! with scripted behaviour per host.
//!
//! Every request under `/autodiscover/`, on any host name, goes through one dispatcher:
//!
//! 1. It is recorded in the request log ([`Sim::autodiscover_log`](crate::Sim::autodiscover_log)),
//!    `Authorization` header included, so tests can check where credentials went.
//! 2. The host's script is found (a run-time override, else `[[hosts]]` by name or by its own
//!    loopback address, else plain settings) and its `delay_ms` is waited.
//! 3. Hosts that are not Autodiscover servers answer for themselves: `HttpError`,
//!    `Malformed`, `Oversized`, and `Blackhole` (never answers).
//! 4. On the plain HTTP listener, the redirect of [`redirect`] answers.
//! 5. Over TLS, the path picks the endpoint: [`pox`] and [`soap`] (authenticated, see
//!    [`auth`]), [`v2`] (unauthenticated).
//!
//! The `Host` header (port stripped) decides the host, so `contoso.com`,
//! `autodiscover.contoso.com` and any scripted name are served by the same listeners.

mod api;
mod auth;
mod behaviour;
pub(crate) mod facts;
mod incoming;
mod pox;
mod redirect;
mod settings;
mod soap;
mod state;
mod v2;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State as AxumState};
use axum::response::{IntoResponse as _, Response};
use axum::routing::any;
use http::StatusCode;

use crate::sim::Ctx;
use incoming::{Endpoint, Incoming};

pub use state::AutodiscoverRequest;
pub(crate) use state::State;

/// The Autodiscover routes (paths arrive lower-cased from the listeners).
pub(crate) fn routes() -> Router<Arc<Ctx>> {
    Router::new().route("/autodiscover/{*rest}", any(dispatch))
}

async fn dispatch(AxumState(ctx): AxumState<Arc<Ctx>>, request: Request) -> Response {
    let incoming = Incoming::new(request);
    ctx.autodiscover.record(incoming.record());
    let endpoint = Endpoint::classify(&incoming.path);
    tracing::debug!(
        host = %incoming.host,
        method = %incoming.method,
        path = %incoming.path,
        tls = incoming.tls,
        credentials = incoming.authorization().is_some(),
        "autodiscover request"
    );
    if incoming.host.is_empty() {
        return StatusCode::BAD_REQUEST.into_response();
    }
    let script = behaviour::script_for(&ctx, &incoming);
    if !script.delay.is_zero() {
        tokio::select! {
            () = tokio::time::sleep(script.delay) => {}
            () = ctx.shutdown.cancelled() => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
        }
    }
    if let Some(response) = behaviour::non_autodiscover_answer(&ctx, &script.behaviour).await {
        return response;
    }
    if !incoming.tls {
        return redirect::answer(&ctx, &incoming, &script.behaviour, &endpoint);
    }
    if matches!(
        script.behaviour,
        crate::scenario::HostBehaviour::HttpRedirect(_)
    ) {
        // A host set up only to redirect (an IIS site with the HTTP redirect) serves no
        // Autodiscover over HTTPS.
        return StatusCode::NOT_FOUND.into_response();
    }
    match endpoint {
        Endpoint::Pox { direct } => pox::answer(&ctx, incoming, &script.behaviour, direct).await,
        Endpoint::Soap => soap::answer(&ctx, incoming, &script.behaviour).await,
        Endpoint::V2 { address } => v2::answer(&ctx, &incoming, address),
        Endpoint::Unknown => StatusCode::NOT_FOUND.into_response(),
    }
}
