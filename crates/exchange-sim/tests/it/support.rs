//! Shared test helpers: a standard scenario, and HTTP clients that trust the simulator and
//! resolve its host names to loopback.

use std::net::SocketAddr;

use exchange_sim::{Scenario, Sim};

/// A scenario with two domains, two servers (two back ends each), users, a service account
/// with impersonation rights, one without, and two apps.
pub(crate) const SCENARIO: &str = r#"
profile = "exchange-2019"
heartbeat_seconds = 45
time_scale = 1000.0
tenant = "contoso"
login_host = "login.microsoftonline.test"

[[domains]]
name = "contoso.com"

[[domains]]
name = "fabrikam.com"

[[servers]]
name = "mbx1"
grouping_information = "CONTOSO-1"
backends = 2

[[servers]]
name = "mbx2"
grouping_information = "CONTOSO-2"
backends = 2

[[users]]
smtp = "mara@contoso.com"
display_name = "Mara Whitley"
first_name = "Mara"
last_name = "Whitley"
job_title = "Engineer"
department = "R&D"
server = "mbx1"
password = "Mara-Pa55"
photo = true

[[users]]
smtp = "sadie@contoso.com"
display_name = "Sadie Daniels"
first_name = "Sadie"
last_name = "Daniels"
server = "mbx1"
password = "Sadie-Pa55"

[[users]]
smtp = "alfred@contoso.com"
display_name = "Alfred Hall"
first_name = "Alfred"
last_name = "Hall"
server = "mbx2"

[[users]]
smtp = "elvin@fabrikam.com"
display_name = "Elvin Marsh"
first_name = "Elvin"
last_name = "Marsh"
server = "mbx2"

[[service_accounts]]
name = "svc-bems"
upn = "svc-bems@contoso.com"
password = "Svc-Pa55w.rd"
rights = ["ApplicationImpersonation"]
client_certificate = true

[[service_accounts]]
name = "svc-plain"
upn = "svc-plain@contoso.com"
password = "Plain-Pa55"

[[apps]]
client_id = "11111111-1111-1111-1111-111111111111"
secret = "app-secret-1"
certificate = true
roles = ["full_access_as_app"]
scopes = ["EWS.AccessAsUser.All"]
redirect_uris = ["https://bems.contoso.com/callback"]

[[apps]]
client_id = "22222222-2222-2222-2222-222222222222"
secret = "app-secret-2"
consented = false
"#;

/// The standard scenario.
pub(crate) fn scenario() -> Scenario {
    Scenario::from_toml(SCENARIO).expect("standard scenario is valid")
}

/// Starts a simulator on the standard scenario.
pub(crate) async fn start() -> Sim {
    start_with(scenario()).await
}

/// Starts a simulator on `scenario`.
pub(crate) async fn start_with(scenario: Scenario) -> Sim {
    Sim::builder()
        .scenario(scenario)
        .start()
        .await
        .expect("simulator starts")
}

/// A client that trusts the simulator's CA and resolves every scenario host to its listeners.
pub(crate) fn client(sim: &Sim) -> reqwest::Client {
    client_builder(sim).build().expect("client builds")
}

/// The builder behind [`client`], to add a client certificate or change timeouts.
pub(crate) fn client_builder(sim: &Sim) -> reqwest::ClientBuilder {
    let ca = reqwest::Certificate::from_pem(sim.ca_pem().as_bytes()).expect("CA PEM");
    let mut builder = reqwest::Client::builder()
        .tls_certs_only([ca])
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(20));
    let addr: SocketAddr = sim.https_addr();
    for host in hosts(sim) {
        builder = builder.resolve(&host, addr);
    }
    builder
}

/// Every host name of the scenario.
pub(crate) fn hosts(sim: &Sim) -> Vec<String> {
    let scenario = sim.scenario();
    let mut hosts = vec![
        scenario.login_host.clone(),
        "outlook.office365.com".to_owned(),
    ];
    for domain in &scenario.domains {
        hosts.push(domain.name.clone());
        hosts.push(format!("autodiscover.{}", domain.name));
        hosts.push(domain.external_host());
        hosts.push(domain.internal_host());
    }
    hosts.extend(scenario.hosts.iter().map(|h| h.name.clone()));
    hosts
}

/// The service account with impersonation rights, as `(user, password)`.
pub(crate) const SVC: (&str, &str) = ("svc-bems@contoso.com", "Svc-Pa55w.rd");

/// An EWS request as a test sends it.
pub(crate) struct Ews<'a> {
    pub(crate) client: reqwest::Client,
    pub(crate) url: String,
    pub(crate) basic: Option<(&'a str, &'a str)>,
    pub(crate) headers: Vec<(&'static str, String)>,
}

/// What came back.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Answer {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The value of `X-BackEndOverrideCookie` set by this answer.
    pub(crate) fn affinity_cookie(&self) -> Option<String> {
        self.headers
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| ews_proto::affinity::back_end_override_cookie(v).map(str::to_owned))
    }
}

impl<'a> Ews<'a> {
    /// EWS of `mailbox`'s server as the service account.
    pub(crate) fn new(sim: &Sim, mailbox: &str) -> Self {
        Self {
            client: client(sim),
            url: sim.ews_url(mailbox).expect("mailbox exists"),
            basic: Some(SVC),
            headers: Vec::new(),
        }
    }

