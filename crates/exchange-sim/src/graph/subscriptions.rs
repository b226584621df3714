//! `/v1.0/subscriptions`: create, list, get, renew (`PATCH`), delete and reauthorize
//! (<https://learn.microsoft.com/graph/api/resources/subscription>).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::errors::GraphError;
use super::routing::{parse_resource, user_id};
use super::store::{
    Change, MAILBOX_QUOTA, Subscription, SubscriptionState, expiry, parse_datetime,
};
use super::validation::{check_url, validate};
use super::{Counters, Request, delivery, json};

/// The longest `clientState`.
const MAX_CLIENT_STATE: usize = 128;

/// A creation request's body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Create {
    change_type: Option<String>,
    notification_url: Option<String>,
    lifecycle_notification_url: Option<String>,
    resource: Option<String>,
    expiration_date_time: Option<String>,
    client_state: Option<String>,
    latest_supported_tls_version: Option<String>,
    #[serde(default)]
    include_resource_data: bool,
}

fn required<T>(value: Option<T>, name: &str) -> Result<T, GraphError> {
    value.ok_or_else(|| {
        GraphError::bad_request("InvalidRequest", format!("Property '{name}' is required."))
    })
}

fn body<'de, T: Deserialize<'de>>(request: &Request<'de>) -> Result<T, GraphError> {
    serde_json::from_slice(request.body).map_err(|e| {
        GraphError::bad_request(
            "BadRequest",
            format!("Unable to read JSON request payload: {e}"),
        )
    })
}

fn max_lifetime(request: &Request<'_>) -> Duration {
    let minutes = request.ctx.world.scenario.graph.max_lifetime_minutes;
    Duration::from_secs(u64::from(minutes) * 60)
}

