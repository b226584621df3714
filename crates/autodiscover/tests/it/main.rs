//! Integration tests of Autodiscover over real loopback sockets.

mod discovery;
mod dns;
mod hostile;
mod proxy;
mod scp;
mod support;
