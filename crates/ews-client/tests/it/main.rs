//! Calls against `exchange-sim` over loopback TLS: what goes on the wire, what comes back.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use ews_client::{Call, CallError, CallOptions};
use ews_proto::operations::{GetFolder, Unsubscribe};
use ews_proto::soap::{ExchangeVersion, read_envelope};
use ews_proto::{BaseFolderId, ResponseCode, SubscriptionId};
use exchange_auth::{
    AuthError, AuthStatus, Authenticator, BasicAuth, HttpRequest, HttpResponse, SecretString,
    Target, TransportSettings,
};
use exchange_sim::{Scenario, Sim};

const MARA: &str = "mara@contoso.com";

/// An Exchange 2013: it knows `RequestServerVersion` up to `Exchange2013_SP1`.
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

/// Basic authentication as the service account that keeps a copy of every request it sends.
#[derive(Debug)]
struct Recording {
    inner: BasicAuth,
    sent: Mutex<Vec<HttpRequest>>,
}

#[async_trait]
impl Authenticator for Recording {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, AuthError> {
        self.sent.lock().expect("lock").push(request.clone());
        self.inner.send(request).await
    }

    fn status(&self) -> AuthStatus {
        self.inner.status()
    }
}

impl Recording {
    fn last(&self) -> HttpRequest {
        self.sent
            .lock()
            .expect("lock")
            .last()
            .cloned()
            .expect("a request was sent")
    }
}

async fn start() -> (Sim, Arc<Recording>, url::Url) {
    let sim = Sim::builder()
        .scenario(Scenario::from_toml(SCENARIO).expect("scenario"))
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
    let auth = Arc::new(Recording {
        inner,
        sent: Mutex::new(Vec::new()),
    });
    let url = sim.ews_url(MARA).expect("mailbox").parse().expect("URL");
    (sim, auth, url)
}

fn header<'a>(request: &'a HttpRequest, name: &str) -> Option<&'a str> {
    request
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn a_call_carries_its_soap_action_and_the_configured_version() {
    let (sim, auth, url) = start().await;
    sim.deliver_mail(MARA, "one", "tom@contoso.com")
        .expect("delivered");
    let options = CallOptions::as_mailbox(ExchangeVersion::Exchange2010Sp2, MARA);
    let answer = Call::new(url, options)
        .send(auth.as_ref(), &GetFolder::new(vec![BaseFolderId::inbox()]))
        .await
        .expect("GetFolder answers");
    let inbox = answer.body.into_first().expect("a message").folders;
    assert_eq!(inbox[0].unread_count, Some(1));

    let sent = auth.last();
    assert_eq!(
        header(&sent, "SOAPAction"),
        Some("\"http://schemas.microsoft.com/exchange/services/2006/messages/GetFolder\"")
    );
    assert_eq!(header(&sent, "X-AnchorMailbox"), Some(MARA));
    let envelope = read_envelope::<GetFolder>(&sent.body).expect("our own envelope");
    assert_eq!(
        envelope.header.request_server_version,
        Some(ExchangeVersion::Exchange2010Sp2)
    );
}

#[tokio::test]
async fn the_configured_version_reaches_exchange() {
    // Exchange 2013 does not know Exchange2016 and says so in a SOAP fault.
    let (_sim, auth, url) = start().await;
    let options = CallOptions::as_mailbox(ExchangeVersion::Exchange2016, MARA);
    let error = Call::new(url, options)
        .send(auth.as_ref(), &GetFolder::new(vec![BaseFolderId::inbox()]))
        .await
        .expect_err("refused");
    assert_eq!(
        error.response_code(),
        Some(&ResponseCode::ErrorInvalidServerVersion),
        "{error}"
    );
}

#[tokio::test]
async fn an_answer_past_the_bound_is_refused() {
    let (_sim, auth, url) = start().await;
    let options = CallOptions::as_mailbox(ExchangeVersion::Exchange2013, MARA);
    let error = Call::new(url, options)
        .max_answer(64)
        .send(
            auth.as_ref(),
            &Unsubscribe::new(SubscriptionId::new("no-such-subscription")),
        )
        .await
        .expect_err("too large");
    assert!(
        matches!(error, CallError::TooLarge { limit: 64 }),
        "{error:?}"
    );
    assert_eq!(error.to_string(), "answer larger than 64 bytes");
}
