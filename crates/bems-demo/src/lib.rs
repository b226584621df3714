//! A whole world on loopback: `exchange-sim` (Contoso, its DNS, its identity platform), mock
//! APNs and FCM, and the settings of a service that uses them. `bems demo` runs it; the
//! end-to-end tests start from it.

mod alerts;
mod directory;
mod graph;

use std::time::Duration;

use exchange_auth::SecretString;
use exchange_sim::push::{MockApns, MockApnsConfig, MockFcm, MockFcmConfig, keys};
use exchange_sim::{Scenario, Sim};

use bems_service::service::Overrides;
use bems_settings::{ServiceSettings, SubscriptionMode};

/// The demo app's bundle id.
pub const TOPIC: &str = "com.bems.demo";
/// The sample scenario's app, whose delegated tokens devices register with.
pub const APP: &str = "11111111-1111-1111-1111-111111111111";
/// The audience of registration tokens.
pub const AUDIENCE: &str = "https://outlook.office365.com";
/// The demo tenant.
pub const TENANT: &str = "contoso";
/// The admin API's token in the demo.
pub const ADMIN_TOKEN: &str = "demo-admin-token-0123456789abcdef0123";

/// The store key in the demo.
pub const STORE_KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/// The simulator, the push mocks and a service configuration that points at them.
pub struct World {
    /// Exchange, its DNS server and its identity platform.
    pub sim: Sim,
    /// Mock APNs.
    pub apns: MockApns,
    /// Mock FCM.
    pub fcm: MockFcm,
    /// Where the store, keys and CA files live.
    pub dir: tempfile::TempDir,
    /// The service's settings (validated).
    pub settings: ServiceSettings,
    /// The settings file they were read from (the store key and the admin token, which a
    /// file never holds, are [`STORE_KEY`] and [`ADMIN_TOKEN`]).
    pub toml: String,
    /// How the service reaches the simulator's names and ports.
    pub overrides: Overrides,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World")
            .field("sim", &self.sim.https_addr())
            .field("apns", &self.apns.addr())
            .field("fcm", &self.fcm.addr())
            .finish_non_exhaustive()
    }
}

/// The sample scenario.
pub fn scenario() -> Result<Scenario, String> {
    Scenario::contoso().map_err(|e| e.to_string())
}

/// The sample scenario with `mailboxes` users instead of its own, `u0@contoso.com`,
/// `u1@contoso.com`, ... ([`user_address`]), spread over its mailbox servers in turn: for load and for
/// many nodes.
pub fn scenario_with_users(mailboxes: usize) -> Result<Scenario, String> {
    let mut scenario = scenario()?;
    let template = scenario
        .users
        .first()
        .cloned()
        .ok_or("the sample scenario has no user")?;
    scenario.users.clear();
    let servers = scenario.servers.len().max(1);
    for i in 0..mailboxes {
        let mut user = template.clone();
        user.smtp = user_address(i);
        user.display_name = format!("User {i}");
        if let Some(server) = scenario.servers.get(i % servers) {
            user.server = server.name.clone();
        }
        user.photo = false;
        scenario.users.push(user);
    }
    Ok(scenario)
}

/// The address of [`scenario_with_users`]' user `i`.
pub fn user_address(i: usize) -> String {
    format!("u{i}@contoso.com")
}

/// What mock FCM told one phone: the mails its pushes announce (a push for a burst says how
/// many), their badges and when each arrived, in order.
#[derive(Debug, Clone, Default)]
pub struct Phone {
    /// Mails announced.
    pub mails: u64,
    /// Each push's badge (`notification_count`).
    pub badges: Vec<u64>,
    /// When each push arrived.
    pub at: Vec<std::time::Instant>,
}

/// Every phone mock FCM delivered to, by token.
pub fn fcm_phones(fcm: &MockFcm) -> std::collections::BTreeMap<String, Phone> {
    let mut phones = std::collections::BTreeMap::<String, Phone>::new();
    for request in fcm.received().iter().filter(|r| r.status == 200) {
        let Some(token) = &request.token else {
            continue;
        };
        let message = &request.body["message"];
        let body = message["notification"]["body"].as_str().unwrap_or_default();
        let phone = phones.entry(token.clone()).or_default();
        phone.mails += body
            .split_whitespace()
            .find_map(|w| w.parse::<u64>().ok())
            .unwrap_or(1);
        if let Some(badge) = message["android"]["notification"]["notification_count"].as_u64() {
            phone.badges.push(badge);
        }
        phone.at.push(request.at);
    }
    phones
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> Result<String, String> {
    let path = dir.join(name);
    std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path.display().to_string())
}

