//! Integration tests of the simulator over real loopback TCP and TLS.

mod autodiscover;
mod ews;
mod identity;
mod support;
