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

pub(crate) use conn::{Connection, Handle, Head, Options, StreamError, client};

#[cfg(test)]
mod tests;

/// Entry points for `cargo fuzz` (the `fuzzing` feature): what a hostile server can send.
#[cfg(feature = "fuzzing")]
pub mod fuzzing {
    use bytes::Bytes;
    use http::{HeaderName, HeaderValue, Method};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::conn::{Head, Options};

    const OPTIONS: Options = Options {
        keep: &["apns-id", "retry-after"],
        unindexed: &["apns-id"],
        max_body: 4096,
    };

    /// A connection with three requests in flight reads `input` as everything the server
    /// sends, then the end of the stream. It must end without a panic, every caller
    /// answered.
    pub fn server_bytes(input: &[u8]) {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
        else {
            return;
        };
        runtime.block_on(async {
            let (ours, theirs) = tokio::io::duplex(1 << 16);
            let (handle, connection) = super::client(ours, OPTIONS);
            let task = tokio::spawn(connection.run());
            let answers: Vec<_> = (0..3)
                .map(|_| {
                    let head = Head {
                        method: Method::POST,
                        authority: http::uri::Authority::from_static("api.push.example"),
                        path: "/3/device/abc".into(),
                        headers: vec![(
                            HeaderName::from_static("apns-id"),
                            HeaderValue::from_static("id"),
                        )],
                    };
                    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
                    handle.request(head, Bytes::from_static(b"{\"aps\":{}}"), deadline)
                })
                .collect();
            let (mut read, mut write) = tokio::io::split(theirs);
            let drain = tokio::spawn(async move {
                let mut sink = [0u8; 4096];
                while read.read(&mut sink).await.is_ok_and(|n| n > 0) {}
            });
            let _ = write.write_all(input).await;
            // The end of the server's bytes (dropping one half of a split would not say it).
            let _ = write.shutdown().await;
            let _ = task.await;
            for answer in answers {
                assert!(answer.await.is_ok(), "a caller left without an answer");
            }
            drop(handle);
            drain.abort();
        });
    }

    /// Decodes `input` as one header block.
    pub fn hpack_block(input: &[u8]) {
        let mut decoder = super::hpack::Decoder::default();
        let _ = decoder.decode(input, |_, _| {});
        let _ = decoder.decode(input, |_, _| {});
    }
}
