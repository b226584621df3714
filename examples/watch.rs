//! Watch mailboxes and print their events as JSON lines.
//!
//! Against the simulator, with nothing else to set up (it delivers a mail every second):
//!
//! ```text
//! cargo run --example watch -- --sim [--mode streaming|pull|push]
//! ```
//!
//! Against Exchange (the password comes from `EWS_PASSWORD`; each mailbox is found through
//! Autodiscover unless `--ews-url` is given):
//!
//! ```text
//! EWS_PASSWORD=... cargo run --example watch -- --user 'CONTOSO\svc-bems' \
//!     --mailbox mara@contoso.com --mailbox sadie@contoso.com [--ews-url URL] [--ca PEM] \
//!     [--mode push --listen 0.0.0.0:8080 --callback-url http://bems.contoso.com:8080/ews]
//! ```

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bems::autodiscover::{Autodiscover, Basic, Credentials, MailboxLocator, Settings};
use bems::ews_subscriptions::{
    Mode, PullSettings, PushSettings, StreamingSettings, WatchSettings, Watcher,
};
use bems::exchange_auth::{Authenticator, BasicAuth, SecretString, Target, TransportSettings};
use bems::mailbox_watch::WatchTarget;
use bems::service::relocate::{self, Rediscover};
use clap::{Parser, ValueEnum};

