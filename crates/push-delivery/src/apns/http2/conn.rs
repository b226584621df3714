//! One client connection, driven by one task that owns the socket.
//!
//! Callers hand requests to the task through a channel and wait on a oneshot for the
//! response; the task writes the requests of a wake-up in one batch, reads every frame that
//! has arrived, and answers each stream as it ends. Nothing is shared but the channel, so
//! the cost of a request is an encode, a frame and a hash-map entry.
//!
//! What the task holds to, from RFC 9113:
//! - **Streams:** odd ids, opened in order; no more open at once than the server's
//!   `SETTINGS_MAX_CONCURRENT_STREAMS` (100 until its SETTINGS arrive). A stream is over
//!   when the server ends it; the client never resets a stream it has finished sending.
//!   A stream still unanswered at its request's deadline is reset with `CANCEL`; a caller
//!   that stopped waiting before that leaves its stream to end on its own.
//! - **Flow control:** DATA waits for both the connection's and the stream's send window,
//!   in the order the requests came; we grant the server a 1 MiB window per stream and
//!   4 MiB for the connection, and renew the connection's as it is used.
//! - **The server's SETTINGS** are applied and acknowledged; PING is answered; GOAWAY fails
//!   the streams above its last id as not processed and lets the rest finish; RST_STREAM
//!   fails its stream (`REFUSED_STREAM` as not processed).
//! - **Faults** (a frame where it may not be, a bad size, a window overflow, an HPACK
//!   error) end the connection with GOAWAY and the code the RFC names; a fault confined to
//!   one stream resets that stream only. Unknown frame types and settings are ignored.

use std::collections::{HashMap, VecDeque};
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::uri::Authority;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, Sleep};

use super::frame::{self, Reason, setting};
use super::hpack::{Decoder, Encoder, Indexing};

mod inbound;

/// The window we grant each stream, announced in our SETTINGS.
const STREAM_WINDOW: u32 = 1 << 20;
/// The window we grant the connection; renewed once half is used.
const CONNECTION_WINDOW: u32 = 4 << 20;
/// The most frame payload we take (the default: we announce no other).
const MAX_FRAME: usize = frame::DEFAULT_MAX_FRAME;
/// The largest header block we put together from CONTINUATION frames.
const MAX_HEADER_BLOCK: usize = 64 * 1024;
/// New requests wait while this much is written and not yet sent.
const WRITE_HIGH: usize = 64 * 1024;
/// Reading pauses while this much is waiting to be sent (a server that sends without
/// reading cannot make us buffer without end).
const WRITE_MAX: usize = 1 << 20;
/// Streams we open before the server's SETTINGS say how many it takes.
const STREAMS_BEFORE_SETTINGS: usize = 100;
/// Rounds of work in one poll before the task yields to others.
const ROUNDS: usize = 32;

/// A request's head: what an `http::Request` holds, without its maps (the scheme is
/// https).
#[derive(Debug, Clone)]
pub(crate) struct Head {
    pub(crate) method: Method,
    pub(crate) authority: Authority,
    pub(crate) path: String,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
}

#[cfg(test)]
impl Head {
    /// The first value of a header (tests).
    pub(crate) fn header(&self, name: &str) -> &HeaderValue {
        let found = self.headers.iter().find(|(n, _)| n == name);
        &found.unwrap_or_else(|| panic!("no {name} header")).1
    }
}

/// A response: its status, the headers the connection was asked to keep, and the body
/// (its first `max_body` bytes).
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

/// Why a request has no response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum StreamError {
    /// The server did not process it (GOAWAY below it, `REFUSED_STREAM`, or it was never
    /// sent): sending it again is safe.
    #[error("not processed: {0}")]
    Refused(String),
    /// The server reset the stream.
    #[error("stream reset: {0}")]
    Reset(String),
    /// The connection ended with the request in flight; whether it was processed is unknown.
    #[error("{0}")]
    Connection(String),
    /// No answer by the request's deadline: the stream was reset with `CANCEL` (or, not yet
    /// sent, never opened).
    #[error("no answer by the deadline")]
    TimedOut,
}

type Reply = oneshot::Sender<Result<Response, StreamError>>;

enum Command {
    Request(Request),
    Ping(oneshot::Sender<()>),
}

/// A request on its way to a stream.
struct Request {
    head: Head,
    body: Bytes,
    reply: Reply,
    deadline: Instant,
}

/// What the connection's holders see of it.
#[derive(Debug)]
pub(crate) struct Status {
    closed: AtomicBool,
    max_streams: AtomicUsize,
    settings: AtomicBool,
}

