//! Integration tests of the wire layer: every external vector, round trips, the splitter.

mod autodiscover_vectors;
mod ews_vectors;
mod get_item;
mod malformed;
mod roundtrip;
mod splitter;
mod unknown;

/// Reads a file of the checked-in external vectors (`vectors/` at the workspace root).
#[macro_export]
macro_rules! vector {
    ($path:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../vectors/",
            $path
        ))
        .as_slice()
    };
}
