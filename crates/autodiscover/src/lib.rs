//! Locate a mailbox's Exchange Web Services endpoint.
//!
//! This crate will hold the Autodiscover client: Service Connection Point lookup in Active
//! Directory, POX, SOAP and v2 JSON Autodiscover probed in parallel, the unauthenticated HTTP
//! redirect and DNS SRV, with credential-safety rules and a per-domain cache.