/// A loopback port nobody listens on now.
fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

impl World {
    /// Starts the simulator and the mocks; the service's settings use `mode` and keep their
    /// store in `store` (a file in the world's directory when `None`). `fast` runs the
    /// simulator's clock 100 times faster (heartbeats, push retries, `StatusFrequency`), with
    /// the service's watch timings to match.
    pub async fn start(
        mode: SubscriptionMode,
        store: Option<&std::path::Path>,
        fast: bool,
    ) -> Result<Self, String> {
        let mut scenario = scenario()?;
        if fast {
            scenario.time_scale = FAST;
        }
        Self::with_scenario(scenario, mode, store, fast).await
    }

    /// [`start`](Self::start) with another scenario: it must have the domain `contoso.com`, the
    /// service account `svc-bems@contoso.com` (password `Svc-Pa55w.rd`, with impersonation)
    /// and the app [`APP`], as the sample scenario does.
    pub async fn with_scenario(
        scenario: Scenario,
        mode: SubscriptionMode,
        store: Option<&std::path::Path>,
        fast: bool,
    ) -> Result<Self, String> {
        let sim = Sim::builder()
            .scenario(scenario)
            .dns(true)
            .start()
            .await
            .map_err(|e| format!("exchange-sim: {e}"))?;
        let p8 = keys::p8_key_pair().map_err(|e| e.to_string())?;
        // Apple's limits as they are: a restarted service must present its kept provider
        // token (a new one within 20 minutes gets TooManyProviderTokenUpdates).
        let apns_config = MockApnsConfig::new("DEMOTEAM01", "DEMOKEY001", &p8.public_pem, TOPIC);
        let apns = MockApns::start(apns_config)
            .await
            .map_err(|e| format!("mock APNs: {e}"))?;
        let rsa = keys::rsa_key_pair().map_err(|e| e.to_string())?;
        let fcm = MockFcm::start(MockFcmConfig::new(
            "bems-demo",
            "bems@bems-demo.iam.gserviceaccount.com",
            &rsa.public_pem,
        ))
        .await
        .map_err(|e| format!("mock FCM: {e}"))?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let d = dir.path();
        let store = match store {
            Some(path) => path.display().to_string(),
            None => d.join("bems.db").display().to_string(),
        };
        let port = free_port()?;
        let identity = sim.identity();
        let toml = format!(
            r#"
[server]
listen = "127.0.0.1:{port}"
public_url = "http://127.0.0.1:{port}"

[store]
path = {store:?}

[secrets]
directories = [{secrets:?}]

[push.apns]
endpoint = "{apns_url}"
team_id = "DEMOTEAM01"
key_id = "DEMOKEY001"
key_file = {p8_file:?}
topic = "{TOPIC}"
ca_file = {apns_ca:?}

[push.fcm]
service_account_file = {fcm_file:?}
base_url = "{fcm_url}"
token_url = "{token_url}"
ca_file = {fcm_ca:?}

[[tenants]]
id = "{TENANT}"
exchange = "on_premises"
service_account_username = "svc-bems@contoso.com"
service_account_password = "Svc-Pa55w.rd"

[tenants.entitlement]
mode = "all"

[tenants.registration]
issuer = "{issuer}"
audience = "{AUDIENCE}"
jwks_uri = "{jwks}"

[tenants.subscription]
mode = "{mode}"
status_frequency_minutes = 1
connection_timeout_minutes = 30
pull_interval_seconds = 1
"#,
            secrets = d.display().to_string(),
            apns_url = apns.url(),
            p8_file = write(d, "apns.p8", &p8.private_pem)?,
            apns_ca = write(d, "apns-ca.pem", apns.ca_pem())?,
            fcm_file = write(d, "fcm.json", &fcm.service_account_json(&rsa.private_pem))?,
            fcm_url = fcm.url(),
            token_url = fcm.token_uri(),
            fcm_ca = write(d, "fcm-ca.pem", fcm.ca_pem())?,
            issuer = identity.issuer(),
            jwks = identity.jwks_uri(),
            mode = match mode {
                SubscriptionMode::Push => "push",
                SubscriptionMode::Streaming => "streaming",
                SubscriptionMode::Pull => "pull",
            },
        );
        let mut settings = ServiceSettings::from_toml_str(&toml).map_err(|e| e.to_string())?;
        settings.admin.token = Some(SecretString::from(ADMIN_TOKEN));
        settings.store.key = Some(SecretString::from(STORE_KEY));
        settings.validate().map_err(|e| e.to_string())?;
        let mut overrides = Overrides {
            dns_server: sim.dns_addr(),
            https_port: Some(sim.https_addr().port()),
            http_port: Some(sim.http_addr().port()),
            trusted_ca_pem: vec![sim.ca_pem().to_owned()],
            ..Overrides::default()
        };
        for domain in &sim.scenario().domains {
            for host in [domain.external_host(), domain.internal_host()] {
                overrides.resolve.push((host, sim.https_addr()));
            }
        }
        overrides
            .resolve
            .push((sim.scenario().login_host.clone(), sim.https_addr()));
        if fast {
            overrides.watch = Some(fast_clock);
        }
        Ok(Self {
            sim,
            apns,
            fcm,
            dir,
            settings,
            toml,
            overrides,
        })
    }

