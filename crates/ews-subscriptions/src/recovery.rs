//! What to do about each error Exchange gives a subscription: the recovery table of
//! `reference/ews-subscriptions.md` §1.3, as code.
//!
//! | code | recovery |
//! |---|---|
//! | `ErrorServerBusy` with `BackOffMilliseconds` | wait exactly that long, retry |
//! | `ErrorServerBusy` without it, `ErrorExceededConnectionCount`, `ErrorExceededSubscriptionCount`, `ErrorTooManyObjectsOpened`, HTTP 503 | wait (jittered, doubling), retry |
//! | `ErrorSubscriptionNotFound`, `ErrorExpiredSubscription`, `ErrorInvalidPullSubscriptionId`, `ErrorSubscriptionAccessDenied`, `ErrorSubscriptionDelegateAccessNotSupported`, `ErrorSubscriptionUnsubscribed` | subscribe again, from the saved watermark |
//! | `ErrorInvalidWatermark`, `ErrorMissedNotificationEvents` | subscribe again without a watermark; tell the consumer to resync |
//! | `ErrorInvalidSubscription` (mailbox move), `ErrorProxyRequestNotAllowed`, `ErrorReadEventsFailed`, `ErrorMailboxMoveInProgress`, `ErrorMailboxStoreUnavailable`, `ErrorProxiedSubscriptionCallFailure`, `ErrorCrossSiteRequest`, `ErrorNoRespondingCASInDestinationSite` | Autodiscover again, then subscribe from the saved watermark |
//! | `ErrorNonExistentMailbox`, `ErrorImpersonateUserDenied`, `ErrorImpersonationDenied`, `ErrorAccessDenied`, `ErrorInvalidExchangeImpersonationHeaderData`, `ErrorInvalidSubscriptionRequest`, `ErrorInvalidPushSubscriptionUrl`, `ErrorSchemaValidation`, `ErrorInvalidRequest`, `ErrorWrongServerVersion` | the mailbox cannot be watched so: report it, retry after the longest backoff |
//! | `ErrorNewEventStreamConnectionOpened` (another connection took the subscriptions) and anything else | retry after a jittered, doubling wait |
//!
//! Why "from the saved watermark": Microsoft's pages disagree. The Subscribe operation's page
//! passes the last watermark when subscribing again; the error-handling guidance subscribes
//! without one to save the replay. We pass it, so no event between the loss and the new
//! subscription is lost (the replayed events the consumer already had are dropped by the
//! watcher's dedupe window). Exchange refuses a watermark it no longer keeps with
//! `ErrorInvalidWatermark`, and only then does the mailbox get a fresh subscription and the
//! consumer a `Resync` (the row above).

use std::time::Duration;

use ews_proto::ResponseCode;

/// The watcher's answer to an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// Wait exactly this long (`BackOffMilliseconds`), then retry the same request.
    BackOff(Duration),
    /// Too many requests or connections: wait a jittered, growing delay, then retry.
    Throttled,
    /// Subscribe again, from the saved watermark where the mode has one.
    Resubscribe,
    /// Subscribe again without a watermark, and tell the consumer changes may be missing.
    ResubscribeFresh,
    /// Autodiscover the mailbox again, then subscribe from the saved watermark.
    Rediscover,
    /// Nothing will change by retrying soon: report it, retry after the longest backoff.
    Fatal,
    /// Transient or unknown: retry after a jittered, growing delay.
    Retry,
}

/// The recovery for `code`; `back_off` is the response's `BackOffMilliseconds`.
pub fn recovery(code: &ResponseCode, back_off: Option<Duration>) -> Recovery {
    use ResponseCode as C;
    match code {
        C::ErrorServerBusy => back_off.map_or(Recovery::Throttled, Recovery::BackOff),
        C::ErrorExceededConnectionCount
        | C::ErrorExceededSubscriptionCount
        | C::ErrorTooManyObjectsOpened => Recovery::Throttled,
        C::ErrorSubscriptionNotFound
        | C::ErrorExpiredSubscription
        | C::ErrorInvalidPullSubscriptionId
        | C::ErrorSubscriptionAccessDenied
        | C::ErrorSubscriptionDelegateAccessNotSupported
        | C::ErrorSubscriptionUnsubscribed => Recovery::Resubscribe,
        C::ErrorInvalidWatermark | C::ErrorMissedNotificationEvents => Recovery::ResubscribeFresh,
        C::ErrorInvalidSubscription
        | C::ErrorProxyRequestNotAllowed
        | C::ErrorReadEventsFailed
        | C::ErrorMailboxMoveInProgress
        | C::ErrorMailboxStoreUnavailable
        | C::ErrorProxiedSubscriptionCallFailure
        | C::ErrorCrossSiteRequest
        | C::ErrorNoRespondingCASInDestinationSite => Recovery::Rediscover,
        C::ErrorNonExistentMailbox
        | C::ErrorImpersonateUserDenied
        | C::ErrorImpersonationDenied
        | C::ErrorAccessDenied
        | C::ErrorInvalidExchangeImpersonationHeaderData
        | C::ErrorInvalidSubscriptionRequest
        | C::ErrorInvalidPushSubscriptionUrl
        | C::ErrorSchemaValidation
        | C::ErrorInvalidRequest
        | C::ErrorWrongServerVersion => Recovery::Fatal,
        _ => Recovery::Retry,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_of_the_reference_table() {
        let ms = |n| Duration::from_millis(n);
        let rows = [
            (
                "ErrorServerBusy",
                Some(ms(297_749)),
                Recovery::BackOff(ms(297_749)),
            ),
            ("ErrorServerBusy", None, Recovery::Throttled),
            ("ErrorExceededConnectionCount", None, Recovery::Throttled),
            ("ErrorExceededSubscriptionCount", None, Recovery::Throttled),
            ("ErrorSubscriptionNotFound", None, Recovery::Resubscribe),
            ("ErrorExpiredSubscription", None, Recovery::Resubscribe),
            (
                "ErrorInvalidPullSubscriptionId",
                None,
                Recovery::Resubscribe,
            ),
            ("ErrorSubscriptionAccessDenied", None, Recovery::Resubscribe),
            (
                "ErrorSubscriptionDelegateAccessNotSupported",
                None,
                Recovery::Resubscribe,
            ),
            ("ErrorInvalidWatermark", None, Recovery::ResubscribeFresh),
            (
                "ErrorMissedNotificationEvents",
                None,
                Recovery::ResubscribeFresh,
            ),
            ("ErrorInvalidSubscription", None, Recovery::Rediscover),
            ("ErrorProxyRequestNotAllowed", None, Recovery::Rediscover),
            ("ErrorReadEventsFailed", None, Recovery::Rediscover),
            ("ErrorMailboxMoveInProgress", None, Recovery::Rediscover),
            ("ErrorMailboxStoreUnavailable", None, Recovery::Rediscover),
            ("ErrorInvalidSubscriptionRequest", None, Recovery::Fatal),
            ("ErrorImpersonateUserDenied", None, Recovery::Fatal),
            ("ErrorNonExistentMailbox", None, Recovery::Fatal),
            ("ErrorInternalServerTransientError", None, Recovery::Retry),
            ("ErrorSomethingNewIn2030", None, Recovery::Retry),
        ];
        for (code, back_off, expected) in rows {
            assert_eq!(
                recovery(&ResponseCode::parse(code), back_off),
                expected,
                "{code}"
            );
        }
    }
}