/// Watches Exchange mailboxes through EWS notifications and prints every event.
#[derive(Debug, Parser)]
struct Args {
    /// Run an in-process Exchange simulator (the sample Contoso scenario) and watch its users.
    #[arg(long)]
    sim: bool,
    /// Push, streaming or pull.
    #[arg(long, value_enum, default_value_t = ModeArg::Streaming)]
    mode: ModeArg,
    /// Service account (`DOMAIN\user` or UPN).
    #[arg(long, required_unless_present = "sim")]
    user: Option<String>,
    /// Service account password.
    #[arg(long, env = "EWS_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// A mailbox to watch (repeat for several).
    #[arg(long = "mailbox")]
    mailboxes: Vec<String>,
    /// The EWS URL of every mailbox, instead of Autodiscover.
    #[arg(long)]
    ews_url: Option<url::Url>,
    /// A CA certificate (PEM) to trust besides the system's.
    #[arg(long)]
    ca: Vec<std::path::PathBuf>,
    /// Push mode: where the listener binds.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Push mode: the URL Exchange calls (defaults to the listener's address).
    #[arg(long)]
    callback_url: Option<url::Url>,
    /// Stop after this many seconds (0: run until interrupted).
    #[arg(long, default_value_t = 0)]
    seconds: u64,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ModeArg {
    Push,
    Streaming,
    Pull,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("watch: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(mut args: Args) -> Result<(), String> {
    let mut sim_handle = None;
    let mut transport = TransportSettings::default();
    let mut ad_settings = Settings::default();
    for path in &args.ca {
        let pem = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        transport.trusted_ca_pem.push(pem.clone());
        ad_settings.trusted_ca_pem.push(pem);
    }
    if args.sim {
        let sim = Arc::new(start_sim(&mut transport, &mut ad_settings).await?);
        args.user = Some("svc-bems@contoso.com".into());
        args.password = Some("Svc-Pa55w.rd".into());
        if args.mailboxes.is_empty() {
            args.mailboxes = sim
                .scenario()
                .users
                .iter()
                .map(|u| u.smtp.clone())
                .collect();
        }
        sim_handle = Some(sim);
    }
    let user = args.user.clone().ok_or("--user is required")?;
    let password = args
        .password
        .clone()
        .ok_or("the password is missing: set EWS_PASSWORD")?;
    if args.mailboxes.is_empty() {
        return Err("name at least one --mailbox".into());
    }
    let auth: Arc<dyn Authenticator> = Arc::new(
        BasicAuth::new(
            &user,
            SecretString::from(password.as_str()),
            Target::Hybrid,
            &transport,
        )
        .map_err(|e| e.to_string())?,
    );
    let locator = Arc::new(
        Autodiscover::new(
            ad_settings,
            Some(Arc::new(Basic::new(&user, &password)) as Arc<dyn Credentials>),
        )
        .map_err(|e| e.to_string())?,
    );
    let listener = match args.mode {
        ModeArg::Push => Some(
            tokio::net::TcpListener::bind(args.listen)
                .await
                .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?,
        ),
        _ => None,
    };
    let mode = match (args.mode, &listener) {
        (ModeArg::Streaming, _) => Mode::Streaming(StreamingSettings::default()),
        (ModeArg::Pull, _) => {
            let mut pull = PullSettings::default();
            pull.interval = Duration::from_secs(5);
            Mode::Pull(pull)
        }
        (ModeArg::Push, Some(listener)) => {
            let url = match &args.callback_url {
                Some(url) => url.clone(),
                None => {
                    let addr = listener.local_addr().map_err(|e| e.to_string())?;
                    format!("http://{addr}/ews/notify")
                        .parse()
                        .map_err(|e| format!("{e}"))?
                }
            };
            let mut push = PushSettings::new(url);
            push.status_frequency_minutes = 1;
            push.status_frequency = Duration::from_secs(60);
            Mode::Push(push)
        }
        (ModeArg::Push, None) => unreachable!("a push listener is bound above"),
    };
    let (watcher, mut events) = Watcher::builder(WatchSettings::new(mode), auth)
        .relocate(Arc::new(Rediscover::new(
            Arc::clone(&locator) as Arc<dyn MailboxLocator>
        )))
        .start()
        .map_err(|e| e.to_string())?;
    if let Some(listener) = listener {
        tokio::spawn(watcher.push_listener().serve(listener, None));
    }
    for mailbox in &args.mailboxes {
        let target = match &args.ews_url {
            Some(url) => WatchTarget::new(mailbox, url.clone()),
            None => {
                let found = locator
                    .discover(mailbox)
                    .await
                    .map_err(|e| format!("Autodiscover failed for {mailbox}: {e}"))?;
                eprintln!("{mailbox}: {} ({:?})", found.ews_url, found.method);
                relocate::target(&found.mailbox, &found)
            }
        };
        watcher.watch(target).map_err(|e| e.to_string())?;
    }
    if let Some(sim) = &sim_handle {
        let sim_mailboxes = args.mailboxes.clone();
        let sim = Arc::clone(sim);
        tokio::spawn(async move {
            for n in 0u64.. {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let mailbox = &sim_mailboxes[n as usize % sim_mailboxes.len()];
                let _ = sim.deliver_mail(mailbox, &format!("test mail {n}"), "demo@fabrikam.com");
            }
        });
    }
    let deadline =
        (args.seconds > 0).then(|| tokio::time::Instant::now() + Duration::from_secs(args.seconds));
    loop {
        let event = match deadline {
            Some(deadline) => match tokio::time::timeout_at(deadline, events.recv()).await {
                Ok(event) => event,
                Err(_) => break,
            },
            None => tokio::select! {
                event = events.recv() => event,
                _ = tokio::signal::ctrl_c() => break,
            },
        };
        let Some(event) = event else { break };
        println!(
            "{}",
            serde_json::to_string(&event).map_err(|e| e.to_string())?
        );
    }
    eprintln!(
        "{}",
        serde_json::to_string(&watcher.status()).map_err(|e| e.to_string())?
    );
    watcher.shutdown();
    Ok(())
}

/// Starts the simulator on the sample scenario, and points `transport` and `autodiscover` at
/// it.
async fn start_sim(
    transport: &mut TransportSettings,
    autodiscover: &mut Settings,
) -> Result<exchange_sim::Sim, String> {
    let scenario = exchange_sim::Scenario::contoso().map_err(|e| e.to_string())?;
    let sim = exchange_sim::Sim::builder()
        .scenario(scenario)
        .dns(true)
        .start()
        .await
        .map_err(|e| e.to_string())?;
    transport.trusted_ca_pem.push(sim.ca_pem().to_owned());
    for domain in &sim.scenario().domains {
        for host in [domain.external_host(), domain.internal_host()] {
            transport.resolve.push((host, sim.https_addr()));
        }
    }
    autodiscover.trusted_ca_pem.push(sim.ca_pem().to_owned());
    autodiscover.dns_server = sim.dns_addr();
    autodiscover.https_port = sim.https_addr().port();
    autodiscover.http_port = sim.http_addr().port();
    eprintln!(
        "exchange-sim on {} (delivering a mail every second)",
        sim.https_addr()
    );
    Ok(sim)
}
