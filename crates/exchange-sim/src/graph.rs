//! Microsoft Graph's Outlook change notifications, served under the host name
//! `graph.microsoft.com` on the simulator's HTTPS listener, as Microsoft documents them.
//!
//! | Route | File |
//! |---|---|
//! | `POST /v1.0/subscriptions`, `GET /v1.0/subscriptions` | [`subscriptions`]: create (after the [`validation`] handshake with both URLs) and list |
//! | `GET`/`PATCH`/`DELETE /v1.0/subscriptions/{id}`, `POST /v1.0/subscriptions/{id}/reauthorize` | [`subscriptions`]: read, renew, delete, reauthorize |
//! | `GET /v1.0/users/{id}/mailFolders('inbox')` (or `/mailFolders/inbox`) | [`messages`]: the folder with `unreadItemCount` |
//! | `GET /v1.0/users/{id}/mailFolders('inbox')/messages/delta` | [`delta`]: delta rounds with `@odata.nextLink` and `@odata.deltaLink` |
//! | `GET /v1.0/users/{id}/messages/{id}` (or `messages('{id}')`) | [`message`]: one message, `$select` honoured |
//! | `GET /v1.0/users?$filter=&$select=&$top=`, `GET /v1.0/users/{id}` | [`users`]: the scenario's users, `$filter` by [`filter`] |
//! | `GET /v1.0/users/{id}/photo/$value` | [`users`]: a user's photo, 404 `ImageNotFound` without one |
//!
//! - Requests need a bearer token of the simulator's identity platform for
//!   `https://graph.microsoft.com`: app-only with the `Mail.Read` (or `Mail.ReadWrite`) role
//!   for mail, with `User.Read.All` (or another directory permission, app-only or
//!   delegated) for users and photos ([`auth`]).
//! - Subscriptions to a user's messages last at most the scenario's
//!   `graph.max_lifetime_minutes` (10,080 by default; a longer request is refused) and at least
//!   45 minutes (a shorter one is raised to 45), by the simulator's clock (`Sim::advance_clock`
//!   moves it), and are deleted when they expire ([`store`]).
//! - Every change to a subscribed inbox becomes a change notification POSTed to the
//!   `notificationUrl` (at most `graph.batch_size` per POST, with those of other
//!   subscriptions to the same URL ready at the same time, at most `graph.posts_per_url`
//!   POSTs in flight per URL: [`posting`]), retried when the webhook fails or takes longer
//!   than 3 s, with time-scaled backoff, for up to 4 hours ([`delivery`]).
//! - Lifecycle notifications (`reauthorizationRequired`, `subscriptionRemoved`, `missed`) are
//!   sent on demand ([`GraphHandle`], admin API); throttling: at most
//!   `graph.mailbox_concurrency` (4) requests in flight per app and mailbox, and 429 with
//!   `Retry-After` on demand ([`throttle`]).

mod admin;
mod auth;
mod delivery;
mod delta;
mod errors;
mod filter;
mod handle;
mod message;
mod messages;
mod posting;
mod routing;
mod store;
mod subscriptions;
mod throttle;
mod users;
mod validation;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;

use crate::sim::Ctx;
use errors::GraphError;
use routing::Endpoint;

pub(crate) use admin::routes as admin_routes;
pub use handle::{GraphHandle, GraphStats, GraphSubscriptionInfo, LifecycleEvent};
pub(crate) use store::Subscriptions;
pub(crate) use throttle::Throttle;

/// The host name Graph is served under.
pub const GRAPH_HOST: &str = "graph.microsoft.com";

/// Counters for tests and load reports.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) requests: AtomicU64,
    pub(crate) created: AtomicU64,
    pub(crate) renewed: AtomicU64,
    pub(crate) reauthorized: AtomicU64,
    pub(crate) deleted: AtomicU64,
    pub(crate) expired: AtomicU64,
    pub(crate) validations: AtomicU64,
    pub(crate) validation_failures: AtomicU64,
    pub(crate) notifications: AtomicU64,
    pub(crate) posts: AtomicU64,
    /// Notifications waiting for a POST to their URL (a gauge).
    pub(crate) queued: AtomicU64,
    pub(crate) failed_posts: AtomicU64,
    pub(crate) slow_posts: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) lifecycle: AtomicU64,
    pub(crate) delta_requests: AtomicU64,
    /// `GET /users/{id}/messages/{id}` requests (an injected failure included).
    pub(crate) message_reads: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// Graph's state: subscriptions, throttling, counters, the webhook client.
#[derive(Debug)]
pub(crate) struct GraphState {
    pub(crate) subscriptions: Subscriptions,
    pub(crate) throttle: Throttle,
    pub(crate) counters: Arc<Counters>,
    /// Posts validation requests (trusts the simulator's CA and the builder's
    /// `push_trusted_ca`).
    pub(crate) client: reqwest::Client,
    /// Posts notifications, with the same client.
    pub(crate) posting: posting::Posting,
    /// Users by Graph id.
    pub(crate) users: routing::UserIds,
    /// Per mailbox id: delta links of this generation or older are expired, and answered
    /// with this status (`GraphHandle::expire_delta_links`).
    pub(crate) expired_delta: std::sync::Mutex<std::collections::HashMap<u32, (u64, u16)>>,
    /// The generation new delta rounds begin in.
    pub(crate) delta_generation: AtomicU64,
    /// Per mailbox id: how many more delta requests are refused with `403`
    /// (`GraphHandle::refuse_delta`).
    pub(crate) refused_delta: std::sync::Mutex<std::collections::HashMap<u32, u64>>,
}

