//! Work that waits its turn: at most a fixed number of jobs run at once, and the rest wait in
//! a queue as closures holding only their arguments. A node taking 100,000 mailboxes queues
//! 100,000 small closures, not 100,000 tasks each sized for a whole Autodiscover lookup.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;

/// A job: called when its turn comes, it makes the future to run.
pub(crate) type Job = Box<dyn FnOnce() -> BoxFuture<'static, ()> + Send>;

/// A queue served by at most `limit` workers (tasks spawned as jobs arrive, ending when the
/// queue is empty).
pub(crate) struct Jobs {
    limit: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    waiting: VecDeque<Job>,
    workers: usize,
}

impl std::fmt::Debug for Jobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jobs")
            .field("limit", &self.limit)
            .field("waiting", &self.waiting())
            .finish()
    }
}

impl Jobs {
    /// A queue running at most `limit` jobs at once (at least one).
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit: limit.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `job`; it runs once the jobs before it have started and a worker is free.
    /// Needs a Tokio runtime.
    pub(crate) fn push(self: &Arc<Self>, job: Job) {
        let start_worker = {
            let mut inner = self.lock();
            inner.waiting.push_back(job);
            let start = inner.workers < self.limit;
            if start {
                inner.workers += 1;
            }
            start
        };
        if start_worker {
            let jobs = Arc::clone(self);
            tokio::spawn(async move {
                while let Some(job) = jobs.next() {
                    // A job that panics ends alone, as a task would: its worker goes on.
                    if std::panic::AssertUnwindSafe(job())
                        .catch_unwind()
                        .await
                        .is_err()
                    {
                        tracing::error!("a queued job panicked; the queue goes on");
                    }
                }
            });
        }
    }

    /// The next job, or `None` after the worker asking has been counted out.
    fn next(&self) -> Option<Job> {
        let mut inner = self.lock();
        let job = inner.waiting.pop_front();
        if job.is_none() {
            inner.workers -= 1;
        }
        job
    }

    /// Jobs waiting for a worker.
    pub(crate) fn waiting(&self) -> usize {
        self.lock().waiting.len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_job_runs_and_never_more_than_the_limit_at_once() {
        let jobs = Arc::new(Jobs::new(3));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicUsize::new(0));
        for _ in 0..50 {
            let (running, most, done) =
                (Arc::clone(&running), Arc::clone(&most), Arc::clone(&done));
            jobs.push(Box::new(move || {
                Box::pin(async move {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    done.fetch_add(1, Ordering::SeqCst);
                })
            }));
        }
        assert!(jobs.waiting() > 0, "50 jobs cannot all have started");
        for _ in 0..500 {
            if done.load(Ordering::SeqCst) == 50 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(done.load(Ordering::SeqCst), 50);
        assert_eq!(
            most.load(Ordering::SeqCst),
            3,
            "at most 3 at once, and 3 were used"
        );
        assert_eq!(jobs.waiting(), 0);
        assert_eq!(jobs.lock().workers, 0, "the workers end with the queue");
    }

    #[tokio::test]
    async fn a_job_that_panics_does_not_stop_the_ones_after_it() {
        let jobs = Arc::new(Jobs::new(1));
        let done = Arc::new(AtomicUsize::new(0));
        for n in 0..5 {
            let done = Arc::clone(&done);
            jobs.push(Box::new(move || {
                Box::pin(async move {
                    assert_ne!(n, 2, "job 2 panics");
                    done.fetch_add(1, Ordering::SeqCst);
                })
            }));
        }
        for _ in 0..500 {
            if done.load(Ordering::SeqCst) == 4 && jobs.lock().workers == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(done.load(Ordering::SeqCst), 4);
        assert_eq!(jobs.lock().workers, 0);
    }
}
