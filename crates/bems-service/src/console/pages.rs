//! The console's pages, rendered on the server with maud (which escapes every value it
//! inserts). No page carries a script or an inline style: the Content-Security-Policy allows
//! neither.

use std::collections::HashMap;

use maud::{DOCTYPE, Markup, html};
use time::OffsetDateTime;

use super::settings::{Field, Kind, SECTIONS, Values};

use crate::cluster::NodeStatus;
use crate::service::TenantStatus;
use mailbox_watch::WatcherStatus;

/// A token expiring within this many days is shown with a warning.
pub(crate) const EXPIRY_WARNING_DAYS: i64 = 14;

/// The page around every console view; `csrf` is the session's token (signed in) or `None`.
fn layout(title: &str, csrf: Option<&str>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · bems console" }
                link rel="stylesheet" href="/console/static/console.css";
            }
            body {
                header {
                    p.brand { "bems console" }
                    @if let Some(csrf) = csrf {
                        nav aria-label="Console" {
                            a href="/console" { "Status" }
                        }
                        form method="post" action="/console/sign-out" {
                            input type="hidden" name="csrf" value=(csrf);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main { h1 { (title) } (body) }
            }
        }
    }
}

/// The sign-in form; `error` says why the last attempt failed.
pub(crate) fn sign_in(csrf: &str, error: Option<&str>) -> Markup {
    layout(
        "Sign in",
        None,
        html! {
            @if let Some(error) = error {
                p.error role="alert" id="sign-in-error" { (error) }
            }
            form method="post" action="/console/sign-in" {
                input type="hidden" name="csrf" value=(csrf);
                label for="token" { "Admin token" }
                input type="password" id="token" name="token" required
                    autocomplete="current-password"
                    aria-describedby=[error.map(|_| "sign-in-error")];
                button type="submit" { "Sign in" }
            }
        },
    )
}

/// A page that only says something (a refusal, a failure).
pub(crate) fn message(title: &str, text: &str) -> Markup {
    layout(title, None, html! { p { (text) } })
}

/// What the status page shows of this node.
#[derive(Debug)]
pub(crate) struct NodeView {
    pub(crate) status: NodeStatus,
    pub(crate) outbox: u64,
    pub(crate) rates: super::rates::PerMinute,
    /// Pushes since the start, by (platform, outcome).
    pub(crate) pushes: std::collections::BTreeMap<(String, String), u64>,
}

/// What the status page shows of one tenant.
#[derive(Debug)]
pub(crate) struct TenantView {
    pub(crate) status: TenantStatus,
    /// Who receives notifications.
    pub(crate) entitlement: String,
    /// The devices a search found (`None`: no search).
    pub(crate) devices: Option<Vec<bems_store::model::Device>>,
    /// Passive authentication's state, when the tenant runs with it.
    pub(crate) passive: Option<PassiveView>,
    /// Its mail events and pushes per minute.
    pub(crate) rates: super::rates::PerMinute,
    /// Its pushes that failed since the start, by outcome.
    pub(crate) failures: Vec<(String, u64)>,
}

/// This node and every tenant; `user` is the device search.
pub(crate) fn status(
    csrf: &str,
    node: &NodeView,
    tenants: &[TenantView],
    user: &str,
    now: OffsetDateTime,
) -> Markup {
    let status = &node.status;
    layout(
        "Status",
        Some(csrf),
        html! {
            section aria-labelledby="node" {
                h2 id="node" { "This node" }
                dl {
                    dt { "Node" } dd { (status.node) }
                    dt { "Capacity" } dd { (status.mailboxes) " of " (status.capacity) " mailboxes (" (status.percent) "%)" }
                    dt { "Mail events per minute" } dd id="events-per-minute" { (format!("{:.0}", node.rates.events)) }
                    dt { "Pushes per minute" } dd id="pushes-per-minute" { (format!("{:.0}", node.rates.pushes)) }
                    dt { "Pushes waiting in the outbox" } dd { (node.outbox) }
                }
                @if !node.pushes.is_empty() {
                    table id="push-outcomes" {
                        caption { "Pushes since the start, by outcome" }
                        (head(&["Platform", "Outcome", "Pushes"]))
                        tbody {
                            @for ((platform, outcome), n) in &node.pushes {
                                tr.failed[outcome != "delivered"] {
                                    th scope="row" { (platform) }
                                    td { (outcome) }
                                    td { (n) }
                                }
                            }
                        }
                    }
                }
            }
            form method="get" action="/console" role="search" {
                label for="user" { "Find devices by user" }
                input type="search" id="user" name="user" value=(user) placeholder="mara@contoso.com";
                button type="submit" { "Search" }
            }
            @for tenant in tenants {
                (tenant_status(tenant, now))
            }
        },
    )
}

