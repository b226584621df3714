//! # exchange-check
//!
//! "Test connection", as BlackBerry's email-notification page has it: for one address, each
//! step a service takes to reach the mailbox, with what happened and how long it took.
//!
//! | step | what is tried | what the report says |
//! |---|---|---|
//! | `autodiscover` | the [`MailboxLocator`], its cache skipped | the EWS URL, the method, the affinity group; every candidate tried, and whether credentials were sent to it |
//! | `authentication` | [`inbox_unread`]: `GetFolder` of the inbox as the mailbox | the authentication method and principal, the unread count |
//! | `subscription` | `Subscribe` (streaming, new mail), then `Unsubscribe` | the subscription made and removed |
//!
//! The test stops at the first step that fails. Every EWS call goes through `ews-client` with
//! the caller's `RequestServerVersion`.

use std::time::{Duration, Instant};

use autodiscover::MailboxLocator;
use ews_client::{Call, CallOptions};
use ews_proto::operations::{GetFolder, Subscribe, Unsubscribe};
use ews_proto::soap::ExchangeVersion;
use ews_proto::{BaseFolderId, EventType, ResponseCode};
use exchange_auth::Authenticator;
use serde::Serialize;

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
/// and a subscription (made, then removed); the EWS calls ask for `version`, the tenant's
/// `RequestServerVersion`.
pub async fn test_connection(
    locator: &dyn MailboxLocator,
    auth: &dyn Authenticator,
    email: &str,
    version: ExchangeVersion,
) -> Report {
    test_connection_reporting(locator, auth, email, version, &mut |_| {}).await
}

