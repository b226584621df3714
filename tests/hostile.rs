//! Hostile input against the composed service (issue 14): each hole found by probing the running
//! service as an attacker, and the classes around them.
#[path = "hostile/autodiscover.rs"]
mod autodiscover;
mod support;
