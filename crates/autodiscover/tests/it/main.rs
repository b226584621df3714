//! Integration tests of Autodiscover over real loopback sockets.

mod discovery;
mod dns;
mod hostile;
mod precedence;
mod proxy;
mod scp;
mod support;
mod trust;
