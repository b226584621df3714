//! The webhook Graph calls: `POST <base>/notifications` and `POST <base>/lifecycle`.
//!
//! - A request with `?validationToken=` is the validation handshake: the URL-decoded token
//!   is echoed as `text/plain; charset=utf-8` with 200 and `X-Content-Type-Options: nosniff`,
//!   at once; only a token of at most [`MAX_TOKEN`] printable ASCII characters is echoed (a
//!   reflected value is never markup a browser would run), anything else is 400.
//! - Otherwise the body is a collection of notifications. Each must name a subscription of
//!   this watcher and carry its `clientState`; a mismatch refuses the whole request (403,
//!   logged without the value) and nothing in it is acted on.
//! - Accepted notifications are written to the spool (durably) and queued, then the
//!   request is answered 202, well within Graph's 3 seconds; duplicates are dropped later,
//!   by message. When the queue is full the request waits for room (backpressure: Graph posts
//!   a subscription's next batch only once this one is answered); still full after
//!   `QUEUE_WAIT`, or when the spool fails, the answer is 503 and Graph delivers again.
//! - A notification whose `subscriptionId` is not a GUID, or whose message id is not a Graph
//!   id, is skipped (see the `ids` module).
//! - A notification of a subscription another node published (with [`Peers`](crate::Peers))
//!   is checked against that node's digest the same way, and handed on to it before the 202
//!   (the `peers` module).
//! - Notifications for subscriptions no node holds are answered 503 while this watcher is
//!   starting (their mailboxes may not be loaded yet); later they are counted and ignored.
//!   Nothing in an unauthenticated notification decides a request to Graph: subscriptions of
//!   no watched mailbox are found by listing the app's own (the `orphans` module).
//! - Every answer carries `X-Content-Type-Options: nosniff`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, RawQuery, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;

use crate::core::{Core, Counters, lock};
use crate::error::GraphError;
use crate::folders::FolderName;
use crate::member::Member;
use crate::spool::{RecordKind, SpoolRecord};
use crate::wire::notification::{Kind, Notification, parse_collection};

/// The largest body accepted.
const MAX_BODY: usize = 1 << 20;

/// The longest validation token echoed (Graph's are opaque and far shorter).
const MAX_TOKEN: usize = 1024;

/// How long a request waits for room in a full queue before it is answered 503: Graph waits
/// 3 s for an answer, and spooling has [`SPOOL_DEADLINE`] after this.
const QUEUE_WAIT: Duration = Duration::from_secs(1);

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
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body.into(),
    )
        .into_response()
}

/// Whether a validation token may be echoed: 1 to [`MAX_TOKEN`] printable ASCII characters
/// (space included), no control characters, nothing outside ASCII.
fn echoable(token: &str) -> bool {
    (1..=MAX_TOKEN).contains(&token.len()) && token.bytes().all(|b| (b' '..=b'~').contains(&b))
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
        if !echoable(&token) {
            return text(
                StatusCode::BAD_REQUEST,
                format!("validationToken: must be 1 to {MAX_TOKEN} printable ASCII characters\n"),
            );
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
        Ok(()) => text(StatusCode::ACCEPTED, ""),
        Err(response) => response,
    }
}

/// Whom a notification is for.
enum Owner {
    /// A mailbox of this watcher, and the further folder of the subscription (`None`: the
    /// inbox).
    Member(Arc<Member>, Option<FolderName>),
    Unknown,
    Mismatch,
}