fn tenant_status(view: &TenantView, now: OffsetDateTime) -> Markup {
    let tenant = &view.status;
    let id = format!("tenant-{}", tenant.tenant);
    let auth = &tenant.authentication;
    let method = serde_json::to_value(auth.method)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    html! {
        section aria-labelledby=(id) {
            h2 id=(id) { "Tenant " (tenant.tenant) }
            p { a href=(format!("/console/tenants/{}/settings", tenant.tenant)) { "Email notifications settings" } }
            dl {
                dt { "Authentication" } dd { (method) " as " (auth.principal) }
                @if let Some(expires) = auth.expires_at {
                    dt { "Token expires" }
                    dd { (expiry(expires, now)) }
                }
                @if let Some(note) = &auth.note {
                    dt { "Note" } dd.warning { (note) }
                }
                @if let Some(passive) = &view.passive {
                    dt { "Passive sign-in" }
                    dd {
                        @match passive.signed_in_at {
                            Some(at) => (renewal(at, passive.lifetime_days, now)),
                            None => span.warning { "no sign-in recorded: log in from the settings" },
                        }
                    }
                }
                dt { "Mail events per minute" }
                dd.events-per-minute { (format!("{:.0}", view.rates.events)) }
                dt { "Pushes per minute" }
                dd.pushes-per-minute { (format!("{:.0}", view.rates.pushes)) }
                dt { "Push failures since the start" }
                dd.push-failures {
                    @if view.failures.is_empty() { "none" }
                    @for (i, (outcome, n)) in view.failures.iter().enumerate() {
                        @if i > 0 { ", " }
                        span.warning { (outcome) ": " (n) }
                    }
                }
                dt { "Entitled to notifications" } dd { (view.entitlement) }
                dt { "Devices" } dd { (tenant.devices) }
            }
            table {
                caption { "Mailboxes watched, by state" }
                (head(&["Through", "Watched", "Subscribed", "Pending", "Lost", "Failed", "Events"]))
                tbody {
                    (watcher_row(&tenant.subscriptions))
                    @if let Some(graph) = &tenant.graph { (watcher_row(graph)) }
                }
            }
            @if let Some(devices) = &view.devices {
                table.devices {
                    caption { "Devices found" }
                    (head(&["User", "Platform", "App", "Registered"]))
                    tbody {
                        @for device in devices {
                            tr {
                                th scope="row" { (device.device.mailbox) }
                                td { (format!("{:?}", device.device.platform).to_ascii_lowercase()) }
                                td { (device.device.app_id) }
                                td { (device.registered_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()) }
                            }
                        }
                        @if devices.is_empty() { tr { td colspan="4" { "No device of this tenant matches." } } }
                    }
                }
            }
        }
    }
}

/// A table's head row: a column header per name.
fn head(columns: &[&str]) -> Markup {
    html! { thead { tr { @for column in columns { th scope="col" { (column) } } } } }
}

fn watcher_row(status: &WatcherStatus) -> Markup {
    html! {
        tr {
            th scope="row" { (status.mode) }
            td { (status.mailboxes) }
            td { (status.subscribed) }
            td { (status.pending) }
            td { (status.lost) }
            td { (status.failed) }
            td { (status.events) }
        }
    }
}

