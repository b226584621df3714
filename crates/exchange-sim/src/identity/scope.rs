//! The `scope` parameter: which resource a token is for and which permissions it carries.
//!
//! App-only requests name one resource as `<resource>/.default`
//! (<https://learn.microsoft.com/entra/identity-platform/scopes-oidc#the-default-scope>);
//! delegated requests name permissions as `<resource>/<permission>` plus OpenID Connect scopes.
//! Resources the simulator knows: Exchange Online (`https://outlook.office365.com`,
//! `https://outlook.office.com`, or its app id `00000002-0000-0ff1-ce00-000000000000`), Microsoft
//! Graph (`https://graph.microsoft.com` or `00000003-0000-0000-c000-000000000000`) and every EWS
//! host of the scenario (hybrid modern authentication registers them as SPNs).

use crate::scenario::App;
use crate::world::World;

use super::errors::AadError;

/// Exchange Online's application id.
pub(crate) const EXCHANGE_APP_ID: &str = "00000002-0000-0ff1-ce00-000000000000";

/// Microsoft Graph's application id.
pub(crate) const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

const OIDC: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// A parsed delegated scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Delegated {
    /// The resource, canonical (`https://outlook.office365.com`).
    pub(crate) resource: String,
    /// Delegated permissions granted.
    pub(crate) permissions: Vec<String>,
    /// OpenID Connect scopes requested, lower-cased.
    pub(crate) oidc: Vec<String>,
}

/// The canonical name of a resource the simulator knows, or `None`.
pub(crate) fn resource(world: &World, raw: &str) -> Option<String> {
    let raw = raw.trim_end_matches('/');
    if raw.eq_ignore_ascii_case(EXCHANGE_APP_ID) {
        return Some(EXCHANGE_APP_ID.to_owned());
    }
    if raw.eq_ignore_ascii_case(GRAPH_APP_ID) {
        return Some(GRAPH_APP_ID.to_owned());
    }
    let url = url::Url::parse(raw).ok()?;
    if url.scheme() != "https" || !matches!(url.path(), "" | "/") || url.query().is_some() {
        return None;
    }
    let host = url.host_str()?.to_ascii_lowercase();
    let known = [
        "outlook.office365.com",
        "outlook.office.com",
        crate::graph::GRAPH_HOST,
    ]
    .contains(&host.as_str())
        || world.scenario.domains.iter().any(|d| {
            d.external_host().eq_ignore_ascii_case(&host)
                || d.internal_host().eq_ignore_ascii_case(&host)
        });
    known.then(|| format!("https://{host}"))
}

/// Delegated permissions only Exchange exposes (on Exchange Online and, with hybrid modern
/// authentication, on the on-premises EWS hosts).
const EXCHANGE_ONLY: [&str; 1] = ["EWS."];

/// Delegated permissions only Graph exposes.
const GRAPH_ONLY: [&str; 5] = ["User.", "Directory.", "ProfilePhoto.", "Group.", "Files."];

/// Whether the canonical `resource` exposes the delegated `permission` (both Graph and Exchange
/// Online expose `Mail.*`, `Calendars.*`, ...). An app's `scopes` name permissions without their
/// resource: a permission is granted on each resource that exposes it.
fn exposes(resource: &str, permission: &str) -> bool {
    let starts = |prefixes: &[&str]| {
        prefixes.iter().any(|p| {
            permission
                .get(..p.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(p))
        })
    };
    let graph =
        resource == GRAPH_APP_ID || resource == format!("https://{}", crate::graph::GRAPH_HOST);
    if graph {
        !starts(&EXCHANGE_ONLY)
    } else {
        !starts(&GRAPH_ONLY)
    }
}

fn unknown_resource(world: &World, raw: &str) -> AadError {
    AadError::new(
        "invalid_resource",
        500_011,
        format!(
            "The resource principal named {raw} was not found in the tenant named {}. This can happen if the \
             application has not been installed by the administrator of the tenant or consented to by any user in \
             the tenant. You might have sent your authentication request to the wrong tenant.",
            world.scenario.tenant
        ),
    )
}

