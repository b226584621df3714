//! `[tenants.graph]`'s rules: Graph reaches Exchange Online mailboxes only, with modern
//! authentication and app-only credentials, and Graph calls the webhook over https only.

use url::Url;

use super::checks::{check_https, check_https_origin};
use super::tenant::Field;
use crate::tenant::{AuthenticationType, ExchangeTarget, TenantSettings};

pub(super) fn graph(tenant: &TenantSettings, public_url: Option<&Url>, at: &mut Field<'_>) {
    let graph = &tenant.graph;
    at.secret(
        "graph.client_secret",
        (
            &graph.client_secret,
            &graph.client_secret_file,
            &graph.client_secret_env,
        ),
        None,
    );
    if let Err(rule) = check_https_origin(&graph.endpoint) {
        at.push("graph.endpoint", rule);
    }
    if let Some(url) = &graph.notification_url
        && let Err(rule) = check_https(url).and_then(|()| match url.query() {
            Some(_) => Err(format!("{url} has a query (?...)")),
            None => Ok(()),
        })
    {
        at.push("graph.notification_url", rule);
    }
    for (field, value, range) in [
        ("migration_batch", graph.migration_batch, 1..=1000),
        (
            "migration_interval_seconds",
            graph.migration_interval_seconds,
            1..=86_400,
        ),
    ] {
        if !range.contains(&value) {
            at.push(
                &format!("graph.{field}"),
                format!("{value} is outside {}-{}", range.start(), range.end()),
            );
        }
    }
    if !graph.enabled {
        return;
    }
    if tenant.exchange != ExchangeTarget::Microsoft365 {
        at.push(
            "graph.enabled",
            "Microsoft Graph reaches Exchange Online mailboxes only: \"use Microsoft Graph\" \
             needs exchange = \"microsoft365\"",
        );
    }
    if !tenant.modern_authentication.enabled {
        at.push(
            "modern_authentication.enabled",
            "Microsoft Graph needs modern authentication: the authority and client application \
             id of the Entra app that has the Mail.Read application permission",
        );
    }
    let secret = graph.client_secret.is_some()
        || graph.client_secret_file.is_some()
        || graph.client_secret_env.is_some();
    match tenant.authentication {
        AuthenticationType::Passive => at.push(
            "authentication",
            "Microsoft Graph subscribes to every user's inbox with app-only tokens; passive \
             authentication gives delegated ones: use client_certificate, or credential with \
             graph.client_secret",
        ),
        AuthenticationType::Credential if !secret => at.push(
            "graph.client_secret",
            "Microsoft Graph needs app-only credentials: the Entra app's client secret, or \
             Client Certificate authentication",
        ),
        _ => {}
    }
    match graph.webhook_base(public_url, &tenant.id) {
        _ if graph.notification_url.is_some() => {}
        None => at.push(
            "graph.notification_url",
            "is required without server.public_url: Graph must reach this service's webhook",
        ),
        Some(url) if url.scheme() != "https" => at.push(
            "graph.notification_url",
            format!(
                "Graph calls webhooks over https only; {url} (from server.public_url) is not: \
                 set the External Notification URL of the reverse proxy"
            ),
        ),
        Some(_) => {}
    }
}