/// An expiry as a date, with how far off it is; a warning within [`EXPIRY_WARNING_DAYS`].
fn expiry(at: OffsetDateTime, now: OffsetDateTime) -> Markup {
    let left = at - now;
    let date = at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    html! {
        time datetime=(date) { (date) }
        @if left.is_negative() {
            " " strong.warning { "expired" }
        } @else if left.whole_days() < EXPIRY_WARNING_DAYS {
            " " strong.warning { "in " (left.whole_hours()) " hours: renew it soon" }
        } @else {
            " (in " (left.whole_days()) " days)"
        }
    }
}

/// What the settings page shows besides the values.
#[derive(Debug, Default)]
pub(crate) struct SettingsView<'a> {
    /// Refusals by field key.
    pub(crate) problems: HashMap<&'static str, Vec<String>>,
    /// Refusals of no field of this page.
    pub(crate) other: Vec<String>,
    /// Said at the top after a save.
    pub(crate) saved: Option<&'a str>,
    /// Passive authentication's redirect URI (read-only).
    pub(crate) redirect_uri: Option<String>,
    /// The address the connection test starts with.
    pub(crate) test_email: String,
    /// Passive authentication's state, when the tenant runs with it.
    pub(crate) passive: Option<PassiveView>,
}

/// Passive authentication's state.
#[derive(Debug)]
pub(crate) struct PassiveView {
    /// The authenticator's (the access token's expiry, or a note).
    pub(crate) status: exchange_auth::AuthStatus,
    /// When an administrator last signed in, if known.
    pub(crate) signed_in_at: Option<OffsetDateTime>,
    /// `passive.sign_in_lifetime_days`.
    pub(crate) lifetime_days: u32,
}

/// "Settings > Email notifications" for `tenant`.
pub(crate) fn settings(
    csrf: &str,
    tenant: &str,
    values: &Values,
    view: &SettingsView<'_>,
) -> Markup {
    let action = format!("/console/tenants/{tenant}/settings");
    layout(
        &format!("Email notifications: {tenant}"),
        Some(csrf),
        html! {
            @if let Some(saved) = view.saved {
                p.saved role="status" { (saved) }
            }
            @if !view.problems.is_empty() || !view.other.is_empty() {
                div.error role="alert" {
                    p { "Not saved: the settings below are refused where marked." }
                    @if !view.other.is_empty() {
                        ul { @for problem in &view.other { li { (problem) } } }
                    }
                }
            }
            form method="post" action=(action) {
                input type="hidden" name="csrf" value=(csrf);
                @for section in SECTIONS {
                    @if section.fields.iter().any(|f| (f.applies)(values)) {
                        fieldset {
                            legend { (section.title) }
                            @for field in section.fields.iter().filter(|f| (f.applies)(values)) {
                                (settings_field(field, values, view.problems.get(field.key)))
                            }
                            @if section.title == "Passive authentication" {
                                @if let Some(uri) = &view.redirect_uri {
                                    label for="redirect_uri" { "Redirect URI" }
                                    input type="text" id="redirect_uri" value=(uri) readonly;
                                }
                            }
                        }
                    }
                }
                p.hint { "Changed the authentication type or a box that decides which fields apply? Update the form to see them." }
                button type="submit" name="action" value="update" { "Update the form" }
                " "
                button type="submit" name="action" value="save" { "Save" }
            }
            @if values.text("authentication") == "client_certificate" {
                (certificate_upload(csrf, tenant, values, view.problems.get(super::certificate::CERTIFICATE_FIELD)))
            }
            @if let Some(passive) = &view.passive {
                (passive_login(csrf, tenant, passive, OffsetDateTime::now_utc()))
            }
            (test_connection_form(csrf, tenant, &view.test_email))
        },
    )
}

