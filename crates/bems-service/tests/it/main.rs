//! bems-service's integration tests: the service composed through its public constructor.

mod compose;
mod discovery;
mod relocate;
mod verify;