    /// The settings file of a `bems serve` process of its own on this world, which has no
    /// [`Overrides`]: the world's, with the tenant finding the simulator by its settings
    /// alone (Autodiscover at `https://localhost:<port>`, the simulator's CA trusted for
    /// Exchange, the identity platform's keys fetched from `localhost`). The scenario's EWS
    /// hosts must be `localhost` ([`Domain`](exchange_sim::scenario::Domain)'s
    /// `external_ews_host` and `internal_ews_host`), which the simulator's certificate names.
    /// The process takes the store key and admin token from `BEMS_STORE_KEY` and
    /// `BEMS_ADMIN_TOKEN`, and its own listener, store and node from other `BEMS_` variables.
    pub fn process_toml(&self) -> Result<String, String> {
        let port = self.sim.https_addr().port();
        let ca = write(self.dir.path(), "sim-ca.pem", self.sim.ca_pem())?;
        let login = format!("{}:{port}", self.sim.scenario().login_host);
        let account = "service_account_password = \"Svc-Pa55w.rd\"\n";
        let tenant = format!(
            "{account}autodiscover_url_override = \"https://localhost:{port}/autodiscover/autodiscover.xml\"\n\n\
             [[tenants.trusted_certificates]]\nname = \"exchange-sim\"\npurpose = \"exchange\"\npem_file = {ca:?}\n"
        );
        let jwks = self
            .sim
            .identity()
            .jwks_uri()
            .replace(&login, &format!("localhost:{port}"));
        Ok(self
            .toml
            .replacen(account, &tenant, 1)
            .replace(&self.sim.identity().jwks_uri(), &jwks))
    }

    /// A registration token for `mailbox` (a delegated token of the tenant's identity
    /// platform).
    pub fn user_token(&self, mailbox: &str) -> Result<String, String> {
        self.sim
            .identity()
            .issue_user_token(APP, mailbox, AUDIENCE)
            .map_err(|e| e.to_string())
    }
}

/// How much faster the simulator's clock runs in a fast world.
const FAST: f64 = 100.0;

/// Watch timings for a simulator whose clock runs [`FAST`] times faster.
fn fast_clock(watch: &mut ews_subscriptions::WatchSettings) {
    match &mut watch.mode {
        ews_subscriptions::Mode::Push(push) => {
            push.status_frequency = Duration::from_millis(600);
            push.grace = Duration::from_millis(500);
        }
        ews_subscriptions::Mode::Streaming(streaming) => {
            streaming.heartbeat = Duration::from_millis(450);
        }
        _ => {}
    }
    watch.limits.backoff_initial = Duration::from_millis(50);
    watch.limits.backoff_max = Duration::from_secs(1);
}

/// Registers a device through the API, as a phone would; the HTTP status and body.
pub async fn register(
    http: &reqwest::Client,
    base: &str,
    bearer: &str,
    mailbox: &str,
    platform: &str,
    token: &str,
    app_id: &str,
) -> Result<(u16, String), String> {
    let response = http
        .post(format!("{base}/v1/tenants/{TENANT}/devices"))
        .bearer_auth(bearer)
        .json(&serde_json::json!({
            "mailbox": mailbox,
            "platform": platform,
            "token": token,
            "app_id": app_id,
            "locale": "en",
        }))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let body = response.text().await.map_err(|e| e.to_string())?;
    Ok((status, body))
}