/// The resource of an app-only (`client_credentials`) request: exactly one `<resource>/.default`.
pub(crate) fn app_only(world: &World, scope: &str) -> Result<String, AadError> {
    let items: Vec<&str> = scope.split_whitespace().collect();
    let [item] = items.as_slice() else {
        return Err(AadError::invalid_scope(scope));
    };
    let Some(raw) = item.strip_suffix("/.default") else {
        return Err(AadError::new(
            "invalid_scope",
            1_002_012,
            format!(
                "The provided value for scope {item} is not valid. Client credential flows must have a scope value \
                 with /.default suffixed to the resource identifier (application ID URI)."
            ),
        ));
    };
    resource(world, raw).ok_or_else(|| unknown_resource(world, raw))
}

/// A delegated scope, checked against what `app` was granted: an ungranted permission is a
/// missing consent (AADSTS65001), as Entra answers when the user cannot consent; a permission
/// the resource does not expose (`https://graph.microsoft.com/EWS.AccessAsUser.All`) is an
/// invalid scope (AADSTS70011). `<resource>/.default` is every permission the app was granted on
/// that resource (<https://learn.microsoft.com/entra/identity-platform/scopes-oidc#the-default-scope>),
/// a missing consent when there is none.
pub(crate) fn delegated(world: &World, app: &App, scope: &str) -> Result<Delegated, AadError> {
    let mut found: Option<String> = None;
    let mut permissions: Vec<String> = Vec::new();
    let mut oidc: Vec<String> = Vec::new();
    for item in scope.split_whitespace() {
        if let Some(name) = OIDC.iter().find(|o| o.eq_ignore_ascii_case(item)) {
            if !oidc.iter().any(|o| o == name) {
                oidc.push((*name).to_owned());
            }
            continue;
        }
        let Some((raw, permission)) = item.rsplit_once('/') else {
            return Err(AadError::invalid_scope(item));
        };
        let canonical = resource(world, raw).ok_or_else(|| unknown_resource(world, raw))?;
        match &found {
            Some(existing) if *existing != canonical => {
                return Err(AadError::invalid_scope(&format!(
                    "{scope} (it names more than one resource)"
                )));
            }
            _ => found = Some(canonical.clone()),
        }
        if permission == ".default" {
            let on_resource = app.scopes.iter().filter(|s| exposes(&canonical, s));
            let before = permissions.len();
            permissions.extend(on_resource.cloned());
            if permissions.len() == before {
                return Err(AadError::consent_missing(&app.client_id));
            }
        } else if !exposes(&canonical, permission) {
            return Err(AadError::invalid_scope(item));
        } else {
            let granted = app
                .scopes
                .iter()
                .find(|s| s.eq_ignore_ascii_case(permission));
            permissions.push(
                granted
                    .ok_or_else(|| AadError::consent_missing(&app.client_id))?
                    .clone(),
            );
        }
    }
    let Some(resource) = found else {
        return Err(AadError::invalid_scope(scope));
    };
    permissions.dedup();
    Ok(Delegated {
        resource,
        permissions,
        oidc,
    })
}

