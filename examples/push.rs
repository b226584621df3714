//! Sends one notification with a given configuration, and prints what became of it.
//!
//! ```text
//! # To the mock APNs of exchange-sim, started in-process (no credentials needed):
//! cargo run --example push -- --mock --platform apns --title "New mail" --body "From: Mara"
//! # To the mock FCM:
//! cargo run --example push -- --mock --platform fcm --title "New mail" --body "From: Mara"
//! # To Apple's sandbox with a .p8 key:
//! cargo run --example push -- --platform apns --endpoint sandbox \
//!     --team-id TEAM123456 --key-id KEY1234567 --p8 AuthKey_KEY1234567.p8 \
//!     --topic com.example.mail --token <64 hex digits> --title Hi --body there
//! # With a .p12 certificate instead: --p12 cert.p12 --p12-password secret
//! # To FCM with a service account:
//! cargo run --example push -- --platform fcm \
//!     --service-account service-account.json --token <registration token> --title Hi --body there
//! ```
//!
//! Exit status: 0 delivered, 2 token invalid (delete the device), 3 retry later, 1 otherwise.

use std::path::PathBuf;
use std::time::Duration;

use bems::push_delivery::{
    ApnsAuth, ApnsConfig, ApnsEndpoint, ApnsSender, DeviceToken, Dispatcher, DispatcherConfig,
    FcmConfig, FcmSender, Notification, Outcome, Platform, Priority, Push, PushSender,
};
use clap::{Parser, ValueEnum};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Which {
    Apns,
    Fcm,
}

/// Send one push notification through APNs or FCM.
#[derive(Debug, Parser)]
struct Args {
    /// APNs or FCM.
    #[arg(long, value_enum)]
    platform: Which,
    /// Start exchange-sim's mock APNs / FCM in this process and send to it.
    #[arg(long)]
    mock: bool,
    /// The device token (APNs: hex; FCM: registration token). With --mock, a made-up one.
    #[arg(long)]
    token: Option<String>,

    /// APNs: production, sandbox, or an https:// URL.
    #[arg(long, default_value = "production")]
    endpoint: String,
    /// APNs token auth: the team id.
    #[arg(long)]
    team_id: Option<String>,
    /// APNs token auth: the key id.
    #[arg(long)]
    key_id: Option<String>,
    /// APNs token auth: the .p8 key file.
    #[arg(long)]
    p8: Option<PathBuf>,
    /// APNs certificate auth: the .p12 / .pfx file.
    #[arg(long)]
    p12: Option<PathBuf>,
    /// APNs certificate auth: the .p12 password.
    #[arg(
        long,
        env = "APNS_P12_PASSWORD",
        default_value = "",
        hide_env_values = true
    )]
    p12_password: String,
    /// APNs: the app's bundle id (apns-topic).
    #[arg(long)]
    topic: Option<String>,

    /// FCM: the service-account JSON file.
    #[arg(long)]
    service_account: Option<PathBuf>,
    /// FCM: the base URL (default https://fcm.googleapis.com).
    #[arg(long)]
    fcm_url: Option<String>,
    /// FCM: exchange assertions here instead of the file's token_uri.
    #[arg(long)]
    token_url: Option<String>,

    /// Extra CA certificate (PEM file) to trust; repeatable.
    #[arg(long)]
    ca: Vec<PathBuf>,

    /// Title.
    #[arg(long)]
    title: Option<String>,
    /// Body.
    #[arg(long)]
    body: Option<String>,
    /// Badge.
    #[arg(long)]
    badge: Option<u32>,
    /// Sound.
    #[arg(long)]
    sound: Option<String>,
    /// Collapse id (APNs apns-collapse-id, FCM collapse_key).
    #[arg(long)]
    collapse_id: Option<String>,
    /// Time to live, in seconds.
    #[arg(long)]
    ttl: Option<u64>,
    /// Send a silent background notification instead of an alert.
    #[arg(long)]
    background: bool,
    /// Normal (power-aware) priority instead of high.
    #[arg(long)]
    normal_priority: bool,
    /// Custom data, key=value; repeatable.
    #[arg(long, value_parser = key_value)]
    data: Vec<(String, String)>,
    /// Retry with backoff (through a Dispatcher) for at most this many seconds; 0 sends once.
    #[arg(long, default_value_t = 0)]
    retry_for: u64,
}

fn key_value(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{text:?} is not key=value"))
}

type Failure = Box<dyn std::error::Error>;

fn read(path: &PathBuf) -> Result<String, Failure> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()).into())
}

fn notification(args: &Args) -> Notification {
    let mut n = if args.background {
        Notification::background()
    } else {
        let mut n = Notification::default();
        n.title = args.title.clone();
        n.body = args.body.clone();
        n
    };
    n.badge = args.badge;
    n.sound = args.sound.clone();
    n.collapse_id = args.collapse_id.clone();
    n.ttl = args.ttl.map(Duration::from_secs);
    if args.normal_priority {
        n.priority = Priority::Normal;
    }
    for (k, v) in &args.data {
        n.data.insert(k.clone(), v.clone());
    }
    n
}

