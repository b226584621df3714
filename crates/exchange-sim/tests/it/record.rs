//! `EXCHANGE_SIM_RECORD` end to end: the `exchange-sim` binary, started with the variable set,
//! records an EWS request and its answer, a streamed envelope, and a push notification with the
//! subscriber's answer, each in its own file. (A process reads the variable once, so this runs
//! the binary rather than a `Sim` in the test process.)

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::support::{self, Listener};

const MARA: &str = "mara@contoso.com";

/// The binary, killed when dropped.
struct Running {
    child: Child,
    https: String,
    http: String,
    ca: Vec<u8>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &Path, record: &Path) -> Running {
    let scenario = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/contoso.toml");
    let ca_path = dir.join("ca.pem");
    let mut child = Command::new(env!("CARGO_BIN_EXE_exchange-sim"))
        .args(["--scenario".as_ref(), scenario.as_os_str()])
        .args(["--https", "127.0.0.1:0", "--http", "127.0.0.1:0"])
        .args(["--ca-out".as_ref(), ca_path.as_os_str()])
        .env("EXCHANGE_SIM_RECORD", record)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the exchange-sim binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            // Keep draining after the test stops listening: the pipe stays open for the
            // simulator's life.
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let (https, http) = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .expect("exchange-sim prints its addresses within 60 s");
        let words: Vec<&str> = line.split_whitespace().collect();
        if let ["HTTPS", https, "HTTP", http] = words.as_slice() {
            break ((*https).to_owned(), (*http).to_owned());
        }
    };
    let ca = std::fs::read(&ca_path).expect("the CA was written");
    Running {
        child,
        https,
        http,
        ca,
    }
}

fn envelope(body: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><s:Header><t:RequestServerVersion Version="Exchange2013"/><t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>{MARA}</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation></s:Header><s:Body>{body}</s:Body></s:Envelope>"#
    )
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[tokio::test]
async fn the_binary_records_requests_answers_and_push_traffic_one_file_each() {
    let dir = std::env::temp_dir().join(format!("exchange-sim-record-it-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let record = dir.join("record");
    let sim = start(&dir, &record);
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&sim.ca).expect("CA PEM")])
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let url = format!("https://{}/EWS/Exchange.asmx", sim.https);
    let post = |body: String| {
        client
            .post(&url)
            .basic_auth(support::SVC.0, Some(support::SVC.1))
            .header("Content-Type", "text/xml; charset=utf-8")
            .body(body)
            .send()
    };

    let listener =
        Listener::start(Some(support::vector("ews/sendnotification-result-ok.xml"))).await;
    let subscribed = post(envelope(&format!(
        r#"<m:Subscribe><m:PushSubscriptionRequest><t:FolderIds><t:DistinguishedFolderId Id="inbox"/></t:FolderIds><t:EventTypes><t:EventType>NewMailEvent</t:EventType></t:EventTypes><t:StatusFrequency>1</t:StatusFrequency><t:URL>{}</t:URL></m:PushSubscriptionRequest></m:Subscribe>"#,
        listener.url
    )))
    .await
    .expect("Subscribe answered");
    assert_eq!(subscribed.status(), 200);
    let text = subscribed.text().await.expect("body");
    assert!(text.contains("NoError"), "{text}");

    let delivered = reqwest::Client::new()
        .post(format!(
            "http://{}/_sim/mailboxes/{MARA}/messages",
            sim.http
        ))
        .json(&serde_json::json!({"subject": "recorded", "from": "boss@contoso.com"}))
        .send()
        .await
        .expect("admin API answers");
    assert!(delivered.status().is_success());

    // Bounded wait for the push and its recorded answer.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !names(&record)
        .iter()
        .any(|n| n.contains("-pushanswer-200-"))
    {
        assert!(
            Instant::now() < deadline,
            "no push answer recorded within 30 s: {:?}",
            names(&record)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(sim);

    let names = names(&record);
    let has = |suffix: &str| names.iter().any(|n| n.ends_with(suffix));
    assert!(has("-000-request-Subscribe.xml"), "{names:?}");
    assert!(has("-001-response-200-SubscribeResponse.xml"), "{names:?}");
    assert!(has("-000-push-SendNotification.xml"), "{names:?}");
    assert!(
        has("-001-pushanswer-200-SendNotificationResult.xml"),
        "{names:?}"
    );
    // Named by the binary's process, not this one.
    assert!(
        names
            .iter()
            .all(|n| !n.starts_with(&format!("{}.", std::process::id()))),
        "{names:?}"
    );
    let push = names
        .iter()
        .find(|n| n.ends_with("-push-SendNotification.xml"))
        .expect("push file");
    let body = std::fs::read_to_string(record.join(push)).expect("push body");
    assert!(body.contains("NewMailEvent"), "{body}");
    let _ = std::fs::remove_dir_all(dir);
}