impl GraphState {
    pub(crate) fn new(
        client: reqwest::Client,
        world: &crate::world::World,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> Self {
        let scenario = &world.scenario.graph;
        let counters = Arc::new(Counters::default());
        Self {
            subscriptions: Subscriptions::default(),
            throttle: Throttle::new(scenario.mailbox_concurrency, scenario.retry_after_seconds),
            posting: posting::Posting::new(
                client.clone(),
                Arc::clone(&counters),
                scenario,
                shutdown,
            ),
            counters,
            client,
            users: routing::UserIds::new(world),
            expired_delta: std::sync::Mutex::default(),
            delta_generation: AtomicU64::new(1),
            refused_delta: std::sync::Mutex::default(),
        }
    }
}

/// Graph's routes (every path under `/v1.0/`).
pub(crate) fn routes() -> Router<Arc<Ctx>> {
    Router::new().route("/v1.0/{*rest}", any(handle))
}

/// Whether the request names Graph's host (the listener serves every host name).
fn for_graph(headers: &HeaderMap) -> bool {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let name = host.rsplit_once(':').map_or(host, |(name, _)| name);
    name.eq_ignore_ascii_case(GRAPH_HOST)
}

async fn handle(
    State(ctx): State<Arc<Ctx>>,
    method: Method,
    uri: Uri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !for_graph(&headers) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let graph = &ctx.graph;
    Counters::add(&graph.counters.requests, 1);
    let endpoint = match routing::parse(uri.path()) {
        Ok(endpoint) => endpoint,
        Err(error) => return error.into_response(),
    };
    let app = match auth::authenticate(&ctx, &headers)
        .and_then(|claims| auth::permit(&claims, &endpoint).map(|()| claims.app_id))
    {
        Ok(app) => app,
        Err(error) => return error.into_response(),
    };
    let mailbox = match endpoint.mailbox(&ctx, &body) {
        Ok(mailbox) => mailbox,
        Err(error) => return error.into_response(),
    };
    let slot = match graph.throttle.enter(&app, mailbox.as_deref()) {
        Ok(slot) => slot,
        Err(error) => return error.into_response(),
    };
    let delay = slot.delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let query = query.unwrap_or_default();
    let request = Request {
        ctx: &ctx,
        app: &app,
        query: &query,
        headers: &headers,
        body: &body,
    };
    let answer = match (&method, endpoint) {
        (&Method::POST, Endpoint::Subscriptions) => subscriptions::create(&request).await,
        (&Method::GET, Endpoint::Subscriptions) => subscriptions::list(&request),
        (&Method::GET, Endpoint::Subscription(id)) => subscriptions::get(&request, &id),
        (&Method::PATCH, Endpoint::Subscription(id)) => subscriptions::renew(&request, &id),
        (&Method::DELETE, Endpoint::Subscription(id)) => subscriptions::delete(&request, &id),
        (&Method::POST, Endpoint::Reauthorize(id)) => subscriptions::reauthorize(&request, &id),
        (&Method::GET, Endpoint::Users) => users::list(&request),
        (&Method::GET, Endpoint::User(user)) => users::get(&request, &user),
        (&Method::GET, Endpoint::Photo(user)) => users::photo(&request, &user),
        (&Method::GET, Endpoint::Folder { user, folder }) => {
            messages::folder(&request, &user, &folder)
        }
        (&Method::GET, Endpoint::Message { user, id }) => message::get(&request, &user, &id).await,
        (&Method::GET, Endpoint::Delta { user, folder }) => {
            delta::delta(&request, &user, folder.as_deref())
        }
        _ => Err(GraphError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Request_BadRequest",
            format!("The HTTP method '{method}' is not allowed on this resource."),
        )),
    };
    answer.unwrap_or_else(IntoResponse::into_response)
}

/// One authenticated request, as handlers see it.
pub(crate) struct Request<'a> {
    pub(crate) ctx: &'a Arc<Ctx>,
    /// The calling app's client id.
    pub(crate) app: &'a str,
    /// The raw query string.
    pub(crate) query: &'a str,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) body: &'a [u8],
}

impl Request<'_> {
    /// The value of a query parameter (decoded), by name, compared without regard to case.
    pub(crate) fn param(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.into_owned())
    }
}

/// A JSON answer with Graph's headers.
pub(crate) fn json(status: StatusCode, value: &serde_json::Value) -> Response {
    let mut response = (status, axum::Json(value)).into_response();
    let id = uuid::Uuid::new_v4().to_string();
    if let Ok(value) = id.parse() {
        response.headers_mut().insert("request-id", value);
    }
    response
}
