//! The administrator's console: HTML pages under `/console`, rendered on the server, with no
//! JavaScript.
//!
//! | route | who | what |
//! |---|---|---|
//! | `GET /console/sign-in` | anyone | the sign-in form (the admin token of `[admin]`) |
//! | `POST /console/sign-in` | anyone, from the form | starts a session |
//! | `POST /console/sign-out` | a session | ends it |
//! | `GET /console` | a session | this node and each tenant: authentication and token expiry, mailboxes by state, devices |
//! | `POST /console/tenants/{tenant}/sign-in` | a session | passive authentication's Login: to the identity provider, which sends the administrator back to `/oauth/{tenant}/callback` (the API's), whose page then says when the tokens expire |
//! | `POST /console/tenants/{tenant}/certificate` (multipart) | a session | Client Certificate: the `.pfx` and its password, checked as the service loads them, then kept in the secret directory and saved as the settings are |
//! | `POST /console/tenants/{tenant}/test-connection` | a session | the connection test for an address, each step shown as it ends (the page is streamed) |
//! | `GET`/`POST /console/tenants/{tenant}/settings` | a session | "Email notifications": the seed's fields by its rules; Save checks them with the admin API's validator and stores them as it does (the `settings` module) |
//! | `GET /console/static/console.css` | anyone | the style sheet |
//!
//! Without an admin token the console is off, as the admin API is (404).
//!
//! Safe by construction (the `session` module has the details):
//! - a session cookie that scripts cannot read and other sites cannot send (`HttpOnly`,
//!   `Secure`, `SameSite=Strict`, `__Host-`);
//! - a CSRF token in every form, checked on every POST, with the request's origin;
//! - every answer carries a Content-Security-Policy that allows only this origin's style sheet
//!   and forms (no script, no inline style, no framing), `X-Frame-Options: DENY`,
//!   `Referrer-Policy: same-origin` (`no-referrer` would make browsers send `Origin: null` with the forms), `X-Content-Type-Options: nosniff` and
//!   `Cache-Control: no-store`;
//! - no secret is ever written into a page.

mod certificate;
pub(crate) mod pages;
pub(crate) mod rates;
pub(crate) mod session;
pub(crate) mod settings;
mod test_connection;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Form, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use secrecy::ExposeSecret;
use serde::Deserialize;

use crate::api::ApiState;
use bems_store::model::TenantId;
use session::{COOKIE, PRE_COOKIE, Sessions};

/// The Content-Security-Policy of every console answer.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The largest form accepted.
const MAX_FORM: usize = 64 * 1024;

/// The largest `.pfx` upload accepted (a certificate chain and its key are a few KiB).
const MAX_PFX: usize = 256 * 1024;

/// How long the sign-in form's CSRF cookie lasts.
const PRE_COOKIE_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

const STYLE: &str = include_str!("console/console.css");

#[derive(Clone)]
struct Console {
    api: ApiState,
    sessions: Arc<Sessions>,
    rates: Arc<rates::Rates>,
}

/// The console's routes, with their own sessions.
pub(crate) fn routes(api: &ApiState) -> Router {
    let policy = policy(&api.settings);
    let console = Console {
        api: api.clone(),
        sessions: Arc::new(Sessions::default()),
        rates: rates::Rates::start(Arc::clone(&api.service.metrics)),
    };
    Router::new()
        .route("/console", get(status))
        .route("/console/sign-in", get(sign_in_form).post(sign_in))
        .route("/console/sign-out", axum::routing::post(sign_out))
        .route(
            "/console/tenants/{tenant}/settings",
            get(settings_page).post(settings_form),
        )
        .route(
            "/console/tenants/{tenant}/test-connection",
            axum::routing::post(test_connection::test_connection),
        )
        .route(
            "/console/tenants/{tenant}/sign-in",
            axum::routing::post(passive_sign_in),
        )
        .route(
            "/console/tenants/{tenant}/certificate",
            axum::routing::post(certificate::upload_certificate)
                .layer(DefaultBodyLimit::max(MAX_PFX)),
        )
        .route("/console/static/console.css", get(style))
        .layer(DefaultBodyLimit::max(MAX_FORM))
        .layer(axum::middleware::map_response(move |response| {
            let policy = policy.clone();
            async move { with_secure_headers(response, policy) }
        }))
        .with_state(console)
}

