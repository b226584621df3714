//! Which Graph endpoint a path names. Graph's segments are case-insensitive, and a key is
//! written either as its own segment (`mailFolders/inbox`) or in parentheses
//! (`mailFolders('inbox')`).

use std::collections::HashMap;

use axum::http::StatusCode;

use super::errors::GraphError;
use crate::identity::derived_guid;
use crate::sim::Ctx;
use crate::world::World;

/// An endpoint of the simulator's Graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `/users`.
    Users,
    /// `/users/{user}`.
    User(String),
    /// `/users/{user}/photo/$value`.
    Photo(String),
    /// `/subscriptions`.
    Subscriptions,
    /// `/subscriptions/{id}`.
    Subscription(String),
    /// `/subscriptions/{id}/reauthorize`.
    Reauthorize(String),
    /// `/users/{user}/mailFolders/{folder}`.
    Folder { user: String, folder: String },
    /// `/users/{user}/messages/{id}`: one message.
    Message { user: String, id: String },
    /// `/users/{user}/mailFolders/{folder}/messages/delta`, or `/users/{user}/messages/delta`
    /// (`folder` is `None`).
    Delta {
        user: String,
        folder: Option<String>,
    },
}

/// A segment's name (lower case) and the key in its parentheses, if any.
fn split_segment(segment: &str) -> (String, Option<String>) {
    match segment.split_once('(') {
        Some((name, rest)) => {
            let key = rest.strip_suffix(')').unwrap_or(rest);
            let key = key.trim_matches('\'');
            (name.to_ascii_lowercase(), Some(key.to_owned()))
        }
        None => (segment.to_ascii_lowercase(), None),
    }
}

/// The path's segments after `/v1.0/`, percent-decoded, with keys in parentheses made
/// segments of their own.
fn segments(path: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for raw in path.split('/').filter(|s| !s.is_empty()) {
        let decoded = percent_decode(raw);
        let (name, key) = split_segment(&decoded);
        out.push((name, decoded.clone()));
        if let Some(key) = key {
            out.push((key.to_ascii_lowercase(), key));
        }
    }
    out
}

/// Percent-decodes one segment (invalid escapes stay as they are).
pub(crate) fn percent_decode(raw: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", raw.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| raw.to_owned())
}

fn unknown(path: &str) -> GraphError {
    GraphError::new(
        StatusCode::BAD_REQUEST,
        "BadRequest",
        format!("Resource not found for the segment '{path}'."),
    )
}

/// Parses a request path (`/v1.0/...`).
pub(crate) fn parse(path: &str) -> Result<Endpoint, GraphError> {
    let rest = path.strip_prefix("/v1.0/").ok_or_else(|| unknown(path))?;
    let parts = segments(rest);
    let names: Vec<&str> = parts.iter().map(|(n, _)| n.as_str()).collect();
    let value = |i: usize| parts.get(i).map(|(_, v)| v.clone()).unwrap_or_default();
    match names.as_slice() {
        ["subscriptions"] => Ok(Endpoint::Subscriptions),
        ["subscriptions", _] => Ok(Endpoint::Subscription(value(1))),
        ["subscriptions", _, "reauthorize"] => Ok(Endpoint::Reauthorize(value(1))),
        ["users"] => Ok(Endpoint::Users),
        ["users", _] => Ok(Endpoint::User(value(1))),
        ["users", _, "photo", "$value"] => Ok(Endpoint::Photo(value(1))),
        ["users", _, "mailfolders", _] => Ok(Endpoint::Folder {
            user: value(1),
            folder: value(3),
        }),
        ["users", _, "mailfolders", _, "messages", "delta"] => Ok(Endpoint::Delta {
            user: value(1),
            folder: Some(value(3)),
        }),
        ["users", _, "messages", "delta"] => Ok(Endpoint::Delta {
            user: value(1),
            folder: None,
        }),
        ["users", _, "messages", _] => Ok(Endpoint::Message {
            user: value(1),
            id: value(3),
        }),
        ["me", ..] => Err(GraphError::bad_request(
            "BadRequest",
            "/me request is only valid with delegated authentication flow.",
        )),
        _ => Err(unknown(rest)),
    }
}

/// A subscription's `resource`: the user and the folder (`None`: every folder's messages).
pub(crate) fn parse_resource(resource: &str) -> Result<(String, Option<String>), GraphError> {
    let parts = segments(resource);
    let names: Vec<&str> = parts.iter().map(|(n, _)| n.as_str()).collect();
    let value = |i: usize| parts.get(i).map(|(_, v)| v.clone()).unwrap_or_default();
    match names.as_slice() {
        ["users", _, "mailfolders", _, "messages"] => Ok((value(1), Some(value(3)))),
        ["users", _, "messages"] => Ok((value(1), None)),
        ["me", ..] => Err(GraphError::bad_request(
            "ExtensionError",
            "Operation: Create; Exception: [/me is only valid with delegated authentication flow]",
        )),
        _ => Err(GraphError::bad_request(
            "InvalidRequest",
            format!(
                "Resource '{resource}' is not supported: subscribe to \
                 /users/{{id}}/mailFolders('{{folder}}')/messages or /users/{{id}}/messages"
            ),
        )),
    }
}

