//! Tests of the simulator's identity endpoints.
