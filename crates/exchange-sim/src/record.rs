//! Recording every EWS body the simulator reads or writes, so that the test suite can check
//! all of it against Microsoft's schema (`scripts/ews-schema/validate.py`).
//!
//! When the environment variable `EXCHANGE_SIM_RECORD` names a directory (created when
//! missing), the simulator writes there, one file each:
//!
//! - every EWS request body it receives (`request`),
//! - every answer body it gives (`response`; a streaming answer gives one file per envelope,
//!   as each envelope goes out as one chunk), and the deliberately broken answers of fault
//!   injection (`injected`, which the validator does not judge),
//! - every push notification it POSTs to a subscriber (`push`) and the subscriber's answer
//!   (`pushanswer`).
//!
//! Names are `<process>-<exchange>-<part>-<direction>[-<status>]-<operation>.xml`: `process` is
//! the process id and the process's start time in milliseconds (`4711.1765000000000`, so a
//! reused process id cannot overwrite an earlier process's files) and `exchange` a per-process
//! counter: together they keep the many simulators of many test processes apart; `part` 000
//! is what the client sent (or the push the simulator sent), 001, 002 ... the answer's chunks;
//! `status` is the HTTP status of an answer; `operation` is the local name of the SOAP Body's
//! first child (`GetFolder`, `GetFolderResponse`, `Fault`), `unreadable` when the body is not a
//! SOAP envelope. An answer without a body gives one empty file, so the status is still known.
//!
//! Recording is for tests: files are written synchronously as the bodies pass, and nothing is
//! written when the variable is unset (the layer then only forwards).

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Frame, SizeHint};

/// The environment variable naming the directory to record into.
pub const RECORD_ENV: &str = "EXCHANGE_SIM_RECORD";

/// Marks an answer that fault injection broke on purpose (not Exchange's shape by design).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Injected;

/// Writes recorded bodies into one directory.
#[derive(Debug)]
pub(crate) struct Recorder {
    dir: PathBuf,
    /// Set after the first write error was logged, so a full disk logs once.
    warned: AtomicBool,
}

/// One exchange number per request (or push) in this process.
static EXCHANGE: AtomicU64 = AtomicU64::new(1);

impl Recorder {
    pub(crate) fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            warned: AtomicBool::new(false),
        }
    }

    /// The recorder `EXCHANGE_SIM_RECORD` asks for, read once per process.
    pub(crate) fn from_env() -> Option<Arc<Self>> {
        static FROM_ENV: OnceLock<Option<Arc<Recorder>>> = OnceLock::new();
        FROM_ENV
            .get_or_init(|| {
                let dir = std::env::var_os(RECORD_ENV).filter(|d| !d.is_empty())?;
                let dir = PathBuf::from(dir);
                if let Err(error) = std::fs::create_dir_all(&dir) {
                    tracing::warn!(dir = %dir.display(), %error, "{RECORD_ENV}: cannot create the directory; recording anyway");
                }
                Some(Arc::new(Self::new(dir)))
            })
            .clone()
    }

    /// A fresh exchange number.
    pub(crate) fn exchange(&self) -> u64 {
        EXCHANGE.fetch_add(1, Ordering::Relaxed)
    }

    /// Writes one body: `direction` is `request`, `response-200`, `push`, ...
    pub(crate) fn write(&self, exchange: u64, part: u32, direction: &str, body: &[u8]) {
        let name = format!(
            "{}-{exchange:07}-{part:03}-{direction}-{}.xml",
            process(),
            operation(body)
        );
        if let Err(error) = std::fs::write(self.dir.join(&name), body)
            && !self.warned.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(dir = %self.dir.display(), file = name, %error, "{RECORD_ENV}: cannot write a recording");
        }
    }
}

/// `<pid>.<start in ms since 1970>`, the same for every file of this process.
fn process() -> &'static str {
    static PROCESS: OnceLock<String> = OnceLock::new();
    PROCESS.get_or_init(|| {
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        format!("{}.{started}", std::process::id())
    })
}