/// [`CONTENT_SECURITY_POLICY`], with the identity providers of the tenants under passive
/// authentication allowed as `form-action` targets: browsers hold a form's redirects to the
/// policy too, and Login's form is answered with a redirect to the provider.
fn policy(settings: &bems_settings::ServiceSettings) -> HeaderValue {
    let mut origins: Vec<String> = settings
        .tenants
        .iter()
        .filter(|t| t.authentication == bems_settings::AuthenticationType::Passive)
        .filter_map(|t| t.passive.authority.as_ref())
        .map(|url| url.origin().ascii_serialization())
        .filter(|origin| origin.starts_with("https://"))
        .collect();
    origins.sort();
    origins.dedup();
    let policy = if origins.is_empty() {
        CONTENT_SECURITY_POLICY.to_owned()
    } else {
        CONTENT_SECURITY_POLICY.replace(
            "form-action 'self'",
            &format!("form-action 'self' {}", origins.join(" ")),
        )
    };
    HeaderValue::from_str(&policy).unwrap_or(HeaderValue::from_static(CONTENT_SECURITY_POLICY))
}

/// `response` with the console's security headers and Content-Security-Policy `policy` (for
/// console pages served elsewhere, the passive sign-in's callback: [`CONTENT_SECURITY_POLICY`]).
pub(crate) fn with_secure_headers(mut response: Response, policy: HeaderValue) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    for (name, value) in [
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

fn page(status: StatusCode, markup: maud::Markup) -> Response {
    (status, markup).into_response()
}

/// The console is off without an admin token.
fn off(console: &Console) -> Option<Response> {
    console.api.admin_token.is_none().then(|| {
        page(
            StatusCode::NOT_FOUND,
            pages::message(
                "Console off",
                "The console needs an admin token in [admin].",
            ),
        )
    })
}

fn no_randomness() -> Response {
    page(
        StatusCode::INTERNAL_SERVER_ERROR,
        pages::message(
            "Unavailable",
            "The system's random number generator failed.",
        ),
    )
}

/// The sign-in form with a fresh CSRF cookie.
fn sign_in_page(status: StatusCode, error: Option<&str>) -> Response {
    let Some(csrf) = session::random_token() else {
        return no_randomness();
    };
    let mut response = page(status, pages::sign_in(&csrf, error));
    set(
        &mut response,
        &session::set_cookie(PRE_COOKIE, &csrf, PRE_COOKIE_AGE),
    );
    response
}

fn set(response: &mut Response, cookie: &str) {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

async fn sign_in_form(State(console): State<Console>) -> Response {
    off(&console).unwrap_or_else(|| sign_in_page(StatusCode::OK, None))
}

#[derive(Deserialize)]
struct SignIn {
    #[serde(default)]
    token: String,
    #[serde(default)]
    csrf: String,
}

async fn sign_in(
    State(console): State<Console>,
    headers: HeaderMap,
    uri: Uri,
    Form(form): Form<SignIn>,
) -> Response {
    if let Some(off) = off(&console) {
        return off;
    }
    let expected = session::cookie(&headers, PRE_COOKIE).unwrap_or_default();
    if !session::same_origin(&headers, &uri)
        || expected.is_empty()
        || !session::same_secret(&form.csrf, expected)
    {
        return refused();
    }
    if console.sessions.locked_out() {
        return sign_in_page(
            StatusCode::TOO_MANY_REQUESTS,
            Some("Too many wrong tokens: wait a minute and try again."),
        );
    }
    let token = console.api.admin_token.as_deref();
    if !token.is_some_and(|t| session::same_secret(&form.token, t.expose_secret())) {
        console.sessions.failed();
        tracing::warn!("console: sign-in with a wrong admin token");
        return sign_in_page(
            StatusCode::UNAUTHORIZED,
            Some("That is not the admin token."),
        );
    }
    let Some(id) = console.sessions.start() else {
        return no_randomness();
    };
    tracing::info!("console: an administrator signed in");
    let mut response = Redirect::to("/console").into_response();
    set(
        &mut response,
        &session::set_cookie(COOKIE, &id, session::LIFETIME),
    );
    set(
        &mut response,
        &session::set_cookie(PRE_COOKIE, "", std::time::Duration::ZERO),
    );
    response
}

fn refused() -> Response {
    page(
        StatusCode::FORBIDDEN,
        pages::message(
            "Refused",
            "The form did not come from this console, or it expired: open the page again.",
        ),
    )
}

/// The session of a page request; else the answer (the console off, or to the sign-in form).
fn viewer(console: &Console, headers: &HeaderMap) -> Result<session::Session, Box<Response>> {
    if let Some(off) = off(console) {
        return Err(Box::new(off));
    }
    console
        .sessions
        .find(headers)
        .map(|(_, session)| session)
        .ok_or_else(|| Box::new(to_sign_in()))
}

/// The session of a form: as [`viewer`], and the form comes from this console's origin with
/// the session's CSRF token (else 403).
fn posted(
    console: &Console,
    headers: &HeaderMap,
    uri: &Uri,
    csrf: &str,
) -> Result<session::Session, Box<Response>> {
    let session = viewer(console, headers)?;
    if session::same_origin(headers, uri) && session::same_secret(csrf, &session.csrf) {
        Ok(session)
    } else {
        Err(Box::new(refused()))
    }
}

/// The running tenant named `raw`; else 404.
fn running_tenant(
    console: &Console,
    raw: &str,
) -> Result<Arc<crate::service::Tenant>, Box<Response>> {
    TenantId::new(raw)
        .ok()
        .and_then(|id| console.api.service.tenant(&id).cloned())
        .ok_or_else(|| Box::new(unknown_tenant("No running tenant has that name.")))
}

/// 404 for a tenant the path names: `why`.
fn unknown_tenant(why: &str) -> Response {
    page(StatusCode::NOT_FOUND, pages::message("Unknown tenant", why))
}

/// 303 to the sign-in form.
fn to_sign_in() -> Response {
    Redirect::to("/console/sign-in").into_response()
}

#[derive(Deserialize)]
struct Csrf {
    #[serde(default)]
    csrf: String,
}

async fn sign_out(
    State(console): State<Console>,
    headers: HeaderMap,
    uri: Uri,
    Form(form): Form<Csrf>,
) -> Response {
    let Some((id, session)) = console.sessions.find(&headers) else {
        return to_sign_in();
    };
    if !session::same_origin(&headers, &uri) || !session::same_secret(&form.csrf, &session.csrf) {
        return refused();
    }
    console.sessions.end(&id);
    let mut response = to_sign_in();
    set(
        &mut response,
        &session::set_cookie(COOKIE, "", std::time::Duration::ZERO),
    );
    response
}

#[derive(Deserialize)]
struct StatusQuery {
    /// Devices whose mailbox contains this.
    #[serde(default)]
    user: String,
}

/// Devices listed for one search, at most.
const DEVICES_LISTED: usize = 50;

async fn status(
    State(console): State<Console>,
    headers: HeaderMap,
    axum::extract::Query(query): axum::extract::Query<StatusQuery>,
) -> Response {
    let session = match viewer(&console, &headers) {
        Ok(session) => session,
        Err(answer) => return *answer,
    };
    let service = &console.api.service;
    let outbox = service.store.outbox_len().await.unwrap_or(0);
    let user = query.user.trim().to_ascii_lowercase();
    let (node_rates, tenant_rates) = console.rates.per_minute();
    let tenant_pushes = service.metrics.pushes_by_tenant();
    let mut tenants = Vec::new();
    for status in service.status().await {
        let id = TenantId::new(&status.tenant).ok();
        let entitlement = id
            .as_ref()
            .and_then(|id| console.api.settings.tenant(id))
            .map(|t| entitled(&t.entitlement))
            .unwrap_or_default();
        let devices = match (&id, user.is_empty()) {
            (Some(id), false) => Some(
                service
                    .store
                    .devices(id)
                    .await
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|d| d.device.mailbox.to_ascii_lowercase().contains(&user))
                    .take(DEVICES_LISTED)
                    .collect(),
            ),
            _ => None,
        };
        let passive = match &id {
            Some(id) => passive_status(&console, id).await,
            None => None,
        };
        let rates = tenant_rates
            .get(&status.tenant)
            .copied()
            .unwrap_or_default();
        let failures = tenant_pushes
            .iter()
            .filter(|((tenant, outcome), _)| *tenant == status.tenant && outcome != "delivered")
            .map(|((_, outcome), n)| (outcome.clone(), *n))
            .collect();
        tenants.push(pages::TenantView {
            status,
            entitlement,
            devices,
            passive,
            rates,
            failures,
        });
    }
    let node = pages::NodeView {
        status: service.node.status(),
        outbox,
        rates: node_rates,
        pushes: service.metrics.pushes_by_outcome(),
    };
    let markup = pages::status(
        &session.csrf,
        &node,
        &tenants,
        &query.user,
        time::OffsetDateTime::now_utc(),
    );
    page(StatusCode::OK, markup)
}

/// Who receives notifications, as the status page says it.
fn entitled(entitlement: &bems_settings::EntitlementSettings) -> String {
    match entitlement.mode {
        bems_settings::EntitlementMode::All => "every mailbox of the tenant".to_owned(),
        _ => {
            let mailboxes = entitlement.mailboxes.iter().count();
            let domains = entitlement.domains.iter().count();
            if mailboxes + domains == 0 {
                "no one (no mailbox or domain is listed)".to_owned()
            } else {
                format!("{mailboxes} listed mailboxes and {domains} listed domains")
            }
        }
    }
}

async fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE).into_response()
}

