//! A hostile sealed text (what a device's notification could carry, or a registration could
//! send as a key): `Sealed::decode`, `DeviceSecret::open` and `RecipientKey::from_base64url`
//! answer with an error, never a panic, and nothing forged opens.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use push_delivery::{DeviceSecret, RecipientKey, Sealed};

static DEVICE: LazyLock<DeviceSecret> = LazyLock::new(|| DeviceSecret::from_bytes([7; 32]));

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(sealed) = Sealed::decode(text) {
        // What decodes encodes back to a text that decodes to the same.
        assert_eq!(
            Sealed::decode(&sealed.encode()).ok().as_ref(),
            Some(&sealed)
        );
    }
    // Without the sender's ephemeral key nothing opens (the fuzzer cannot forge a tag).
    assert!(DEVICE.open(text, b"").is_err());
    let _ = RecipientKey::from_base64url(text);
});
