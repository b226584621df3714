//! Push mode's listener: Exchange POSTs `SendNotification` here.
//!
//! Only subscription ids this watcher created and still holds are accepted; anything else is
//! answered `Unsubscribe` (and logged), so a stale or foreign subscription ends at once. A
//! notification is answered `OK` only after its events are in the consumer's channel and its
//! watermark is saved: if we fail before that, Exchange sends it again.
//!
//! | a notification | what happens |
//! |---|---|
//! | of a subscription whose `Subscribe` answer is still on its way | kept and answered `OK`, applied once the subscription is known (`early`) |
//! | whose `PreviousWatermark` is not the last watermark seen | one before it was lost: `Unsubscribe`, and the subscription is made again from the last watermark seen, which replays the lost events and these |
//! | of a subscription not held | `Unsubscribe` |

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ews_proto::Notification;
use ews_proto::operations::{SendNotification, SendNotificationResult, SubscriptionStatus};
use ews_proto::soap::{SoapHeader, read_envelope, write_envelope};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use crate::core::{Core, Counters, Delivered, Member, lock};
use crate::ews::CallError;

/// The largest callback body accepted (50 events are about 30 KB).
const MAX_BODY: usize = 4 << 20;

/// Receives Exchange's push notifications for one [`Watcher`](crate::Watcher).
#[derive(Clone)]
pub struct PushListener {
    core: Arc<Core>,
}

impl std::fmt::Debug for PushListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushListener").finish_non_exhaustive()
    }
}

impl PushListener {
    pub(crate) fn new(core: Arc<Core>) -> Self {
        Self { core }
    }

    /// A router that answers `POST` on any path with a `SendNotificationResult`: nest it
    /// under the callback URL's path in a larger service, or [`serve`](Self::serve) it.
    pub fn router(&self) -> Router {
        Router::new()
            .fallback(handle)
            .layer(DefaultBodyLimit::max(MAX_BODY))
            .with_state(Arc::clone(&self.core))
    }

    /// Serves the router on `listener`, over TLS when `tls` is given, until the watcher is
    /// shut down.
    pub async fn serve(self, listener: TcpListener, tls: Option<Arc<rustls::ServerConfig>>) {
        let router = self.router();
        let acceptor = tls.map(TlsAcceptor::from);
        let shutdown = self.core.shutdown.clone();
        loop {
            let accepted = tokio::select! {
                () = shutdown.cancelled() => return,
                accepted = listener.accept() => accepted,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "push listener: accept failed");
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let router = router.clone();
            let acceptor = acceptor.clone();
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                match acceptor {
                    Some(acceptor) => match acceptor.accept(stream).await {
                        Ok(stream) => {
                            serve_connection(TokioIo::new(stream), router, shutdown).await
                        }
                        Err(error) => {
                            tracing::debug!(%peer, %error, "push listener: TLS handshake failed")
                        }
                    },
                    None => serve_connection(TokioIo::new(stream), router, shutdown).await,
                }
            });
        }
    }
}

async fn serve_connection<I>(io: I, router: Router, shutdown: tokio_util::sync::CancellationToken)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let builder = auto::Builder::new(TokioExecutor::new());
    let connection = builder.serve_connection(io, TowerToHyperService::new(router));
    tokio::select! {
        () = shutdown.cancelled() => {}
        _ = connection => {}
    }
}

async fn handle(State(core): State<Arc<Core>>, method: Method, body: Bytes) -> Response {
    if method != Method::POST {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            "POST a SendNotification here\n",
        )
            .into_response();
    }
    let notification = match read_envelope::<SendNotification>(&body) {
        Ok(envelope) => envelope.body,
        Err(error) => {
            tracing::warn!(%error, "push listener: refused a request that is not a SendNotification");
            return (
                StatusCode::BAD_REQUEST,
                format!("not a SendNotification: {error}\n"),
            )
                .into_response();
        }
    };
    let status = match core.on_push(notification).await {
        Answer::Status(status) => status,
        Answer::Later => {
            // Exchange calls back again in 30 s, doubling, until StatusFrequency.
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready for this subscription yet\n",
            )
                .into_response();
        }
    };
    let answer = write_envelope(&SoapHeader::default(), &SendNotificationResult::new(status));
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        answer,
    )
        .into_response()
}

