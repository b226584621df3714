//! NTLM's one connection against a hand-written HTTPS server on loopback that behaves as
//! `pyspnego` behind Python's `http.server` does: each answer's head and body go out in
//! separate writes, and the connection stays open after the challenge, waiting for the
//! AUTHENTICATE message. It checks the handshake's plumbing, not the cryptography (the
//! simulator and the outside acceptor of `ntlm_acceptor.rs` do that): the AUTHENTICATE
//! message waits until the connection is ready again, and a connection the server closes
//! after its challenge is reported as a retryable network failure, not as refused
//! credentials.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use exchange_auth::*;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// The host name the server's certificate is for.
const HOST: &str = "mail.contoso.com";

/// What the server does once its challenge is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AfterChallenge {
    /// Keeps the connection open for the AUTHENTICATE message (every real server).
    KeepOpen,
    /// Closes the connection (a server restarting, or a load balancer cutting it).
    Close,
}

struct Server {
    addr: std::net::SocketAddr,
    ca_pem: String,
    /// AUTHENTICATE messages received.
    authenticated: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    async fn start(after: AfterChallenge) -> Self {
        let (ca_pem, config) = tls();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let authenticated = Arc::new(AtomicUsize::new(0));
        let counter = authenticated.clone();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, counter) = (acceptor.clone(), counter.clone());
                tokio::spawn(async move {
                    if let Ok(tls) = acceptor.accept(tcp).await {
                        let _ = serve(BufReader::new(tls), after, &counter).await;
                    }
                });
            }
        });
        Self {
            addr,
            ca_pem,
            authenticated,
            task,
        }
    }

    fn auth(&self) -> NtlmAuth {
        let mut transport = TransportSettings::default();
        transport.trusted_ca_pem = vec![self.ca_pem.clone()];
        transport.trusted_ca_only = true;
        transport.resolve.push((HOST.to_owned(), self.addr));
        transport.connect_timeout = std::time::Duration::from_secs(5);
        NtlmAuth::new(
            "CONTOSO\\svc-bems",
            SecretString::from("Svc-Pa55w.rd"),
            &transport,
        )
        .expect("valid settings")
        // Every request authenticates a connection of its own.
        .max_idle_connections(0)
    }

    fn request(&self) -> HttpRequest {
        let url = format!("https://{HOST}:{}/EWS/Exchange.asmx", self.addr.port());
        HttpRequest::post(url.parse().expect("URL"), b"<soap/>".to_vec())
    }
}

/// A test CA and a certificate it issued for [`HOST`].
fn tls() -> (String, rustls::ServerConfig) {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_key = rcgen::KeyPair::generate().expect("key");
    let ca = ca_params.self_signed(&ca_key).expect("CA");
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let params = rcgen::CertificateParams::new(vec![HOST.to_owned()]).expect("params");
    let key = rcgen::KeyPair::generate().expect("key");
    let leaf = params.signed_by(&key, &issuer).expect("certificate");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(leaf.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .expect("server configuration");
    (ca.pem(), config)
}

/// One connection: challenges a NEGOTIATE, accepts any AUTHENTICATE (counted).
async fn serve<S>(
    mut stream: BufReader<S>,
    after: AfterChallenge,
    authenticated: &AtomicUsize,
) -> std::io::Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        let Some(authorization) = read_request(&mut stream).await? else {
            return Ok(());
        };
        let token = authorization
            .as_deref()
            .and_then(|value| value.strip_prefix("NTLM "))
            .and_then(|token| STANDARD.decode(token.trim()).ok())
            .filter(|token| token.starts_with(b"NTLMSSP\0"));
        match token.as_deref().and_then(|token| token.get(8)) {
            Some(1) => {
                let offer = format!("NTLM {}", STANDARD.encode(challenge()));
                answer(&mut stream, "401 Unauthorized", Some(&offer), b"challenge").await?;
                if after == AfterChallenge::Close {
                    return stream.get_mut().shutdown().await;
                }
            }
            Some(3) => {
                authenticated.fetch_add(1, Ordering::SeqCst);
                answer(&mut stream, "200 OK", None, b"<authenticated/>").await?;
            }
            _ => answer(&mut stream, "401 Unauthorized", Some("NTLM"), b"").await?,
        }
    }
}

