//! What a user wants to be alerted about: the per-user alert rules ([`rules`]) that decide, for
//! each new mail, whether the push stays silent, alerts normally or is raised, and which folders
//! besides the inbox are watched. The rules are a pure value (no I/O, no clock): the HTTP route
//! stores the document, the pipeline evaluates it with the time of the event.

pub mod decide;
pub mod route;
pub mod rules;
