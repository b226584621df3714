//! `exchange-sim`: run the simulator from a TOML scenario.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use exchange_sim::{Scenario, Sim};

/// A faithful Exchange simulator: Autodiscover, EWS notifications, a mock identity platform.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The scenario file (TOML): domains, servers, users, service accounts, apps, hosts.
    #[arg(long, env = "EXCHANGE_SIM_SCENARIO")]
    scenario: PathBuf,
    /// HTTPS listen address.
    #[arg(long, default_value = "127.0.0.1:8443")]
    https: SocketAddr,
    /// Plain HTTP listen address (Autodiscover redirects, push-free admin access).
    #[arg(long, default_value = "127.0.0.1:8080")]
    http: SocketAddr,
    /// Where to write the CA certificate (PEM) clients must trust.
    #[arg(long, default_value = "exchange-sim-ca.pem")]
    ca_out: PathBuf,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    match run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("exchange-sim: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let scenario = Scenario::from_file(&args.scenario).map_err(|e| e.to_string())?;
    let sim = Sim::builder()
        .scenario(scenario)
        .https(args.https)
        .http(args.http)
        .start()
        .await
        .map_err(|e| e.to_string())?;
    std::fs::write(&args.ca_out, sim.ca_pem())
        .map_err(|e| format!("{}: {e}", args.ca_out.display()))?;
    use std::fmt::Write as _;
    let mut banner = String::from("exchange-sim is running\n");
    let _ = writeln!(
        banner,
        "  HTTPS  {}   HTTP  {}",
        sim.https_addr(),
        sim.http_addr()
    );
    let _ = writeln!(
        banner,
        "  CA certificate written to {}",
        args.ca_out.display()
    );
    let _ = writeln!(
        banner,
        "  token endpoint {}",
        sim.identity().token_endpoint()
    );
    for user in &sim.scenario().users {
        let ews = sim.ews_url(&user.smtp).unwrap_or_default();
        let _ = writeln!(banner, "  mailbox {:<28} EWS {ews}", user.smtp);
    }
    let _ = writeln!(banner, "  admin   http://{}/_sim/stats", sim.http_addr());
    banner.push_str(
        "Resolve the scenario's host names to 127.0.0.1 (curl --resolve, /etc/hosts or a DNS server). Ctrl-C stops.\n",
    );
    // Whoever started us may stop reading once it has the addresses: a closed stdout must not
    // stop a running server (println! would panic on the broken pipe).
    let mut stdout = std::io::stdout().lock();
    let _ = std::io::Write::write_all(&mut stdout, banner.as_bytes());
    let _ = std::io::Write::flush(&mut stdout);
    drop(stdout);
    tokio::signal::ctrl_c().await.map_err(|e| e.to_string())?;
    Ok(())
}
