//! The validation handshake: before creating a subscription, Graph POSTs
//! `?validationToken=<token>` to the notification URL (and to the lifecycle notification URL)
//! and requires, within 10 seconds, `200 OK`, `text/plain` and the URL-decoded token as the
//! body (<https://learn.microsoft.com/graph/change-notifications-delivery-webhooks#notificationurl-validation>).

use std::time::Duration;

use url::Url;

use super::Counters;
use crate::sim::Ctx;

/// How long the endpoint has to answer.
pub(crate) const VALIDATION_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a URL failed validation, in Graph's words.
pub(crate) fn check_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|_| {
        format!("Subscription validation request failed. '{raw}' is not a valid URL.")
    })?;
    if url.scheme() != "https" {
        return Err(format!(
            "Subscription validation request failed. The notification endpoint must use HTTPS: {raw}"
        ));
    }
    Ok(url)
}

/// Validates `url` as Graph does; the error says why it failed.
pub(crate) async fn validate(ctx: &Ctx, url: &Url) -> Result<(), String> {
    let graph = &ctx.graph;
    Counters::add(&graph.counters.validations, 1);
    // Graph's tokens hold spaces and colons: the endpoint must decode the query.
    let token = format!(
        "Validation: Testing client application reachability for subscription Request-Id: {}",
        uuid::Uuid::new_v4()
    );
    let mut target = url.clone();
    target
        .query_pairs_mut()
        .append_pair("validationToken", &token);
    let outcome = async {
        let response = graph
            .client
            .post(target)
            .header("Content-Type", "text/plain; charset=utf-8")
            .timeout(VALIDATION_TIMEOUT)
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    "Subscription validation request timeout.".to_owned()
                } else {
                    format!("Subscription validation request failed. {}", describe(&e))
                }
            })?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(format!(
                "Subscription validation request failed. Notification endpoint must respond with \
                 200 OK to validation request (it answered {}).",
                response.status().as_u16()
            ));
        }
        let plain = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("text/plain"));
        if !plain {
            return Err(
                "Subscription validation request failed. The response must be text/plain.".into(),
            );
        }
        let body = response
            .text()
            .await
            .map_err(|_| "Subscription validation request timeout.".to_owned())?;
        if body != token {
            return Err(
                "Subscription validation request failed. Response must exactly match \
                        validationToken query parameter."
                    .into(),
            );
        }
        Ok(())
    }
    .await;
    if let Err(reason) = &outcome {
        Counters::add(&graph.counters.validation_failures, 1);
        tracing::debug!(%url, reason, "Graph: validation failed");
    }
    outcome
}

fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_connect() {
        "The remote endpoint could not be reached".to_owned()
    } else {
        "The request failed".to_owned()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
