//! The admin HTTP endpoint (`/_sim/...`) and the operations it shares with the Rust API.

use std::sync::Arc;

use axum::Router;

use crate::SimError;
use crate::sim::Ctx;
use crate::world::World;

/// The admin routes, nested under `/_sim`.
pub(crate) fn routes() -> Router<Arc<Ctx>> {
    Router::new()
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
        if let Some(backend) = world.servers.get(server).and_then(|s| s.backends.get(backend)) {
            backend.remove(subscription.id.as_str());
        }
        subscription.fail(ews_proto::ResponseCode::ErrorInvalidSubscription);
    }
    Ok(())
}
