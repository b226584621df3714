//! Tests of the simulator's ews endpoints.
