//! The APNs sender against `nghttpd` (Debian's `nghttp2-server`), an HTTP/2 server no one here
//! wrote, over TLS on loopback: a few thousand pushes, each answered 200 by a docroot file.
//! Every push is delivered on the connections opened at first; the server's frame log shows
//! no stream reset by the client (a finished stream reset with `RST_STREAM(CANCEL)` is what
//! made nghttpd end connections with `GOAWAY(INTERNAL_ERROR)`) and no GOAWAY.
//!
//! Needs `nghttpd` on the `PATH` (scripts/test installs it); without it the test says so and
//! passes, unless `BEMS_REQUIRE_SERVICES=1`, when it fails.

use std::io::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use push_delivery::{
    ApnsAuth, ApnsConfig, ApnsEndpoint, ApnsSender, DeviceToken, Notification, Outcome, Push,
    PushSender,
};

const TOKEN: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
const PUSHES: usize = 3000;
const CONCURRENCY: usize = 200;

/// `nghttpd` serving `docroot` with TLS, verbose (every frame it receives is logged).
struct Nghttpd {
    child: Child,
    port: u16,
}

impl Drop for Nghttpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nghttpd_missing() -> bool {
    let found = Command::new("nghttpd")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return false;
    }
    if std::env::var("BEMS_REQUIRE_SERVICES").is_ok_and(|v| v == "1") {
        panic!("BEMS_REQUIRE_SERVICES=1 but nghttpd is missing: apt-get install nghttp2-server");
    }
    let _ = writeln!(
        std::io::stderr(),
        "note: nghttpd SKIPPED: nghttpd is not installed (Debian nghttp2-server)"
    );
    true
}

/// Starts nghttpd on a free loopback port (a few tries: the port is picked before nghttpd
/// binds it).
async fn start(dir: &Path) -> Nghttpd {
    let log = dir.join("nghttpd.log");
    for _ in 0..5 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let out = std::fs::File::create(&log).expect("log");
        let child = Command::new("nghttpd")
            .arg("-v")
            .arg("-d")
            .arg(dir.join("docroot"))
            .args(["-m", "1000", "--address", "127.0.0.1"])
            .arg(port.to_string())
            .arg(dir.join("key.pem"))
            .arg(dir.join("cert.pem"))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(Stdio::null())
            .spawn()
            .expect("nghttpd starts");
        let mut server = Nghttpd { child, port };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return server;
            }
            if server.child.try_wait().ok().flatten().is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        drop(server);
    }
    panic!(
        "nghttpd did not start: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_pushes_to_nghttpd_reset_no_stream_and_are_never_retried() {
    if nghttpd_missing() {
        return;
    }
    let dir = tempfile::tempdir().expect("temporary directory");
    let key = rcgen::KeyPair::generate().expect("key");
    let params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("params");
    let cert = params.self_signed(&key).expect("certificate");
    std::fs::write(dir.path().join("key.pem"), key.serialize_pem()).expect("key file");
    std::fs::write(dir.path().join("cert.pem"), cert.pem()).expect("certificate file");
    let device = dir.path().join("docroot/3/device");
    std::fs::create_dir_all(&device).expect("docroot");
    std::fs::write(device.join(TOKEN), b"").expect("a file answers 200");
    let server = start(dir.path()).await;

    let p8 = rcgen::KeyPair::generate().expect("p8").serialize_pem();
    let mut config = ApnsConfig::new(
        ApnsAuth::token("TEAM123456", "KEY1234567", p8),
        "com.example.mail",
    );
    config.endpoint = ApnsEndpoint::Url(format!("https://127.0.0.1:{}", server.port));
    config.extra_ca_pem = vec![cert.pem()];
    config.trust_system_roots = false;
    config.connections = 2;
    let sender = Arc::new(ApnsSender::new(config).expect("sender"));
    let token = DeviceToken::apns(TOKEN).expect("token");
    let notification = Notification::alert("New mail", "From: Mara Whitley").badge(1);

    let mut tasks = Vec::new();
    for task in 0..CONCURRENCY {
        let (sender, token, notification) =
            (Arc::clone(&sender), token.clone(), notification.clone());
        tasks.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for _ in (task..PUSHES).step_by(CONCURRENCY) {
                let push = Push::new(token.clone(), notification.clone());
                outcomes.push(sender.send(&push).await);
            }
            outcomes
        }));
    }
    let mut not_delivered = Vec::new();
    for task in tasks {
        for outcome in task.await.expect("task") {
            if !matches!(outcome, Outcome::Delivered { .. }) {
                not_delivered.push(outcome);
            }
        }
    }
    let stats = sender.stats();
    drop(server);
    let log = std::fs::read_to_string(dir.path().join("nghttpd.log")).expect("nghttpd's log");
    let resets = log
        .lines()
        .filter(|l| l.contains("recv RST_STREAM"))
        .count();
    let goaways = log.lines().filter(|l| l.contains("send GOAWAY")).count();
    assert_eq!(
        (not_delivered.len(), resets, goaways),
        (0, 0, 0),
        "pushes not delivered (first: {:?}), streams reset by the client, GOAWAYs from nghttpd",
        not_delivered.first()
    );
    assert_eq!(
        stats.connections_opened, 2,
        "no connection made again: {stats:?}"
    );
    assert!(
        log.matches("recv HEADERS").count() >= PUSHES,
        "nghttpd saw every push"
    );
}
