//! The APNs sender's HTTP/2 connection reading whatever a hostile server sends: no panic,
//! and every caller answered when the connection ends. The first byte picks what is fed:
//! the connection (the rest as the server's bytes), or HPACK alone (the rest as a block).
#![no_main]

use libfuzzer_sys::fuzz_target;
use push_delivery::fuzzing;

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((0, block)) => fuzzing::hpack_block(block),
        Some((_, bytes)) => fuzzing::server_bytes(bytes),
        None => {}
    }
});