impl Status {
    /// Closed or closing (GOAWAY, a fault, the end): it takes no new requests.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    /// The server's `SETTINGS_MAX_CONCURRENT_STREAMS`, once its SETTINGS have arrived.
    pub(crate) fn server_max_streams(&self) -> Option<usize> {
        self.settings
            .load(Ordering::Relaxed)
            .then(|| self.max_streams.load(Ordering::Relaxed))
    }
}

/// How the connection treats headers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    /// Response headers kept in [`Response::headers`]; others are read and dropped.
    pub(crate) keep: &'static [&'static str],
    /// Request headers unique to each request, sent without indexing. Others are indexed,
    /// but for sensitive values, which are never indexed.
    pub(crate) unindexed: &'static [&'static str],
    /// The most of a response body kept.
    pub(crate) max_body: usize,
}

/// The caller's side of a connection.
#[derive(Debug, Clone)]
pub(crate) struct Handle {
    commands: mpsc::UnboundedSender<Command>,
    status: Arc<Status>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Request(_) => "Request",
            Self::Ping(_) => "Ping",
        })
    }
}

impl Handle {
    pub(crate) fn status(&self) -> &Status {
        &self.status
    }

    /// Sends a request; the response (or why there is none) comes on the receiver, by the
    /// deadline at the latest. The connection keeps the deadline, so a caller needs no timer
    /// of its own.
    pub(crate) fn request(
        &self,
        head: Head,
        body: Bytes,
        deadline: Instant,
    ) -> oneshot::Receiver<Result<Response, StreamError>> {
        let (reply, answer) = oneshot::channel();
        let request = Request {
            head,
            body,
            reply,
            deadline,
        };
        if let Err(mpsc::error::SendError(Command::Request(request))) =
            self.commands.send(Command::Request(request))
        {
            let closed = StreamError::Refused("the connection is closed".into());
            let _ = request.reply.send(Err(closed));
        }
        answer
    }

    /// Sends a PING; the receiver resolves when it is acknowledged, fails if the
    /// connection ends first.
    pub(crate) fn ping(&self) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let _ = self.commands.send(Command::Ping(tx));
        rx
    }
}

/// Starts a connection on `io` (after TLS and ALPN): the handle, and the task to spawn.
pub(crate) fn client<T>(io: T, options: Options) -> (Handle, Connection<T>)
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let (commands, receiver) = mpsc::unbounded_channel();
    let status = Arc::new(Status {
        closed: AtomicBool::new(false),
        max_streams: AtomicUsize::new(usize::MAX),
        settings: AtomicBool::new(false),
    });
    let mut wbuf = Vec::with_capacity(WRITE_HIGH * 2);
    wbuf.extend_from_slice(frame::PREFACE);
    frame::put_settings(
        &mut wbuf,
        &[
            (setting::ENABLE_PUSH, 0),
            (setting::MAX_CONCURRENT_STREAMS, 0),
            (setting::INITIAL_WINDOW_SIZE, STREAM_WINDOW),
        ],
    );
    frame::put_window_update(&mut wbuf, 0, CONNECTION_WINDOW - 65_535);
    let connection = Connection {
        io,
        commands: receiver,
        status: Arc::clone(&status),
        options,
        rbuf: BytesMut::with_capacity(64 * 1024),
        wbuf,
        wpos: 0,
        flush: true,
        deferred: false,
        hbuf: Vec::with_capacity(512),
        encoder: Encoder::default(),
        decoder: Decoder::default(),
        streams: HashMap::with_hasher(StreamIds),
        next_id: 1,
        closing: false,
        goaway: None,
        continuation: None,
        pings: VecDeque::new(),
        ping_count: 0,
        max_streams: STREAMS_BEFORE_SETTINGS,
        max_frame: frame::DEFAULT_MAX_FRAME,
        initial_window: 65_535,
        send_window: 65_535,
        recv_window: i64::from(CONNECTION_WINDOW),
        recv_unacked: 0,
        blocked: VecDeque::new(),
        waiting: VecDeque::new(),
        deadlines: VecDeque::new(),
        timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
        armed: None,
    };
    (Handle { commands, status }, connection)
}

/// Why the connection ended.
#[derive(Debug)]
enum Fault {
    Io(std::io::Error),
    Eof,
    /// Our finding: the connection ends with GOAWAY and this code.
    Protocol(Reason, &'static str),
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io(e) => write!(f, "I/O: {e}"),
            Self::Eof => f.write_str("the server closed the connection"),
            Self::Protocol(reason, detail) => write!(f, "{detail} ({})", reason.name()),
        }
    }
}

