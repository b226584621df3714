//! What the watcher puts on the wire: every request carries its operation's `SOAPAction` and
//! the `RequestServerVersion` of the settings.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ews_proto::operations::{GetEvents, Operation, Request, Subscribe, Unsubscribe};
use ews_proto::soap::{ExchangeVersion, read_envelope};
use ews_subscriptions::Watcher;
use exchange_auth::{Authenticator, HttpRequest};
use mailbox_watch::{MemoryWatermarks, WatchEvent};

use crate::support::*;

fn soap_action(request: &HttpRequest) -> Option<&str> {
    request
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("SOAPAction"))
        .map(|(_, v)| v.as_str())
}

fn quoted(action: &str) -> String {
    format!("\"{action}\"")
}

#[tokio::test]
async fn every_request_carries_its_soap_action_and_the_configured_version() {
    let sim = sim(None).await;
    let locator = locator(&sim);
    let auth = Arc::new(Recording {
        inner: auth(&sim),
        sent: Mutex::new(Vec::new()),
    });
    let mut settings = pull();
    // Not the default (Exchange2013): the settings' version is what goes out.
    settings.version = ExchangeVersion::Exchange2010Sp2;
    let (watcher, mut events) = Watcher::builder(settings, auth.clone() as Arc<dyn Authenticator>)
        .store(Arc::new(MemoryWatermarks::new()))
        .relocate(Arc::new(Rediscover(locator.clone())))
        .start()
        .expect("watcher starts");
    watcher
        .watch(target(&locator, MARA).await)
        .expect("watched");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut next = async || {
        tokio::time::timeout_at(deadline, events.recv())
            .await
            .expect("events within 20 s")
            .expect("the watcher runs")
    };
    while !matches!(next().await, WatchEvent::Subscribed { .. }) {}
    let item = deliver(&sim, &[MARA], "on the wire");
    let mut seen = Vec::new();
    while !new_mail(&seen).contains(&item[0]) {
        seen.push(next().await);
    }
    assert_eq!(watcher.stop(Duration::from_secs(5)).await, 1);

    let sent = auth.sent.lock().expect("lock").clone();
    let mut operations = Vec::new();
    for request in &sent {
        let envelope = read_envelope::<Request>(&request.body).expect("an EWS request");
        assert_eq!(
            envelope.header.request_server_version,
            Some(ExchangeVersion::Exchange2010Sp2),
            "{}",
            envelope.body.name()
        );
        let action = match &envelope.body {
            Request::Subscribe(_) => Subscribe::SOAP_ACTION,
            Request::GetEvents(_) => GetEvents::SOAP_ACTION,
            Request::Unsubscribe(_) => Unsubscribe::SOAP_ACTION,
            other => panic!("the pull watcher sent {}", other.name()),
        };
        assert_eq!(soap_action(request), Some(quoted(action).as_str()));
        operations.push(envelope.body.name());
    }
    for name in ["Subscribe", "GetEvents", "Unsubscribe"] {
        assert!(operations.contains(&name), "{operations:?}");
    }
}