/// The tenant named in the path, with its settings as the admin API's JSON.
async fn tenant_settings(
    console: &Console,
    raw: &str,
) -> Result<(TenantId, serde_json::Value), Response> {
    let not_found = || unknown_tenant("No tenant has that name.");
    let tenant = TenantId::new(raw).map_err(|_| not_found())?;
    match crate::api::current_settings(&console.api, &tenant).await {
        Ok(Some(settings)) => Ok((tenant, settings)),
        Ok(None) => Err(not_found()),
        Err(error) => Err(page(
            StatusCode::INTERNAL_SERVER_ERROR,
            pages::message("Unavailable", &format!("The store failed: {error}")),
        )),
    }
}

/// Passive authentication's redirect URI for `tenant`, from `server.public_url`.
fn redirect_uri(console: &Console, tenant: &TenantId) -> Option<String> {
    let public_url = console.api.settings.server.public_url.as_ref()?;
    let settings = console.api.settings.tenant(tenant)?;
    settings.redirect_uri(public_url).map(|u| u.to_string())
}

async fn settings_page(
    State(console): State<Console>,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> Response {
    let session = match viewer(&console, &headers) {
        Ok(session) => session,
        Err(answer) => return *answer,
    };
    let (tenant, current) = match tenant_settings(&console, &raw).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let view = settings_view(&console, &tenant, &current).await;
    let values = settings::Values::of_settings(&current);
    page(
        StatusCode::OK,
        pages::settings(&session.csrf, tenant.as_str(), &values, &view),
    )
}

async fn settings_form(
    State(console): State<Console>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    };
    let session = match posted(&console, &headers, &uri, field("csrf")) {
        Ok(session) => session,
        Err(answer) => return *answer,
    };
    let (tenant, current) = match tenant_settings(&console, &raw).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let mut values = settings::Values::of_form(&pairs);
    values.mark_set(&settings::Values::of_settings(&current));
    let mut view = settings_view(&console, &tenant, &current).await;
    if field("action") != "save" {
        return page(
            StatusCode::OK,
            pages::settings(&session.csrf, tenant.as_str(), &values, &view),
        );
    }
    let status = match save(&console, &tenant, &current, &values).await {
        Ok(()) => {
            tracing::info!(tenant = %tenant, "console: tenant settings stored");
            view.saved = Some("Saved. The settings apply at the next start of each node.");
            StatusCode::OK
        }
        Err(refusal) => show_refusal(&mut view, refusal, |field| {
            settings::field_of(field, tenant.as_str())
        }),
    };
    page(
        status,
        pages::settings(&session.csrf, tenant.as_str(), &values, &view),
    )
}