/// `POST /subscriptions`: checks the request, validates both URLs, answers 201.
pub(crate) async fn create(request: &Request<'_>) -> Result<Response, GraphError> {
    let create: Create = body(request)?;
    let ctx = request.ctx;
    let changes = required(create.change_type, "changeType")?
        .split(',')
        .map(|c| {
            Change::parse(c).ok_or_else(|| {
                GraphError::bad_request(
                    "InvalidRequest",
                    format!("'{}' is not a valid change type.", c.trim()),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let notification_url = required(create.notification_url, "notificationUrl")?;
    let resource = required(create.resource, "resource")?;
    let requested = required(create.expiration_date_time, "expirationDateTime")?;
    let requested = parse_datetime(&requested).ok_or_else(|| {
        GraphError::bad_request(
            "InvalidRequest",
            format!("'{requested}' is not a valid expirationDateTime."),
        )
    })?;
    if create
        .client_state
        .as_ref()
        .is_some_and(|c| c.chars().count() > MAX_CLIENT_STATE)
    {
        return Err(GraphError::bad_request(
            "InvalidRequest",
            format!("clientState is limited to {MAX_CLIENT_STATE} characters."),
        ));
    }
    if create.include_resource_data {
        return Err(GraphError::bad_request(
            "InvalidRequest",
            "encryptionCertificate is required when includeResourceData is true.",
        ));
    }
    let (user, folder) = parse_resource(&resource)?;
    let index = ctx
        .graph
        .users
        .resolve(&ctx.world, &user)
        .ok_or_else(|| GraphError::unknown_user(&user))?;
    let mailbox = ctx
        .world
        .mailboxes
        .get(index)
        .cloned()
        .ok_or_else(|| GraphError::unknown_user(&user))?;
    let folder = match folder {
        None => None,
        Some(name) => Some(
            super::messages::folder_kind(&mailbox, &name).ok_or_else(|| {
                GraphError::not_found(format!("The folder '{name}' was not found."))
            })?,
        ),
    };
    let now = ctx.world.clock.now();
    let expires = expiry(now, requested, max_lifetime(request))
        .map_err(|m| GraphError::bad_request("ExtensionError", m))?;
    if ctx.graph.subscriptions.count_for(&mailbox) >= MAILBOX_QUOTA {
        return Err(GraphError::new(
            StatusCode::FORBIDDEN,
            "ExtensionError",
            format!("Subscription quota of {MAILBOX_QUOTA} for this mailbox is exhausted."),
        ));
    }
    let notification =
        check_url(&notification_url).map_err(|m| GraphError::bad_request("ValidationError", m))?;
    let lifecycle = create
        .lifecycle_notification_url
        .as_deref()
        .map(check_url)
        .transpose()
        .map_err(|m| GraphError::bad_request("ValidationError", m))?;
    for url in std::iter::once(&notification).chain(lifecycle.as_ref()) {
        validate(ctx, url)
            .await
            .map_err(|m| GraphError::bad_request("ValidationError", m))?;
    }
    let smtp = ctx
        .world
        .directory
        .users
        .get(index)
        .map(|u| u.smtp.clone())
        .unwrap_or_default();
    let subscription = Arc::new(Subscription {
        id: uuid::Uuid::new_v4().to_string(),
        app: request.app.to_owned(),
        mailbox: Arc::clone(&mailbox),
        user_id: user_id(&smtp),
        resource,
        folder,
        changes,
        notification_url,
        lifecycle_url: create.lifecycle_notification_url,
        client_state: create.client_state,
        tls_version: create
            .latest_supported_tls_version
            .unwrap_or_else(|| "v1_2".into()),
        state: Mutex::new(SubscriptionState {
            expires,
            paused: false,
            drop_next: 0,
        }),
        waker: Arc::new(Notify::new()),
        ended: CancellationToken::new(),
    });
    let cursor = mailbox.lock().next_seq();
    mailbox.observe(&subscription.waker);
    ctx.graph.subscriptions.insert(Arc::clone(&subscription));
    Counters::add(&ctx.graph.counters.created, 1);
    tracing::debug!(subscription = %subscription.id, mailbox = %mailbox.address, "Graph subscription created");
    delivery::spawn(Arc::clone(request.ctx), Arc::clone(&subscription), cursor);
    Ok(json(StatusCode::CREATED, &subscription.json(true)))
}

/// The subscription `id` if `request`'s app created it (others get 404, as Graph answers
/// for what they cannot see).
fn owned(request: &Request<'_>, id: &str) -> Result<Arc<Subscription>, GraphError> {
    let ctx = request.ctx;
    ctx.graph.subscriptions.expire(ctx.world.clock.now());
    ctx.graph
        .subscriptions
        .get(id)
        .filter(|s| s.app == request.app)
        .ok_or_else(|| GraphError::not_found("The object was not found."))
}

/// `GET /subscriptions`: the app's subscriptions.
pub(crate) fn list(request: &Request<'_>) -> Result<Response, GraphError> {
    let ctx = request.ctx;
    ctx.graph.subscriptions.expire(ctx.world.clock.now());
    let value: Vec<serde_json::Value> = ctx
        .graph
        .subscriptions
        .all()
        .iter()
        .filter(|s| s.app == request.app)
        .map(|s| s.json(false))
        .collect();
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscriptions",
            "value": value,
        }),
    ))
}

/// `GET /subscriptions/{id}`.
pub(crate) fn get(request: &Request<'_>, id: &str) -> Result<Response, GraphError> {
    let subscription = owned(request, id)?;
    Ok(json(StatusCode::OK, &subscription.json(false)))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Renew {
    expiration_date_time: Option<String>,
}

/// `PATCH /subscriptions/{id}`: a new expiry, which also reauthorizes.
pub(crate) fn renew(request: &Request<'_>, id: &str) -> Result<Response, GraphError> {
    let subscription = owned(request, id)?;
    let renew: Renew = body(request)?;
    let requested = required(renew.expiration_date_time, "expirationDateTime")?;
    let requested = parse_datetime(&requested).ok_or_else(|| {
        GraphError::bad_request(
            "InvalidRequest",
            format!("'{requested}' is not a valid expirationDateTime."),
        )
    })?;
    let now = request.ctx.world.clock.now();
    let expires = expiry(now, requested, max_lifetime(request))
        .map_err(|m| GraphError::bad_request("ExtensionError", m))?;
    {
        let mut state = subscription.state();
        state.expires = expires;
        state.paused = false;
    }
    subscription.waker.notify_one();
    Counters::add(&request.ctx.graph.counters.renewed, 1);
    Ok(json(StatusCode::OK, &subscription.json(false)))
}

/// `DELETE /subscriptions/{id}`: 204.
pub(crate) fn delete(request: &Request<'_>, id: &str) -> Result<Response, GraphError> {
    let subscription = owned(request, id)?;
    request.ctx.graph.subscriptions.remove(&subscription.id);
    Counters::add(&request.ctx.graph.counters.deleted, 1);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /subscriptions/{id}/reauthorize`: notifications resume; 204.
pub(crate) fn reauthorize(request: &Request<'_>, id: &str) -> Result<Response, GraphError> {
    let subscription = owned(request, id)?;
    subscription.state().paused = false;
    subscription.waker.notify_one();
    Counters::add(&request.ctx.graph.counters.reauthorized, 1);
    Ok(StatusCode::NO_CONTENT.into_response())
}
