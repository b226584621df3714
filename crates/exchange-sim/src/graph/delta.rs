//! `GET /users/{id}/mailFolders/{folder}/messages/delta`: rounds of delta queries
//! (<https://learn.microsoft.com/graph/delta-query-messages>).
//!
//! The first round (no token) returns the folder's messages, then later rounds the messages
//! created, updated or removed since the round that gave the `@odata.deltaLink`. Pages hold
//! `Prefer: odata.maxpagesize` rows (10 by default) and end with `@odata.nextLink` (a
//! `$skiptoken`) until the last, which carries the `@odata.deltaLink` (a `$deltatoken`).
//! Query options are kept in the tokens: `$select`, `changeType` (`created`, `updated` or
//! `deleted`) and `$filter=receivedDateTime ge|gt <time>`. A token older than what the
//! mailbox keeps is answered 410 `SyncStateNotFound`.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::errors::GraphError;
use super::messages::{folder_kind, message, rest_id, selection};
use super::store::{Change, parse_datetime};
use super::{Counters, Request, json as answer};
use crate::world::mailbox::{FolderKind, Kind, Mailbox, Object};

/// Rows per page unless the client prefers otherwise.
const DEFAULT_PAGE: usize = 10;

/// What a state token carries.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Token {
    /// Mailbox id.
    m: u32,
    /// The round's base: `None` for a first round, else the sequence it starts after.
    b: Option<u64>,
    /// The round's end (the sequence of the next event when it began).
    e: u64,
    /// Rows already returned in this round.
    o: usize,
    /// `changeType`.
    c: Option<String>,
    /// `$filter`: received at or after (`ge`) or after (`gt`) this Unix time in nanoseconds.
    f: Option<(bool, i128)>,
    /// `$select`.
    s: Option<Vec<String>>,
    /// When the round began (Unix seconds, the simulator's clock): a sync state older than
    /// what the mailbox keeps is gone.
    t: i64,
    /// The generation of delta state the round began in (`GraphHandle::expire_delta_links`
    /// ends a mailbox's generation).
    #[serde(default)]
    g: u64,
}

fn encode(token: &Token) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(token).unwrap_or_default())
}

fn decode(text: &str) -> Option<Token> {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(text.trim()).ok()?).ok()
}

fn invalid_token() -> GraphError {
    GraphError::bad_request("BadRequest", "The state token is not valid.")
}

/// `$filter=receivedDateTime ge 2024-01-01T00:00:00Z` (or `gt`): the only filter delta takes.
fn parse_filter(text: &str) -> Result<(bool, i128), GraphError> {
    let unsupported = || {
        GraphError::bad_request(
            "ErrorInvalidUrlQueryFilter",
            "The only supported filter is receivedDateTime ge|gt {value}.",
        )
    };
    let parts: Vec<&str> = text.split_whitespace().collect();
    let [field, op, value] = parts.as_slice() else {
        return Err(unsupported());
    };
    if !field.eq_ignore_ascii_case("receivedDateTime") {
        return Err(unsupported());
    }
    let inclusive = match op.to_ascii_lowercase().as_str() {
        "ge" => true,
        "gt" => false,
        _ => return Err(unsupported()),
    };
    let at = parse_datetime(value.trim_matches('\'')).ok_or_else(unsupported)?;
    Ok((inclusive, at.unix_timestamp_nanos()))
}

fn passes(filter: Option<(bool, i128)>, received: OffsetDateTime) -> bool {
    match filter {
        None => true,
        Some((true, at)) => received.unix_timestamp_nanos() >= at,
        Some((false, at)) => received.unix_timestamp_nanos() > at,
    }
}

