//! Integration tests against `exchange-sim` over loopback TLS: every mode, every fault.

mod faults;
mod folders;
mod listener;
mod pull;
mod push;
mod streaming;
mod support;
mod wire;
