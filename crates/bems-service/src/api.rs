//! The HTTP API: device registration, administration, health, metrics, and Exchange's push
//! callbacks.
//!
//! | route | who | what |
//! |---|---|---|
//! | `POST /v1/tenants/{tenant}/devices` | the device's user (bearer token of the tenant's identity provider) | register a device for the caller's own mailbox |
//! | `DELETE /v1/tenants/{tenant}/devices/{token}?mailbox=` | the device's user | unregister it |
//! | `GET /v1/tenants/{tenant}/directory/search?q=`, `GET .../directory/photos/{address}` | a device user | Directory Lookup ([`crate::directory::api`]) |
//! | `GET`/`PUT`/`DELETE /v1/tenants/{tenant}/users/{user}/follow-me/{key}` | that user | Follow-Me ([`crate::followme`]) |
//! | `GET`/`PUT`/`DELETE /v1/tenants/{tenant}/users/{user}/alert-rules` | that user | the user's alert rules ([`crate::alerts::route`]) |
//! | `GET /admin/status` | administrator (bearer admin token) | this node (its mailboxes against its capacity, the capacity alarm) and per tenant: authentication and token expiry, subscriptions, devices |
//! | `GET /admin/cluster` | administrator | the nodes sharing the store: alive or not, capacity, mailboxes, age of the oldest lease ([`crate::cluster`]) |
//! | `GET /admin/tenants/{tenant}/devices` | administrator | the tenant's devices |
//! | `DELETE /admin/tenants/{tenant}/devices/{id}` | administrator | remove a device (its token may then be registered for another user) |
//! | `GET /admin/tenants/{tenant}/settings` | administrator | JSON in `PUT`'s shape: the settings in force (secrets left out, named in `redacted`) and those stored through the API |
//! | `PUT /admin/tenants/{tenant}/settings` (TOML) | administrator | validate a tenant's settings and store them; they apply at the next start ([`bems_settings::tenant_from_admin`]: secrets by file, inside the secret directories) |
//! | `POST /admin/tenants/{tenant}/test-connection` `{"email": ...}` | administrator | the step-by-step test |
//! | `GET /admin/tenants/{tenant}/sign-in` | administrator | passive authentication: the sign-in URL |
//! | `GET /oauth/{tenant}/callback?code=&state=` | the identity provider's redirect | passive authentication: tokens obtained |
//! | `GET /healthz`, `GET /readyz`, `GET /metrics` | anyone | liveness, readiness (the store answers), Prometheus |
//! | `/console/...` | administrator (session) | the console's pages ([`crate::console`]) |
//! | `POST /ews/{tenant}` | Exchange | push notifications of the tenant's subscriptions |
//! | `POST /graph/{tenant}/notifications`, `POST /graph/{tenant}/lifecycle` | Microsoft Graph | change and lifecycle notifications of a tenant on Graph (and their validation handshake) |

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{delete, get, post};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use crate::service::{RegisterError, Service};
use bems_store::model::TenantId;

/// What the API needs.
#[derive(Clone)]
pub struct ApiState {
    /// The service.
    pub service: Arc<Service>,
    /// The administrator's bearer token; `None` turns the admin API off.
    pub admin_token: Option<Arc<SecretString>>,
    /// The settings in force.
    pub settings: Arc<bems_settings::ServiceSettings>,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field("admin", &self.admin_token.is_some())
            .finish_non_exhaustive()
    }
}