fn protocol(detail: &'static str) -> Fault {
    Fault::Protocol(Reason::PROTOCOL_ERROR, detail)
}

fn frame_size(detail: &'static str) -> Fault {
    Fault::Protocol(Reason::FRAME_SIZE_ERROR, detail)
}

struct Stream {
    reply: Reply,
    status: Option<u16>,
    headers: HeaderMap,
    body: Vec<u8>,
    send_window: i64,
    received: usize,
}

struct Continuation {
    stream: u32,
    block: Vec<u8>,
    end_stream: bool,
}

/// Stream ids are distinct odd numbers, chosen by us, not the server: a multiply spreads
/// them over the table's bits for less than a keyed hash costs per request.
#[derive(Debug, Default, Clone, Copy)]
struct StreamIds;

impl std::hash::BuildHasher for StreamIds {
    type Hasher = StreamIdHasher;

    fn build_hasher(&self) -> StreamIdHasher {
        StreamIdHasher(0)
    }
}

struct StreamIdHasher(u64);

impl std::hash::Hasher for StreamIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u32(u32::from(b) ^ (self.0 as u32));
        }
    }

    /// A folded multiply: the product's halves XORed, so the low bits (the bucket) and the
    /// high bits (hashbrown's tag) both depend on every bit of the id.
    fn write_u32(&mut self, id: u32) {
        let product = u128::from(id) * 0x9E37_79B9_7F4A_7C15;
        self.0 = (product as u64) ^ ((product >> 64) as u64);
    }
}

/// The task of one connection: spawn [`Connection::run`].
pub(crate) struct Connection<T> {
    io: T,
    commands: mpsc::UnboundedReceiver<Command>,
    status: Arc<Status>,
    options: Options,
    rbuf: BytesMut,
    wbuf: Vec<u8>,
    wpos: usize,
    flush: bool,
    /// Writing was put off once for more requests to come in.
    deferred: bool,
    hbuf: Vec<u8>,
    encoder: Encoder,
    decoder: Decoder,
    streams: HashMap<u32, Stream, StreamIds>,
    next_id: u32,
    /// Every handle is gone: finish the streams and end.
    closing: bool,
    /// The server's GOAWAY: its last stream id.
    goaway: Option<u32>,
    continuation: Option<Continuation>,
    pings: VecDeque<oneshot::Sender<()>>,
    ping_count: u64,
    max_streams: usize,
    max_frame: usize,
    initial_window: i64,
    send_window: i64,
    recv_window: i64,
    recv_unacked: u32,
    /// Request bodies waiting for window, in order.
    blocked: VecDeque<(u32, Bytes)>,
    /// Requests taken while no stream may open, in order.
    waiting: VecDeque<Request>,
    /// The deadlines of open streams, in the order they opened (entries of streams since
    /// ended are dropped from the front as they come up).
    deadlines: VecDeque<(Instant, u32)>,
    /// One timer for all deadlines, and when it is set for.
    timer: Pin<Box<Sleep>>,
    armed: Option<Instant>,
}

impl<T: AsyncRead + AsyncWrite + Unpin> Connection<T> {
    /// Drives the connection until the server or a fault ends it, or every handle is gone
    /// and the last stream is over. What is left in flight fails.
    pub(crate) async fn run(mut self) -> Result<(), String> {
        let result = poll_fn(|cx| self.poll_drive(cx)).await;
        self.status.closed.store(true, Ordering::Relaxed);
        let detail = match &result {
            Ok(()) => "the connection closed".to_owned(),
            Err(fault) => fault.to_string(),
        };
        if let Err(Fault::Protocol(reason, _)) = result {
            self.wbuf.drain(..self.wpos);
            frame::put_goaway(&mut self.wbuf, 0, reason);
            let _ = tokio::time::timeout(Duration::from_secs(1), async {
                self.io.write_all(&self.wbuf).await?;
                self.io.flush().await
            })
            .await;
        }
        for (_, stream) in self.streams.drain() {
            let _ = stream
                .reply
                .send(Err(StreamError::Connection(detail.clone())));
        }
        self.commands.close();
        while let Ok(command) = self.commands.try_recv() {
            if let Command::Request(request) = command {
                self.waiting.push_back(request);
            }
        }
        for request in self.waiting.drain(..) {
            let _ = request
                .reply
                .send(Err(StreamError::Refused(detail.clone())));
        }
        result.map_err(|_| detail)
    }

