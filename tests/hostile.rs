//! Hostile input against the composed service (issue 14): each hole found by probing the running
//! service as an attacker, and the classes around them.
#[path = "hostile/admin.rs"]
mod admin;
#[path = "hostile/autodiscover.rs"]
mod autodiscover;
#[path = "hostile/devices.rs"]
mod devices;
#[path = "hostile/graph.rs"]
mod graph;
#[path = "hostile/routes.rs"]
mod routes;
mod support;
