//! The one trait callers hold: [`PushSender`].

use async_trait::async_trait;

use crate::{Outcome, Platform, Push};

/// Sends one push and says what became of it.
///
/// Object-safe, `Send + Sync`, and held as `Arc<dyn PushSender>`. One call makes one delivery
/// attempt (plus at most one immediate internal retry when the sender's own credentials had to
/// be renewed: an APNs `ExpiredProviderToken`, an FCM access token refused with 401). Retries
/// with backoff, the breaker and the queue belong to [`Dispatcher`](crate::Dispatcher).
#[async_trait]
pub trait PushSender: Send + Sync {
    /// Sends `push` once. Never panics and never returns an error: every failure is an
    /// [`Outcome`].
    async fn send(&self, push: &Push) -> Outcome;

    /// The platform whose tokens this sender takes.
    fn platform(&self) -> Platform;
}