/// Puts `refusal` on the page: each problem next to the field `key_of` names (else at the
/// top); the status to answer with.
fn show_refusal(
    view: &mut pages::SettingsView<'_>,
    refusal: Refusal,
    key_of: impl Fn(&str) -> Option<&'static str>,
) -> StatusCode {
    match refusal {
        Refusal::Fields(problems) => {
            for (field, rule) in problems {
                match key_of(&field) {
                    Some(key) => view.problems.entry(key).or_default().push(rule),
                    None => view.other.push(format!("{field}: {rule}")),
                }
            }
            StatusCode::UNPROCESSABLE_ENTITY
        }
        Refusal::Failed(error) => {
            view.other.push(error);
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

/// Why Save stored nothing.
enum Refusal {
    /// (field path, rule) of every problem.
    Fields(Vec<(String, String)>),
    Failed(String),
}

/// Saves the page's `values` over `current`: secrets typed go to new files (see
/// [`Written`]).
async fn save(
    console: &Console,
    tenant: &TenantId,
    current: &serde_json::Value,
    values: &settings::Values,
) -> Result<(), Refusal> {
    let directory = secret_directory(console);
    let mut written = Written::new(tenant);
    let applied = settings::apply(current, values, |key, secret| {
        written.write(directory.as_deref()?, key, secret.as_bytes())
    });
    let outcome = match applied {
        Err((field, rule)) => Err(Refusal::Fields(vec![(
            format!("tenants[{tenant}].{field}"),
            rule,
        )])),
        Ok(applied) => store(console, tenant, &applied).await,
    };
    written.settle(&outcome, current);
    outcome
}

/// Stores a tenant's settings (the admin API's JSON of them) as the admin API does.
async fn store(
    console: &Console,
    tenant: &TenantId,
    settings: &serde_json::Value,
) -> Result<(), Refusal> {
    let body = settings::to_admin_toml(settings).map_err(Refusal::Failed)?;
    crate::api::save_tenant_settings(&console.api, tenant, &body)
        .await
        .map_err(refusal)
}

/// The directory the console writes secrets to: the first secret directory.
fn secret_directory(console: &Console) -> Result<std::path::PathBuf, String> {
    console
        .api
        .settings
        .secrets
        .in_force()
        .into_iter()
        .next()
        .ok_or_else(|| "no secret directory is configured ([secrets] directories)".to_owned())
}

/// The secret files one save wrote, by the key of the secret (its settings name `<key>_file`).
/// If the save is refused they are removed; once it is stored, the files this console wrote
/// before for the same secrets are, as the settings no longer name them.
struct Written<'t> {
    tenant: &'t TenantId,
    files: Vec<(String, std::path::PathBuf)>,
}

impl<'t> Written<'t> {
    fn new(tenant: &'t TenantId) -> Self {
        Self {
            tenant,
            files: Vec::new(),
        }
    }

    /// Writes the secret `key` to a new file in `directory`; its path.
    fn write(
        &mut self,
        directory: &std::path::Path,
        key: &str,
        secret: &[u8],
    ) -> Result<std::path::PathBuf, String> {
        let path = settings::write_secret_file(directory, self.tenant.as_str(), key, secret)?;
        self.files.push((key.to_owned(), path.clone()));
        Ok(path)
    }

    /// Removes what `outcome` leaves unnamed: the new files if refused, else the console's
    /// earlier files for these secrets, as `previous` (the settings before) named them.
    fn settle(self, outcome: &Result<(), Refusal>, previous: &serde_json::Value) {
        for (key, path) in self.files {
            if outcome.is_err() {
                let _ = std::fs::remove_file(path);
                continue;
            }
            let prefix = settings::secret_prefix(self.tenant.as_str(), &key);
            let old = previous
                .pointer(&format!("/{}_file", key.replace('.', "/")))
                .and_then(serde_json::Value::as_str)
                .map(std::path::PathBuf::from);
            if let Some(old) = old.filter(|old| *old != path)
                && old
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&prefix))
            {
                let _ = std::fs::remove_file(old);
            }
        }
    }
}

