//! The demo's Directory Lookup and Follow-Me steps.