/// Keeps a mock alive while sending.
enum Mock {
    None,
    Apns(#[allow(dead_code)] exchange_sim::push::MockApns),
    Fcm(#[allow(dead_code)] exchange_sim::push::MockFcm),
}

async fn apns_sender(args: &Args) -> Result<(ApnsSender, Mock, String), Failure> {
    let extra: Vec<String> = args.ca.iter().map(read).collect::<Result<_, _>>()?;
    if args.mock {
        use exchange_sim::push::{MockApns, MockApnsConfig, keys};
        let key = keys::p8_key_pair()?;
        let topic = args
            .topic
            .clone()
            .unwrap_or_else(|| "com.example.mail".into());
        let mock = MockApns::start(MockApnsConfig::new(
            "TEAM123456",
            "KEY1234567",
            key.public_pem.clone(),
            topic.as_str(),
        ))
        .await?;
        let mut config = ApnsConfig::new(
            ApnsAuth::token("TEAM123456", "KEY1234567", key.private_pem.clone()),
            topic,
        );
        config.endpoint = ApnsEndpoint::Url(mock.url());
        config.extra_ca_pem = vec![mock.ca_pem().to_owned()];
        config.trust_system_roots = false;
        let token = args.token.clone().unwrap_or_else(|| "ab".repeat(32));
        eprintln!("mock APNs at {}", mock.url());
        return Ok((ApnsSender::new(config)?, Mock::Apns(mock), token));
    }
    let auth = match (&args.p8, &args.p12) {
        (Some(p8), None) => ApnsAuth::token(
            args.team_id
                .clone()
                .ok_or("--team-id is required with --p8")?,
            args.key_id
                .clone()
                .ok_or("--key-id is required with --p8")?,
            read(p8)?,
        ),
        (None, Some(p12)) => ApnsAuth::certificate(
            std::fs::read(p12).map_err(|e| format!("{}: {e}", p12.display()))?,
            args.p12_password.clone(),
        ),
        _ => return Err("give either --p8 (with --team-id, --key-id) or --p12".into()),
    };
    let mut config = ApnsConfig::new(auth, args.topic.clone().ok_or("--topic is required")?);
    config.endpoint = match args.endpoint.as_str() {
        "production" => ApnsEndpoint::Production,
        "sandbox" | "development" => ApnsEndpoint::Sandbox,
        url => ApnsEndpoint::Url(url.to_owned()),
    };
    config.extra_ca_pem = extra;
    config.connections = 1;
    let token = args.token.clone().ok_or("--token is required")?;
    Ok((ApnsSender::new(config)?, Mock::None, token))
}

async fn fcm_sender(args: &Args) -> Result<(FcmSender, Mock, String), Failure> {
    let extra: Vec<String> = args.ca.iter().map(read).collect::<Result<_, _>>()?;
    if args.mock {
        use exchange_sim::push::{MockFcm, MockFcmConfig, keys};
        let key = keys::rsa_key_pair()?;
        let mock = MockFcm::start(MockFcmConfig::new(
            "bems-demo",
            "push@bems-demo.iam.gserviceaccount.com",
            key.public_pem.clone(),
        ))
        .await?;
        let mut config = FcmConfig::new(mock.service_account_json(&key.private_pem));
        config.base_url = mock.url();
        config.extra_ca_pem = vec![mock.ca_pem().to_owned()];
        config.trust_system_roots = false;
        eprintln!(
            "mock FCM at {} (token endpoint {})",
            mock.url(),
            mock.token_uri()
        );
        let token = args
            .token
            .clone()
            .unwrap_or_else(|| "demo-registration-token".into());
        return Ok((FcmSender::new(config)?, Mock::Fcm(mock), token));
    }
    let account = read(
        args.service_account
            .as_ref()
            .ok_or("--service-account is required")?,
    )?;
    let mut config = FcmConfig::new(account);
    if let Some(url) = &args.fcm_url {
        config.base_url = url.clone();
    }
    config.token_url = args.token_url.clone();
    config.extra_ca_pem = extra;
    let token = args.token.clone().ok_or("--token is required")?;
    Ok((FcmSender::new(config)?, Mock::None, token))
}

async fn run(args: Args) -> Result<Outcome, Failure> {
    let (sender, _mock, token): (std::sync::Arc<dyn PushSender>, Mock, String) = match args.platform
    {
        Which::Apns => {
            let (s, m, t) = apns_sender(&args).await?;
            (std::sync::Arc::new(s), m, t)
        }
        Which::Fcm => {
            let (s, m, t) = fcm_sender(&args).await?;
            (std::sync::Arc::new(s), m, t)
        }
    };
    let platform = match args.platform {
        Which::Apns => Platform::Apns,
        Which::Fcm => Platform::Fcm,
    };
    let push = Push::new(DeviceToken::new(platform, &token)?, notification(&args));
    eprintln!(
        "sending push {} to {platform} token {:?}",
        push.id(),
        push.token
    );
    if args.retry_for == 0 {
        return Ok(sender.send(&push).await);
    }
    let mut config = DispatcherConfig::default();
    config.retry.max_elapsed = Duration::from_secs(args.retry_for);
    let dispatcher = Dispatcher::new(sender, config);
    let receipt = dispatcher.submit(push).await?;
    let outcome = receipt.outcome().await;
    dispatcher.shutdown(Duration::from_secs(1)).await;
    Ok(outcome)
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("push: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(outcome) => {
            println!("{outcome:?}");
            std::process::ExitCode::from(match outcome {
                Outcome::Delivered { .. } => 0,
                Outcome::TokenInvalid { .. } => 2,
                Outcome::Retry { .. } => 3,
                _ => 1,
            })
        }
        Err(e) => {
            eprintln!("push: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