/// The settings' `test_email_address`, for the test form.
fn test_email(current: &serde_json::Value) -> String {
    current["test_email_address"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// What the settings page shows of `tenant` besides its values (no refusal yet).
async fn settings_view(
    console: &Console,
    tenant: &TenantId,
    current: &serde_json::Value,
) -> pages::SettingsView<'static> {
    pages::SettingsView {
        redirect_uri: redirect_uri(console, tenant),
        test_email: test_email(current),
        passive: passive_status(console, tenant).await,
        ..pages::SettingsView::default()
    }
}

/// The passive sign-in's state, when the running tenant uses passive authentication.
async fn passive_status(console: &Console, tenant: &TenantId) -> Option<pages::PassiveView> {
    let running = console.api.service.tenant(tenant)?;
    running.passive.as_ref()?;
    let lifetime_days = console
        .api
        .settings
        .tenant(tenant)
        .map_or(90, |t| t.passive.sign_in_lifetime_days);
    Some(pages::PassiveView {
        status: running.auth.status(),
        signed_in_at: crate::api::signed_in_at(&console.api, tenant).await,
        lifetime_days,
    })
}

/// Passive authentication's Login: to the identity provider's sign-in page.
async fn passive_sign_in(
    State(console): State<Console>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    Form(form): Form<Csrf>,
) -> Response {
    if let Err(answer) = posted(&console, &headers, &uri, &form.csrf) {
        return *answer;
    }
    let running = match running_tenant(&console, &raw) {
        Ok(tenant) => tenant,
        Err(answer) => return *answer,
    };
    let Some(passive) = running.passive.clone() else {
        return page(
            StatusCode::CONFLICT,
            pages::message(
                "Login",
                "This tenant does not run with passive authentication (saved settings apply at the next start).",
            ),
        );
    };
    match passive.sign_in_url() {
        Ok(sign_in) => Redirect::to(sign_in.url.as_str()).into_response(),
        Err(error) => page(
            StatusCode::INTERNAL_SERVER_ERROR,
            pages::message("Login", &format!("No sign-in URL: {error}")),
        ),
    }
}

fn refusal(error: crate::api::SaveError) -> Refusal {
    match error {
        crate::api::SaveError::Invalid(error) => Refusal::Fields(
            error
                .problems()
                .iter()
                .map(|p| (p.field.clone(), p.rule.clone()))
                .collect(),
        ),
        crate::api::SaveError::Store(error) => Refusal::Failed(error),
    }
}
