//! Every EWS envelope reader on arbitrary bytes: errors are fine, panics are not. What reads
//! must write and read back to the same value.
#![no_main]

use ews_proto::operations::*;
use ews_proto::soap::{SoapBody, read_envelope, write_envelope};
use libfuzzer_sys::fuzz_target;

fn check<B: SoapBody + PartialEq + std::fmt::Debug>(data: &[u8]) {
    if let Ok(envelope) = read_envelope::<B>(data) {
        let written = write_envelope(&envelope.header, &envelope.body);
        let again = read_envelope::<B>(&written).expect("written envelope reads back");
        assert_eq!(again.body, envelope.body);
    }
}

fuzz_target!(|data: &[u8]| {
    check::<Request>(data);
    check::<SubscribeResponse>(data);
    check::<GetEventsResponse>(data);
    check::<GetStreamingEventsResponse>(data);
    check::<UnsubscribeResponse>(data);
    check::<SendNotification>(data);
    check::<SendNotificationResult>(data);
    check::<GetFolderResponse>(data);
    check::<GetItemResponse>(data);
    check::<ResolveNamesResponse>(data);
    check::<GetUserPhotoResponse>(data);
});
