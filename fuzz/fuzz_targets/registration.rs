//! A device registration's JSON body on arbitrary bytes: no panic, and what is accepted is in
//! the form the store keeps (a lower-case address, a token in its provider's form) and is
//! accepted again, unchanged, when written back as a body.
#![no_main]

use bems_store::model::{Platform, TenantId};
use bems_service::registration::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let tenant = TenantId::new("contoso").expect("a tenant id");
    let Ok(device) = parse(&tenant, data) else {
        return;
    };
    assert_eq!(device.tenant, tenant);
    assert_eq!(device.mailbox, device.mailbox.to_ascii_lowercase());
    assert_eq!(device.mailbox, device.mailbox.trim());
    assert!(
        (3..=320).contains(&device.mailbox.len()),
        "{:?}",
        device.mailbox
    );
    assert_eq!(
        device.mailbox.matches('@').count(),
        1,
        "{:?}",
        device.mailbox
    );
    assert!(!device.token.is_empty());
    match device.platform {
        Platform::Apns => assert!(
            (64..=200).contains(&device.token.len())
                && device
                    .token
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
            "APNs token {:?}",
            device.token
        ),
        Platform::Fcm => assert!(
            device.token.len() <= 4096 && device.token.bytes().all(|b| b.is_ascii_graphic()),
            "FCM token {:?}",
            device.token
        ),
    }
    assert!((1..=255).contains(&device.app_id.len()));
    assert!((1..=35).contains(&device.locale.len()));
    let body = serde_json::json!({
        "mailbox": device.mailbox,
        "platform": device.platform.as_str(),
        "token": device.token,
        "app_id": device.app_id,
        "locale": device.locale,
    });
    let again = parse(&tenant, body.to_string().as_bytes()).expect("the device reads back");
    assert_eq!(again, device);
});