fn owner(core: &Core, notification: &Notification) -> Owner {
    let registry = lock(&core.registry);
    let given = notification.client_state().unwrap_or_default();
    if let Some(held) = registry.subscriptions.get(&notification.subscription_id) {
        return if held.digest.matches(given) {
            Owner::Member(Arc::clone(&held.member), held.folder.clone())
        } else {
            Owner::Mismatch
        };
    }
    // A subscription whose creation has not answered yet: its clientState names it.
    registry
        .pending
        .get(&crate::secret::StateDigest::of(given))
        .map_or(Owner::Unknown, |(m, folder)| {
            Owner::Member(Arc::clone(m), folder.clone())
        })
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
            Owner::Member(member, folder) => {
                accepted.push((member.key.clone(), folder, notification));
            }
            Owner::Unknown => unknown.push(notification),
            Owner::Mismatch => return Err(mismatch(core, &notification)),
        }
    }
    let (forward, unknown) = held_elsewhere(core, unknown).await?;
    if !unknown.is_empty() {
        if core.warming_up() {
            Counters::add(&core.counters.busy, 1);
            return Err(later("starting: not every subscription is loaded yet"));
        }
        Counters::add(&core.counters.unknown, unknown.len() as u64);
        tracing::debug!(
            notifications = unknown.len(),
            "Graph webhook: notifications of subscriptions no node holds; ignored"
        );
    }
    let now_ms = i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
        .unwrap_or(i64::MAX);
    // Only found through the peers: with none, `forward` is empty.
    if let Some(peers) = core.peers.as_deref()
        && !forward.is_empty()
    {
        let records: Vec<SpoolRecord> = forward
            .into_iter()
            .map(|(mailbox, notification)| record(0, mailbox, None, notification, now_ms))
            .collect();
        within_deadline("handing on", peers.forward(&records)).await?;
        Counters::add(&core.counters.forwarded, records.len() as u64);
    }
    if accepted.is_empty() {
        return Ok(());
    }
    // A collection larger than the whole queue reserves what the queue holds; the rest waits
    // for room once spooled.
    let reserve = accepted.len().min(core.settings.queue_capacity);
    let places = match core.queue.try_reserve_many(reserve) {
        Ok(places) => places,
        // Backpressure: Graph waits for the answer before it posts this subscription's next
        // batch, so holding the request slows it down; a 503 would make it wait 30 s and more.
        Err(_) => match tokio::time::timeout(QUEUE_WAIT, core.queue.reserve_many(reserve)).await {
            Ok(Ok(places)) => {
                Counters::add(&core.counters.held, 1);
                places
            }
            _ => {
                Counters::add(&core.counters.busy, 1);
                return Err(later("the notification queue is full"));
            }
        },
    };
    let first = core.sequence(accepted.len());
    let records: Vec<SpoolRecord> = accepted
        .into_iter()
        .zip(first..)
        .map(|((mailbox, folder, notification), seq)| {
            record(seq, mailbox, folder, notification, now_ms)
        })
        .collect();
    within_deadline("spooling", core.spool.append(&records)).await?;
    Counters::add(&core.counters.accepted, records.len() as u64);
    let mut records = records.into_iter();
    for (place, record) in places.zip(&mut records) {
        place.send(record);
    }
    // Beyond what was reserved: spooled already, so they wait for room (and the request is
    // held, as above).
    let mut held = false;
    for record in records {
        let record = match core.queue.try_send(record) {
            Ok(()) => continue,
            Err(mpsc::error::TrySendError::Closed(_)) => break,
            Err(mpsc::error::TrySendError::Full(record)) => record,
        };
        if !held {
            held = true;
            Counters::add(&core.counters.held, 1);
        }
        if core.queue.send(record).await.is_err() {
            break;
        }
    }
    Ok(())
}

/// A notification whose `clientState` is not its subscription's: the whole request is
/// refused.
fn mismatch(core: &Core, notification: &Notification) -> Response {
    Counters::add(&core.counters.refused, 1);
    tracing::warn!(
        subscription = %notification.subscription_id,
        "Graph webhook: clientState does not match the subscription's; request refused, nothing acted on"
    );
    text(StatusCode::FORBIDDEN, "clientState mismatch\n")
}

/// Splits notifications of subscriptions this watcher does not hold into those another node
/// published (with their mailbox; their `clientState` checked) and those no node did.
async fn held_elsewhere(
    core: &Core,
    unknown: Vec<Notification>,
) -> Result<(Vec<(String, Notification)>, Vec<Notification>), Response> {
    let Some(peers) = core.peers.as_deref() else {
        return Ok((Vec::new(), unknown));
    };
    if unknown.is_empty() {
        return Ok((Vec::new(), unknown));
    }
    let mut ids: Vec<String> = unknown.iter().map(|n| n.subscription_id.clone()).collect();
    ids.sort_unstable();
    ids.dedup();
    let found = within_deadline("looking up", crate::peers::find(peers, ids)).await?;
    let mut forward = Vec::new();
    let mut left = Vec::new();
    for notification in unknown {
        match found.get(&notification.subscription_id) {
            Some(shared) if shared.matches(notification.client_state().unwrap_or_default()) => {
                forward.push((shared.mailbox.clone(), notification));
            }
            Some(_) => return Err(mismatch(core, &notification)),
            None => left.push(notification),
        }
    }
    Ok((forward, left))
}

/// Runs `work` within [`SPOOL_DEADLINE`]; a failure or a timeout is a 503 (Graph delivers
/// again).
async fn within_deadline<T>(
    what: &str,
    work: impl Future<Output = Result<T, GraphError>>,
) -> Result<T, Response> {
    match tokio::time::timeout(SPOOL_DEADLINE, work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => {
            tracing::error!(%error, what, "Graph webhook: notifications not kept; Graph will send them again");
            Err(later("the notifications could not be kept"))
        }
        Err(_) => {
            tracing::error!(
                what,
                "Graph webhook: keeping notifications took too long; Graph will send them again"
            );
            Err(later("keeping the notifications is slow"))
        }
    }
}

/// The spool record of an accepted notification (of a further folder's subscription when
/// `folder` names it).
fn record(
    seq: u64,
    mailbox: String,
    folder: Option<FolderName>,
    notification: Notification,
    now_ms: i64,
) -> SpoolRecord {
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
    let record = SpoolRecord::new(seq, mailbox, notification.subscription_id, now_ms, kind);
    match folder {
        Some(folder) => record.in_folder(folder.as_str()),
        None => record,
    }
}
