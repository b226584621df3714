//! The [`Dispatcher`]: a bounded queue in front of a [`PushSender`], with retries, a breaker
//! and a graceful shutdown.
//!
//! Policy when full: [`Dispatcher::try_submit`] hands the push back at once
//! ([`Error::QueueFull`]); [`Dispatcher::submit`] waits for room (backpressure). Nothing is
//! dropped silently: every submitted push ends with an [`Outcome`] on its [`Receipt`], and a
//! push still unsent when a shutdown's deadline passes is handed back in the
//! [`ShutdownReport`].

mod breaker;
mod retry;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

pub use breaker::BreakerConfig;
pub use retry::RetryPolicy;

use crate::{Error, Outcome, Push, PushSender, Reason};
use breaker::Breaker;

/// How a [`Dispatcher`] queues, retries and protects the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DispatcherConfig {
    /// Pushes held at once, queued, in flight or waiting to retry (default 10,000).
    pub capacity: usize,
    /// Sends in flight at once (default 1,000).
    pub concurrency: usize,
    /// Retries.
    pub retry: RetryPolicy,
    /// The breaker.
    pub breaker: BreakerConfig,
}

impl Default for DispatcherConfig {
    fn default() -> Self {
        Self {
            capacity: 10_000,
            concurrency: 1_000,
            retry: RetryPolicy::default(),
            breaker: BreakerConfig::default(),
        }
    }
}

/// Counters of a [`Dispatcher`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct DispatchStats {
    /// Pushes taken.
    pub submitted: u64,
    /// Delivered.
    pub delivered: u64,
    /// Reported as dead tokens.
    pub token_invalid: u64,
    /// Rejected permanently.
    pub rejected: u64,
    /// Given up after the retry bounds.
    pub gave_up: u64,
    /// Attempts that ended in "retry".
    pub retries: u64,
    /// Handed back unsent by a shutdown.
    pub abandoned: u64,
    /// Times the breaker opened.
    pub breaker_opened: u64,
    /// Whether the breaker holds pushes back now.
    pub breaker_open: bool,
    /// Pushes held now (queued, in flight or waiting).
    pub held: usize,
}

/// What a shutdown did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Pushes that reached an outcome during the shutdown.
    pub drained: usize,
    /// Pushes not delivered by the deadline, handed back to be kept elsewhere.
    pub abandoned: Vec<Push>,
}

/// The final outcome of one submitted push.
#[derive(Debug)]
pub struct Receipt {
    id: String,
    rx: oneshot::Receiver<Outcome>,
}

impl Receipt {
    /// The push's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Waits for the final outcome: after retries, or when the dispatcher gave up or shut down
    /// (then [`Outcome::Retry`] with code `GaveUp` or `Shutdown`).
    pub async fn outcome(self) -> Outcome {
        self.rx.await.unwrap_or_else(|_| Outcome::Retry {
            reason: Reason::new(None, "Shutdown"),
            after: None,
        })
    }
}

#[derive(Debug, Default)]
struct Counters {
    submitted: AtomicU64,
    delivered: AtomicU64,
    token_invalid: AtomicU64,
    rejected: AtomicU64,
    gave_up: AtomicU64,
    retries: AtomicU64,
    abandoned: AtomicU64,
}

struct Inner {
    sender: Arc<dyn PushSender>,
    config: DispatcherConfig,
    room: Arc<Semaphore>,
    sends: Semaphore,
    breaker: Breaker,
    counters: Counters,
    closing: AtomicBool,
    cancel: CancellationToken,
    active: AtomicUsize,
    idle: Notify,
    abandoned: Mutex<Vec<Push>>,
}

