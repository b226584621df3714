//! Users and their photos, from the scenario's users:
//!
//! - `GET /users` ([List users](https://learn.microsoft.com/graph/api/user-list)) with
//!   `$filter` ([`filter`](super::filter)), `$select` and `$top` (1-999, 100 by default; more
//!   users than that end the page with an `@odata.nextLink` holding a `$skiptoken`);
//! - `GET /users/{id | userPrincipalName}`
//!   ([Get user](https://learn.microsoft.com/graph/api/user-get)) with `$select`;
//! - `GET /users/{id | userPrincipalName}/photo/$value`
//!   ([Get profilePhoto](https://learn.microsoft.com/graph/api/profilephoto-get)): the image
//!   bytes, or 404 `ImageNotFound` when the user has none.
//!
//! A user is the [user resource](https://learn.microsoft.com/graph/api/resources/user): `id`
//! (the `oid` of their tokens), `displayName`, `givenName`, `surname`, `jobTitle`, `mail` and
//! `userPrincipalName` (their address), and unset properties as `null`; without `$select`
//! Graph's default set, with it exactly the properties named.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use super::errors::GraphError;
use super::filter::{self, Filter, Property};
use super::routing::user_id;
use super::{Request, json as answer};
use crate::ews::directory_ops::photo_of;
use crate::scenario::User;

/// Users per page unless `$top` says otherwise.
const DEFAULT_PAGE: usize = 100;
/// The largest `$top`.
const MAX_TOP: usize = 999;
/// The properties Graph returns without `$select`.
const DEFAULT_PROPERTIES: [&str; 11] = [
    "businessPhones",
    "displayName",
    "givenName",
    "id",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
];
/// Further properties `$select` may name.
const OTHER_PROPERTIES: [&str; 5] = [
    "accountEnabled",
    "companyName",
    "department",
    "mailNickname",
    "userType",
];
/// Query options Graph has that the simulator does not serve on users.
const UNSERVED_OPTIONS: [&str; 6] = [
    "$search", "$orderby", "$count", "$expand", "$skip", "$apply",
];
const CONTEXT: &str = "https://graph.microsoft.com/v1.0/$metadata#users";

/// The `$` query options of a request on users.
#[derive(Debug, Default)]
struct Options {
    filter: Option<String>,
    select: Option<Vec<&'static str>>,
    top: Option<String>,
    skiptoken: Option<String>,
}

fn options(request: &Request<'_>) -> Result<Options, GraphError> {
    let mut seen: Vec<String> = Vec::new();
    let mut options = Options::default();
    for (key, value) in url::form_urlencoded::parse(request.query.as_bytes()) {
        if !key.starts_with('$') {
            continue;
        }
        let name = key.to_ascii_lowercase();
        if seen.contains(&name) {
            return Err(GraphError::bad_request(
                "BadRequest",
                format!(
                    "Query option '{key}' was specified more than once, but it must be \
                     specified at most once."
                ),
            ));
        }
        seen.push(name.clone());
        let value = value.into_owned();
        match name.as_str() {
            "$filter" => options.filter = Some(value),
            "$select" => options.select = Some(selection(&value)?),
            "$top" => options.top = Some(value),
            "$skiptoken" => options.skiptoken = Some(value),
            "$format" if value.eq_ignore_ascii_case("json") => {}
            _ if UNSERVED_OPTIONS.contains(&name.as_str()) => {
                return Err(GraphError::bad_request(
                    "Request_UnsupportedQuery",
                    format!("The query option '{key}' is not supported by the simulator on users."),
                ));
            }
            _ => {
                return Err(GraphError::bad_request(
                    "BadRequest",
                    format!("The query parameter '{key}' is not supported."),
                ));
            }
        }
    }
    Ok(options)
}

/// `$select`'s properties, by Graph's names.
fn selection(value: &str) -> Result<Vec<&'static str>, GraphError> {
    let mut out = Vec::new();
    for raw in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let known = DEFAULT_PROPERTIES
            .iter()
            .chain(OTHER_PROPERTIES.iter())
            .find(|p| p.eq_ignore_ascii_case(raw))
            .ok_or_else(|| {
                GraphError::bad_request(
                    "BadRequest",
                    format!(
                        "Could not find a property named '{raw}' on type 'microsoft.graph.user'."
                    ),
                )
            })?;
        if !out.contains(known) {
            out.push(*known);
        }
    }
    Ok(out)
}

fn text(value: &str) -> Option<String> {
    (!value.trim().is_empty()).then(|| value.to_owned())
}

