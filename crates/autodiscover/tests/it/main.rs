//! Integration tests of Autodiscover over real loopback sockets.

mod scp;