/// The local name of the SOAP Body's first element child, or `unreadable`.
fn operation(body: &[u8]) -> String {
    let name = std::str::from_utf8(body)
        .ok()
        .and_then(|text| roxmltree::Document::parse(text).ok())
        .and_then(|doc| {
            let envelope = doc.root_element();
            let soap_body = envelope
                .children()
                .find(|n| n.is_element() && n.tag_name().name() == "Body")?;
            let first = soap_body.children().find(roxmltree::Node::is_element)?;
            Some(first.tag_name().name().to_owned())
        });
    match name {
        Some(name) if !name.is_empty() => name
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(80)
            .collect(),
        _ => "unreadable".to_owned(),
    }
}

/// The EWS route's layer: records the request body and every chunk of the answer.
pub(crate) async fn layer(
    State(recorder): State<Option<Arc<Recorder>>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(recorder) = recorder else {
        return next.run(request).await;
    };
    let exchange = recorder.exchange();
    let request = request.map(|body| {
        Body::new(Tee::new(
            body,
            Arc::clone(&recorder),
            exchange,
            Mode::Whole(Vec::new()),
            "request".to_owned(),
        ))
    });
    let response = next.run(request).await;
    let direction = if response.extensions().get::<Injected>().is_some() {
        format!("injected-{}", response.status().as_u16())
    } else {
        format!("response-{}", response.status().as_u16())
    };
    response.map(|body| {
        Body::new(Tee::new(
            body,
            recorder,
            exchange,
            Mode::Chunks { next_part: 1 },
            direction,
        ))
    })
}

/// A push notification the simulator is about to POST; the exchange number for its answer.
pub(crate) fn push(body: &[u8]) -> Option<u64> {
    let recorder = Recorder::from_env()?;
    let exchange = recorder.exchange();
    recorder.write(exchange, 0, "push", body);
    Some(exchange)
}

/// The subscriber's answer to the push notification `exchange`.
pub(crate) fn push_answer(exchange: Option<u64>, status: u16, body: &[u8]) {
    if let (Some(recorder), Some(exchange)) = (Recorder::from_env(), exchange) {
        recorder.write(exchange, 1, &format!("pushanswer-{status}"), body);
    }
}

enum Mode {
    /// A request: kept whole, written at its end.
    Whole(Vec<u8>),
    /// An answer: every chunk written as it passes (a streaming envelope is one chunk).
    Chunks { next_part: u32 },
}

/// A body that records what passes through it.
struct Tee {
    inner: Body,
    recorder: Arc<Recorder>,
    exchange: u64,
    mode: Mode,
    direction: String,
    done: bool,
}

impl Tee {
    fn new(
        inner: Body,
        recorder: Arc<Recorder>,
        exchange: u64,
        mode: Mode,
        direction: String,
    ) -> Self {
        Self {
            inner,
            recorder,
            exchange,
            mode,
            direction,
            done: false,
        }
    }

    fn data(&mut self, data: &Bytes) {
        if data.is_empty() {
            return;
        }
        match &mut self.mode {
            Mode::Whole(buffer) => buffer.extend_from_slice(data),
            Mode::Chunks { next_part } => {
                let part = *next_part;
                *next_part += 1;
                self.recorder
                    .write(self.exchange, part, &self.direction, data);
            }
        }
    }

    /// At the end of the body (or when it is dropped unfinished): the request, or an empty
    /// answer's one empty file.
    fn finish(&mut self) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        match &self.mode {
            Mode::Whole(buffer) => {
                self.recorder
                    .write(self.exchange, 0, &self.direction, buffer);
            }
            Mode::Chunks { next_part: 1 } => {
                self.recorder.write(self.exchange, 1, &self.direction, b"");
            }
            Mode::Chunks { .. } => {}
        }
    }
}