    fn poll_drive(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Fault>> {
        for _ in 0..ROUNDS {
            let mut busy = false;
            if self.wbuf.len() - self.wpos < WRITE_MAX {
                if self.rbuf.capacity() - self.rbuf.len() < MAX_FRAME {
                    self.rbuf.reserve(64 * 1024);
                }
                match tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut self.rbuf) {
                    Poll::Ready(Ok(0)) => return Poll::Ready(Err(Fault::Eof)),
                    Poll::Ready(Ok(_)) => {
                        busy = true;
                        self.read_frames()?;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(Fault::Io(e))),
                    Poll::Pending => {}
                }
            }
            let mut took = false;
            while !self.closing && self.wbuf.len() < WRITE_HIGH {
                if self.can_open()
                    && let Some(request) = self.waiting.pop_front()
                {
                    took = true;
                    self.open(request);
                    continue;
                }
                match self.commands.poll_recv(cx) {
                    Poll::Ready(Some(Command::Request(request))) => {
                        took = true;
                        if self.goaway.is_some() || (self.can_open() && self.waiting.is_empty()) {
                            self.open(request);
                        } else {
                            self.waiting.push_back(request);
                        }
                    }
                    Poll::Ready(Some(Command::Ping(ack))) => {
                        took = true;
                        self.ping_count += 1;
                        frame::put_ping(&mut self.wbuf, self.ping_count.to_be_bytes(), false);
                        self.pings.push_back(ack);
                    }
                    Poll::Ready(None) => self.closing = true,
                    Poll::Pending => break,
                }
            }
            busy |= self.poll_deadlines(cx);
            if took && !self.deferred && self.wbuf.len() < WRITE_HIGH / 2 {
                // A first few requests: let the callers woken with them run and add theirs,
                // then write them all at once. Once per write, so nothing waits long.
                self.deferred = true;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            busy |= took;
            while self.wpos < self.wbuf.len() {
                match Pin::new(&mut self.io).poll_write(cx, &self.wbuf[self.wpos..]) {
                    Poll::Ready(Ok(0)) => {
                        return Poll::Ready(Err(Fault::Io(std::io::ErrorKind::WriteZero.into())));
                    }
                    Poll::Ready(Ok(n)) => {
                        self.wpos += n;
                        self.flush = true;
                        self.deferred = false;
                        busy = true;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(Fault::Io(e))),
                    Poll::Pending => break,
                }
            }
            if self.wpos == self.wbuf.len() {
                self.wbuf.clear();
                self.wpos = 0;
                if self.flush {
                    match Pin::new(&mut self.io).poll_flush(cx) {
                        Poll::Ready(Ok(())) => self.flush = false,
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(Fault::Io(e))),
                        Poll::Pending => {}
                    }
                }
            }
            let ending = self.closing || self.goaway.is_some();
            if ending && self.streams.is_empty() && self.wbuf.is_empty() && !self.flush {
                return Poll::Ready(Ok(()));
            }
            if !busy {
                return Poll::Pending;
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Whether a stream may open now: within the server's limit, no DATA waiting for window,
    /// no GOAWAY.
    fn can_open(&self) -> bool {
        self.goaway.is_none() && self.blocked.is_empty() && self.streams.len() < self.max_streams
    }

    /// Expires what is past its deadline; `true` when the timer fired.
    fn poll_deadlines(&mut self, cx: &mut Context<'_>) -> bool {
        while let Some((_, id)) = self.deadlines.front()
            && !self.streams.contains_key(id)
        {
            self.deadlines.pop_front();
        }
        if self.deadlines.len() > 2 * self.streams.len() + 1024 {
            // A stream held open at the front keeps those ended behind it: drop them now
            // and then, so the queue stays near the number of open streams.
            let streams = &self.streams;
            self.deadlines.retain(|(_, id)| streams.contains_key(id));
        }
        let first = self.deadlines.front().map(|(at, _)| *at);
        let next = match (first, self.waiting.front().map(|r| r.deadline)) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => return false,
        };
        if self.armed.is_none_or(|armed| next < armed) {
            self.timer.as_mut().reset(next);
            self.armed = Some(next);
        }
        if self.timer.as_mut().poll(cx).is_pending() {
            return false;
        }
        self.armed = None;
        let now = Instant::now();
        while let Some(&(at, id)) = self.deadlines.front()
            && at <= now
        {
            self.deadlines.pop_front();
            if self.streams.contains_key(&id) {
                frame::put_rst_stream(&mut self.wbuf, id, Reason::CANCEL);
                self.blocked.retain(|(b, _)| *b != id);
                if let Some(stream) = self.streams.remove(&id) {
                    let _ = stream.reply.send(Err(StreamError::TimedOut));
                }
            }
        }
        while self.waiting.front().is_some_and(|r| r.deadline <= now) {
            if let Some(request) = self.waiting.pop_front() {
                let _ = request.reply.send(Err(StreamError::TimedOut));
            }
        }
        true
    }

    /// Opens a stream for a request (or refuses it after GOAWAY).
    fn open(&mut self, request: Request) {
        let Request {
            head,
            body,
            reply,
            deadline,
        } = request;
        if reply.is_closed() {
            // The caller stopped waiting before the request was sent: it is not sent.
            return;
        }
        if let Some(last) = self.goaway {
            let detail = format!("the server sent GOAWAY (last stream {last})");
            let _ = reply.send(Err(StreamError::Refused(detail)));
            return;
        }
        if self.next_id > 0x7fff_ffff {
            self.status.closed.store(true, Ordering::Relaxed);
            self.goaway = Some(self.next_id - 2);
            let _ = reply.send(Err(StreamError::Refused("stream ids used up".into())));
            return;
        }
        let id = self.next_id;
        self.next_id += 2;
        self.hbuf.clear();
        encode(
            &mut self.encoder,
            &mut self.hbuf,
            &head,
            self.options.unindexed,
        );
        frame::put_headers(
            &mut self.wbuf,
            id,
            &self.hbuf,
            body.is_empty(),
            self.max_frame,
        );
        self.deadlines.push_back((deadline, id));
        self.streams.insert(
            id,
            Stream {
                reply,
                status: None,
                headers: HeaderMap::new(),
                body: Vec::new(),
                send_window: self.initial_window,
                received: 0,
            },
        );
        if !body.is_empty() {
            self.blocked.push_back((id, body));
            self.send_blocked();
        }
    }

    /// Sends waiting DATA as far as the windows allow, in order.
    fn send_blocked(&mut self) {
        while let Some((id, body)) = self.blocked.front_mut() {
            let Some(stream) = self.streams.get_mut(id) else {
                self.blocked.pop_front();
                continue;
            };
            let room = self
                .send_window
                .min(stream.send_window)
                .min(self.max_frame as i64);
            if room <= 0 {
                return;
            }
            let n = body.len().min(room as usize);
            let chunk = body.split_to(n);
            let end = body.is_empty();
            frame::put_data(&mut self.wbuf, *id, &chunk, end);
            self.send_window -= n as i64;
            stream.send_window -= n as i64;
            if end {
                self.blocked.pop_front();
            }
        }
    }

    /// The stream is over: its caller gets the response.
    fn complete(&mut self, id: u32) {
        let Some(stream) = self.streams.remove(&id) else {
            return;
        };
        if let Some(at) = self.blocked.iter().position(|(b, _)| *b == id) {
            // The server answered before the body was all sent: our half is still open.
            self.blocked.remove(at);
            frame::put_rst_stream(&mut self.wbuf, id, Reason::CANCEL);
        }
        let _ = stream.reply.send(Ok(Response {
            status: stream.status.unwrap_or(0),
            headers: stream.headers,
            body: stream.body,
        }));
    }

    /// A fault confined to one stream: it is reset and its caller told why.
    fn reset(&mut self, id: u32, reason: Reason, detail: &'static str) {
        frame::put_rst_stream(&mut self.wbuf, id, reason);
        self.blocked.retain(|(b, _)| *b != id);
        if let Some(stream) = self.streams.remove(&id) {
            let error = StreamError::Reset(format!("{detail} ({})", reason.name()));
            let _ = stream.reply.send(Err(error));
        }
    }
}

/// A request's header block: the pseudo-headers first, as the RFC requires (§8.3).
fn encode(encoder: &mut Encoder, out: &mut Vec<u8>, head: &Head, unindexed: &[&str]) {
    encoder.begin(out);
    match head.method {
        Method::GET => Encoder::indexed_static(out, 2),
        Method::POST => Encoder::indexed_static(out, 3),
        ref other => encoder.field(
            out,
            b":method",
            other.as_str().as_bytes(),
            Indexing::Incremental,
        ),
    }
    Encoder::indexed_static(out, 7);
    let authority = head.authority.as_str().as_bytes();
    encoder.field(out, b":authority", authority, Indexing::Incremental);
    encoder.field(out, b":path", head.path.as_bytes(), Indexing::Without);
    for (name, value) in &head.headers {
        let how = if value.is_sensitive() {
            Indexing::Never
        } else if unindexed.contains(&name.as_str()) {
            Indexing::Without
        } else {
            Indexing::Incremental
        };
        encoder.field(out, name.as_str().as_bytes(), value.as_bytes(), how);
    }
}
