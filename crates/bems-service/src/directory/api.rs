//! Directory Lookup's HTTP routes, for a device user (a bearer token of the tenant's identity
//! provider, checked as a device registration's is):
//!
//! | route | what |
//! |---|---|
//! | `GET /v1/tenants/{tenant}/directory/search?q=&limit=` | people matching `q`: name, address, job, a photo link |
//! | `GET /v1/tenants/{tenant}/directory/photos/{address}` | the photo's bytes; `ETag`, `Cache-Control`, `304` to `If-None-Match` |

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use exchange_auth::Authenticator;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::graph::percent_encode;
use super::{
    Directory, DirectoryBackend, DirectoryError, EwsDirectory, GraphDirectory, Hit, LdapDirectory,
    Person, SearchQuery, is_address,
};
use crate::model::TenantId;
use crate::service::{Service, Tenant};
use crate::settings::{AuthenticationType, DirectoryBackendKind};
use crate::store::TenantRefreshTokens;
use crate::verify::{Caller, VerifyError};

/// The routes' state: the service and each tenant's directory.
struct DirectoryApi {
    service: Arc<Service>,
    directories: HashMap<TenantId, Arc<Directory>>,
}

/// Directory Lookup's routes, with a [`Directory`] for every tenant that has it enabled.
pub fn routes(service: &Arc<Service>) -> Router {
    let directories = service
        .tenants()
        .filter(|tenant| tenant.settings.directory.enabled)
        .map(|tenant| (tenant.id.clone(), Arc::new(directory(service, tenant))))
        .collect();
    let state = Arc::new(DirectoryApi {
        service: Arc::clone(service),
        directories,
    });
    Router::new()
        .route("/v1/tenants/{tenant}/directory/search", get(search))
        .route(
            "/v1/tenants/{tenant}/directory/photos/{address}",
            get(photo),
        )
        .with_state(state)
}

/// `tenant`'s directory, with the backends its settings name (a backend that cannot be set
/// up answers every request with why).
pub fn directory(service: &Service, tenant: &Tenant) -> Directory {
    let settings = &tenant.settings;
    let timeout = Duration::from_secs(u64::from(settings.directory.timeout_seconds));
    let backends = settings
        .directory
        .backends
        .iter()
        .map(|kind| -> Arc<dyn DirectoryBackend> {
            let built = match kind {
                DirectoryBackendKind::Ews => Ok(Arc::new(EwsDirectory::new(
                    Arc::clone(&tenant.auth),
                    Arc::clone(&tenant.locator) as Arc<dyn autodiscover::MailboxLocator>,
                    Arc::clone(&service.store),
                    tenant.id.clone(),
                    timeout,
                    tenant.ews_version.clone(),
                )) as Arc<dyn DirectoryBackend>),
                DirectoryBackendKind::Ldap => LdapDirectory::from_settings(settings)
                    .map(|ldap| Arc::new(ldap) as Arc<dyn DirectoryBackend>),
                DirectoryBackendKind::Graph => graph_auth(service, tenant).map(|auth| {
                    let base = &settings.directory.graph.base_url;
                    Arc::new(GraphDirectory::new(auth, base, timeout)) as Arc<dyn DirectoryBackend>
                }),
            };
            built.unwrap_or_else(|reason| {
                tracing::error!(tenant = %tenant.id, backend = kind.as_str(), %reason, "directory backend not set up");
                Arc::new(NotSetUp { kind: *kind, reason })
            })
        })
        .collect();
    Directory::new(settings.directory.clone(), backends)
}

/// An authenticator whose tokens are for Graph, sent through the tenant's `transport` (which
/// carries the overrides' trusted CAs and fixed addresses): under passive authentication, the
/// administrator's sign-in (the tenant's refresh token in the store, redeemed for Graph);
/// otherwise the tenant's modern authentication with Graph's resource (its origin without a
/// port) and scope `<resource>/.default`, never Basic.
fn graph_auth(service: &Service, tenant: &Tenant) -> Result<Arc<dyn Authenticator>, String> {
    let settings = &tenant.settings;
    let base = &settings.directory.graph.base_url;
    if settings.authentication == AuthenticationType::Passive {
        let refresh = Arc::new(TenantRefreshTokens::new(
            Arc::clone(&service.store),
            tenant.id.clone(),
        ));
        return crate::graph::auth::passive_graph_authenticator(
            settings,
            &tenant.transport,
            tenant.redirect_uri.clone(),
            refresh,
            base,
        )
        .map_err(|e| format!("Graph authentication: {e}"));
    }
    crate::graph::auth::directory_graph_authenticator(settings, &tenant.transport, base)
        .map_err(|e| format!("Graph authentication: {e}"))
}

/// A backend whose settings could not be applied.
struct NotSetUp {
    kind: DirectoryBackendKind,
    reason: String,
}

#[async_trait]
impl DirectoryBackend for NotSetUp {
    fn kind(&self) -> DirectoryBackendKind {
        self.kind
    }

    async fn search(&self, _: &str, _: &SearchQuery, _: usize) -> Result<Vec<Hit>, DirectoryError> {
        Err(DirectoryError::unavailable(self.kind, &self.reason))
    }

    async fn photo(&self, _: &str, _: &str, _: usize) -> Result<Option<Vec<u8>>, DirectoryError> {
        Err(DirectoryError::unavailable(self.kind, &self.reason))
    }
}

