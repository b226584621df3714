//! Tests of the simulator's autodiscover endpoints.
