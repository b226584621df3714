//! EWS at `/EWS/Exchange.asmx`.

use std::sync::Arc;

use axum::Router;

use crate::sim::{Ctx, Stats};
use crate::world::World;

/// The EWS routes.
pub(crate) fn routes() -> Router<Arc<Ctx>> {
    Router::new()
}

/// Counts for load reports.
pub(crate) fn stats(world: &World) -> Stats {
    let subscriptions = world
        .servers
        .iter()
        .flat_map(|s| s.backends.iter())
        .map(|b| b.subscriptions().len())
        .sum();
    Stats {
        subscriptions,
        ..Stats::default()
    }
}
