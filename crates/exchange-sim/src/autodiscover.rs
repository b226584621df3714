//! Autodiscover endpoints: POX, SOAP, v2 JSON and the plain-HTTP redirect, with scripted
//! behaviour per host.
//!
//! STUB: the full implementation lands in this module's files.

use std::sync::Arc;

use axum::Router;

use crate::sim::Ctx;

/// The Autodiscover routes.
pub(crate) fn routes() -> Router<Arc<Ctx>> {
    Router::new()
}
