//! Authenticated connections waiting for their next request, and the response body that
//! hands its connection back once it has been read to the end.
//!
//! A connection is in the pool only while it is idle: one carrying a response (a hanging
//! `GetStreamingEvents`) is held by that response's body, so a concurrent request takes
//! another connection, or opens and authenticates a new one. A body dropped before its end
//! is read on in the background, at most [`DRAIN_LIMIT`] bytes for [`DRAIN_TIME`], and its
//! connection pooled if that reaches the end (a caller that only looked at the status does
//! not cost a handshake); otherwise the connection is closed.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use hyper::body::{Body as _, Incoming};
use tokio::time::{Instant, Sleep};

use super::conn::{Conn, Origin, network};
use crate::error::AuthError;

/// Idle connections older than this are closed rather than reused: IIS drops idle
/// connections after 120 s (`connectionTimeout`), and a request racing that close is lost.
const MAX_IDLE_TIME: Duration = Duration::from_secs(100);

/// How much of a dropped body is read to save its connection.
pub(crate) const DRAIN_LIMIT: usize = 64 * 1024;
/// How long a dropped body is read to save its connection.
pub(crate) const DRAIN_TIME: Duration = Duration::from_secs(2);

struct Idle {
    conn: Conn,
    since: Instant,
}

/// Idle authenticated connections per origin, at most `max_idle` each (the most recently
/// used first out).
pub(crate) struct Pool {
    idle: Mutex<HashMap<Origin, Vec<Idle>>>,
    max_idle: usize,
}

impl Pool {
    pub(crate) fn new(max_idle: usize) -> Arc<Self> {
        Arc::new(Self {
            idle: Mutex::new(HashMap::new()),
            max_idle,
        })
    }

    /// An idle connection to `origin` that is still open (the caller waits for it to be
    /// ready: hyper may not have marked it so the instant its last answer was read).
    pub(crate) fn take(&self, origin: &Origin) -> Option<Conn> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let list = idle.get_mut(origin)?;
        while let Some(entry) = list.pop() {
            if entry.since.elapsed() < MAX_IDLE_TIME && !entry.conn.sender.is_closed() {
                return Some(entry.conn);
            }
        }
        None
    }

    /// Keeps `conn` for the next request, unless the pool is full or the connection closed.
    pub(crate) fn put(&self, origin: Origin, conn: Conn) {
        if conn.sender.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let list = idle.entry(origin).or_default();
        list.retain(|entry| !entry.conn.sender.is_closed());
        if list.len() < self.max_idle {
            list.push(Idle {
                conn,
                since: Instant::now(),
            });
        }
    }
}

/// An authenticated connection lent to one response.
pub(crate) struct Lease {
    pub(crate) pool: Weak<Pool>,
    pub(crate) origin: Origin,
    pub(crate) conn: Conn,
}

/// A response body read from a pooled connection. At its end the connection goes back to
/// the pool; on an error or a timeout it is closed.
pub(crate) struct ResponseBody {
    incoming: Option<Incoming>,
    lease: Option<Lease>,
    deadline: Option<Pin<Box<Sleep>>>,
    done: bool,
}

impl ResponseBody {
    pub(crate) fn new(incoming: Incoming, lease: Option<Lease>, deadline: Option<Instant>) -> Self {
        Self {
            incoming: Some(incoming),
            lease,
            deadline: deadline.map(|at| Box::pin(tokio::time::sleep_until(at))),
            done: false,
        }
    }

    fn finish(&mut self, reuse: bool) {
        self.done = true;
        if let Some(lease) = self.lease.take()
            && reuse
            && let Some(pool) = lease.pool.upgrade()
        {
            pool.put(lease.origin, lease.conn);
        }
    }
}

impl Stream for ResponseBody {
    type Item = Result<Vec<u8>, AuthError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        if let Some(deadline) = this.deadline.as_mut()
            && deadline.as_mut().poll(cx).is_ready()
        {
            this.finish(false);
            return Poll::Ready(Some(Err(AuthError::Network("timed out".into()))));
        }
        let Some(incoming) = this.incoming.as_mut() else {
            return Poll::Ready(None);
        };
        loop {
            match Pin::new(&mut *incoming).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data()
                        && !data.is_empty()
                    {
                        return Poll::Ready(Some(Ok(data.to_vec())));
                    }
                }
                Poll::Ready(Some(Err(error))) => {
                    this.finish(false);
                    return Poll::Ready(Some(Err(network("reading the answer failed", &error))));
                }
                Poll::Ready(None) => {
                    this.finish(true);
                    return Poll::Ready(None);
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl Drop for ResponseBody {
    fn drop(&mut self) {
        let (Some(lease), Some(incoming)) = (self.lease.take(), self.incoming.take()) else {
            return;
        };
        if self.done {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            let rest = http_body_util::Limited::new(incoming, DRAIN_LIMIT);
            let drained = tokio::time::timeout(DRAIN_TIME, http_body_util::BodyExt::collect(rest));
            if let Ok(Ok(_)) = drained.await
                && let Some(pool) = lease.pool.upgrade()
            {
                pool.put(lease.origin, lease.conn);
            }
        });
    }
}