/// The rows of a round, in a stable order.
fn rows(
    mailbox: &Mailbox,
    folder: FolderKind,
    token: &Token,
    retention_start: OffsetDateTime,
) -> Result<Vec<Value>, GraphError> {
    let mut state = mailbox.lock();
    state.prune(retention_start);
    let select = token.s.as_deref();
    let mut out = Vec::new();
    let Some(base) = token.b else {
        for (number, item) in &state.items {
            if item.folder == folder && passes(token.f, item.received) {
                out.push(message(mailbox, *number, item, select));
            }
        }
        return Ok(out);
    };
    if base < state.first_seq() || token.t < retention_start.unix_timestamp() {
        return Err(GraphError::new(
            StatusCode::GONE,
            "SyncStateNotFound",
            "The sync state generation is no longer available; start a new round.",
        ));
    }
    // What happened to each message in (base, end]: created in the folder, or removed from it.
    let mut touched: BTreeMap<u64, (bool, bool)> = BTreeMap::new();
    for entry in state.since(base).take_while(|e| e.seq < token.e) {
        let Object::Item(number, _) = entry.object else {
            continue;
        };
        match entry.kind {
            Kind::Created | Kind::Modified if entry.parent == folder => {
                let slot = touched.entry(number).or_default();
                slot.0 |= entry.kind == Kind::Created;
            }
            Kind::Deleted if entry.parent == folder => {
                touched.entry(number).or_default().1 = true;
            }
            Kind::Moved => {
                if let Some((Object::Item(old, _), from)) = entry.old
                    && from == folder
                {
                    touched.entry(old).or_default().1 = true;
                }
                if entry.parent == folder {
                    touched.entry(number).or_default().0 = true;
                }
            }
            _ => {}
        }
    }
    let wanted = |change: Change| {
        token
            .c
            .as_deref()
            .is_none_or(|c| Change::parse(c) == Some(change))
    };
    for (number, (created, removed)) in touched {
        match state.items.get(&number).filter(|i| i.folder == folder) {
            Some(item) => {
                let change = if created {
                    Change::Created
                } else {
                    Change::Updated
                };
                if wanted(change) && passes(token.f, item.received) {
                    out.push(message(mailbox, number, item, select));
                }
            }
            None if removed && !created && wanted(Change::Deleted) => {
                out.push(json!({
                    "@odata.type": "#microsoft.graph.message",
                    "id": rest_id(&mailbox.item_id(number, 0).id),
                    "@removed": {"reason": "deleted"},
                }));
            }
            None => {}
        }
    }
    Ok(out)
}

