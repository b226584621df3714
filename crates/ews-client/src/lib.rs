//! # ews-client
//!
//! One Exchange Web Services call as the service account: the one path every bems crate takes
//! to EWS. [`ews_proto::call`] writes the request (the envelope with `RequestServerVersion` and
//! `ExchangeImpersonation`; the headers `SOAPAction`, `X-AnchorMailbox`,
//! `X-PreferServerAffinity`, and the back-end cookie to replay), an
//! [`exchange_auth::Authenticator`] sends it, and the answer, read up to a bound, comes back as
//! the operation's response or a [`CallError`].
//!
//! ```no_run
//! use ews_client::{Call, CallOptions};
//! use ews_proto::BaseFolderId;
//! use ews_proto::operations::GetFolder;
//! use ews_proto::soap::ExchangeVersion;
//!
//! # async fn unread(auth: &dyn exchange_auth::Authenticator) -> Result<(), Box<dyn std::error::Error>> {
//! let url = "https://mail.contoso.com/EWS/Exchange.asmx".parse()?;
//! let options = CallOptions::as_mailbox(ExchangeVersion::Exchange2013, "mara@contoso.com");
//! let answer = Call::new(url, options)
//!     .timeout(Some(std::time::Duration::from_secs(30)))
//!     .send(auth, &GetFolder::new(vec![BaseFolderId::inbox()]))
//!     .await?;
//! let inbox = answer.body.into_first().and_then(|m| m.folders.into_iter().next());
//! println!("unread: {:?}", inbox.and_then(|f| f.unread_count));
//! # Ok(()) }
//! ```
//!
//! Spec: [EWS operations](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/ews-operations-in-exchange),
//! [maintain affinity](https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/how-to-maintain-affinity-between-group-of-subscriptions-and-mailbox-server).

mod error;

use std::time::Duration;

use ews_proto::affinity;
use ews_proto::call::{AnswerError, read_answer, request};
use ews_proto::operations::Operation;
use exchange_auth::{Authenticator, HttpRequest, HttpResponse};
use url::Url;

pub use error::CallError;
pub use ews_proto::call::CallOptions;

/// The largest answer [`Call::new`] reads (a `GetEvents` answer of 50 events is ~30 KB).
pub const DEFAULT_MAX_ANSWER: usize = 16 << 20;

/// The timeout [`Call::new`] gives a request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(100);

/// Where a request goes, as whom, and within which bounds.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Call {
    /// The EWS URL.
    pub url: Url,
    /// Version, impersonation and affinity.
    pub options: CallOptions,
    /// The whole request's timeout (`None`: none; a hanging request bounded by its caller).
    pub timeout: Option<Duration>,
    /// The most bytes of an answer read.
    pub max_answer: usize,
}

/// An answer, and the back-end cookie it set.
#[derive(Debug)]
#[non_exhaustive]
pub struct Answer<R> {
    /// The operation's response.
    pub body: R,
    /// The `X-BackEndOverrideCookie` the answer set, to replay for the mailbox's group.
    pub back_end_cookie: Option<String>,
}

/// A hanging request's answer with status 200, its body unread.
#[derive(Debug)]
#[non_exhaustive]
pub struct Opened {
    /// The answer; read its body with [`HttpResponse::chunk`].
    pub response: HttpResponse,
    /// The `X-BackEndOverrideCookie` the answer set.
    pub back_end_cookie: Option<String>,
}

impl Call {
    /// A call to `url` with `options`, [`DEFAULT_TIMEOUT`] and [`DEFAULT_MAX_ANSWER`].
    pub fn new(url: Url, options: CallOptions) -> Self {
        Self {
            url,
            options,
            timeout: Some(DEFAULT_TIMEOUT),
            max_answer: DEFAULT_MAX_ANSWER,
        }
    }

    /// The same call with this timeout.
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// The same call reading at most `limit` bytes of an answer.
    pub fn max_answer(mut self, limit: usize) -> Self {
        self.max_answer = limit;
        self
    }

    /// The HTTP request for `operation`: [`ews_proto::call::request`]'s headers and envelope.
    pub fn http_request<O: Operation>(&self, operation: &O) -> HttpRequest {
        let post = request(&self.options, operation);
        let mut http = HttpRequest::post(self.url.clone(), post.body).timeout(self.timeout);
        for (name, value) in post.headers {
            http = http.header(name, value);
        }
        http
    }

    /// Sends `operation` through `auth` and reads its answer.
    pub async fn send<O: Operation>(
        &self,
        auth: &dyn Authenticator,
        operation: &O,
    ) -> Result<Answer<O::Response>, CallError> {
        let response = auth
            .send(self.http_request(operation))
            .await
            .map_err(CallError::Auth)?;
        let back_end_cookie = back_end_cookie(&response);
        let status = response.status;
        let retry_after = retry_after(&response);
        let body = read_body(response, self.max_answer).await?;
        tracing::debug!(
            operation = O::NAME,
            status,
            bytes = body.len(),
            "EWS answer"
        );
        let body = read_answer::<O>(status, &body)
            .map_err(|error| CallError::from_answer(error, retry_after))?;
        Ok(Answer {
            body,
            back_end_cookie,
        })
    }

    /// Sends a hanging request (`GetStreamingEvents`): on 200, the answer with its body
    /// unread; otherwise the error its body names.
    pub async fn open<O: Operation>(
        &self,
        auth: &dyn Authenticator,
        operation: &O,
    ) -> Result<Opened, CallError> {
        let response = auth
            .send(self.http_request(operation))
            .await
            .map_err(CallError::Auth)?;
        let back_end_cookie = back_end_cookie(&response);
        let status = response.status;
        tracing::debug!(operation = O::NAME, status, "EWS hanging answer");
        if status == 200 {
            return Ok(Opened {
                response,
                back_end_cookie,
            });
        }
        let retry_after = retry_after(&response);
        let body = read_body(response, self.max_answer).await?;
        let error = match read_answer::<O>(status, &body) {
            Err(error) => error,
            // Only a 200 reads as a response.
            Ok(_) => AnswerError::Status { status },
        };
        Err(CallError::from_answer(error, retry_after))
    }
}

/// The whole body, refusing more than `limit` bytes.
async fn read_body(mut response: HttpResponse, limit: usize) -> Result<Vec<u8>, CallError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(CallError::Auth)? {
        if body.len() + chunk.len() > limit {
            return Err(CallError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn back_end_cookie(response: &HttpResponse) -> Option<String> {
    response
        .header_all("set-cookie")
        .find_map(affinity::back_end_override_cookie)
        .map(str::to_owned)
}

/// `Retry-After` in seconds (the form Exchange and its front ends send).
fn retry_after(response: &HttpResponse) -> Option<Duration> {
    response
        .header("retry-after")?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}
