//! The plain-HTTP listener's Autodiscover answer: the unauthenticated redirect of
//! MS-OXDISCO §3.1.5.4.
//!
//! `GET http://autodiscover.<domain>/autodiscover/autodiscover.xml` answers `302` with
//! `Location: https://autodiscover.<domain>:<https port>/autodiscover/autodiscover.xml`, or
//! with the URL of a host scripted `HttpRedirect(url)`. Like an IIS site set up only to
//! redirect, it answers every method and every Autodiscover path the same way (the
//! `Location` keeps the path and query), never asks for credentials and never reads them.

use axum::response::{IntoResponse as _, Response};
use http::{StatusCode, header};

use super::incoming::{Endpoint, Incoming, domain_of_host};
use crate::scenario::HostBehaviour;
use crate::sim::Ctx;

/// Answers a request that came to the plain HTTP listener.
pub(crate) fn answer(
    ctx: &Ctx,
    incoming: &Incoming,
    behaviour: &HostBehaviour,
    endpoint: &Endpoint,
) -> Response {
    let location = match behaviour {
        HostBehaviour::HttpRedirect(url) => url.clone(),
        _ if *endpoint == Endpoint::Unknown => return StatusCode::NOT_FOUND.into_response(),
        _ => default_location(ctx, incoming),
    };
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

/// `https://autodiscover.<domain>:<https port><path>[?query]`.
fn default_location(ctx: &Ctx, incoming: &Incoming) -> String {
    let domain = domain_of_host(&ctx.world.scenario, &incoming.host);
    let authority = ctx.world.authority(&format!("autodiscover.{domain}"));
    let query = incoming
        .query
        .as_deref()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    format!("https://{authority}{}{query}", incoming.path)
}
