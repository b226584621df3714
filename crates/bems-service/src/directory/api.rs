//! Directory Lookup's HTTP routes, for a device user (a bearer token of the tenant's identity
//! provider, checked as a device registration's is):
//!
//! | route | what |
//! |---|---|
//! | `GET /v1/tenants/{tenant}/directory/search?q=&limit=` | people matching `q`: name, address, job, a photo link |
//! | `GET /v1/tenants/{tenant}/directory/photos/{address}` | the photo's bytes; `ETag`, `Cache-Control`, `304` to `If-None-Match` |

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use exchange_directory::{
    Directory, DirectoryError, DirectorySettings, Person, Photo, SearchAnswer, SearchQuery,
    is_address,
};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::directory;
use crate::service::{Service, Tenant};
use crate::verify::{Caller, VerifyError};
use bems_store::model::TenantId;

/// What a path segment keeps as it is: RFC 3986's unreserved characters.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A tenant's Directory Lookup, as the routes use it: [`exchange_directory::Directory`] is one.
#[async_trait]
pub trait PeopleSearch: Send + Sync {
    /// The bounds the routes apply (query length, results, cache time of photos).
    fn settings(&self) -> &DirectorySettings;

    /// People matching `query`, as `caller` may see them, at most `limit`.
    async fn search(
        &self,
        caller: &str,
        query: &SearchQuery,
        limit: usize,
    ) -> Result<SearchAnswer, DirectoryError>;

    /// The photo of `address`, as `caller` may see it.
    async fn photo(&self, caller: &str, address: &str) -> Result<Option<Photo>, DirectoryError>;
}

#[async_trait]
impl PeopleSearch for Directory {
    fn settings(&self) -> &DirectorySettings {
        Self::settings(self)
    }

    async fn search(
        &self,
        caller: &str,
        query: &SearchQuery,
        limit: usize,
    ) -> Result<SearchAnswer, DirectoryError> {
        Self::search(self, caller, query, limit).await
    }

    async fn photo(&self, caller: &str, address: &str) -> Result<Option<Photo>, DirectoryError> {
        Self::photo(self, caller, address).await
    }
}

/// The routes' state: the service and each tenant's directory.
struct DirectoryApi {
    service: Arc<Service>,
    directories: HashMap<TenantId, Arc<dyn PeopleSearch>>,
}

impl DirectoryApi {
    /// The device user calling for `tenant`, and the tenant's directory.
    async fn caller(
        &self,
        tenant: &str,
        headers: &HeaderMap,
    ) -> Result<(Arc<Tenant>, Caller, &dyn PeopleSearch), Box<Response>> {
        let (tenant, caller) = device_user(&self.service, tenant, headers).await?;
        let Some(directory) = self.directories.get(&tenant.id) else {
            return Err(Box::new(problem(
                StatusCode::NOT_FOUND,
                "Directory Lookup is not enabled for this tenant",
            )));
        };
        Ok((tenant, caller, directory.as_ref()))
    }
}

/// Directory Lookup's routes, with a [`Directory`] for every tenant that has it enabled.
pub fn routes(service: &Arc<Service>) -> Router {
    let directories = service
        .tenants()
        .filter(|tenant| tenant.settings.directory.enabled)
        .map(|tenant| {
            let directory: Arc<dyn PeopleSearch> = Arc::new(directory(service, tenant));
            (tenant.id.clone(), directory)
        })
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
            utf8_percent_encode(&person.email.to_ascii_lowercase(), UNRESERVED)
        )
    })
}

async fn search(
    State(api): State<Arc<DirectoryApi>>,
    Path(tenant): Path<String>,
    Query(params): Query<SearchParams>,
    headers: HeaderMap,
) -> Response {
    let (tenant, caller, directory) = match api.caller(&tenant, &headers).await {
        Ok(found) => found,
        Err(refused) => return *refused,
    };
    let settings = directory.settings();
    let min = usize::try_from(settings.min_query_length).unwrap_or(2);
    let query = match SearchQuery::parse(&params.q, min) {
        Ok(query) => query,
        Err(error) => return problem(StatusCode::BAD_REQUEST, format!("q: {error}")),
    };
    let max = usize::try_from(settings.max_results).unwrap_or(25);
    let limit = params.limit.unwrap_or(max).clamp(1, max.max(1));
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
    let (_, caller, directory) = match api.caller(&tenant, &headers).await {
        Ok(found) => found,
        Err(refused) => return *refused,
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