/// How often `bems demo --console` delivers a mail.
const CONSOLE_MAIL_EVERY: Duration = Duration::from_secs(5);

/// The demo world kept running for the console: its URL, then a mail to each user in turn
/// every [`CONSOLE_MAIL_EVERY`], with a line per push, until Ctrl-C.
async fn keep_running(
    world: &World,
    running: &bems_service::server::Running,
    out: &mut dyn std::io::Write,
) -> Result<(), String> {
    // `localhost`: a secure context for browsers, so they keep the console's `Secure` cookie
    // over plain HTTP.
    say(
        out,
        format!(
            "9. the console: http://localhost:{}/console (admin token {ADMIN_TOKEN}); a mail every {} s; Ctrl-C stops",
            running.addr.port(),
            CONSOLE_MAIL_EVERY.as_secs()
        ),
    );
    let users = [
        "mara@contoso.com",
        "sadie@contoso.com",
        "alfred@contoso.com",
    ];
    let mut ticker = tokio::time::interval(CONSOLE_MAIL_EVERY);
    ticker.tick().await;
    for n in 1usize.. {
        tokio::select! {
            _ = ticker.tick() => {}
            stop = tokio::signal::ctrl_c() => {
                return stop.map_err(|e| e.to_string());
            }
        }
        let to = users[n % users.len()];
        world
            .sim
            .deliver_mail(to, &format!("Console demo mail {n}"), "boss@contoso.com")
            .map_err(|e| e.to_string())?;
        say(
            out,
            format!(
                "   mail {n} to {to}; pushes so far: APNs {}, FCM {}",
                world.apns.received_len(),
                world.fcm.received().len()
            ),
        );
    }
    Ok(())
}

/// Writes one line of the demo's story, at once.
pub(crate) fn say(out: &mut dyn std::io::Write, line: String) {
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// An APNs device token for the demo (64 hex digits), different per `n`.
pub fn apns_token(n: u8) -> String {
    format!("{:02x}", n).repeat(32)
}

/// What the demo saw.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Mails delivered to the simulator.
    pub mails: usize,
    /// Pushes the mocks received for them.
    pub pushes: usize,
    /// Mail delivered → push received, per push.
    pub latencies: Vec<Duration>,
}

