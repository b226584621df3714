//! What Graph (or anyone) POSTs to the webhook, and Graph's subscription answers, on arbitrary
//! bytes: no panic, and every id that is accepted has its documented form (a subscription id
//! is a GUID, a message id URL-safe base64 or its EWS form), so that nothing else reaches a
//! URL the service builds.
#![no_main]

use graph_subscriptions::wire::notification::{Kind, parse_collection};
use graph_subscriptions::wire::subscription::{Subscription, SubscriptionList};
use libfuzzer_sys::fuzz_target;

/// `7f105c7d-2dc5-4530-97cd-4e7ae6534c07`.
fn is_guid(id: &str) -> bool {
    id.len() == 36
        && id.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// `AAMkAGI2THVSAAA=`, `AAMk-a_b`, `AAMk+a/b`.
fn is_message_id(id: &str) -> bool {
    (1..=512).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'+' | b'/' | b'='))
}

fuzz_target!(|data: &[u8]| {
    if let Ok(items) = parse_collection(data) {
        for notification in items.into_iter().flatten() {
            assert!(
                is_guid(&notification.subscription_id),
                "subscription id {:?}",
                notification.subscription_id
            );
            if let Kind::Change { id: Some(id), .. } = &notification.kind {
                assert!(is_message_id(id), "message id {id:?}");
            }
        }
    }
    if let Ok(subscription) = Subscription::parse(data) {
        assert!(
            is_guid(&subscription.id),
            "subscription id {:?}",
            subscription.id
        );
    }
    if let Ok(page) = SubscriptionList::parse(data) {
        for (id, _) in &page.subscriptions {
            assert!(is_guid(id), "listed subscription id {id:?}");
        }
    }
});