/// A user's value of a filterable property.
fn property(user: &User, property: Property) -> Option<String> {
    match property {
        Property::Id => Some(user_id(&user.smtp)),
        Property::DisplayName => text(&user.display_name),
        Property::GivenName => text(&user.first_name),
        Property::Surname => text(&user.last_name),
        Property::Mail | Property::UserPrincipalName => text(&user.smtp),
        Property::JobTitle => text(&user.job_title),
        Property::MailNickname => user.smtp.split('@').next().and_then(text),
        Property::Department => text(&user.department),
    }
}

/// A user as Graph shows it, with the properties `select` names (Graph's default set when
/// `None`).
fn resource(user: &User, select: Option<&[&'static str]>) -> Value {
    let names: &[&str] = select.unwrap_or(&DEFAULT_PROPERTIES);
    let mut object = Map::new();
    for &name in names {
        let value = match Property::from_name(name) {
            Some(p) => property(user, p).map_or(Value::Null, Value::String),
            None => match name {
                "businessPhones" => json!([]),
                "accountEnabled" => json!(true),
                "userType" => json!("Member"),
                _ => Value::Null,
            },
        };
        object.insert(name.to_owned(), value);
    }
    Value::Object(object)
}

fn context(select: Option<&[&'static str]>, entity: bool) -> String {
    let mut context = CONTEXT.to_owned();
    if let Some(select) = select {
        context.push_str(&format!("({})", select.join(",")));
    }
    if entity {
        context.push_str("/$entity");
    }
    context
}

fn top(raw: Option<&str>) -> Result<usize, GraphError> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_PAGE);
    };
    let n: i64 = raw.trim().parse().map_err(|_| {
        GraphError::bad_request(
            "BadRequest",
            format!("Invalid value '{raw}' for $top query option found: an integer is expected."),
        )
    })?;
    usize::try_from(n)
        .ok()
        .filter(|n| (1..=MAX_TOP).contains(n))
        .ok_or_else(|| {
            GraphError::bad_request(
                "Request_UnsupportedQuery",
                format!("Invalid page size specified: '{raw}'. Must be between 1 and {MAX_TOP} inclusive."),
            )
        })
}

fn skiptoken(raw: Option<&str>) -> Result<usize, GraphError> {
    let Some(raw) = raw else {
        return Ok(0);
    };
    URL_SAFE_NO_PAD
        .decode(raw)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|s| s.strip_prefix("users:")?.parse().ok())
        .ok_or_else(|| {
            GraphError::bad_request(
                "Request_BadRequest",
                "The specified page token value has expired or is invalid.",
            )
        })
}

/// `GET /users`.
pub(crate) fn list(request: &Request<'_>) -> Result<Response, GraphError> {
    let options = options(request)?;
    let filter: Option<Filter> = options.filter.as_deref().map(filter::parse).transpose()?;
    let size = top(options.top.as_deref())?;
    let offset = skiptoken(options.skiptoken.as_deref())?;
    let select = options.select.as_deref();
    let matching: Vec<&User> = request
        .ctx
        .world
        .directory
        .users
        .iter()
        .filter(|user| {
            filter
                .as_ref()
                .is_none_or(|f| f.matches(&|p| property(user, p)))
        })
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(size)
        .map(|user| resource(user, select))
        .collect();
    let next = offset + page.len();
    let mut body = json!({
        "@odata.context": context(select, false),
        "value": page,
    });
    if next < matching.len() {
        let mut link = url::form_urlencoded::Serializer::new(String::new());
        if let Some(filter) = &options.filter {
            link.append_pair("$filter", filter);
        }
        if let Some(select) = select {
            link.append_pair("$select", &select.join(","));
        }
        link.append_pair("$top", &size.to_string());
        link.append_pair(
            "$skiptoken",
            &URL_SAFE_NO_PAD.encode(format!("users:{next}")),
        );
        body["@odata.nextLink"] = json!(format!(
            "https://graph.microsoft.com/v1.0/users?{}",
            link.finish()
        ));
    }
    Ok(answer(StatusCode::OK, &body))
}

/// The scenario user a path's `{id | userPrincipalName}` names.
fn find<'a>(request: &'a Request<'_>, raw: &str) -> Option<&'a User> {
    let world = &request.ctx.world;
    request
        .ctx
        .graph
        .users
        .resolve(world, raw)
        .and_then(|i| world.directory.users.get(i))
}

