//! The Graph watcher against `exchange-sim` in Graph mode, over TLS on loopback.

mod delivery;
mod folders;
mod handshake;
mod hostile;
mod lifecycle;
mod peers;
mod recovery;
mod renewal;
mod support;
mod throttling;
