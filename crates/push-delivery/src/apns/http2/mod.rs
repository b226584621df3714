//! A lean HTTP/2 client: what an APNs sender needs, and no more.
//!
//! APNs is one long-lived connection carrying thousands of concurrent POSTs, each a few
//! hundred bytes with a one-frame answer. The `h2` crate spent most of the sender's time on
//! per-stream bookkeeping behind a lock shared by every caller (its stream store, frame
//! queues and header encoding, profiled in issue 18's closing note). Here one task per
//! connection owns everything: callers hand it requests through a channel, it writes all
//! that came in one batch, reads every frame that arrived, and answers each caller on a
//! oneshot. The wire protocol is RFC 9113 with HPACK (RFC 7541); `nghttpd` (nghttp2) and
//! the mock APNs (hyper's `h2` server) are the servers it is tested against.

mod conn;
mod frame;
mod hpack;

pub(crate) use conn::{Connection, Handle, Head, Options, client};
