//! Test connection, streamed ([`super`]'s route table).

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{Console, page, pages, posted, running_tenant};

#[derive(Deserialize)]
pub(super) struct TestConnection {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
}

/// Runs the connection test and streams its page: the top at once, each step as it ends,
/// then the verdict.
pub(super) async fn test_connection(
    State(console): State<Console>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    Form(form): Form<TestConnection>,
) -> Response {
    let session = match posted(&console, &headers, &uri, &form.csrf) {
        Ok(session) => session,
        Err(answer) => return *answer,
    };
    let tenant = match running_tenant(&console, &raw) {
        Ok(tenant) => tenant,
        Err(answer) => return *answer,
    };
    let email = form.email.trim().to_owned();
    if email.is_empty() || email.len() > 320 || !email.contains('@') {
        return page(
            StatusCode::UNPROCESSABLE_ENTITY,
            pages::message(
                "Test connection",
                "Enter the email address of a mailbox to test.",
            ),
        );
    }
    let whole = pages::test_connection(&session.csrf, tenant.id.as_str(), &email).into_string();
    let (top, bottom) = whole
        .split_once(pages::STEPS_HERE)
        .map(|(top, bottom)| (top.to_owned(), bottom.to_owned()))
        .unwrap_or_default();
    let (chunks, stream) = tokio::sync::mpsc::unbounded_channel::<String>();
    let _ = chunks.send(top);
    tokio::spawn(async move {
        let steps = chunks.clone();
        let mut on_step = move |step: &exchange_check::Step| {
            let _ = steps.send(pages::test_step(step).into_string());
        };
        let report = exchange_check::test_connection_reporting(
            tenant.locator.as_ref(),
            tenant.auth.as_ref(),
            &email,
            tenant.ews_version.clone(),
            &mut on_step,
        )
        .await;
        tracing::info!(tenant = %tenant.id, ok = report.ok, "console: connection test");
        let _ = chunks.send(pages::test_verdict(report.ok).into_string());
        let _ = chunks.send(bottom);
    });
    let body = futures_util::stream::unfold(stream, |mut stream| async move {
        let chunk = stream.recv().await?;
        Some((Ok::<_, std::convert::Infallible>(chunk), stream))
    });
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        axum::body::Body::from_stream(body),
    )
        .into_response()
}
