//! Find a mailbox's EWS endpoint and print every candidate tried.
//!
//! ```text
//! cargo run --example autodiscover -- user@domain [--override URL] [--dns IP:PORT] [--dc HOST]
//!     [--ldaps] [--site SITE] [--ca PEM] [--ca-only] [--user U --password P] [--no-redirect-srv]
//!     [--https-port N] [--http-port N] [--proxy URL] [--internal] [--json]
//! ```

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use bems::autodiscover::{
    Autodiscover, Basic, Credentials, Discovery, Error, ScpSettings, SecretString, Settings,
    TraceEntry,
};
use clap::Parser;

/// Finds a mailbox's EWS endpoint through Exchange Autodiscover.
#[derive(Debug, Parser)]
struct Args {
    /// The mailbox's address.
    email: String,
    /// Autodiscover URL override: only this URL is asked.
    #[arg(long = "override")]
    override_url: Option<url::Url>,
    /// DNS server for every lookup (IP:PORT).
    #[arg(long)]
    dns: Option<SocketAddr>,
    /// Domain controller for SCP lookup (repeat for several).
    #[arg(long)]
    dc: Vec<String>,
    /// Use LDAPS for SCP lookup.
    #[arg(long)]
    ldaps: bool,
    /// This host's Active Directory site (SCPs of that site rank first).
    #[arg(long)]
    site: Option<String>,
    /// A CA certificate file (PEM) to trust, for Exchange and the domain controllers.
    #[arg(long)]
    ca: Vec<std::path::PathBuf>,
    /// Trust only the given CAs, not the system's.
    #[arg(long)]
    ca_only: bool,
    /// Service account user (`DOMAIN\user` or UPN).
    #[arg(long)]
    user: Option<String>,
    /// Service account password.
    #[arg(long, env = "AUTODISCOVER_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Do not use the plain-HTTP redirect or DNS SRV.
    #[arg(long)]
    no_redirect_srv: bool,
    /// Port of HTTPS candidates.
    #[arg(long, default_value_t = 443)]
    https_port: u16,
    /// Port of the plain-HTTP redirect probe.
    #[arg(long, default_value_t = 80)]
    http_port: u16,
    /// Proxy for every connection (`http://host:port` or `socks5://host:port`).
    #[arg(long)]
    proxy: Option<url::Url>,
    /// Prefer the internal EWS URL.
    #[arg(long)]
    internal: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let mut settings = Settings::default();
    settings.override_url = args.override_url.clone();
    settings.dns_server = args.dns;
    settings.allow_redirect_and_srv = !args.no_redirect_srv;
    settings.https_port = args.https_port;
    settings.http_port = args.http_port;
    settings.proxy = args.proxy.clone();
    settings.use_internal_ews_url = args.internal;
    settings.trusted_ca_only = args.ca_only;
    for path in &args.ca {
        match std::fs::read_to_string(path) {
            Ok(pem) => settings.trusted_ca_pem.push(pem),
            Err(error) => {
                eprintln!("cannot read {}: {error}", path.display());
                return ExitCode::FAILURE;
            }
        }
    }
    if !args.dc.is_empty() {
        let mut scp = ScpSettings::default();
        scp.domain_controllers = args.dc.clone();
        scp.ldaps = args.ldaps;
        scp.site = args.site.clone();
        scp.bind_user = args.user.clone();
        scp.bind_password = args.password.clone().map(SecretString::from);
        settings.scp = Some(scp);
    }
    let credentials: Option<Arc<dyn Credentials>> = match (&args.user, &args.password) {
        (Some(user), Some(password)) => Some(Arc::new(Basic::new(user.clone(), password.clone()))),
        _ => None,
    };
    let locator = match Autodiscover::new(settings, credentials) {
        Ok(locator) => locator,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    let result = locator.discover(&args.email).await;
    if args.json {
        let value = match &result {
            Ok(found) => serde_json::json!({ "ok": true, "discovery": found }),
            Err(error) => {
                serde_json::json!({ "ok": false, "error": error.to_string(), "trace": error.trace() })
            }
        };
        println!("{value}");
    } else {
        match &result {
            Ok(found) => print_found(found),
            Err(error) => print_error(error),
        }
    }
    if result.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn print_found(found: &Discovery) {
    println!("EWS URL:              {}", found.ews_url);
    println!(
        "external EWS URL:     {}",
        found.external_ews_url.as_ref().map_or("-", |u| u.as_str())
    );
    println!(
        "internal EWS URL:     {}",
        found.internal_ews_url.as_ref().map_or("-", |u| u.as_str())
    );
    println!(
        "GroupingInformation:  {}",
        found.grouping_information.as_deref().unwrap_or("-")
    );
    println!(
        "server version:       {}",
        found.server_version.as_deref().unwrap_or("-")
    );
    println!("mailbox:              {}", found.mailbox);
    println!(
        "found by:             {:?} at {}",
        found.method, found.source
    );
    print_trace(&found.trace);
}

fn print_error(error: &Error) {
    println!("failed: {error}");
    print_trace(error.trace());
}

fn print_trace(trace: &[TraceEntry]) {
    println!("candidates:");
    for entry in trace {
        let credentials = if entry.credentials_sent {
            " [credentials]"
        } else {
            ""
        };
        println!(
            "  {:>6} ms  {:<13} {}{credentials}\n             {:?}",
            entry.elapsed.as_millis(),
            format!("{:?}", entry.method),
            entry.target,
            entry.outcome
        );
    }
}
