//! Integration tests of Autodiscover over real loopback sockets.

mod dns;
mod dns_server;
mod proxy;
