//! The Autodiscover readers (POX, SOAP, v2 JSON) on arbitrary bytes: no panic, and what reads
//! writes and reads back to the same value.
#![no_main]

use ews_proto::autodiscover::*;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = PoxRequest::from_xml(data) {
        assert_eq!(PoxRequest::from_xml(&request.to_xml()).expect("reads back"), request);
    }
    if let Ok(response) = PoxResponse::from_xml(data) {
        assert_eq!(PoxResponse::from_xml(&response.to_xml()).expect("reads back"), response);
    }
    if let Ok(request) = GetUserSettingsRequest::from_xml(data) {
        assert_eq!(GetUserSettingsRequest::from_xml(&request.to_xml()).expect("reads back"), request);
    }
    if let Ok(response) = GetUserSettingsResponse::from_xml(data) {
        assert_eq!(GetUserSettingsResponse::from_xml(&response.to_xml()).expect("reads back"), response);
    }
    if let Ok(response) = V2Response::from_json(data) {
        assert_eq!(V2Response::from_json(&response.to_json()).expect("reads back"), response);
    }
});