/// `GET /users/{id | userPrincipalName}`.
pub(crate) fn get(request: &Request<'_>, raw: &str) -> Result<Response, GraphError> {
    let options = options(request)?;
    if let Some(option) = [("$filter", &options.filter), ("$top", &options.top)]
        .iter()
        .find_map(|(name, value)| value.as_ref().map(|_| name))
    {
        return Err(GraphError::bad_request(
            "BadRequest",
            format!("The query option '{option}' is not allowed on a single user."),
        ));
    }
    let user = find(request, raw).ok_or_else(|| {
        GraphError::new(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            format!(
                "Resource '{raw}' does not exist or one of its queried reference-property \
                 objects are not present."
            ),
        )
    })?;
    let select = options.select.as_deref();
    let mut body = resource(user, select);
    body["@odata.context"] = json!(context(select, true));
    Ok(answer(StatusCode::OK, &body))
}

/// The media type of image bytes, by their signature.
fn media_type(bytes: &[u8]) -> &'static str {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        "image/jpeg"
    } else if bytes.starts_with(b"GIF8") {
        "image/gif"
    } else {
        "application/octet-stream"
    }
}

/// `GET /users/{id | userPrincipalName}/photo/$value`.
pub(crate) fn photo(request: &Request<'_>, raw: &str) -> Result<Response, GraphError> {
    let user = find(request, raw).ok_or_else(|| GraphError::unknown_user(raw))?;
    let bytes = photo_of(user).ok_or_else(|| {
        GraphError::new(
            StatusCode::NOT_FOUND,
            "ImageNotFound",
            "Exception of type 'Microsoft.Fast.Profile.Core.Exception.ImageNotFoundException' \
             was thrown.",
        )
    })?;
    let mut response = (StatusCode::OK, bytes.clone()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(media_type(&bytes)),
    );
    if let Ok(value) = HeaderValue::from_str(&format!("\"{}\"", user_id(&user.smtp))) {
        headers.insert(header::ETAG, value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mara() -> User {
        User {
            smtp: "mara@contoso.com".into(),
            display_name: "Mara Whitley".into(),
            first_name: "Mara".into(),
            last_name: "Whitley".into(),
            ..User::default()
        }
    }

    #[test]
    fn a_user_has_graphs_default_properties_or_exactly_those_selected() {
        let all = resource(&mara(), None);
        assert_eq!(all["displayName"], "Mara Whitley");
        assert_eq!(all["userPrincipalName"], "mara@contoso.com");
        assert_eq!(all["jobTitle"], Value::Null);
        assert_eq!(all["businessPhones"], json!([]));
        assert!(all.get("department").is_none());
        assert_eq!(
            all.as_object().map(Map::len),
            Some(DEFAULT_PROPERTIES.len())
        );
        let select = selection("MAIL, surname,mailNickname").expect("known properties");
        assert_eq!(select, ["mail", "surname", "mailNickname"]);
        let some = resource(&mara(), Some(&select));
        assert_eq!(
            some,
            json!({"mail": "mara@contoso.com", "surname": "Whitley", "mailNickname": "mara"})
        );
        assert_eq!(
            context(Some(&select), false),
            "https://graph.microsoft.com/v1.0/$metadata#users(mail,surname,mailNickname)"
        );
        let error = selection("mail,photoX").unwrap_err();
        assert!(error.message.contains("'photoX'"), "{error:?}");
    }

    #[test]
    fn top_is_1_to_999() {
        assert_eq!(top(None), Ok(100));
        assert_eq!(top(Some("999")), Ok(999));
        assert_eq!(top(Some("1")), Ok(1));
        for bad in ["0", "1000", "-1"] {
            assert_eq!(
                top(Some(bad)).unwrap_err().code,
                "Request_UnsupportedQuery",
                "{bad}"
            );
        }
        assert_eq!(top(Some("ten")).unwrap_err().code, "BadRequest");
        assert_eq!(
            top(Some("99999999999999999999")).unwrap_err().code,
            "BadRequest"
        );
    }

    #[test]
    fn skiptokens_round_trip_and_garbage_is_refused() {
        let token = URL_SAFE_NO_PAD.encode("users:5");
        assert_eq!(skiptoken(Some(&token)), Ok(5));
        assert!(skiptoken(Some("!!")).is_err());
        assert!(skiptoken(Some(&URL_SAFE_NO_PAD.encode("users:x"))).is_err());
    }

    #[test]
    fn photos_are_typed_by_their_signature() {
        assert_eq!(media_type(b"\x89PNG\r\n\x1a\nrest"), "image/png");
        assert_eq!(media_type(&[0xff, 0xd8, 0xff, 0xe0]), "image/jpeg");
        assert_eq!(media_type(b""), "application/octet-stream");
    }
}