/// Users by the ids Graph gives them (the `oid` of their tokens) and by address.
#[derive(Debug, Default)]
pub(crate) struct UserIds {
    by_id: HashMap<String, usize>,
}

impl UserIds {
    pub(crate) fn new(world: &World) -> Self {
        let by_id = world
            .directory
            .users
            .iter()
            .enumerate()
            .map(|(i, user)| (user_id(&user.smtp), i))
            .collect();
        Self { by_id }
    }

    /// The mailbox index a user id or address names.
    pub(crate) fn resolve(&self, world: &World, raw: &str) -> Option<usize> {
        world
            .directory
            .user_by_smtp(raw)
            .or_else(|| self.by_id.get(&raw.to_ascii_lowercase()).copied())
    }
}

/// A user's Graph id: the `oid` the identity platform gives them.
pub(crate) fn user_id(smtp: &str) -> String {
    derived_guid(&format!("user:{}", smtp.to_ascii_lowercase()))
}

impl Endpoint {
    /// The mailbox (its address, lower case) the request acts on, for throttling (`None`
    /// for the directory's users and photos, which are not throttled per mailbox).
    pub(crate) fn mailbox(&self, ctx: &Ctx, body: &[u8]) -> Result<Option<String>, GraphError> {
        let world = &ctx.world;
        let by_user = |user: &str| -> Result<Option<String>, GraphError> {
            let index = ctx
                .graph
                .users
                .resolve(world, user)
                .ok_or_else(|| GraphError::unknown_user(user))?;
            Ok(world
                .mailboxes
                .get(index)
                .map(|m| m.address.to_ascii_lowercase()))
        };
        match self {
            Self::Users | Self::User(_) | Self::Photo(_) => Ok(None),
            Self::Folder { user, .. } | Self::Delta { user, .. } | Self::Message { user, .. } => {
                by_user(user)
            }
            Self::Subscription(id) | Self::Reauthorize(id) => Ok(ctx
                .graph
                .subscriptions
                .get(id)
                .map(|s| s.mailbox.address.to_ascii_lowercase())),
            Self::Subscriptions => {
                let resource = serde_json::from_slice::<serde_json::Value>(body)
                    .ok()
                    .and_then(|v| v.get("resource")?.as_str().map(str::to_owned));
                Ok(resource
                    .and_then(|r| parse_resource(&r).ok())
                    .and_then(|(user, _)| ctx.graph.users.resolve(world, &user))
                    .and_then(|i| world.mailboxes.get(i))
                    .map(|m| m.address.to_ascii_lowercase()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_endpoints_in_either_key_form_and_any_case() {
        assert_eq!(parse("/v1.0/subscriptions"), Ok(Endpoint::Subscriptions));
        assert_eq!(
            parse("/v1.0/subscriptions/abc/reauthorize"),
            Ok(Endpoint::Reauthorize("abc".into()))
        );
        for path in [
            "/v1.0/users/mara@contoso.com/mailFolders('inbox')/messages/delta",
            "/v1.0/users/mara@contoso.com/mailfolders/Inbox/messages/delta",
            "/v1.0/Users/mara%40contoso.com/MailFolders('Inbox')/Messages/Delta",
        ] {
            match parse(path) {
                Ok(Endpoint::Delta { user, folder }) => {
                    assert_eq!(user, "mara@contoso.com");
                    assert!(
                        folder.is_some_and(|f| f.eq_ignore_ascii_case("inbox")),
                        "{path}"
                    );
                }
                other => panic!("{path}: {other:?}"),
            }
        }
        assert!(matches!(
            parse("/v1.0/users/x/mailFolders/inbox"),
            Ok(Endpoint::Folder { .. })
        ));
        assert!(parse("/v1.0/me/messages").is_err());
        for path in [
            "/v1.0/users/mara@contoso.com/messages/QUFNa0kwLjA=",
            "/v1.0/users/mara@contoso.com/Messages('QUFNa0kwLjA=')",
            "/v1.0/users/mara%40contoso.com/messages/QUFNa0kwLjA%3D",
        ] {
            assert_eq!(
                parse(path),
                Ok(Endpoint::Message {
                    user: "mara@contoso.com".into(),
                    id: "QUFNa0kwLjA=".into()
                }),
                "{path}"
            );
        }
        assert_eq!(parse("/v1.0/users"), Ok(Endpoint::Users));
        assert_eq!(
            parse("/v1.0/Users/mara%40contoso.com"),
            Ok(Endpoint::User("mara@contoso.com".into()))
        );
        assert_eq!(
            parse("/v1.0/users('mara@contoso.com')/photo/$value"),
            Ok(Endpoint::Photo("mara@contoso.com".into()))
        );
        assert!(parse("/v1.0/users/x/photo").is_err());
        assert!(parse("/beta/subscriptions").is_err());
    }

    #[test]
    fn resources_name_a_user_and_a_folder() {
        assert_eq!(
            parse_resource("/users/mara@contoso.com/mailFolders('inbox')/messages"),
            Ok(("mara@contoso.com".into(), Some("inbox".into())))
        );
        assert_eq!(parse_resource("users/ID/messages"), Ok(("ID".into(), None)));
        assert!(parse_resource("/me/mailFolders('inbox')/messages").is_err());
        assert!(parse_resource("/users/x/events").is_err());
        assert!(parse_resource("").is_err());
    }
}