impl http_body::Body for Tee {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.data(data);
                }
            }
            Poll::Ready(None) => this.finish(),
            Poll::Ready(Some(Err(_))) | Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Tee {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    use axum::routing::post;
    use http_body_util::BodyExt;
    use std::path::Path;
    use tower::ServiceExt;

    const REQUEST: &str = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><m:GetFolder xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"/></s:Body></s:Envelope>"#;
    const ANSWER: &str = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><m:GetFolderResponse xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"/></s:Body></s:Envelope>"#;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("exchange-sim-record-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    fn files(dir: &Path) -> Vec<(String, String)> {
        let mut files: Vec<(String, String)> = std::fs::read_dir(dir)
            .expect("read dir")
            .map(|e| {
                let path = e.expect("entry").path();
                let name = path
                    .file_name()
                    .expect("name")
                    .to_string_lossy()
                    .into_owned();
                let body = std::fs::read_to_string(&path).expect("read");
                (name, body)
            })
            .collect();
        files.sort();
        files
    }

    async fn call(recorder: Arc<Recorder>, router: Router<()>, body: &'static str) -> StatusCode {
        let router = router.layer(axum::middleware::from_fn_with_state(Some(recorder), layer));
        let response = router
            .oneshot(
                http::Request::post("/ews")
                    .body(Body::from(body))
                    .expect("request"),
            )
            .await
            .expect("infallible");
        let status = response.status();
        response.into_body().collect().await.expect("body");
        status
    }

    #[tokio::test]
    async fn request_and_answer_are_written_named_by_process_exchange_and_operation() {
        let dir = temp_dir("pair");
        let recorder = Arc::new(Recorder::new(dir.clone()));
        let router = Router::new().route(
            "/ews",
            post(|body: Bytes| async move {
                assert_eq!(
                    body,
                    REQUEST.as_bytes(),
                    "the handler sees the body unchanged"
                );
                (StatusCode::OK, ANSWER)
            }),
        );
        assert_eq!(call(recorder, router, REQUEST).await, StatusCode::OK);
        let files = files(&dir);
        assert_eq!(files.len(), 2, "{files:?}");
        let (request, answer) = (&files[0], &files[1]);
        assert!(
            request.0.starts_with(&format!("{}-", process())),
            "{}",
            request.0
        );
        assert!(process().starts_with(&format!("{}.", std::process::id())));
        assert!(
            request.0.ends_with("-000-request-GetFolder.xml"),
            "{}",
            request.0
        );
        assert_eq!(request.1, REQUEST);
        assert!(
            answer
                .0
                .ends_with("-001-response-200-GetFolderResponse.xml"),
            "{}",
            answer.0
        );
        assert_eq!(answer.1, ANSWER);
        // Same exchange number on both.
        assert_eq!(
            request.0[..request.0.len() - 26],
            answer.0[..request.0.len() - 26]
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn each_streamed_chunk_is_its_own_file_and_injected_answers_are_marked() {
        let dir = temp_dir("chunks");
        let recorder = Arc::new(Recorder::new(dir.clone()));
        let router = Router::new().route(
            "/ews",
            post(|| async {
                let chunks = futures_util::stream::iter(vec![
                    Ok::<_, std::io::Error>(Bytes::from_static(ANSWER.as_bytes())),
                    Ok(Bytes::from_static(b"<s:Envel")),
                ]);
                let mut response = Body::from_stream(chunks).into_response();
                response.extensions_mut().insert(Injected);
                response
            }),
        );
        call(recorder, router, "not xml").await;
        let names: Vec<String> = files(&dir).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names.len(), 3, "{names:?}");
        assert!(
            names[0].ends_with("-000-request-unreadable.xml"),
            "{names:?}"
        );
        assert!(
            names[1].ends_with("-001-injected-200-GetFolderResponse.xml"),
            "{names:?}"
        );
        assert!(
            names[2].ends_with("-002-injected-200-unreadable.xml"),
            "{names:?}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn an_answer_without_a_body_still_gives_a_file_with_its_status() {
        let dir = temp_dir("empty");
        let recorder = Arc::new(Recorder::new(dir.clone()));
        let router = Router::new().route("/ews", post(|| async { StatusCode::UNAUTHORIZED }));
        assert_eq!(
            call(recorder, router, REQUEST).await,
            StatusCode::UNAUTHORIZED
        );
        let files = files(&dir);
        assert_eq!(files.len(), 2, "{files:?}");
        assert!(
            files[1].0.ends_with("-001-response-401-unreadable.xml"),
            "{files:?}"
        );
        assert_eq!(files[1].1, "");
        let _ = std::fs::remove_dir_all(dir);
    }
}
