//! The webhook Graph calls: `POST <base>/notifications` and `POST <base>/lifecycle`.
//!
//! - A request with `?validationToken=` is the validation handshake: the URL-decoded token
//!   is echoed as `text/plain` with 200, at once.
//! - Otherwise the body is a collection of notifications. Each must name a subscription of
//!   this watcher and carry its `clientState`; a mismatch refuses the whole request (403,
//!   logged without the value) and nothing in it is acted on.
//! - Accepted notifications are written to the spool (durably) and queued, then the
//!   request is answered 202, well within Graph's 3 seconds; duplicates are dropped later,
//!   by message. When the queue is full or the spool fails, the answer is 503 and Graph
//!   delivers again.
//! - Notifications for subscriptions this watcher does not know are answered 503 while it is
//!   starting (their mailboxes may not be loaded yet); later they are ignored, and the
//!   subscription is deleted.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, RawQuery, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::client::Verb;
use crate::core::{Core, Counters, lock};
use crate::member::Member;
use crate::spool::{RecordKind, SpoolRecord};
use crate::wire::notification::{Kind, Notification, parse_collection};

/// The largest body accepted.
const MAX_BODY: usize = 1 << 20;

/// The longest validation token echoed.
const MAX_TOKEN: usize = 4096;

/// How long spooling may take before the webhook answers 503 (Graph waits 3 s).
const SPOOL_DEADLINE: Duration = Duration::from_millis(2500);

/// The webhook of one [`GraphWatcher`](crate::GraphWatcher).
#[derive(Clone)]
pub struct Webhook {
    core: Arc<Core>,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook").finish_non_exhaustive()
    }
}

impl Webhook {
    pub(crate) fn new(core: Arc<Core>) -> Self {
        Self { core }
    }

    /// A router answering `POST /notifications` and `POST /lifecycle` (and the validation
    /// handshake on both): nest it at the base of the watcher's notification URL.
    pub fn router(&self) -> Router {
        Router::new()
            .fallback(handle)
            .layer(DefaultBodyLimit::max(MAX_BODY))
            .with_state(Arc::clone(&self.core))
    }
}

fn text(status: StatusCode, body: impl Into<String>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body.into(),
    )
        .into_response()
}

fn later(reason: &str) -> Response {
    let mut response = text(StatusCode::SERVICE_UNAVAILABLE, format!("{reason}\n"));
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
    response
}

async fn handle(
    State(core): State<Arc<Core>>,
    method: Method,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    if method != Method::POST {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            "POST Graph notifications here\n",
        );
    }
    if core.shutdown.is_cancelled() {
        return later("the watcher has stopped");
    }
    let token = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(key, _)| key == "validationToken")
        .map(|(_, value)| value.into_owned());
    if let Some(token) = token {
        if token.len() > MAX_TOKEN {
            return text(StatusCode::BAD_REQUEST, "validation token too long\n");
        }
        Counters::add(&core.counters.validations, 1);
        tracing::debug!("Graph validation request answered");
        return text(StatusCode::OK, token);
    }
    let items = match parse_collection(&body) {
        Ok(items) => items,
        Err(error) => {
            tracing::warn!(%error, "Graph webhook: a body that is not a notification collection");
            return text(StatusCode::BAD_REQUEST, "not a notification collection\n");
        }
    };
    match accept(&core, items).await {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(response) => response,
    }
}

/// Whom a notification is for.
enum Owner {
    Member(Arc<Member>),
    Unknown,
    Mismatch,
}

fn owner(core: &Core, notification: &Notification) -> Owner {
    let registry = lock(&core.registry);
    let given = notification.client_state().unwrap_or_default();
    if let Some((digest, member)) = registry.subscriptions.get(&notification.subscription_id) {
        return if digest.matches(given) {
            Owner::Member(Arc::clone(member))
        } else {
            Owner::Mismatch
        };
    }
    // A subscription whose creation has not answered yet: its clientState names it.
    registry
        .pending
        .get(&crate::secret::StateDigest::of(given))
        .map_or(Owner::Unknown, |m| Owner::Member(Arc::clone(m)))
}

async fn accept(
    core: &Arc<Core>,
    items: Vec<Result<Notification, String>>,
) -> Result<(), Response> {
    let mut accepted = Vec::new();
    let mut unknown = Vec::new();
    for item in items {
        let notification = match item {
            Ok(notification) => notification,
            Err(error) => {
                tracing::warn!(%error, "Graph webhook: a notification skipped");
                continue;
            }
        };
        match owner(core, &notification) {
            Owner::Member(member) => accepted.push((member, notification)),
            Owner::Unknown => unknown.push(notification.subscription_id),
            Owner::Mismatch => {
                Counters::add(&core.counters.refused, 1);
                tracing::warn!(
                    subscription = %notification.subscription_id,
                    "Graph webhook: clientState does not match the subscription's; request refused, nothing acted on"
                );
                return Err(text(StatusCode::FORBIDDEN, "clientState mismatch\n"));
            }
        }
    }
    if !unknown.is_empty() {
        if core.warming_up() {
            Counters::add(&core.counters.busy, 1);
            return Err(later("starting: not every subscription is loaded yet"));
        }
        for id in unknown {
            Counters::add(&core.counters.unknown, 1);
            delete_orphan(core, id);
        }
    }
    if accepted.is_empty() {
        return Ok(());
    }
    let Ok(places) = core.queue.try_reserve_many(accepted.len()) else {
        Counters::add(&core.counters.busy, 1);
        return Err(later("the notification queue is full"));
    };
    let first = core.sequence(accepted.len());
    let now_ms = i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
        .unwrap_or(i64::MAX);
    let records: Vec<SpoolRecord> = accepted
        .into_iter()
        .zip(first..)
        .map(|((member, notification), seq)| {
            let kind = match notification.kind {
                Kind::Change {
                    change_type, id, ..
                } => RecordKind::Change {
                    change: change_type.as_str().to_owned(),
                    id: id.unwrap_or_default(),
                },
                Kind::Lifecycle(event) => RecordKind::Lifecycle {
                    event: event.as_str().to_owned(),
                },
            };
            SpoolRecord::new(
                seq,
                member.key.clone(),
                notification.subscription_id,
                now_ms,
                kind,
            )
        })
        .collect();
    match tokio::time::timeout(SPOOL_DEADLINE, core.spool.append(&records)).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            tracing::error!(%error, "Graph webhook: notifications not spooled; Graph will send them again");
            return Err(later("the spool failed"));
        }
        Err(_) => {
            tracing::error!("Graph webhook: spooling took too long; Graph will send them again");
            return Err(later("the spool is slow"));
        }
    }
    Counters::add(&core.counters.accepted, records.len() as u64);
    for (place, record) in places.zip(records) {
        place.send(record);
    }
    Ok(())
}

/// Deletes (once) a subscription no watched mailbox owns: it would go on costing quota and
/// notifications until it expires.
fn delete_orphan(core: &Arc<Core>, id: String) {
    if !lock(&core.orphans).insert(id.clone()) {
        return;
    }
    tracing::warn!(subscription = %id, "Graph webhook: a subscription of no watched mailbox; deleting it");
    let core = Arc::clone(core);
    tokio::spawn(async move {
        let Ok(url) = core.client.url(&format!("subscriptions/{id}")) else {
            return;
        };
        let never = |_: Duration, _: &crate::error::GraphError| {};
        if let Err(error) = core.client.call(Verb::Delete, url, None, &never).await
            && !error.is_not_found()
        {
            tracing::info!(subscription = %id, %error, "Graph: orphan subscription not deleted");
        }
    });
}
