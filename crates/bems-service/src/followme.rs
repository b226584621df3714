//! BlackBerry Follow-Me: the launcher's settings follow a user from device to device.
//!
//! Each user keeps documents of opaque JSON under keys of their choosing; only they read and
//! write them (the bearer token's user must be the one in the path: another user's document
//! is `403`). Every document has a version, sent as its strong `ETag` (`"3"`); a write names
//! the version it replaces, so two devices cannot overwrite each other silently:
//!
//! | route | preconditions | answers |
//! |---|---|---|
//! | `GET /v1/tenants/{tenant}/users/{user}/follow-me` | | the keys and versions |
//! | `GET .../follow-me/{key}` | `If-None-Match` | `200` with `ETag`, `304`, `404` |
//! | `PUT .../follow-me/{key}` (JSON) | `If-Match: "<version>"` to replace, `If-None-Match: *` or none to create | `201` / `200` with the new `ETag`; `412` when the version is not the stored one (or the document exists and `If-None-Match: *` was sent); `428` when a document exists and no version is named; `413` over `max_document_bytes`; `409` at `max_documents` |
//! | `DELETE .../follow-me/{key}` | `If-Match: "<version>"` (required) | `204`, `412`, `428`, `404` |

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use serde_json::json;

use crate::directory::api::{device_user, problem};
use crate::service::{Service, Tenant};
use bems_store::{FollowMeExpect, FollowMeWrite};

/// The largest body read at all; `max_document_bytes` (at most 1 MiB) is checked after.
const BODY_LIMIT: usize = 1024 * 1024 + 1;

/// Follow-Me's routes.
pub fn routes(service: &Arc<Service>) -> Router {
    Router::new()
        .route("/v1/tenants/{tenant}/users/{user}/follow-me", get(list))
        .route(
            "/v1/tenants/{tenant}/users/{user}/follow-me/{key}",
            get(read).put(write).delete(remove),
        )
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(Arc::clone(service))
}

/// Why a document is refused before it is stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DocumentError {
    /// Larger than the tenant allows (`413`).
    #[error("a document has at most {max} bytes")]
    TooLarge {
        /// The bound.
        max: u64,
    },
    /// Not UTF-8 (`400`).
    #[error("the document is not UTF-8 JSON")]
    NotUtf8,
    /// Not JSON (`400`).
    #[error("the document is not JSON: {0}")]
    NotJson(String),
}

/// A written document's text: at most `max_bytes`, UTF-8, and JSON that reads into a value
/// (nested at most 128 levels, numbers within `f64`, no lone UTF-16 surrogate escapes): what
/// the user's other devices must be able to read back.
pub fn document(body: &[u8], max_bytes: u64) -> Result<&str, DocumentError> {
    if u64::try_from(body.len()).unwrap_or(u64::MAX) > max_bytes {
        return Err(DocumentError::TooLarge { max: max_bytes });
    }
    let text = std::str::from_utf8(body).map_err(|_| DocumentError::NotUtf8)?;
    serde_json::from_str::<serde_json::Value>(text)
        .map_err(|error| DocumentError::NotJson(error.to_string()))?;
    Ok(text)
}

/// The version an entity tag names (`"3"`), if it is one of ours.
pub fn version_of(tag: &str) -> Option<i64> {
    tag.trim()
        .strip_prefix('"')?
        .strip_suffix('"')?
        .parse()
        .ok()
        .filter(|v| *v > 0)
}

fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

fn with_etag(status: StatusCode, version: i64, body: Response) -> Response {
    let mut response = body;
    *response.status_mut() = status;
    if let Ok(value) = HeaderValue::from_str(&etag(version)) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    response
}

/// The tenant and user of the path, when the caller is that user, Follow-Me is on, and the
/// `key` (if the route names one) is not one of the service's own.
async fn owner(
    service: &Service,
    tenant: &str,
    user: &str,
    key: Option<&str>,
    headers: &HeaderMap,
) -> Result<(Arc<Tenant>, String), Box<Response>> {
    let (tenant, user) = the_users_own(service, tenant, user, headers).await?;
    if !tenant.settings.follow_me.enabled {
        return Err(Box::new(problem(
            StatusCode::NOT_FOUND,
            "Follow-Me is not enabled for this tenant",
        )));
    }
    if let Some(refused) = key.and_then(reserved) {
        return Err(Box::new(refused));
    }
    Ok((tenant, user))
}

/// A key of the service's own (`bems.`) is not Follow-Me's to read or write.
fn reserved(key: &str) -> Option<Response> {
    key.starts_with(bems_store::FOLLOW_ME_RESERVED_PREFIX)
        .then(|| {
            problem(
                StatusCode::FORBIDDEN,
                format!(
                    "keys beginning with {:?} are the service's own documents",
                    bems_store::FOLLOW_ME_RESERVED_PREFIX
                ),
            )
        })
}

