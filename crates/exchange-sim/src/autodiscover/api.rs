//! The Rust API tests drive the Autodiscover endpoints with: the request log and host
//! behaviour changed at run time.

use std::time::Duration;

use super::state::{AutodiscoverRequest, Script};
use crate::scenario::HostBehaviour;
use crate::{Sim, SimError};

impl Sim {
    /// Every request the Autodiscover endpoints received, oldest first (at most the last
    /// 10 000), on both listeners and every host name.
    ///
    /// Each entry holds the full `Authorization` header value, secrets included, so tests can
    /// assert that no credential reached a host it should not. See [`AutodiscoverRequest`].
    pub fn autodiscover_log(&self) -> Vec<AutodiscoverRequest> {
        self.ctx.autodiscover.log()
    }

    /// Empties the Autodiscover request log.
    pub fn clear_autodiscover_log(&self) {
        self.ctx.autodiscover.clear_log();
    }

    /// Changes what `host` does from now on, over the scenario's `[[hosts]]` entry: its
    /// behaviour and the delay before each answer.
    ///
    /// `Blackhole` set at run time accepts the request and never answers (the TLS handshake
    /// still completes). `Refuse` needs its own listener address and can only be set in the
    /// scenario: it is refused here.
    pub fn set_host_behaviour(
        &self,
        host: &str,
        behaviour: HostBehaviour,
        delay: Duration,
    ) -> Result<(), SimError> {
        if behaviour == HostBehaviour::Refuse {
            return Err(SimError::Scenario(format!(
                "host {host}: `refuse` needs its own address in [[hosts]] at start"
            )));
        }
        self.ctx
            .autodiscover
            .set_override(host, Some(Script { behaviour, delay }));
        Ok(())
    }

    /// Gives `host` back the behaviour of the scenario.
    pub fn reset_host_behaviour(&self, host: &str) {
        self.ctx.autodiscover.set_override(host, None);
    }
}