/// The router, with each tenant's push listener under `/ews/<tenant>`.
pub fn router(state: ApiState) -> Router {
    let mut router = Router::new()
        .route("/v1/tenants/{tenant}/devices", post(register))
        .route("/v1/tenants/{tenant}/devices/{token}", delete(unregister))
        .route("/admin/status", get(status))
        .route("/admin/cluster", get(cluster))
        .route("/admin/tenants/{tenant}/devices", get(devices))
        .route(
            "/admin/tenants/{tenant}/devices/{id}",
            delete(remove_device),
        )
        .route(
            "/admin/tenants/{tenant}/settings",
            get(read_settings).put(write_settings),
        )
        .route(
            "/admin/tenants/{tenant}/test-connection",
            post(test_connection),
        )
        .route("/admin/tenants/{tenant}/sign-in", get(sign_in))
        .route("/oauth/{tenant}/callback", get(callback))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .with_state(state.clone())
        .merge(crate::directory::api::routes(&state.service))
        .merge(crate::followme::routes(&state.service))
        .merge(crate::alerts::route::routes(&state.service))
        .merge(crate::console::routes(&state));
    for tenant in state.service.tenants() {
        if let Some(callbacks) = &tenant.callbacks {
            router = router.nest_service(&format!("/ews/{}", tenant.id), callbacks.clone());
        }
        if let Some(graph) = &tenant.graph {
            router = router.nest_service(&format!("/graph/{}", tenant.id), graph.webhook.clone());
        }
    }
    router
}

fn problem(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

/// The credentials of an `Authorization: Bearer <token>` header. The scheme is matched
/// without regard to case (RFC 7235, section 2.1) and may be followed by more than one space.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credentials) = value.split_once(' ')?;
    let credentials = credentials.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !credentials.is_empty()).then_some(credentials)
}

fn tenant_id(raw: &str) -> Result<TenantId, Box<Response>> {
    TenantId::new(raw).map_err(|e| Box::new(problem(StatusCode::NOT_FOUND, e.to_string())))
}

fn admin(state: &ApiState, headers: &HeaderMap) -> Result<(), Box<Response>> {
    let Some(expected) = &state.admin_token else {
        return Err(Box::new(problem(
            StatusCode::NOT_FOUND,
            "the admin API is not configured",
        )));
    };
    let given = bearer(headers).unwrap_or_default();
    if crate::console::session::same_secret(given, expected.expose_secret()) {
        Ok(())
    } else {
        Err(Box::new(problem(
            StatusCode::UNAUTHORIZED,
            "the admin token is missing or wrong",
        )))
    }
}

/// The admin check, then the tenant named in the path.
fn admin_tenant(
    state: &ApiState,
    headers: &HeaderMap,
    raw: &str,
) -> Result<TenantId, Box<Response>> {
    admin(state, headers)?;
    tenant_id(raw)
}

/// The running tenant named in the path.
fn running(state: &ApiState, raw: &str) -> Result<Arc<crate::service::Tenant>, Box<Response>> {
    TenantId::new(raw)
        .ok()
        .and_then(|t| state.service.tenant(&t).cloned())
        .ok_or_else(|| Box::new(problem(StatusCode::NOT_FOUND, "unknown tenant")))
}