/// Client Certificate: the `.pfx` upload with its password (a form of its own).
fn certificate_upload(
    csrf: &str,
    tenant: &str,
    values: &Values,
    problems: Option<&Vec<String>>,
) -> Markup {
    let described = problems.map(|_| "error-pfx");
    html! {
        form method="post" enctype="multipart/form-data" action=(format!("/console/tenants/{tenant}/certificate")) {
            fieldset {
                legend { "Client Certificate" }
                p id="pfx-state" {
                    @if values.is_set("client_certificate.pfx") { "A certificate is set; a new upload replaces it." }
                    @else { "No certificate is set." }
                }
                label for="pfx" { "Certificate file (.pfx)" }
                input type="file" id="pfx" name="pfx" accept=".pfx,.p12,application/x-pkcs12" required
                    aria-invalid=[problems.map(|_| "true")] aria-describedby=[described];
                label for="pfx_password" { "Password" }
                input type="password" id="pfx_password" name="password" autocomplete="off";
                @if let Some(problems) = problems {
                    p.error id="error-pfx" { @for problem in problems { (problem) " " } }
                }
                input type="hidden" name="csrf" value=(csrf);
                button type="submit" { "Upload and check" }
            }
        }
    }
}

/// Passive authentication's Login, with what the last sign-in gave and when the next is due.
fn passive_login(csrf: &str, tenant: &str, view: &PassiveView, now: OffsetDateTime) -> Markup {
    html! {
        form method="post" action=(format!("/console/tenants/{tenant}/sign-in")) {
            fieldset {
                legend { "Passive authentication: Login" }
                @match view.status.expires_at {
                    Some(expires) => p id="passive-state" {
                        "Signed in. The access token expires " (expiry(expires, now))
                        "; it is refreshed automatically before then, and each refresh renews the sign-in."
                    },
                    None => p.warning id="passive-state" {
                        "Not signed in: no notifications until an administrator logs in."
                        @if let Some(note) = &view.status.note { " " (note) }
                    },
                }
                @if let Some(signed_in) = view.signed_in_at {
                    (renewal(signed_in, view.lifetime_days, now))
                }
                input type="hidden" name="csrf" value=(csrf);
                button type="submit" { "Login" }
            }
        }
    }
}

/// When the identity provider's policy ends a sign-in made at `signed_in`, with a warning
/// from [`bems_settings::SIGN_IN_REMINDER_DAYS`] before.
pub(crate) fn renewal(
    signed_in: OffsetDateTime,
    lifetime_days: u32,
    now: OffsetDateTime,
) -> Markup {
    let due = signed_in + time::Duration::days(i64::from(lifetime_days));
    let remind = i64::from(bems_settings::SIGN_IN_REMINDER_DAYS);
    let day = |at: OffsetDateTime| at.date().to_string();
    let left = (due - now).whole_days();
    html! {
        @if left < remind {
            p.warning role="alert" id="passive-renewal" {
                "Log in again before " (day(due)) ": the sign-in of " (day(signed_in))
                " reaches the " (lifetime_days) " days the identity provider's policy allows"
                @if left < 0 { " (passed)" } @else { " (" (left) " days left)" }
                ", and notifications stop then."
            }
        } @else {
            p id="passive-renewal" {
                "Signed in on " (day(signed_in)) "; a new login is due by " (day(due))
                " (the policy's " (lifetime_days) " days). A reminder shows here "
                (remind) " days before."
            }
        }
    }
}

/// The passive sign-in's callback, for a browser: the tokens were obtained (and when the
/// access token expires), or why not.
pub(crate) fn signed_in(tenant: &str, outcome: Result<OffsetDateTime, String>) -> Markup {
    let back = format!("/console/tenants/{tenant}/settings");
    layout(
        "Passive authentication",
        None,
        html! {
            @match outcome {
                Ok(expires) => p role="status" id="signed-in" {
                    "The authentication tokens were obtained. The access token expires "
                    (expiry(expires, OffsetDateTime::now_utc()))
                    "; bems refreshes it automatically."
                },
                Err(error) => p.error role="alert" { "Sign-in failed: " (error) },
            }
            p { a href=(back) { "OK" } }
        },
    )
}