/// No backend answered: the device learns which failed, the log (written by [`Directory`])
/// why.
fn unanswered(error: &DirectoryError) -> Response {
    problem(
        StatusCode::BAD_GATEWAY,
        format!("the directory did not answer ({})", error.backend()),
    )
}

pub(crate) fn problem(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

/// The running tenant named in the path and the device user its identity provider's token
/// proves, or the answer refusing them (404, 401, 503).
pub(crate) async fn device_user(
    service: &Service,
    tenant: &str,
    headers: &HeaderMap,
) -> Result<(Arc<Tenant>, Caller), Box<Response>> {
    let tenant = TenantId::new(tenant)
        .ok()
        .and_then(|id| service.tenant(&id).cloned())
        .ok_or_else(|| Box::new(problem(StatusCode::NOT_FOUND, "unknown tenant")))?;
    let bearer = crate::api::bearer(headers).ok_or_else(|| {
        Box::new(problem(
            StatusCode::UNAUTHORIZED,
            "a bearer token from the tenant's identity provider is required",
        ))
    })?;
    match tenant.verifier.verify(bearer).await {
        Ok(caller) => Ok((tenant, caller)),
        Err(error @ VerifyError::Unavailable(_)) => Err(Box::new(problem(
            StatusCode::SERVICE_UNAVAILABLE,
            error.to_string(),
        ))),
        Err(error) => Err(Box::new(problem(
            StatusCode::UNAUTHORIZED,
            error.to_string(),
        ))),
    }
}

#[derive(Debug, Deserialize)]
struct SearchParams {
    q: String,
    limit: Option<usize>,
}

/// A person as a device sees them: with the link to their photo, when they may have one.
#[derive(Serialize)]
struct Shown<'a> {
    #[serde(flatten)]
    person: &'a Person,
    photo: Option<String>,
}

fn photo_link(tenant: &TenantId, person: &Person) -> Option<String> {
    (person.has_photo != Some(false) && is_address(&person.email)).then(|| {
        format!(
            "/v1/tenants/{tenant}/directory/photos/{}",
            percent_encode(&person.email.to_ascii_lowercase())
        )
    })
}

async fn search(
    State(api): State<Arc<DirectoryApi>>,
    Path(tenant): Path<String>,
    Query(params): Query<SearchParams>,
    headers: HeaderMap,
) -> Response {
    let (tenant, caller) = match device_user(&api.service, &tenant, &headers).await {
        Ok(found) => found,
        Err(refused) => return *refused,
    };
    let Some(directory) = api.directories.get(&tenant.id) else {
        return problem(
            StatusCode::NOT_FOUND,
            "Directory Lookup is not enabled for this tenant",
        );
    };
    let settings = directory.settings();
    let min = usize::try_from(settings.min_query_length).unwrap_or(2);
    let query = match SearchQuery::parse(&params.q, min) {
        Ok(query) => query,
        Err(error) => return problem(StatusCode::BAD_REQUEST, format!("q: {error}")),
    };
    let max = usize::try_from(settings.max_results).unwrap_or(25);
    let limit = params.limit.unwrap_or(max).clamp(1, max);
    match directory.search(&caller.address, &query, limit).await {
        Ok(answer) => {
            let people: Vec<Shown<'_>> = answer
                .people
                .iter()
                .map(|person| Shown {
                    person,
                    photo: photo_link(&tenant.id, person),
                })
                .collect();
            Json(json!({
                "query": query.as_str(),
                "people": people,
                "truncated": answer.truncated,
                // Which backends did not answer; why is in the log, not for devices.
                "failed": answer.failed.iter().map(DirectoryError::backend).collect::<Vec<_>>(),
            }))
            .into_response()
        }
        Err(error) => unanswered(&error),
    }
}

async fn photo(
    State(api): State<Arc<DirectoryApi>>,
    Path((tenant, address)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let (tenant, caller) = match device_user(&api.service, &tenant, &headers).await {
        Ok(found) => found,
        Err(refused) => return *refused,
    };
    let Some(directory) = api.directories.get(&tenant.id) else {
        return problem(
            StatusCode::NOT_FOUND,
            "Directory Lookup is not enabled for this tenant",
        );
    };
    if !is_address(&address) {
        return problem(StatusCode::BAD_REQUEST, "the photo is asked for by address");
    }
    let photo = match directory.photo(&caller.address, &address).await {
        Ok(Some(photo)) => photo,
        Ok(None) => return problem(StatusCode::NOT_FOUND, "no photo"),
        Err(error) => return unanswered(&error),
    };
    let cache = format!(
        "private, max-age={}",
        directory.settings().cache_ttl_seconds
    );
    let mut response_headers = HeaderMap::new();
    let etag = HeaderValue::from_str(&photo.etag);
    if let (Ok(etag), Ok(cache)) = (etag, HeaderValue::from_str(&cache)) {
        response_headers.insert(header::ETAG, etag);
        response_headers.insert(header::CACHE_CONTROL, cache);
    }
    response_headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(photo.content_type),
    );
    response_headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .any(|t| t.trim() == photo.etag || t.trim() == "*")
        });
    if unchanged {
        response_headers.remove(header::CONTENT_TYPE);
        return (StatusCode::NOT_MODIFIED, response_headers).into_response();
    }
    (StatusCode::OK, response_headers, photo.bytes.to_vec()).into_response()
}