/// `Prefer: odata.maxpagesize=N`.
fn page_size(request: &Request<'_>) -> Option<usize> {
    request
        .headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| {
            let (key, value) = p.trim().split_once('=')?;
            key.trim()
                .eq_ignore_ascii_case("odata.maxpagesize")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .filter(|n| *n > 0)
}

/// The answer to a delta link whose state is gone, as the delta query overview describes it
/// ("a 40X-series error with error codes such as `syncStateNotFound`",
/// <https://learn.microsoft.com/graph/delta-query-overview#synchronization-reset>): `410`
/// `SyncStateNotFound` (what the mailbox answers when its retention passed), or `400`
/// `syncStateNotFound`.
fn expired_state(status: u16) -> GraphError {
    if status == 410 {
        GraphError::new(
            StatusCode::GONE,
            "SyncStateNotFound",
            "The sync state generation is no longer available; start a new round.",
        )
    } else {
        GraphError::new(
            StatusCode::BAD_REQUEST,
            "syncStateNotFound",
            "The sync state is not found; the delta token has expired.",
        )
    }
}

/// The delta function of a folder's messages.
pub(crate) fn delta(
    request: &Request<'_>,
    user: &str,
    folder: Option<&str>,
) -> Result<Response, GraphError> {
    let ctx = request.ctx;
    Counters::add(&ctx.graph.counters.delta_requests, 1);
    let mailbox = ctx
        .graph
        .users
        .resolve(&ctx.world, user)
        .and_then(|i| ctx.world.mailboxes.get(i))
        .ok_or_else(|| GraphError::unknown_user(user))?;
    {
        let mut refused = ctx
            .graph
            .refused_delta
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(left) = refused.get_mut(&mailbox.id)
            && *left > 0
        {
            *left -= 1;
            // What an application access policy that leaves the mailbox out answers.
            return Err(GraphError::new(
                StatusCode::FORBIDDEN,
                "ErrorAccessDenied",
                "Access is denied. Check credentials and try again.",
            ));
        }
    }
    let folder_name = folder.unwrap_or("inbox");
    let folder = folder_kind(mailbox, folder_name).ok_or_else(|| {
        GraphError::new(
            StatusCode::NOT_FOUND,
            "ErrorItemNotFound",
            "The specified object was not found in the store.",
        )
    })?;
    let token = match (request.param("$skiptoken"), request.param("$deltatoken")) {
        (Some(skip), _) => decode(&skip)
            .filter(|t| t.m == mailbox.id)
            .ok_or_else(invalid_token)?,
        (None, Some(delta)) => {
            let mut token = decode(&delta)
                .filter(|t| t.m == mailbox.id)
                .ok_or_else(invalid_token)?;
            let expired = ctx
                .graph
                .expired_delta
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&mailbox.id)
                .copied();
            if let Some((generation, status)) = expired
                && token.g <= generation
            {
                return Err(expired_state(status));
            }
            token.g = ctx.graph.delta_generation.load(Ordering::SeqCst);
            // A new round: from the previous round's end to now.
            token.b = Some(token.e);
            token.e = mailbox.lock().next_seq();
            token.o = 0;
            let began = token.t;
            token.t = ctx.world.clock.now().unix_timestamp();
            // The state the link names is as old as the round that gave it.
            if began < ctx.world.retention_start().unix_timestamp() {
                token.t = began;
            }
            token
        }
        (None, None) => Token {
            m: mailbox.id,
            b: None,
            e: mailbox.lock().next_seq(),
            o: 0,
            c: match request.param("changeType") {
                Some(c) if Change::parse(&c).is_none() => {
                    return Err(GraphError::bad_request(
                        "BadRequest",
                        format!("'{c}' is not a valid changeType."),
                    ));
                }
                other => other,
            },
            f: request
                .param("$filter")
                .map(|f| parse_filter(&f))
                .transpose()?,
            s: selection(request),
            t: ctx.world.clock.now().unix_timestamp(),
            g: ctx.graph.delta_generation.load(Ordering::SeqCst),
        },
    };
    let all = rows(mailbox, folder, &token, ctx.world.retention_start())?;
    let size = page_size(request).unwrap_or(DEFAULT_PAGE).min(1000);
    let page: Vec<Value> = all.iter().skip(token.o).take(size).cloned().collect();
    let done = token.o + page.len() >= all.len();
    let base = format!(
        "https://graph.microsoft.com/v1.0/users/{user}/mailFolders('{folder_name}')/messages/delta"
    );
    let mut body = json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(message)",
        "value": page,
    });
    let next = Token {
        o: token.o + page.len(),
        ..token.clone()
    };
    if done {
        body["@odata.deltaLink"] = json!(format!("{base}?$deltatoken={}", encode(&next)));
    } else {
        body["@odata.nextLink"] = json!(format!("{base}?$skiptoken={}", encode(&next)));
    }
    let mut response = answer(StatusCode::OK, &body);
    if let Ok(value) = HeaderValue::from_str(&format!("odata.maxpagesize={size}")) {
        response.headers_mut().insert("preference-applied", value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_garbage_is_refused() {
        let token = Token {
            m: 3,
            b: Some(7),
            e: 9,
            o: 2,
            c: Some("created".into()),
            f: Some((true, 1_700_000_000_000_000_000)),
            s: Some(vec!["isread".into()]),
            t: 1_700_000_000,
            g: 1,
        };
        assert_eq!(decode(&encode(&token)), Some(token));
        assert_eq!(decode("not a token"), None);
        assert_eq!(decode(""), None);
    }

    #[test]
    fn only_the_received_date_filter_is_taken() {
        assert!(parse_filter("receivedDateTime ge 2024-01-01T00:00:00Z").is_ok());
        assert!(matches!(
            parse_filter("receivedDateTime gt 2024-01-01T00:00:00Z"),
            Ok((false, _))
        ));
        assert!(parse_filter("subject eq 'x'").is_err());
        assert!(parse_filter("receivedDateTime ge soon").is_err());
    }
}
