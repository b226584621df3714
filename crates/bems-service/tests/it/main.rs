//! bems-service's integration tests: a tenant composed of stubs through its public constructor, and the parts that need only their public API (and the simulator).

mod adapters;
mod compose;
mod discovery;
mod error;
mod followme;
mod notify;
mod relocate;
mod verify;
