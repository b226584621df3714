//! `bems`: serve, check a configuration, test a connection, or run the demo.

use std::path::PathBuf;
use std::process::ExitCode;

use bems_service::settings::ServiceSettings;
use clap::{Parser, Subcommand};

/// Email notifications for Microsoft Exchange mailboxes, pushed to phones.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service.
    Serve {
        /// The settings file (TOML; `BEMS_<SECTION>__<FIELD>` variables override it).
        #[arg(long)]
        config: PathBuf,
    },
    /// Load and validate a settings file; print every problem.
    CheckConfig {
        /// The settings file.
        config: PathBuf,
    },
    /// Test the connection to Exchange for an address: Autodiscover, authentication, an EWS
    /// call, a subscription.
    TestConnection {
        /// The settings file.
        #[arg(long)]
        config: PathBuf,
        /// The address to test.
        #[arg(long)]
        email: String,
        /// The tenant (the first one when left out).
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Run Exchange (the simulator), mock APNs and FCM, and the service on loopback; register
    /// devices, deliver mail, and show every push.
    Demo,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BEMS_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new(default_filter(&cli.command))
            }),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("bems: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bems: {error}");
            ExitCode::FAILURE
        }
    }
}

fn default_filter(command: &Command) -> &'static str {
    match command {
        Command::Demo | Command::CheckConfig { .. } => "warn",
        _ => "info",
    }
}

async fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Serve { config } => {
            let settings = ServiceSettings::load(&config).map_err(|e| e.to_string())?;
            let mut running = bems_service::server::start(&settings, &Default::default()).await?;
            eprintln!("bems: listening on {}", running.addr);
            tokio::select! {
                () = running.wait() => Err("the server stopped".into()),
                _ = tokio::signal::ctrl_c() => {
                    eprintln!("bems: stopping");
                    running.stop().await;
                    Ok(())
                }
            }
        }
        Command::CheckConfig { config } => {
            let settings = ServiceSettings::load(&config).map_err(|e| e.to_string())?;
            println!("{}: valid", config.display());
            for tenant in &settings.tenants {
                let registration = if tenant.registration.jwks_uri.is_some() {
                    "devices register with the identity provider's tokens"
                } else {
                    "no [tenants.registration]: device registrations will be refused"
                };
                println!(
                    "  tenant {}: {:?} Exchange, {:?} authentication, {:?} subscriptions; {registration}",
                    tenant.id, tenant.exchange, tenant.authentication, tenant.subscription.mode
                );
            }
            Ok(())
        }
        Command::TestConnection {
            config,
            email,
            tenant,
        } => {
            let settings = ServiceSettings::load(&config).map_err(|e| e.to_string())?;
            let report =
                bems_service::server::test_connection(&settings, tenant.as_deref(), &email).await?;
            println!("{report}");
            if report.ok {
                Ok(())
            } else {
                Err("the test failed".into())
            }
        }
        Command::Demo => {
            let report = bems_service::demo::run(&mut std::io::stdout()).await?;
            if report.pushes == report.mails && report.mails > 0 {
                Ok(())
            } else {
                Err(format!(
                    "{} mails but {} pushes",
                    report.mails, report.pushes
                ))
            }
        }
    }
}