/// Reads a request's head and body; its `Authorization` header. `None` at the end.
async fn read_request<S>(stream: &mut BufReader<S>) -> std::io::Result<Option<Option<String>>>
where
    S: tokio::io::AsyncRead + Unpin,
{
    let (mut authorization, mut length) = (None, 0usize);
    let mut first = true;
    loop {
        let mut line = String::new();
        if stream.read_line(&mut line).await? == 0 {
            return Ok(None);
        }
        let line = line.trim_end();
        if line.is_empty() && !first {
            break;
        }
        first = false;
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("authorization") {
                authorization = Some(value.trim().to_owned());
            } else if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await?;
    Ok(Some(authorization))
}

/// Writes an answer: the head, then the body in a write of its own.
async fn answer<S>(
    stream: &mut BufReader<S>,
    status: &str,
    offer: Option<&str>,
    body: &[u8],
) -> std::io::Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", body.len());
    if let Some(offer) = offer {
        head.push_str(&format!("WWW-Authenticate: {offer}\r\n"));
    }
    head.push_str("\r\n");
    let stream = stream.get_mut();
    stream.write_all(head.as_bytes()).await?;
    stream.flush().await?;
    stream.write_all(body).await?;
    stream.flush().await
}

/// A CHALLENGE with Unicode, target information (domain name and a timestamp).
fn challenge() -> Vec<u8> {
    let mut info = Vec::new();
    let domain: Vec<u8> = "CONTOSO"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    info.extend_from_slice(&2u16.to_le_bytes()); // MsvAvNbDomainName
    info.extend_from_slice(&u16::try_from(domain.len()).expect("short").to_le_bytes());
    info.extend_from_slice(&domain);
    info.extend_from_slice(&7u16.to_le_bytes()); // MsvAvTimestamp
    info.extend_from_slice(&8u16.to_le_bytes());
    info.extend_from_slice(&133_485_408_000_000_000u64.to_le_bytes());
    info.extend_from_slice(&[0; 4]); // MsvAvEOL
    let mut out = b"NTLMSSP\0".to_vec();
    out.extend_from_slice(&2u32.to_le_bytes());
    out.extend_from_slice(&[0, 0, 0, 0, 56, 0, 0, 0]); // no target name
    let flags: u32 = 0x0000_0001 | 0x0000_0200 | 0x0080_0000; // UNICODE, NTLM, TARGET_INFO
    out.extend_from_slice(&flags.to_le_bytes());
    out.extend_from_slice(&rand::random::<[u8; 8]>());
    out.extend_from_slice(&[0; 8]);
    let len = u16::try_from(info.len()).expect("short");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&56u32.to_le_bytes());
    out.extend_from_slice(&[10, 0, 0, 0, 0, 0, 0, 15]);
    out.extend_from_slice(&info);
    out
}

/// How many fresh handshakes the race test makes in a row.
const HANDSHAKES: usize = 200;

/// The AUTHENTICATE message goes out only once hyper has taken the connection back after
/// the challenge's body; sent earlier, hyper hands it back unsent ("connection was not
/// ready"), which was reported as a closed connection although the server kept it open.
/// Two worker threads, as in the service: the body's end and the connection's readiness
/// are seen on different threads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_handshake_waits_until_the_connection_is_ready_again() {
    let server = Server::start(AfterChallenge::KeepOpen).await;
    let auth = server.auth();
    let mut failures = Vec::new();
    for _ in 0..HANDSHAKES {
        match auth.send(server.request()).await {
            Ok(response) => {
                let status = response.status;
                let body = response.bytes(1024).await.expect("body");
                assert_eq!((status, body.as_slice()), (200, &b"<authenticated/>"[..]));
            }
            Err(error) => failures.push(error.to_string()),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {HANDSHAKES} handshakes failed; the first: {}",
        failures.len(),
        failures[0]
    );
    assert_eq!(server.authenticated.load(Ordering::SeqCst), HANDSHAKES);
}

/// A server that closes the connection between its challenge and our AUTHENTICATE message:
/// a network failure (retryable) saying so, never refused credentials.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_closed_after_the_challenge_is_a_retryable_network_failure() {
    let server = Server::start(AfterChallenge::Close).await;
    let auth = server.auth();
    for _ in 0..10 {
        let error = auth.send(server.request()).await.expect_err("closed");
        assert!(error.is_network() && error.is_retryable(), "{error:?}");
        assert!(!error.credentials_refused(), "{error:?}");
        assert!(
            error
                .to_string()
                .contains("after the server's NTLM challenge"),
            "{error}"
        );
    }
    assert_eq!(server.authenticated.load(Ordering::SeqCst), 0);
}