/// The tenant and user of the path, when the caller (the bearer token's user) is that user.
pub(crate) async fn the_users_own(
    service: &Service,
    tenant: &str,
    user: &str,
    headers: &HeaderMap,
) -> Result<(Arc<Tenant>, String), Box<Response>> {
    let (tenant, caller) = device_user(service, tenant, headers).await?;
    let user = user.trim().to_ascii_lowercase();
    if caller.address != user {
        return Err(Box::new(problem(
            StatusCode::FORBIDDEN,
            format!(
                "the token is {}'s: a user reads and writes only their own documents",
                caller.address
            ),
        )));
    }
    Ok((tenant, user))
}

fn store_failed(error: &bems_store::StoreError) -> Response {
    match error {
        bems_store::StoreError::Invalid { rule, .. } => {
            problem(StatusCode::BAD_REQUEST, rule.clone())
        }
        other => problem(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
    }
}

async fn list(
    State(service): State<Arc<Service>>,
    Path((tenant, user)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let (tenant, user) = match owner(&service, &tenant, &user, None, &headers).await {
        Ok(found) => found,
        Err(refused) => return *refused,
    };
    match service.store.follow_me_keys(&tenant.id, &user).await {
        Ok(documents) => {
            let documents: Vec<_> = documents
                .iter()
                .filter(|d| !d.key.starts_with(bems_store::FOLLOW_ME_RESERVED_PREFIX))
                .map(|d| json!({"key": d.key, "version": d.version, "etag": etag(d.version)}))
                .collect();
            Json(json!({"user": user, "documents": documents})).into_response()
        }
        Err(error) => store_failed(&error),
    }
}

async fn read(
    State(service): State<Arc<Service>>,
    Path((tenant, user, key)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let (tenant, user) = match owner(&service, &tenant, &user, Some(&key), &headers).await {
        Ok(found) => found,
        Err(refused) => return *refused,
    };
    read_document(&service, &tenant, &user, &key, &headers).await
}

/// Answers a GET of one of `user`'s documents: `200` with its `ETag`, `304` when the caller
/// holds that version, `404`.
pub(crate) async fn read_document(
    service: &Service,
    tenant: &Tenant,
    user: &str,
    key: &str,
    headers: &HeaderMap,
) -> Response {
    let document = match service.store.follow_me(&tenant.id, user, key).await {
        Ok(Some(document)) => document,
        Ok(None) => return problem(StatusCode::NOT_FOUND, "no such document"),
        Err(error) => return store_failed(&error),
    };
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .any(|t| version_of(t) == Some(document.version))
        });
    if unchanged {
        return with_etag(
            StatusCode::NOT_MODIFIED,
            document.version,
            ().into_response(),
        );
    }
    let body = ([(header::CONTENT_TYPE, "application/json")], document.body).into_response();
    with_etag(StatusCode::OK, document.version, body)
}

/// The precondition of a write: the version `If-Match` names, `If-None-Match: *`, or none.
enum Precondition {
    Version(i64),
    Absent,
    None,
}

fn precondition(headers: &HeaderMap) -> Result<Precondition, Box<Response>> {
    let text = |name| {
        headers
            .get(name)
            .map(|v| v.to_str().unwrap_or_default().trim())
    };
    match (text(header::IF_MATCH), text(header::IF_NONE_MATCH)) {
        (Some(_), Some(_)) => Err(Box::new(problem(
            StatusCode::BAD_REQUEST,
            "send If-Match or If-None-Match, not both",
        ))),
        (Some(tag), None) => match version_of(tag) {
            Some(version) => Ok(Precondition::Version(version)),
            // `*` or a tag we never gave: it cannot match a version; say which one to send.
            None => Err(Box::new(problem(
                StatusCode::PRECONDITION_FAILED,
                "If-Match must name the version read (its ETag, \"<n>\")",
            ))),
        },
        (None, Some("*")) => Ok(Precondition::Absent),
        (None, Some(_)) => Err(Box::new(problem(
            StatusCode::BAD_REQUEST,
            "a write takes If-None-Match: * only (create if absent)",
        ))),
        (None, None) => Ok(Precondition::None),
    }
}

async fn write(
    State(service): State<Arc<Service>>,
    Path((tenant, user, key)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (tenant, user) = match owner(&service, &tenant, &user, Some(&key), &headers).await {
        Ok(found) => found,
        Err(refused) => return *refused,
    };
    let limits = &tenant.settings.follow_me;
    let text = match document(&body, limits.max_document_bytes.into()) {
        Ok(text) => text,
        Err(error @ DocumentError::TooLarge { .. }) => {
            return problem(StatusCode::PAYLOAD_TOO_LARGE, error.to_string());
        }
        Err(error) => return problem(StatusCode::BAD_REQUEST, error.to_string()),
    };
    let max = usize::try_from(limits.max_documents).unwrap_or(usize::MAX);
    write_document(&service, &tenant, &user, &key, text, &headers, max).await
}

/// Writes one of `user`'s documents (`text`, already checked) under the preconditions of
/// `headers`: `201`/`200` with the new `ETag`, `412`, `428`, `409` past `max` documents.
pub(crate) async fn write_document(
    service: &Service,
    tenant: &Tenant,
    user: &str,
    key: &str,
    text: &str,
    headers: &HeaderMap,
    max: usize,
) -> Response {
    let condition = match precondition(headers) {
        Ok(condition) => condition,
        Err(refused) => return *refused,
    };
    let expect = match condition {
        Precondition::Version(version) => FollowMeExpect::Version(version),
        Precondition::Absent | Precondition::None => FollowMeExpect::Absent,
    };
    let written = service
        .store
        .put_follow_me(&tenant.id, user, key, text, expect, max)
        .await;
    match (written, condition) {
        (Ok(FollowMeWrite::Written { version }), _) => {
            let status = if version == 1 {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            let body = Json(json!({"key": key, "version": version})).into_response();
            with_etag(status, version, body)
        }
        (Ok(FollowMeWrite::Conflict { current: Some(_) }), Precondition::None) => problem(
            StatusCode::PRECONDITION_REQUIRED,
            "the document exists: send If-Match with the version read, so that no other \
             device's change is overwritten",
        ),
        (Ok(FollowMeWrite::Conflict { current }), _) => {
            let message = match current {
                Some(version) => format!(
                    "the document is at version {version}: another device changed it; read it \
                     again"
                ),
                None => "there is no such document to replace".to_owned(),
            };
            problem(StatusCode::PRECONDITION_FAILED, message)
        }
        (Ok(FollowMeWrite::Full), _) => problem(
            StatusCode::CONFLICT,
            format!("a user keeps at most {max} documents"),
        ),
        (Err(error), _) => store_failed(&error),
    }
}

async fn remove(
    State(service): State<Arc<Service>>,
    Path((tenant, user, key)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let (tenant, user) = match owner(&service, &tenant, &user, Some(&key), &headers).await {
        Ok(found) => found,
        Err(refused) => return *refused,
    };
    remove_document(&service, &tenant, &user, &key, &headers).await
}

/// Deletes one of `user`'s documents at the version `If-Match` names: `204`, `412`, `428`,
/// `404`.
pub(crate) async fn remove_document(
    service: &Service,
    tenant: &Tenant,
    user: &str,
    key: &str,
    headers: &HeaderMap,
) -> Response {
    let version = match precondition(headers) {
        Ok(Precondition::Version(version)) => version,
        Ok(_) => {
            return problem(
                StatusCode::PRECONDITION_REQUIRED,
                "send If-Match with the version read",
            );
        }
        Err(refused) => return *refused,
    };
    match service
        .store
        .delete_follow_me(&tenant.id, user, key, version)
        .await
    {
        Ok(FollowMeWrite::Written { .. }) => StatusCode::NO_CONTENT.into_response(),
        Ok(FollowMeWrite::Conflict { current: None }) => {
            problem(StatusCode::NOT_FOUND, "no such document")
        }
        Ok(_) => problem(
            StatusCode::PRECONDITION_FAILED,
            "another device changed the document; read it again",
        ),
        Err(error) => store_failed(&error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_name_one_precondition() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.insert(*name, HeaderValue::from_static(value));
            }
            map
        };
        assert!(matches!(
            precondition(&headers(&[("if-match", "\"2\"")])),
            Ok(Precondition::Version(2))
        ));
        assert!(matches!(
            precondition(&headers(&[("if-none-match", "*")])),
            Ok(Precondition::Absent)
        ));
        assert!(matches!(
            precondition(&headers(&[])),
            Ok(Precondition::None)
        ));
        let status = |h| precondition(&h).err().map(|r| r.status());
        assert_eq!(
            status(headers(&[("if-match", "*")])),
            Some(StatusCode::PRECONDITION_FAILED)
        );
        assert_eq!(
            status(headers(&[("if-match", "\"1\""), ("if-none-match", "*")])),
            Some(StatusCode::BAD_REQUEST)
        );
    }
}