/// Queues pushes for one [`PushSender`] and sees each through to a final [`Outcome`].
///
/// Cheap to clone; clones share the queue.
#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("platform", &self.inner.sender.platform())
            .field("config", &self.inner.config)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Dispatcher {
    /// A dispatcher in front of `sender`. Spawns nothing until a push is submitted.
    pub fn new(sender: Arc<dyn PushSender>, config: DispatcherConfig) -> Self {
        let capacity = config.capacity.clamp(1, Semaphore::MAX_PERMITS);
        let concurrency = config.concurrency.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            inner: Arc::new(Inner {
                sender,
                room: Arc::new(Semaphore::new(capacity)),
                sends: Semaphore::new(concurrency),
                breaker: Breaker::new(config.breaker.clone()),
                config,
                counters: Counters::default(),
                closing: AtomicBool::new(false),
                cancel: CancellationToken::new(),
                active: AtomicUsize::new(0),
                idle: Notify::new(),
                abandoned: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Takes `push` if there is room, else hands it back ([`Error::QueueFull`]).
    pub fn try_submit(&self, push: Push) -> Result<Receipt, Error> {
        if self.inner.closing.load(Ordering::Acquire) {
            return Err(Error::ShuttingDown(Box::new(push)));
        }
        match Arc::clone(&self.inner.room).try_acquire_owned() {
            Ok(permit) => Ok(self.start(push, permit)),
            Err(tokio::sync::TryAcquireError::NoPermits) => Err(Error::QueueFull(Box::new(push))),
            Err(tokio::sync::TryAcquireError::Closed) => Err(Error::ShuttingDown(Box::new(push))),
        }
    }

    /// Takes `push`, waiting for room when the queue is full.
    pub async fn submit(&self, push: Push) -> Result<Receipt, Error> {
        if self.inner.closing.load(Ordering::Acquire) {
            return Err(Error::ShuttingDown(Box::new(push)));
        }
        match Arc::clone(&self.inner.room).acquire_owned().await {
            Ok(permit) => Ok(self.start(push, permit)),
            Err(_) => Err(Error::ShuttingDown(Box::new(push))),
        }
    }

    /// Counters.
    pub fn stats(&self) -> DispatchStats {
        let c = &self.inner.counters;
        let held = self.inner.active.load(Ordering::Relaxed);
        DispatchStats {
            submitted: c.submitted.load(Ordering::Relaxed),
            delivered: c.delivered.load(Ordering::Relaxed),
            token_invalid: c.token_invalid.load(Ordering::Relaxed),
            rejected: c.rejected.load(Ordering::Relaxed),
            gave_up: c.gave_up.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            abandoned: c.abandoned.load(Ordering::Relaxed),
            breaker_opened: self.inner.breaker.opened.load(Ordering::Relaxed),
            breaker_open: self.inner.breaker.is_open(),
            held,
        }
    }

    /// Stops taking pushes and drains: held pushes keep going (retries included) until each
    /// has an outcome or `deadline` passes; those left then are handed back unsent.
    pub async fn shutdown(&self, deadline: Duration) -> ShutdownReport {
        let inner = &self.inner;
        inner.closing.store(true, Ordering::Release);
        inner.room.close();
        let held = inner.active.load(Ordering::Acquire);
        tracing::info!(held, "push dispatcher shutting down");
        let until = Instant::now() + deadline;
        if !self.wait_idle(Some(until)).await {
            inner.cancel.cancel();
            self.wait_idle(None).await;
        }
        let abandoned =
            std::mem::take(&mut *inner.abandoned.lock().unwrap_or_else(|p| p.into_inner()));
        if !abandoned.is_empty() {
            tracing::warn!(
                abandoned = abandoned.len(),
                "pushes not delivered before the shutdown deadline"
            );
        }
        ShutdownReport {
            drained: held.saturating_sub(abandoned.len()),
            abandoned,
        }
    }

    /// Waits until nothing is held; false if `until` passed first.
    async fn wait_idle(&self, until: Option<Instant>) -> bool {
        loop {
            let idle = self.inner.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.inner.active.load(Ordering::Acquire) == 0 {
                return true;
            }
            match until {
                Some(until) => {
                    tokio::select! {
                        () = &mut idle => {}
                        () = tokio::time::sleep_until(until) => return false,
                    }
                }
                None => idle.await,
            }
        }
    }

    fn start(&self, push: Push, permit: OwnedSemaphorePermit) -> Receipt {
        let (tx, rx) = oneshot::channel();
        let id = push.id().to_owned();
        let inner = Arc::clone(&self.inner);
        inner.active.fetch_add(1, Ordering::AcqRel);
        inner.counters.submitted.fetch_add(1, Ordering::Relaxed);
        let span = tracing::debug_span!("push", id = %id, platform = %push.token.platform());
        tokio::spawn(
            async move {
                let outcome = match inner.run(&push).await {
                    Some(outcome) => outcome,
                    None => {
                        inner.counters.abandoned.fetch_add(1, Ordering::Relaxed);
                        inner
                            .abandoned
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(push);
                        Outcome::Retry {
                            reason: Reason::new(None, "Shutdown")
                                .with_detail("not delivered before the shutdown deadline"),
                            after: None,
                        }
                    }
                };
                let _ = tx.send(outcome);
                drop(permit);
                if inner.active.fetch_sub(1, Ordering::AcqRel) == 1 {
                    inner.idle.notify_waiters();
                }
            }
            .instrument(span),
        );
        Receipt { id, rx }
    }
}

impl Inner {
    /// Sends until a final outcome; `None` when cancelled by a shutdown.
    async fn run(&self, push: &Push) -> Option<Outcome> {
        let policy = &self.config.retry;
        let started = Instant::now();
        let mut attempts = 0u32;
        loop {
            let admission = tokio::select! {
                admission = self.breaker.admit() => admission,
                () = self.cancel.cancelled() => return None,
            };
            let permit = tokio::select! {
                permit = self.sends.acquire() => permit.ok()?,
                () = self.cancel.cancelled() => return None,
            };
            let outcome = tokio::select! {
                outcome = self.sender.send(push) => outcome,
                () = self.cancel.cancelled() => return None,
            };
            drop(permit);
            attempts += 1;
            let provider_failed =
                matches!(&outcome, Outcome::Retry { reason, .. } if reason.is_provider_failure());
            self.breaker.record(admission, provider_failed);
            let (reason, after) = match outcome {
                Outcome::Retry { reason, after } => (reason, after),
                final_outcome => {
                    let counter = match &final_outcome {
                        Outcome::Delivered { .. } => &self.counters.delivered,
                        Outcome::TokenInvalid { .. } => &self.counters.token_invalid,
                        _ => &self.counters.rejected,
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    return Some(final_outcome);
                }
            };
            self.counters.retries.fetch_add(1, Ordering::Relaxed);
            let delay = policy.delay(attempts, after);
            let out_of_time = started.elapsed() + delay > policy.max_elapsed;
            if attempts >= policy.max_attempts || out_of_time {
                self.counters.gave_up.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(attempts, %reason, "push given up");
                return Some(Outcome::Retry {
                    reason: Reason::new(reason.status, "GaveUp").with_detail(format!(
                        "{attempts} attempts in {:?}; last: {reason}",
                        started.elapsed()
                    )),
                    after,
                });
            }
            tracing::debug!(attempts, %reason, delay_ms = delay.as_millis() as u64, "push will be retried");
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = self.cancel.cancelled() => return None,
            }
        }
    }
}