    pub(crate) fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub(crate) async fn post(&self, body: impl Into<Vec<u8>>) -> Answer {
        let mut request = self
            .client
            .post(&self.url)
            .header("Content-Type", "text/xml; charset=utf-8")
            .body(body.into());
        if let Some((user, password)) = self.basic {
            request = request.basic_auth(user, Some(password));
        }
        for (name, value) in &self.headers {
            request = request.header(*name, value);
        }
        let response = request.send().await.expect("EWS answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.expect("EWS body").to_vec();
        Answer {
            status,
            headers,
            body,
        }
    }

    /// Writes `body` with an impersonation header for `mailbox`, sends it, reads the answer.
    pub(crate) async fn call<B>(
        &self,
        mailbox: &str,
        body: &B,
    ) -> (
        Answer,
        Result<ews_proto::soap::Envelope<B::Response>, ews_proto::ProtoError>,
    )
    where
        B: ews_proto::operations::Operation,
    {
        let header =
            ews_proto::soap::SoapHeader::request(ews_proto::soap::ExchangeVersion::Exchange2013)
                .impersonating(ews_proto::soap::ConnectingSid::PrimarySmtpAddress(
                    mailbox.to_owned(),
                ));
        let answer = self
            .post(ews_proto::soap::write_envelope(&header, body))
            .await;
        let parsed = ews_proto::soap::read_envelope::<B::Response>(&answer.body);
        (answer, parsed)
    }
}

/// The element paths of an XML document under its SOAP Body, by local name
/// (`Body/SubscribeResponse/ResponseMessages/...`), to compare structure with a vector.
pub(crate) fn body_paths(xml: &[u8]) -> std::collections::BTreeSet<String> {
    use quick_xml::events::Event;
    let text = std::str::from_utf8(xml).expect("UTF-8 XML");
    let mut reader = quick_xml::Reader::from_str(text);
    let mut stack: Vec<String> = Vec::new();
    let mut paths = std::collections::BTreeSet::new();
    let record = |stack: &[String], paths: &mut std::collections::BTreeSet<String>| {
        if let Some(i) = stack.iter().position(|n| n == "Body") {
            paths.insert(stack[i..].join("/"));
        }
    };
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) => {
                stack.push(local(e.name().0));
                record(&stack, &mut paths);
            }
            Event::Empty(e) => {
                stack.push(local(e.name().0));
                record(&stack, &mut paths);
                stack.pop();
            }
            Event::End(_) => {
                stack.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    paths
}

fn local(name: &str) -> String {
    name.rsplit_once(':').map_or(name, |(_, l)| l).to_owned()
}

/// One callback: when it arrived and its body.
pub(crate) type Received = (std::time::Instant, Vec<u8>);

/// A push listener on loopback that records every callback and answers with a scripted
/// `SendNotificationResult` (or an HTTP error).
pub(crate) struct Listener {
    pub(crate) url: String,
    pub(crate) received: std::sync::Arc<std::sync::Mutex<Vec<Received>>>,
    /// What to answer: `Some(body)` with 200, or `None` for HTTP 500.
    pub(crate) answer: std::sync::Arc<std::sync::Mutex<Option<Vec<u8>>>>,
    _task: tokio::task::JoinHandle<()>,
}

impl Listener {
    pub(crate) async fn start(answer: Option<Vec<u8>>) -> Self {
        let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let answer = std::sync::Arc::new(std::sync::Mutex::new(answer));
        let socket = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/ews/notify", socket.local_addr().expect("addr"));
        let (r, a) = (received.clone(), answer.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = socket.accept().await else {
                    return;
                };
                let (r, a) = (r.clone(), a.clone());
                tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    loop {
                        // A minimal HTTP/1.1 reader: headers, then Content-Length bytes.
                        let mut head = Vec::new();
                        let mut byte = [0u8; 1];
                        while !head.ends_with(b"\r\n\r\n") {
                            match stream.read(&mut byte).await {
                                Ok(1) => head.push(byte[0]),
                                _ => return,
                            }
                        }
                        let head_text = String::from_utf8_lossy(&head).to_ascii_lowercase();
                        let length = head_text
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        let mut body = vec![0u8; length];
                        if stream.read_exact(&mut body).await.is_err() {
                            return;
                        }
                        r.lock()
                            .expect("lock")
                            .push((std::time::Instant::now(), body));
                        let reply = a.lock().expect("lock").clone();
                        let response = match reply {
                            Some(body) => {
                                let mut out = format!(
                                    "HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset=utf-8\r\nContent-Length: {}\r\n\r\n",
                                    body.len()
                                )
                                .into_bytes();
                                out.extend_from_slice(&body);
                                out
                            }
                            None => {
                                b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"
                                    .to_vec()
                            }
                        };
                        if stream.write_all(&response).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Self {
            url,
            received,
            answer,
            _task: task,
        }
    }

    pub(crate) fn count(&self) -> usize {
        self.received.lock().expect("lock").len()
    }

    /// The callbacks received so far, parsed.
    pub(crate) fn notifications(&self) -> Vec<ews_proto::operations::SendNotification> {
        self.received
            .lock()
            .expect("lock")
            .iter()
            .map(|(_, body)| {
                ews_proto::soap::read_envelope::<ews_proto::operations::SendNotification>(body)
                    .expect("callback parses")
                    .body
            })
            .collect()
    }

    /// Waits until at least `n` callbacks arrived (bounded).
    pub(crate) async fn wait_for(&self, n: usize) -> bool {
        for _ in 0..500 {
            if self.count() >= n {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        false
    }
}

/// Reads a checked-in vector.
pub(crate) fn vector(path: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../../vectors/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("vector file")
}
