//! `relocate`, through its public API.

use async_trait::async_trait;
use autodiscover::{Discovery, MailboxLocator};
use mailbox_watch::{Relocate, WatchError};
use std::sync::Arc;
use std::sync::Mutex;

use autodiscover::{Error, Method};
use url::Url;

use bems_service::relocate::*;

/// A locator that knows one answer and records what it was asked.
#[derive(Default)]
struct Recorded {
    calls: Mutex<Vec<String>>,
}

fn found(mailbox: &str) -> Discovery {
    let url: Url = "https://ex2.contoso.com/EWS/Exchange.asmx".parse().unwrap();
    let mut found = Discovery::new(mailbox, url.clone(), Method::Override, url);
    found.mailbox = "mara.moved@contoso.com".into();
    found.grouping_information = Some("CONTOSO-2".into());
    found
}

#[async_trait]
impl MailboxLocator for Recorded {
    async fn locate(&self, email: &str) -> Result<Discovery, Error> {
        self.calls.lock().unwrap().push(format!("locate {email}"));
        if email.starts_with("nobody") {
            return Err(Error::NotFound {
                email: email.to_owned(),
                trace: Vec::new(),
            });
        }
        Ok(found(email))
    }

    fn invalidate(&self, email: &str) {
        self.calls
            .lock()
            .unwrap()
            .push(format!("invalidate {email}"));
    }
}

#[tokio::test]
async fn a_moved_mailbox_is_found_again_under_its_own_address() {
    let locator = Arc::new(Recorded::default());
    let relocate = Rediscover::new(Arc::clone(&locator) as Arc<dyn MailboxLocator>);
    relocate.forget("mara@contoso.com");
    let target = relocate.locate("mara@contoso.com").await.unwrap();
    assert_eq!(
        target.mailbox, "mara@contoso.com",
        "the watched address, not the answer's"
    );
    assert_eq!(
        target.ews_url.as_str(),
        "https://ex2.contoso.com/EWS/Exchange.asmx"
    );
    assert_eq!(target.grouping_information.as_deref(), Some("CONTOSO-2"));
    assert_eq!(
        *locator.calls.lock().unwrap(),
        ["invalidate mara@contoso.com", "locate mara@contoso.com"]
    );
}

#[tokio::test]
async fn a_locator_failure_names_the_mailbox() {
    let relocate = Rediscover::new(Arc::new(Recorded::default()));
    let error = relocate.locate("nobody@contoso.com").await.unwrap_err();
    assert!(
        matches!(&error, WatchError::Locate { mailbox, .. } if mailbox == "nobody@contoso.com"),
        "{error:?}"
    );
    assert!(
        std::error::Error::source(&error).is_some(),
        "the locator's error is the source"
    );
}