fn settings_field(field: &Field, values: &Values, problems: Option<&Vec<String>>) -> Markup {
    let error_id = format!("error-{}", field.key);
    let described = problems.map(|_| error_id.as_str());
    let error = html! {
        @if let Some(problems) = problems {
            p.error id=(error_id) {
                @for problem in problems { (problem) " " }
            }
        }
    };
    match field.kind {
        Kind::Text => html! {
            label for=(field.key) { (field.label) }
            input type="text" id=(field.key) name=(field.key) value=(values.text(field.key))
                aria-invalid=[problems.map(|_| "true")] aria-describedby=[described];
            (error)
        },
        Kind::Secret => html! {
            label for=(field.key) { (field.label) }
            input type="password" id=(field.key) name=(field.key) autocomplete="new-password"
                placeholder=(if values.is_set(field.key) { "set (leave blank to keep it)" } else { "not set" })
                aria-invalid=[problems.map(|_| "true")] aria-describedby=[described];
            (error)
        },
        Kind::Check => html! {
            div.check {
                input type="checkbox" id=(field.key) name=(field.key) value="on"
                    checked[values.checked(field.key)]
                    aria-invalid=[problems.map(|_| "true")] aria-describedby=[described];
                label for=(field.key) { (field.label) }
            }
            (error)
        },
        Kind::Choice(options) => html! {
            fieldset.choice aria-describedby=[described] {
                legend { (field.label) }
                @for (value, label) in options {
                    @let id = format!("{}-{value}", field.key);
                    div.check {
                        input type="radio" id=(id) name=(field.key) value=(value)
                            checked[values.text(field.key) == *value];
                        label for=(id) { (label) }
                    }
                }
            }
            (error)
        },
    }
}

/// Where the steps of a test go in [`test_connection`]'s page.
pub(crate) const STEPS_HERE: &str = "<!--steps-->";

/// The page of a connection test, with [`STEPS_HERE`] where the steps go as they end.
pub(crate) fn test_connection(csrf: &str, tenant: &str, email: &str) -> Markup {
    layout(
        &format!("Test connection: {tenant}"),
        Some(csrf),
        html! {
            p { "Testing " strong { (email) } " with the settings in force: Autodiscover, authentication with an EWS call, a subscription." }
            ol.steps aria-live="polite" { (maud::PreEscaped(STEPS_HERE)) }
            p { a href=(format!("/console/tenants/{tenant}/settings")) { "Back to the settings" } }
        },
    )
}

/// One step of a connection test, as it ended.
pub(crate) fn test_step(step: &exchange_check::Step) -> Markup {
    html! {
        li.step.ok[step.ok].failed[!step.ok] {
            strong { (step.step) } ": " (if step.ok { "ok" } else { "failed" })
            " in " (step.millis) " ms. " (step.detail)
            @if !step.trace.is_empty() {
                ul { @for line in &step.trace { li { code { (line) } } } }
            }
        }
    }
}

/// The verdict after the steps.
pub(crate) fn test_verdict(ok: bool) -> Markup {
    html! {
        li.verdict.ok[ok].failed[!ok] {
            strong { (if ok { "Passed: every step worked." } else { "Failed: see the step above." }) }
        }
    }
}

/// The form that starts a connection test, on the settings page.
pub(crate) fn test_connection_form(csrf: &str, tenant: &str, email: &str) -> Markup {
    html! {
        form method="post" action=(format!("/console/tenants/{tenant}/test-connection")) {
            fieldset {
                legend { "Test connection" }
                label for="test_email" { "User email address" }
                input type="email" id="test_email" name="email" value=(email) required;
                input type="hidden" name="csrf" value=(csrf);
                button type="submit" { "Test connection" }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_renewal_reminder_shows_from_two_weeks_before_the_policy_ends_a_sign_in() {
        let now = OffsetDateTime::now_utc();
        let days = |n: i64| now - time::Duration::days(n);
        let text = |signed_in, lifetime| renewal(signed_in, lifetime, now).into_string();
        let fresh = text(days(1), 90);
        assert!(fresh.contains("a new login is due by"), "{fresh}");
        assert!(!fresh.contains("warning"), "{fresh}");
        let soon = text(days(80), 90);
        assert!(soon.contains("class=\"warning\""), "{soon}");
        assert!(soon.contains("Log in again before"), "{soon}");
        assert!(soon.contains("(10 days left)"), "{soon}");
        let passed = text(days(100), 90);
        assert!(passed.contains("(passed)"), "{passed}");
    }
}
