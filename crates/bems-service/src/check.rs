//! "Test connection": for one address, each step the service takes, with what happened.

use std::time::Instant;

use autodiscover::MailboxLocator;
use ews_proto::operations::{Subscribe, SubscribeResponse, Unsubscribe, UnsubscribeResponse};
use ews_proto::soap::{ConnectingSid, ExchangeVersion, SoapHeader, read_envelope, write_envelope};
use ews_proto::{BaseFolderId, EventType, affinity};
use exchange_auth::{Authenticator, HttpRequest};
use serde::Serialize;

use crate::unread::inbox_unread;

/// One step of the test.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// What was tried.
    pub step: &'static str,
    /// Whether it worked.
    pub ok: bool,
    /// How long it took.
    pub millis: u64,
    /// What happened.
    pub detail: String,
    /// Autodiscover's candidates and their outcomes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trace: Vec<String>,
}

/// The whole test.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The address tested.
    pub email: String,
    /// Whether every step worked.
    pub ok: bool,
    /// The steps, in order; the test stops at the first that fails.
    pub steps: Vec<Step>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "Test connection for {}", self.email)?;
        for step in &self.steps {
            let mark = if step.ok { "ok  " } else { "FAIL" };
            writeln!(
                f,
                "  [{mark}] {:<15} {:>5} ms  {}",
                step.step, step.millis, step.detail
            )?;
            for line in &step.trace {
                writeln!(f, "         {line}")?;
            }
        }
        write!(f, "{}", if self.ok { "passed" } else { "failed" })
    }
}

fn step(name: &'static str, started: Instant, result: Result<String, String>) -> Step {
    let millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let (ok, detail) = match result {
        Ok(detail) => (true, detail),
        Err(detail) => (false, detail),
    };
    Step {
        step: name,
        ok,
        millis,
        detail,
        trace: Vec::new(),
    }
}

/// Tests `email` as the service would use it: Autodiscover, authentication with an EWS call,
/// and a subscription (made, then removed).
pub async fn test_connection(
    locator: &dyn MailboxLocator,
    auth: &dyn Authenticator,
    email: &str,
) -> Report {
    let mut steps = Vec::new();
    let report = |steps: Vec<Step>| Report {
        email: email.to_owned(),
        ok: steps.iter().all(|s| s.ok),
        steps,
    };
    // 1. Autodiscover, without the cache.
    let started = Instant::now();
    locator.invalidate(email);
    let found = locator.locate(email).await;
    let (result, trace) = match &found {
        Ok(found) => (
            Ok(format!(
                "EWS at {} via {:?} (group {})",
                found.ews_url,
                found.method,
                found.grouping_information.as_deref().unwrap_or("-")
            )),
            found.trace.iter().map(trace_line).collect(),
        ),
        Err(error) => (
            Err(error.to_string()),
            error.trace().iter().map(trace_line).collect(),
        ),
    };
    let mut autodiscover = step("autodiscover", started, result);
    autodiscover.trace = trace;
    steps.push(autodiscover);
    let Ok(found) = found else {
        return report(steps);
    };
    // 2. Authentication and an EWS call.
    let started = Instant::now();
    let status = auth.status();
    let result = inbox_unread(auth, found.ews_url.clone(), email)
        .await
        .map(|unread| {
            format!(
                "{:?} as {}: the inbox has {unread} unread",
                status.method, status.principal
            )
        })
        .map_err(|e| format!("{:?} as {}: {e}", status.method, status.principal));
    steps.push(step("authentication", started, result));
    if !steps.iter().all(|s| s.ok) {
        return report(steps);
    }
    // 3. A subscription, removed again.
    let started = Instant::now();
    let result = subscribe_and_remove(auth, found.ews_url.clone(), email).await;
    steps.push(step("subscription", started, result));
    report(steps)
}

fn trace_line(entry: &autodiscover::TraceEntry) -> String {
    format!(
        "{:?} {} -> {:?} ({} ms{})",
        entry.method,
        entry.target,
        entry.outcome,
        entry.elapsed.as_millis(),
        credentials_label(entry)
    )
}