/// [`test_connection`], telling `on_step` of each step as it ends (a page shows them as the
/// test runs).
pub async fn test_connection_reporting(
    locator: &dyn MailboxLocator,
    auth: &dyn Authenticator,
    email: &str,
    version: ExchangeVersion,
    on_step: &mut (dyn FnMut(&Step) + Send),
) -> Report {
    let mut steps = Vec::new();
    let mut record = |steps: &mut Vec<Step>, step: Step| {
        on_step(&step);
        steps.push(step);
    };
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
    record(&mut steps, autodiscover);
    let Ok(found) = found else {
        return report(steps);
    };
    // 2. Authentication and an EWS call.
    let started = Instant::now();
    let status = auth.status();
    let result = inbox_unread(auth, found.ews_url.clone(), email, version.clone())
        .await
        .map(|unread| {
            format!(
                "{:?} as {}: the inbox has {unread} unread",
                status.method, status.principal
            )
        })
        .map_err(|e| format!("{:?} as {}: {e}", status.method, status.principal));
    record(&mut steps, step("authentication", started, result));
    if !steps.iter().all(|s| s.ok) {
        return report(steps);
    }
    // 3. A subscription, removed again.
    let started = Instant::now();
    let result = subscribe_and_remove(auth, found.ews_url.clone(), email, version)
        .await
        .map_err(|e| e.to_string());
    record(&mut steps, step("subscription", started, result));
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

/// Why the test subscription could not be made.
#[derive(Debug, thiserror::Error)]
enum SubscriptionError {
    /// The call failed: the authenticator, an HTTP status, a SOAP fault, an unreadable answer.
    #[error(transparent)]
    Call(#[from] ews_client::CallError),
    /// The answer held no response message.
    #[error("an answer without a response message")]
    NoMessage,
    /// Exchange refused the subscription.
    #[error("Subscribe: {} {text}", code.as_str())]
    Refused { code: ResponseCode, text: String },
    /// Exchange gave no subscription id.
    #[error("Subscribe gave no subscription id")]
    NoId,
}

/// A streaming `Subscribe` to `mailbox`'s inbox, then its `Unsubscribe` with the affinity
/// cookie the first answer set.
async fn subscribe_and_remove(
    auth: &dyn Authenticator,
    url: url::Url,
    mailbox: &str,
    version: ExchangeVersion,
) -> Result<String, SubscriptionError> {
    let options = CallOptions::as_mailbox(version, mailbox);
    let call = |cookie: Option<&str>| {
        Call::new(url.clone(), options.clone().server_affinity(cookie)).max_answer(1 << 20)
    };
    let subscribe = Subscribe::streaming(vec![BaseFolderId::inbox()], vec![EventType::NewMail]);
    let answer = call(None).send(auth, &subscribe).await?;
    let cookie = answer.back_end_cookie;
    let message = answer
        .body
        .into_first()
        .ok_or(SubscriptionError::NoMessage)?;
    if !message.status.is_success() {
        return Err(SubscriptionError::Refused {
            code: message.status.code,
            text: message.status.message_text.unwrap_or_default(),
        });
    }
    let id = message.subscription_id.ok_or(SubscriptionError::NoId)?;
    let removed = call(cookie.as_deref())
        .send(auth, &Unsubscribe::new(id))
        .await?
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

/// Why the inbox's unread count could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UnreadError {
    /// The call failed: the authenticator, an HTTP status, a SOAP fault, an unreadable answer.
    #[error(transparent)]
    Call(#[from] ews_client::CallError),
    /// The answer held no response message.
    #[error("an answer without a response message")]
    NoMessage,
    /// Exchange answered with this error code.
    #[error("{}", .0.as_str())]
    Ews(ResponseCode),
    /// The inbox came without `UnreadCount`.
    #[error("the inbox has no UnreadCount")]
    NoCount,
    /// `UnreadCount` is negative.
    #[error("UnreadCount {0} is negative")]
    Negative(i32),
}

/// `GetFolder` of `mailbox`'s inbox at `url`, impersonating it, asking for `version`; its
/// unread count.
pub async fn inbox_unread(
    auth: &dyn Authenticator,
    url: url::Url,
    mailbox: &str,
    version: ExchangeVersion,
) -> Result<u32, UnreadError> {
    let message = Call::new(url, CallOptions::as_mailbox(version, mailbox))
        .timeout(Some(Duration::from_secs(30)))
        .max_answer(1 << 20)
        .send(auth, &GetFolder::new(vec![BaseFolderId::inbox()]))
        .await?
        .body
        .into_first()
        .ok_or(UnreadError::NoMessage)?;
    if !message.status.is_success() {
        return Err(UnreadError::Ews(message.status.code));
    }
    let unread = message
        .folders
        .first()
        .and_then(|f| f.unread_count)
        .ok_or(UnreadError::NoCount)?;
    u32::try_from(unread).map_err(|_| UnreadError::Negative(unread))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use autodiscover::{Method, Outcome, TraceEntry};
    use ews_proto::operations::{Operation, Request};
    use ews_proto::soap::read_envelope;
    use exchange_auth::{
        AuthError, AuthStatus, BasicAuth, HttpRequest, HttpResponse, SecretString, Target,
        TransportSettings,
    };

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

    const MARA: &str = "mara@contoso.com";

    /// An Exchange 2013, which knows `RequestServerVersion` up to `Exchange2013_SP1`.
    const SCENARIO: &str = r#"
profile = "exchange-2013"

[[domains]]
name = "contoso.com"

[[servers]]
name = "mbx1"

[[users]]
smtp = "mara@contoso.com"

[[service_accounts]]
name = "svc-bems"
upn = "svc-bems@contoso.com"
password = "Svc-Pa55w.rd"
rights = ["ApplicationImpersonation"]
"#;

    /// The service account's Basic authentication, keeping a copy of every request.
    #[derive(Debug)]
    struct Recording {
        inner: BasicAuth,
        sent: Mutex<Vec<HttpRequest>>,
    }

    #[async_trait::async_trait]
    impl Authenticator for Recording {
        async fn send(&self, request: HttpRequest) -> Result<HttpResponse, AuthError> {
            self.sent.lock().expect("lock").push(request.clone());
            self.inner.send(request).await
        }

        fn status(&self) -> AuthStatus {
            self.inner.status()
        }
    }

    async fn sim() -> (exchange_sim::Sim, Recording, url::Url) {
        let scenario = exchange_sim::Scenario::from_toml(SCENARIO).expect("scenario");
        let sim = exchange_sim::Sim::builder()
            .scenario(scenario)
            .start()
            .await
            .expect("simulator starts");
        let mut transport = TransportSettings::default();
        transport.trusted_ca_pem = vec![sim.ca_pem().to_owned()];
        transport.trusted_ca_only = true;
        transport.connect_timeout = Duration::from_secs(5);
        transport
            .resolve
            .push(("mail.contoso.com".to_owned(), sim.https_addr()));
        let inner = BasicAuth::new(
            "svc-bems@contoso.com",
            SecretString::from("Svc-Pa55w.rd"),
            Target::OnPremises,
            &transport,
        )
        .expect("basic auth");
        let auth = Recording {
            inner,
            sent: Mutex::new(Vec::new()),
        };
        let url = sim.ews_url(MARA).expect("mailbox").parse().expect("URL");
        (sim, auth, url)
    }

    #[tokio::test]
    async fn the_test_calls_carry_their_soap_action_and_the_configured_version() {
        let (sim, auth, url) = sim().await;
        sim.deliver_mail(MARA, "one", "tom@contoso.com")
            .expect("delivered");
        let version = ExchangeVersion::Exchange2010Sp2;
        let unread = inbox_unread(&auth, url.clone(), MARA, version.clone()).await;
        assert_eq!(unread.expect("the unread count"), 1);
        let subscribed = subscribe_and_remove(&auth, url, MARA, version.clone())
            .await
            .expect("subscribed");
        assert!(subscribed.ends_with("unsubscribed"), "{subscribed}");

        let sent = auth.sent.lock().expect("lock").clone();
        let mut names = Vec::new();
        for request in &sent {
            let envelope = read_envelope::<Request>(&request.body).expect("an EWS request");
            assert_eq!(
                envelope.header.request_server_version.as_ref(),
                Some(&version)
            );
            let action = match envelope.body {
                Request::GetFolder(_) => GetFolder::SOAP_ACTION,
                Request::Subscribe(_) => Subscribe::SOAP_ACTION,
                Request::Unsubscribe(_) => Unsubscribe::SOAP_ACTION,
                ref other => panic!("test connection sent {}", other.name()),
            };
            let header = request
                .headers
                .iter()
                .find(|(name, _)| name == "SOAPAction")
                .map(|(_, value)| value.clone());
            assert_eq!(header, Some(format!("\"{action}\"")));
            names.push(envelope.body.name());
        }
        assert_eq!(names, ["GetFolder", "Subscribe", "Unsubscribe"]);
    }

    #[tokio::test]
    async fn a_version_the_server_does_not_know_fails_the_unread_count() {
        let (_sim, auth, url) = sim().await;
        let error = inbox_unread(&auth, url, MARA, ExchangeVersion::Exchange2016)
            .await
            .expect_err("Exchange 2013 does not know Exchange2016");
        assert!(
            error.to_string().contains("ErrorInvalidServerVersion"),
            "{error}"
        );
    }
}