/// `bems demo`: the whole path from a mailbox to a phone, on loopback, step by step. With
/// `console`, the demo world then keeps running with the administrator's console open (its URL
/// and the demo's admin token printed), a mail arriving every few seconds, until Ctrl-C.
pub async fn run(out: &mut dyn std::io::Write, console: bool) -> Result<Report, String> {
    let started = std::time::Instant::now();
    let mut world = World::start(SubscriptionMode::Streaming, None, false).await?;
    // The demo's tenant lets alerts name the sender and the subject (the default is neither).
    world.settings.tenants[0].alerts.content = bems_settings::AlertContent::SenderAndSubject;
    say(
        out,
        format!(
            "1. exchange-sim (Contoso, {} mailboxes) on {}, DNS on {}",
            world.sim.scenario().users.len(),
            world.sim.https_addr(),
            world
                .sim
                .dns_addr()
                .map(|a| a.to_string())
                .unwrap_or_default()
        ),
    );
    say(
        out,
        format!(
            "2. mock APNs on {}, mock FCM on {}",
            world.apns.addr(),
            world.fcm.addr()
        ),
    );
    let running = bems_service::server::start(&world.settings, &world.overrides)
        .await
        .map_err(|e| e.to_string())?;
    let base = format!("http://{}", running.addr);
    say(
        out,
        format!(
            "3. bems on {base} (store {})",
            world.settings.store.path.display()
        ),
    );

    let http = reqwest::Client::new();
    let devices = [
        ("mara@contoso.com", "apns", apns_token(1), TOPIC),
        (
            "sadie@contoso.com",
            "fcm",
            "sadie-pixel:APA91bDemoToken".to_owned(),
            "com.bems.demo.android",
        ),
        ("alfred@contoso.com", "apns", apns_token(3), TOPIC),
    ];
    say(
        out,
        "4. devices register (each with its user's token from the identity platform):".into(),
    );
    for (mailbox, platform, token, app) in &devices {
        let bearer = world.user_token(mailbox)?;
        let (status, body) = register(&http, &base, &bearer, mailbox, platform, token, app).await?;
        say(
            out,
            format!("   {mailbox:<20} {platform:<4} -> HTTP {status} {body}"),
        );
        if status != 201 {
            return Err(format!("registration of {mailbox} failed"));
        }
    }
    let bearer = world.user_token("mara@contoso.com")?;
    let (status, body) = register(
        &http,
        &base,
        &bearer,
        "sadie@contoso.com",
        "apns",
        &apns_token(9),
        TOPIC,
    )
    .await?;
    say(
        out,
        format!(
            "   Mara's token for Sadie's mailbox -> HTTP {status} {body} (refused, nothing stored)"
        ),
    );

    say(
        out,
        "5. Autodiscover finds each mailbox; the watcher subscribes:".into(),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let status = running.service.status().await;
        let subscribed: usize = status.iter().map(|t| t.subscriptions.subscribed).sum();
        let streams: u64 = status.iter().map(|t| t.subscriptions.streams_open).sum();
        if subscribed == devices.len() && streams > 0 {
            say(
                out,
                format!(
                    "   {subscribed} mailboxes subscribed, {streams} streaming connections open"
                ),
            );
            break;
        }
        if std::time::Instant::now() > deadline {
            return Err(format!(
                "only {subscribed} of {} mailboxes subscribed after 30 s",
                devices.len()
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    say(
        out,
        "6. mail arrives; each push as the provider receives it:".into(),
    );
    let mut report = Report::default();
    let mail = [
        ("mara@contoso.com", "Quarterly numbers"),
        ("sadie@contoso.com", "Lunch?"),
        ("alfred@contoso.com", "Build is green"),
        ("mara@contoso.com", "Re: Quarterly numbers"),
    ];
    for (mailbox, subject) in mail {
        let before_apns = world.apns.received().len();
        let before_fcm = world.fcm.received().len();
        let sent = std::time::Instant::now();
        world
            .sim
            .deliver_mail(mailbox, subject, "boss@contoso.com")
            .map_err(|e| e.to_string())?;
        report.mails += 1;
        let wait_until = sent + Duration::from_secs(15);
        let line = loop {
            let apns = world.apns.received();
            if let Some(push) = apns.get(before_apns) {
                let aps = &push.payload["aps"];
                break format!(
                    "   mail to {mailbox:<20} -> APNs {}…  \"{}\" badge {} collapse {} in {:.1} ms",
                    &push.token[..8],
                    aps["alert"]["body"].as_str().unwrap_or_default(),
                    aps["badge"],
                    push.header("apns-collapse-id").unwrap_or("-"),
                    (push.at - sent).as_secs_f64() * 1e3,
                );
            }
            let fcm = world.fcm.received();
            if let Some(push) = fcm.get(before_fcm) {
                let message = &push.body["message"];
                break format!(
                    "   mail to {mailbox:<20} -> FCM  {}…  \"{}\" collapse {} in {:.1} ms",
                    push.token
                        .as_deref()
                        .unwrap_or_default()
                        .chars()
                        .take(8)
                        .collect::<String>(),
                    message["android"]["notification"]["body"]
                        .as_str()
                        .or(message["notification"]["body"].as_str())
                        .unwrap_or_default(),
                    message["android"]["collapse_key"],
                    (push.at - sent).as_secs_f64() * 1e3,
                );
            }
            if std::time::Instant::now() > wait_until {
                return Err(format!("no push for the mail to {mailbox} within 15 s"));
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        let latest = world
            .apns
            .received()
            .last()
            .map(|p| p.at)
            .into_iter()
            .chain(world.fcm.received().last().map(|p| p.at))
            .max()
            .unwrap_or(sent);
        report
            .latencies
            .push(latest.saturating_duration_since(sent));
        report.pushes += 1;
        say(out, line);
    }
    directory::run(&world, &base, out).await?;
    alerts::run(&world, &base, out).await?;
    if console {
        let finished = keep_running(&world, &running, out).await;
        running.stop().await;
        finished?;
        return Ok(report);
    }
    running.stop().await;
    let mut sorted = report.latencies.clone();
    sorted.sort();
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or_default();
    let max = sorted.last().copied().unwrap_or_default();
    say(
        out,
        format!(
            "9. done in {:.1} s: {} mails, {} pushes delivered; mail to push {:.1} ms median, {:.1} ms max",
            started.elapsed().as_secs_f64(),
            report.mails,
            report.pushes,
            median.as_secs_f64() * 1e3,
            max.as_secs_f64() * 1e3
        ),
    );
    Ok(report)
}