/// What became of the credentials of a candidate: Autodiscover marks a request that carried
/// them, but a request whose connection or TLS handshake failed never left, and one cancelled
/// may or may not have.
fn credentials_label(entry: &autodiscover::TraceEntry) -> &'static str {
    if !entry.credentials_sent {
        return "";
    }
    match &entry.outcome {
        // Autodiscover words a failure before the request was sent "connection failed".
        autodiscover::Outcome::Failed { error } if error.starts_with("connection failed") => {
            let lower = error.to_ascii_lowercase();
            if ["certificate", "tls", "handshake", "alert"]
                .iter()
                .any(|word| lower.contains(word))
            {
                ", TLS handshake failed, no credentials sent"
            } else {
                ", no connection, no credentials sent"
            }
        }
        autodiscover::Outcome::Cancelled => ", cancelled, credentials may have been sent",
        _ => ", credentials sent",
    }
}

async fn subscribe_and_remove(
    auth: &dyn Authenticator,
    url: url::Url,
    mailbox: &str,
) -> Result<String, String> {
    let header = SoapHeader::request(ExchangeVersion::Exchange2013)
        .impersonating(ConnectingSid::PrimarySmtpAddress(mailbox.to_owned()));
    let post = |body: Vec<u8>, cookie: Option<&str>| {
        let mut request = HttpRequest::post(url.clone(), body)
            .header("Content-Type", "text/xml; charset=utf-8")
            .header(affinity::ANCHOR_MAILBOX, mailbox)
            .header(affinity::PREFER_SERVER_AFFINITY, "true");
        if let Some(cookie) = cookie {
            request = request.header("Cookie", affinity::cookie_header(cookie));
        }
        request
    };
    let subscribe = Subscribe::streaming(vec![BaseFolderId::inbox()], vec![EventType::NewMail]);
    let response = auth
        .send(post(write_envelope(&header, &subscribe), None))
        .await
        .map_err(|e| e.to_string())?;
    let cookie = response
        .header_all("set-cookie")
        .find_map(affinity::back_end_override_cookie)
        .map(str::to_owned);
    let bytes = response.bytes(1 << 20).await.map_err(|e| e.to_string())?;
    let message = read_envelope::<SubscribeResponse>(&bytes)
        .map_err(|e| e.to_string())?
        .body
        .into_first()
        .ok_or("an answer without a response message")?;
    if !message.status.is_success() {
        return Err(format!(
            "Subscribe: {} {}",
            message.status.code.as_str(),
            message.status.message_text.unwrap_or_default()
        ));
    }
    let id = message
        .subscription_id
        .ok_or("Subscribe gave no subscription id")?;
    let response = auth
        .send(post(
            write_envelope(&header, &Unsubscribe::new(id)),
            cookie.as_deref(),
        ))
        .await
        .map_err(|e| e.to_string())?;
    let bytes = response.bytes(1 << 20).await.map_err(|e| e.to_string())?;
    let removed = read_envelope::<UnsubscribeResponse>(&bytes)
        .map_err(|e| e.to_string())?
        .body
        .into_first()
        .is_some_and(|m| m.status.is_success());
    Ok(format!(
        "subscribed (affinity cookie {}) and {}",
        if cookie.is_some() {
            "received"
        } else {
            "not sent"
        },
        if removed {
            "unsubscribed"
        } else {
            "left to expire"
        }
    ))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use autodiscover::{Method, Outcome, TraceEntry};

    use super::*;

    fn entry(outcome: Outcome, sent: bool) -> String {
        trace_line(
            &TraceEntry::new(
                Method::Pox,
                "https://autodiscover.contoso.com/autodiscover/autodiscover.xml",
                "alice@contoso.com",
                outcome,
                Duration::from_millis(3),
            )
            .with_credentials(sent),
        )
    }

    fn failed(error: &str) -> Outcome {
        Outcome::Failed {
            error: error.into(),
        }
    }

    #[test]
    fn credentials_are_said_sent_only_when_the_request_left() {
        let tls = entry(
            failed(
                "connection failed: client error (Connect): invalid peer certificate: UnknownIssuer",
            ),
            true,
        );
        assert!(
            tls.ends_with(", TLS handshake failed, no credentials sent)"),
            "{tls}"
        );
        let refused = entry(
            failed(
                "connection failed: client error (Connect): tcp connect error: Connection refused (os error 111)",
            ),
            true,
        );
        assert!(
            refused.ends_with(", no connection, no credentials sent)"),
            "{refused}"
        );
        let denied = entry(failed("HTTP 401: credentials refused"), true);
        assert!(denied.ends_with(", credentials sent)"), "{denied}");
        assert!(entry(Outcome::Found, true).ends_with(", credentials sent)"));
        assert!(entry(Outcome::Cancelled, true).contains("may have been sent"));
        assert!(entry(Outcome::Found, false).ends_with(" ms)"));
    }
}