/// The `scope` of a delegated token response: each permission qualified by the resource, then
/// the OpenID Connect scopes.
pub(crate) fn response_scope(resource: &str, permissions: &[String], oidc: &[String]) -> String {
    permissions
        .iter()
        .map(|p| format!("{resource}/{p}"))
        .chain(oidc.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Scenario;

    fn world() -> World {
        let scenario = Scenario::from_toml(
            r#"
            [[domains]]
            name = "contoso.com"
            [[apps]]
            client_id = "a"
            scopes = ["EWS.AccessAsUser.All"]
            "#,
        )
        .expect("scenario");
        World::new(scenario)
    }

    #[test]
    fn app_only_needs_one_known_default_scope() {
        let world = world();
        assert_eq!(
            app_only(&world, "https://outlook.office365.com/.default"),
            Ok("https://outlook.office365.com".into())
        );
        assert_eq!(
            app_only(&world, "https://MAIL.contoso.com/.default"),
            Ok("https://mail.contoso.com".into())
        );
        assert_eq!(
            app_only(&world, &format!("{EXCHANGE_APP_ID}/.default")),
            Ok(EXCHANGE_APP_ID.into())
        );
        assert_eq!(
            app_only(&world, "https://outlook.office365.com/EWS.AccessAsUser.All")
                .map_err(|e| e.code),
            Err(1_002_012)
        );
        assert_eq!(
            app_only(&world, "https://evil.example/.default").map_err(|e| e.code),
            Err(500_011)
        );
        assert_eq!(
            app_only(&world, "a/.default b/.default").map_err(|e| e.code),
            Err(70_011)
        );
    }

    #[test]
    fn delegated_scopes_are_checked_against_the_grant() {
        let world = world();
        let app = world.directory.app("a").expect("app").clone();
        let parsed = delegated(
            &world,
            &app,
            "https://outlook.office365.com/ews.accessasuser.all offline_access openid",
        )
        .expect("granted");
        assert_eq!(parsed.permissions, ["EWS.AccessAsUser.All"]);
        assert_eq!(parsed.oidc, ["offline_access", "openid"]);
        let code = |s: &str| delegated(&world, &app, s).map_err(|e| e.code);
        assert_eq!(code("https://outlook.office365.com/Mail.Send"), Err(65_001));
        assert_eq!(code("openid offline_access"), Err(70_011));
        assert_eq!(
            code(
                "https://outlook.office365.com/EWS.AccessAsUser.All https://mail.contoso.com/EWS.AccessAsUser.All"
            ),
            Err(70_011)
        );
        assert_eq!(
            code("https://graph.microsoft.com/EWS.AccessAsUser.All"),
            Err(70_011),
            "Graph has no EWS permission"
        );
        assert_eq!(
            code("https://graph.microsoft.com/.default"),
            Err(65_001),
            "no Graph permission was granted"
        );
        assert_eq!(
            response_scope(
                "https://outlook.office365.com",
                &parsed.permissions,
                &parsed.oidc
            ),
            "https://outlook.office365.com/EWS.AccessAsUser.All offline_access openid"
        );
    }

    #[test]
    fn the_default_scope_is_what_the_app_was_granted_on_that_resource() {
        let world = world();
        let mut app = world.directory.app("a").expect("app").clone();
        app.scopes.push("User.ReadBasic.All".to_owned());
        app.scopes.push("Mail.Read".to_owned());
        let graph = delegated(
            &world,
            &app,
            "https://graph.microsoft.com/.default offline_access",
        )
        .expect("granted on Graph");
        assert_eq!(graph.resource, "https://graph.microsoft.com");
        assert_eq!(graph.permissions, ["User.ReadBasic.All", "Mail.Read"]);
        let by_id = delegated(&world, &app, &format!("{GRAPH_APP_ID}/.default")).expect("by id");
        assert_eq!(by_id.permissions, graph.permissions);
        let ews = delegated(&world, &app, "https://outlook.office365.com/.default")
            .expect("granted on Exchange");
        assert_eq!(ews.permissions, ["EWS.AccessAsUser.All", "Mail.Read"]);
        let hybrid = delegated(&world, &app, "https://mail.contoso.com/.default").expect("hybrid");
        assert_eq!(hybrid.permissions, ews.permissions);
        assert_eq!(
            delegated(
                &world,
                &app,
                "https://graph.microsoft.com/user.readbasic.all"
            )
            .map(|d| d.permissions),
            Ok(vec!["User.ReadBasic.All".to_owned()])
        );
        assert_eq!(
            delegated(
                &world,
                &app,
                "https://outlook.office365.com/User.ReadBasic.All"
            )
            .map_err(|e| e.code),
            Err(70_011)
        );
    }
}