/// What a callback gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    /// `SendNotificationResult` with this status.
    Status(SubscriptionStatus),
    /// An HTTP error, so that Exchange calls back again.
    Later,
}

/// What became of a push notification of a known subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Applied {
    /// Its events are in the consumer's channel.
    Ok,
    /// A notification before it was lost: the subscription is made again from the last
    /// watermark seen, which replays what was lost and this one's events.
    Gap,
    /// The consumer is gone.
    Stopped,
}

impl Core {
    /// Handles one callback.
    pub(crate) async fn on_push(&self, request: SendNotification) -> Answer {
        let mut answer = SubscriptionStatus::Ok;
        for message in request.messages {
            let Some(notification) = message.notification else {
                continue;
            };
            let id = notification.subscription_id.clone();
            let Some(member) = self.push_member(&id) else {
                if self.subscribing.load(std::sync::atomic::Ordering::SeqCst) > 0
                    && message.status.is_success()
                {
                    // Perhaps the subscription whose answer is on its way: keep it for then.
                    if lock(&self.early).hold(notification, Instant::now()) {
                        tracing::debug!(subscription = %id.as_str(), "push notification before its Subscribe answer: kept until the subscription is known");
                        continue;
                    }
                    return Answer::Later;
                }
                Counters::add(&self.counters.unknown_push, 1);
                tracing::warn!(subscription = %id.as_str(), "push notification for a subscription this watcher does not hold: answering Unsubscribe");
                answer = SubscriptionStatus::Unsubscribe;
                continue;
            };
            if !message.status.is_success() {
                let error = CallError::from_status(&message.status);
                self.lose(&member, error.to_string()).await;
                self.wake(&member);
                answer = SubscriptionStatus::Unsubscribe;
                continue;
            }
            if self.apply_push(&member, Some(notification)).await != Applied::Ok {
                answer = SubscriptionStatus::Unsubscribe;
            }
        }
        Answer::Status(answer)
    }

    /// Applies the notifications kept for `member`'s push subscription before it was known,
    /// then `notification`, in order.
    pub(crate) async fn apply_push(
        &self,
        member: &Member,
        notification: Option<Notification>,
    ) -> Applied {
        let _order = member.push_order.lock().await;
        let Some(id) = member.state().subscription.clone() else {
            return Applied::Ok;
        };
        let kept = lock(&self.early).take(id.as_str());
        for notification in kept.into_iter().chain(notification) {
            let applied = self.apply_one(member, notification).await;
            if applied != Applied::Ok {
                return applied;
            }
        }
        Applied::Ok
    }

    /// One notification. Its `PreviousWatermark` must be the last watermark seen: "for push
    /// clients, the PreviousWatermark is compared to the local, client-side last known
    /// watermark. If the values are different, the client has missed an event notification
    /// and should reestablish a subscription by using the latest local watermark"
    /// (<https://learn.microsoft.com/exchange/client-developer/web-service-reference/previouswatermark>).
    async fn apply_one(&self, member: &Member, notification: Notification) -> Applied {
        let last = member.state().watermark.clone();
        if let (Some(previous), Some(last)) = (&notification.previous_watermark, &last)
            && previous != last
        {
            Counters::add(&self.counters.missed_push, 1);
            self.lose(
                member,
                "a push notification was missed (its successor's PreviousWatermark is not the \
                 last watermark seen): subscribing again from that watermark"
                    .to_owned(),
            )
            .await;
            self.wake(member);
            return Applied::Gap;
        }
        match self.deliver(member, notification).await {
            Delivered::Ok => Applied::Ok,
            Delivered::Stopped => Applied::Stopped,
        }
    }
}
