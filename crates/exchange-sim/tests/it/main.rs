//! Integration tests of the simulator over real loopback TCP and TLS.

mod autodiscover;
mod convert_id;
mod ews;
mod ews_faults;
mod ews_folders;
mod ews_strict;
mod ews_vectors;
mod get_item;
mod graph;
mod identity;
mod record;
mod support;
mod version;