async fn register(
    State(state): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let tenant = match tenant_id(&tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let Some(token) = bearer(&headers) else {
        return problem(
            StatusCode::UNAUTHORIZED,
            "a bearer token from the tenant's identity provider is required",
        );
    };
    let device = match crate::registration::parse(&tenant, &body) {
        Ok(device) => device,
        Err(error) => return register_problem(&error),
    };
    match state.service.register(&tenant, token, device).await {
        Ok(id) => (StatusCode::CREATED, Json(json!({"id": id}))).into_response(),
        Err(error) => register_problem(&error),
    }
}

fn register_problem(error: &RegisterError) -> Response {
    let status = match error {
        RegisterError::UnknownTenant(_) => StatusCode::NOT_FOUND,
        RegisterError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        RegisterError::Forbidden { .. } | RegisterError::Unentitled(_) => StatusCode::FORBIDDEN,
        RegisterError::Invalid { .. } => StatusCode::BAD_REQUEST,
        RegisterError::Conflict(_) => StatusCode::CONFLICT,
        RegisterError::TooFrequent { .. } => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let body = match error {
        RegisterError::Invalid { field, .. } => json!({"error": error.to_string(), "field": field}),
        _ => json!({"error": error.to_string()}),
    };
    let mut response = (status, Json(body)).into_response();
    if let RegisterError::TooFrequent { retry_after, .. } = error {
        let seconds = retry_after.as_secs().max(1);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
    }
    response
}

#[derive(Debug, Deserialize)]
struct MailboxQuery {
    mailbox: String,
}

async fn unregister(
    State(state): State<ApiState>,
    Path((tenant, token)): Path<(String, String)>,
    Query(query): Query<MailboxQuery>,
    headers: HeaderMap,
) -> Response {
    let tenant = match tenant_id(&tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let Some(bearer) = bearer(&headers) else {
        return problem(StatusCode::UNAUTHORIZED, "a bearer token is required");
    };
    match state
        .service
        .unregister(&tenant, bearer, &query.mailbox, &token)
        .await
    {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => problem(StatusCode::NOT_FOUND, "no such device for this mailbox"),
        Err(error) => register_problem(&error),
    }
}

async fn status(State(state): State<ApiState>, headers: HeaderMap) -> Response {
    if let Err(denied) = admin(&state, &headers) {
        return *denied;
    }
    let outbox = state.service.store.outbox_len().await.unwrap_or(0);
    Json(json!({
        "node": state.service.node.status(),
        "tenants": state.service.status().await,
        "outbox": outbox,
        "push_apps": state.service.courier.routes().apps(),
    }))
    .into_response()
}

/// The nodes sharing the store: each with its capacity, its mailboxes, whether it is alive
/// and the age of its oldest lease; and this node's status with its capacity alarm.
async fn cluster(State(state): State<ApiState>, headers: HeaderMap) -> Response {
    if let Err(denied) = admin(&state, &headers) {
        return *denied;
    }
    match state.service.cluster().await {
        Ok(view) => Json(view).into_response(),
        Err(e) => problem(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn devices(
    State(state): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response {
    let tenant = match admin_tenant(&state, &headers, &tenant) {
        Ok(tenant) => tenant,
        Err(denied) => return *denied,
    };
    match state.service.store.devices(&tenant).await {
        Ok(devices) => Json(devices).into_response(),
        Err(e) => problem(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn remove_device(
    State(state): State<ApiState>,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let tenant = match admin_tenant(&state, &headers, &tenant) {
        Ok(tenant) => tenant,
        Err(denied) => return *denied,
    };
    let Ok(id) = id.parse::<i64>() else {
        return problem(StatusCode::NOT_FOUND, "a device id is a number");
    };
    match state.service.remove_device(&tenant, id).await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => problem(StatusCode::NOT_FOUND, "the tenant has no such device"),
        Err(error) => register_problem(&error),
    }
}

#[derive(Debug, Deserialize)]
struct TestConnection {
    email: String,
}

async fn test_connection(
    State(state): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    Json(request): Json<TestConnection>,
) -> Response {
    if let Err(denied) = admin(&state, &headers) {
        return *denied;
    }
    let tenant = match running(&state, &tenant) {
        Ok(tenant) => tenant,
        Err(unknown) => return *unknown,
    };
    let report = exchange_check::test_connection(
        tenant.locator.as_ref(),
        tenant.auth.as_ref(),
        &request.email,
        tenant.ews_version.clone(),
    )
    .await;
    Json(report).into_response()
}

async fn sign_in(
    State(state): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(denied) = admin(&state, &headers) {
        return *denied;
    }
    let tenant = match running(&state, &tenant) {
        Ok(tenant) => tenant,
        Err(unknown) => return *unknown,
    };
    let Some(passive) = &tenant.passive else {
        return problem(
            StatusCode::CONFLICT,
            "the tenant does not use passive authentication",
        );
    };
    match passive.sign_in_url() {
        Ok(sign_in) => Json(json!({"url": sign_in.url.as_str()})).into_response(),
        Err(e) => problem(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

#[derive(Debug, Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

async fn callback(
    State(state): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    Query(query): Query<Callback>,
) -> Response {
    let outcome = complete_sign_in(&state, &tenant, query).await;
    // A browser (the console's Login) gets a page; anything else JSON.
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if wants_html {
        let status = outcome
            .as_ref()
            .map_or_else(|(s, _)| *s, |_| StatusCode::OK);
        let page =
            crate::console::pages::signed_in(&tenant, outcome.map_err(|(_, message)| message));
        return crate::console::with_secure_headers(
            (status, page).into_response(),
            axum::http::HeaderValue::from_static(crate::console::CONTENT_SECURITY_POLICY),
        );
    }
    match outcome {
        Ok(expires) => Json(json!({
            "signed_in": true,
            "expires_at": expires.to_string(),
        }))
        .into_response(),
        Err((status, message)) => problem(status, message),
    }
}

/// Redeems the identity provider's answer for `tenant`'s passive authentication: when the
/// access token expires, or the status and reason of a failure.
async fn complete_sign_in(
    state: &ApiState,
    tenant: &str,
    query: Callback,
) -> Result<time::OffsetDateTime, (StatusCode, String)> {
    let tenant = TenantId::new(tenant)
        .ok()
        .and_then(|t| state.service.tenant(&t).cloned())
        .ok_or((StatusCode::NOT_FOUND, "unknown tenant".to_owned()))?;
    let passive = tenant.passive.as_ref().ok_or((
        StatusCode::CONFLICT,
        "the tenant does not use passive authentication".to_owned(),
    ))?;
    if let Some(error) = query.error {
        return Err((
            StatusCode::BAD_REQUEST,
            format!(
                "sign-in failed: {error}: {}",
                query.error_description.unwrap_or_default()
            ),
        ));
    }
    let (Some(code), Some(oauth_state)) = (query.code, query.state) else {
        return Err((
            StatusCode::BAD_REQUEST,
            "code and state are required".to_owned(),
        ));
    };
    let token = passive
        .complete(&code, &oauth_state)
        .await
        .map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))?;
    // When this sign-in was made: the console reminds the administrator before the identity
    // provider's policy ends it (`passive.sign_in_lifetime_days`).
    let now = time::OffsetDateTime::now_utc();
    let stamp = now
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    if let Err(error) = state
        .service
        .store
        .put_secret(
            &tenant.id,
            SIGNED_IN_AT,
            &secrecy::SecretSlice::from(stamp.into_bytes()),
        )
        .await
    {
        tracing::warn!(tenant = %tenant.id, %error, "the time of the passive sign-in was not kept");
    }
    Ok(token.expires_at())
}

/// The name under which the time of a tenant's last passive sign-in is kept (RFC 3339).
pub(crate) const SIGNED_IN_AT: &str = "passive-signed-in-at";

/// When `tenant`'s administrator last signed in for passive authentication, if known.
pub(crate) async fn signed_in_at(
    state: &ApiState,
    tenant: &TenantId,
) -> Option<time::OffsetDateTime> {
    let bytes = state
        .service
        .store
        .secret(tenant, SIGNED_IN_AT)
        .await
        .ok()??;
    let text = std::str::from_utf8(bytes.expose_secret()).ok()?;
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
}

async fn ready(State(state): State<ApiState>) -> Response {
    match state.service.store.device_count().await {
        Ok(_) => (StatusCode::OK, "ready\n").into_response(),
        Err(e) => problem(StatusCode::SERVICE_UNAVAILABLE, format!("store: {e}")),
    }
}

async fn metrics(State(state): State<ApiState>) -> Response {
    let gauges = state.service.gauges().await;
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.service.metrics.render(&gauges),
    )
        .into_response()
}

/// The tenant's settings as JSON in the shape `PUT` takes, secrets left out: those in force
/// (`in_force`, with `redacted` naming the secrets set but not shown) and those stored through
/// the API (`stored`, applied at the next start).
async fn read_settings(
    State(state): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response {
    let tenant = match admin_tenant(&state, &headers, &tenant) {
        Ok(tenant) => tenant,
        Err(denied) => return *denied,
    };
    let in_force = state.settings.tenant(&tenant);
    let stored = match stored_settings(&state, &tenant).await {
        Ok(stored) => stored,
        Err(e) => return problem(StatusCode::INTERNAL_SERVER_ERROR, e),
    };
    if in_force.is_none() && stored.is_none() {
        return problem(StatusCode::NOT_FOUND, "unknown tenant");
    }
    Json(json!({
        "in_force": in_force.map(bems_settings::tenant_json),
        "redacted": in_force.map(bems_settings::redacted).unwrap_or_default(),
        "stored": stored,
    }))
    .into_response()
}

/// A stored tenant's table as JSON (its secrets are references: values were never taken).
fn stored_json(toml: &str) -> serde_json::Value {
    match bems_settings::ServiceSettings::from_toml_str(&format!("[[tenants]]\n{toml}")) {
        Ok(settings) => settings
            .tenants
            .first()
            .map(bems_settings::tenant_json)
            .unwrap_or_default(),
        Err(error) => json!({ "error": format!("the stored settings do not parse: {error}") }),
    }
}

async fn write_settings(
    State(state): State<ApiState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let tenant = match admin_tenant(&state, &headers, &tenant) {
        Ok(tenant) => tenant,
        Err(denied) => return *denied,
    };
    let refused = |error: bems_settings::SettingsError| {
        let problems: Vec<_> = error
            .problems()
            .iter()
            .map(|p| json!({"field": p.field, "rule": p.rule}))
            .collect();
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"error": error.to_string(), "problems": problems})),
        )
            .into_response()
    };
    match save_tenant_settings(&state, &tenant, &body).await {
        Ok(()) => Json(json!({
            "stored": true,
            "applies": "at the next start of each node (GET /admin/status lists it under node.settings_pending until then)",
        }))
        .into_response(),
        Err(SaveError::Invalid(error)) => refused(error),
        Err(SaveError::Store(e)) => problem(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

/// Why tenant settings were not stored.
#[derive(Debug)]
pub(crate) enum SaveError {
    /// The settings with this tenant would not start: every problem.
    Invalid(bems_settings::SettingsError),
    /// The store failed.
    Store(String),
}

/// Stores a tenant's settings (the admin API's TOML body), for the admin API and the console
/// alike: checked as a whole first, and refused (nothing stored, nothing opened outside the
/// secret directories) unless the settings with this tenant would start.
pub(crate) async fn save_tenant_settings(
    state: &ApiState,
    tenant: &TenantId,
    body: &str,
) -> Result<(), SaveError> {
    state
        .settings
        .with_admin_tenant(tenant, body)
        .map_err(SaveError::Invalid)?;
    let stored = json!({"toml": body}).to_string();
    state
        .service
        .store
        .put_tenant(tenant, &stored)
        .await
        .map_err(|e| SaveError::Store(e.to_string()))
}

/// The settings stored for `tenant` through the admin API (or the console), as its JSON.
async fn stored_settings(
    state: &ApiState,
    tenant: &TenantId,
) -> Result<Option<serde_json::Value>, String> {
    Ok(state
        .service
        .store
        .tenant(tenant)
        .await
        .map_err(|e| e.to_string())?
        .and_then(|json| serde_json::from_str::<serde_json::Value>(&json).ok())
        .and_then(|v| v["toml"].as_str().map(stored_json)))
}

/// A tenant's settings as the admin API's JSON: those stored through the API (or the
/// console) when there are, else those in force; `None` for an unknown tenant.
pub(crate) async fn current_settings(
    state: &ApiState,
    tenant: &TenantId,
) -> Result<Option<serde_json::Value>, String> {
    let stored = stored_settings(state, tenant).await?;
    Ok(stored.or_else(|| {
        state
            .settings
            .tenant(tenant)
            .map(bems_settings::tenant_json)
    }))
}
