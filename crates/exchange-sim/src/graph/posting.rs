//! POSTs to webhooks, one queue per URL: notifications ready at the same time go to the same
//! URL in one `changeNotificationCollection`, whichever subscriptions they belong to.
//!
//! Microsoft documents that one collection can mix notifications "for various apps and tenants
//! that subscribed using the same notification URL"
//! (<https://learn.microsoft.com/graph/api/resources/changenotificationcollection>). How many
//! POSTs Graph has in flight to one URL is not documented: the simulator keeps the scenario's
//! `graph.posts_per_url` and gathers what became ready meanwhile, up to `graph.batch_size`
//! notifications per POST. So under load the POSTs grow rather than multiply, and one quiet
//! notification goes out at once.
//!
//! Each sender waits for the answer to its own notifications and retries them itself
//! ([`delivery::post_with_retries`](super::delivery::post_with_retries)), so the order of a
//! subscription's notifications and Graph's retry schedule are the sender's, as before.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::Counters;

/// The webhook's time to answer.
pub(crate) const NOTIFICATION_TIMEOUT: Duration = Duration::from_secs(3);

/// A response slower than this counts as slow.
const SLOW: Duration = Duration::from_millis(2900);

/// Senders' notifications queued for one URL before a sender waits for room.
const QUEUED: usize = 1024;

/// How one POST ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Posted {
    /// Answered 2xx.
    Accepted,
    /// Answered otherwise, or not within [`NOTIFICATION_TIMEOUT`], or not at all.
    Failed,
}

/// Notifications of one sender, serialized as the members of a `value` array.
struct Parcel {
    /// The members, comma-separated, without the brackets.
    members: String,
    count: usize,
    reply: oneshot::Sender<Posted>,
}

/// The queues of the URLs Graph posts to.
#[derive(Debug)]
pub(crate) struct Posting {
    client: reqwest::Client,
    counters: Arc<Counters>,
    batch_size: usize,
    posts_per_url: usize,
    shutdown: CancellationToken,
    queues: Mutex<HashMap<String, mpsc::Sender<Parcel>>>,
}

impl Posting {
    pub(crate) fn new(
        client: reqwest::Client,
        counters: Arc<Counters>,
        scenario: &crate::scenario::Graph,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            client,
            counters,
            batch_size: scenario.batch_size,
            posts_per_url: scenario.posts_per_url,
            shutdown,
            queues: Mutex::default(),
        }
    }

    /// POSTs `notifications` (at most `graph.batch_size`) to `url`, with whatever else is ready
    /// for it then, and tells how that POST ended.
    pub(crate) async fn post(&self, url: &str, notifications: &[Value]) -> Posted {
        let mut members = String::new();
        for (i, notification) in notifications.iter().enumerate() {
            if i > 0 {
                members.push(',');
            }
            members.push_str(&notification.to_string());
        }
        let (reply, answer) = oneshot::channel();
        let parcel = Parcel {
            members,
            count: notifications.len(),
            reply,
        };
        // Counted as queued from now; until the queue has it, by `unsent` (a sender whose
        // subscription ends may stop waiting for room).
        let mut unsent = Unsent::new(&self.counters.queued, parcel.count);
        if self.queue(url).send(parcel).await.is_err() {
            return Posted::Failed;
        }
        unsent.count = 0;
        answer.await.unwrap_or(Posted::Failed)
    }

    /// The queue of `url`, started on first use; it ends with the simulator.
    fn queue(&self, url: &str) -> mpsc::Sender<Parcel> {
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(queue) = queues.get(url) {
            return queue.clone();
        }
        let (queue, parcels) = mpsc::channel(QUEUED);
        let poster = Poster {
            url: url.to_owned(),
            client: self.client.clone(),
            counters: Arc::clone(&self.counters),
            batch_size: self.batch_size,
            posts: self.posts_per_url,
        };
        tokio::spawn(poster.run(parcels, self.shutdown.clone()));
        queues.insert(url.to_owned(), queue.clone());
        queue
    }
}

/// Notifications counted in `queued` that no queue has yet: uncounted when dropped.
struct Unsent<'a> {
    queued: &'a AtomicU64,
    count: u64,
}

impl<'a> Unsent<'a> {
    fn new(queued: &'a AtomicU64, count: usize) -> Self {
        let count = count as u64;
        Counters::add(queued, count);
        Self { queued, count }
    }
}

impl Drop for Unsent<'_> {
    fn drop(&mut self) {
        self.queued.fetch_sub(self.count, Ordering::Relaxed);
    }
}

/// Posts one URL's parcels, at most `posts` at a time.
struct Poster {
    url: String,
    client: reqwest::Client,
    counters: Arc<Counters>,
    batch_size: usize,
    posts: usize,
}

impl Poster {
    async fn run(self, mut parcels: mpsc::Receiver<Parcel>, shutdown: CancellationToken) {
        let mut in_flight = FuturesUnordered::new();
        // A parcel taken from the queue that did not fit in the last POST.
        let mut carried: Option<Parcel> = None;
        loop {
            if in_flight.len() < self.posts
                && let Some(first) = carried.take().or_else(|| parcels.try_recv().ok())
            {
                let mut batch = vec![first];
                let mut count = batch.iter().map(|p| p.count).sum::<usize>();
                while let Ok(parcel) = parcels.try_recv() {
                    if count + parcel.count > self.batch_size {
                        carried = Some(parcel);
                        break;
                    }
                    count += parcel.count;
                    batch.push(parcel);
                }
                in_flight.push(self.post(batch));
                continue;
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                Some(()) = in_flight.next(), if !in_flight.is_empty() => {}
                parcel = parcels.recv(), if in_flight.len() < self.posts => match parcel {
                    Some(parcel) => carried = Some(parcel),
                    // Every sender is gone: finish what is in flight.
                    None => {
                        while in_flight.next().await.is_some() {}
                        return;
                    }
                },
            }
        }
    }

    /// One POST of `batch`; each parcel's sender is told how it ended.
    async fn post(&self, batch: Vec<Parcel>) {
        let count = batch.iter().map(|p| p.count as u64).sum::<u64>();
        self.counters.queued.fetch_sub(count, Ordering::Relaxed);
        let length = batch.iter().map(|p| p.members.len() + 1).sum::<usize>();
        let mut body = String::with_capacity(length + 12);
        body.push_str("{\"value\":[");
        for (i, parcel) in batch.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            body.push_str(&parcel.members);
        }
        body.push_str("]}");
        let started = Instant::now();
        let outcome = self
            .client
            .post(&self.url)
            .header("Content-Type", "application/json; charset=utf-8")
            .timeout(NOTIFICATION_TIMEOUT)
            .body(body)
            .send()
            .await;
        Counters::add(&self.counters.posts, 1);
        if started.elapsed() > SLOW {
            Counters::add(&self.counters.slow_posts, 1);
        }
        let posted = match outcome {
            Ok(response) if response.status().is_success() => Posted::Accepted,
            Ok(response) => {
                tracing::debug!(url = %self.url, status = response.status().as_u16(), "Graph: webhook refused notifications");
                Posted::Failed
            }
            Err(error) => {
                tracing::debug!(url = %self.url, %error, "Graph: webhook unreachable");
                Posted::Failed
            }
        };
        if posted == Posted::Failed {
            Counters::add(&self.counters.failed_posts, 1);
        }
        for parcel in batch {
            let _ = parcel.reply.send(posted);
        }
    }
}
