//! `bems`: serve, check a configuration, test a connection, or run the demo.

use std::path::PathBuf;
use std::process::ExitCode;

use bems_settings::ServiceSettings;
use clap::{Parser, Subcommand};

/// jemalloc rather than the C library's allocator: a node that takes or hands over many
/// thousands of mailboxes at once makes short-lived peaks (store reads, Autodiscover
/// lookups), and jemalloc gives that memory back to the system afterwards, where glibc's
/// per-thread arenas keep much of it. Measured with `service_load --process` on 100,000
/// mailboxes: 210 MiB steady with jemalloc, 267 MiB with glibc.
#[cfg(all(unix, not(target_env = "msvc")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
    Demo {
        /// Then keep the demo running with the administrator's console open (its URL is
        /// printed), a mail arriving every few seconds, until Ctrl-C.
        #[arg(long)]
        console: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = log_filter(
        std::env::var("BEMS_LOG").ok(),
        std::env::var("RUST_LOG").ok(),
        default_filter(&cli.command),
    );
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
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

/// The log filter: `BEMS_LOG`, else `RUST_LOG`, else the command's default (an empty
/// variable counts as not set).
fn log_filter(bems_log: Option<String>, rust_log: Option<String>, default: &str) -> String {
    [bems_log, rust_log]
        .into_iter()
        .flatten()
        .find(|value| !value.trim().is_empty())
        .unwrap_or_else(|| default.to_owned())
}

fn default_filter(command: &Command) -> &'static str {
    match command {
        Command::Demo { .. } | Command::CheckConfig { .. } => "warn",
        _ => "info",
    }
}

/// Any command's failure, printed as `bems: <error>`.
type Failure = Box<dyn std::error::Error>;

async fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Serve { config } => {
            let settings = ServiceSettings::load(&config)?;
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
            let report = bems_service::check_config::check_config(&config).await?;
            println!("{report}");
            Ok(())
        }
        Command::TestConnection {
            config,
            email,
            tenant,
        } => {
            let settings = ServiceSettings::load(&config)?;
            let report =
                bems_service::server::test_connection(&settings, tenant.as_deref(), &email).await?;
            println!("{report}");
            if report.ok {
                Ok(())
            } else {
                Err("the test failed".into())
            }
        }
        Command::Demo { console } => {
            let report = bems_demo::run(&mut std::io::stdout(), console).await?;
            if report.pushes == report.mails && report.mails > 0 {
                Ok(())
            } else {
                Err(format!("{} mails but {} pushes", report.mails, report.pushes).into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! `check-config` opens every file the settings name, as `serve` does.

    use std::path::{Path, PathBuf};

    use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};

    use super::{Command, log_filter, run};

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        path
    }

    /// A client certificate and its key in a `.pfx` sealed with `password`.
    fn pfx(password: &str) -> Vec<u8> {
        let certified = rcgen::generate_simple_self_signed(vec!["svc-bems.contoso.com".into()])
            .unwrap_or_else(|e| panic!("{e}"));
        let key = PrivateKey::from_der(&certified.signing_key.serialize_der())
            .unwrap_or_else(|e| panic!("{e}"));
        let cert = Certificate::from_der(certified.cert.der()).unwrap_or_else(|e| panic!("{e}"));
        let chain = PrivateKeyChain::new(b"bems".to_vec(), key, [cert]);
        let mut store = KeyStore::new();
        store.add_entry("bems", KeyStoreEntry::PrivateKeyChain(chain));
        store
            .writer(password)
            .write()
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// A configuration whose files all open: an APNs key, the server's TLS certificate and key,
    /// a tenant with a client certificate. Returns the directory and the file.
    fn good() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let d = dir.path();
        let p8 = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .unwrap_or_else(|e| panic!("{e}"));
        let server = rcgen::generate_simple_self_signed(vec!["bems.contoso.com".into()])
            .unwrap_or_else(|e| panic!("{e}"));
        write(d, "admin.token", b"0123456789abcdef0123456789abcdef\n");
        write(d, "apns.p8", p8.serialize_pem().as_bytes());
        write(d, "bems.crt", server.cert.pem().as_bytes());
        write(d, "bems.key", server.signing_key.serialize_pem().as_bytes());
        write(d, "client.pfx", &pfx("Pfx-Pa55"));
        write(d, "pfx.password", b"Pfx-Pa55\n");
        let at = |name: &str| format!("{:?}", d.join(name).display().to_string());
        let text = format!(
            "[server]\ntls_cert_file = {}\ntls_key_file = {}\n\
             [admin]\ntoken_file = {}\n\
             [push.apns]\nteam_id = \"ABCDE12345\"\nkey_id = \"KEY1234567\"\nkey_file = {}\n\
             topic = \"com.contoso.mail\"\n\
             [[tenants]]\nid = \"contoso\"\nexchange = \"on_premises\"\n\
             authentication = \"client_certificate\"\n\
             [tenants.client_certificate]\npfx_file = {}\npassword_file = {}\n",
            at("bems.crt"),
            at("bems.key"),
            at("admin.token"),
            at("apns.p8"),
            at("client.pfx"),
            at("pfx.password"),
        );
        let config = write(d, "bems.toml", text.as_bytes());
        (dir, config)
    }

    async fn check(config: &Path) -> Result<(), String> {
        run(Command::CheckConfig {
            config: config.to_owned(),
        })
        .await
        .map_err(|e| e.to_string())
    }

    /// Breaks one file of [`good`]'s directory `d` (configuration `config`).
    type Break = fn(d: &Path, config: &Path);

    fn wrong_password(d: &Path, _: &Path) {
        write(d, "pfx.password", b"wrong\n");
    }

    fn no_pfx(d: &Path, _: &Path) {
        let _ = std::fs::remove_file(d.join("client.pfx"));
    }

    fn not_pkcs12(d: &Path, _: &Path) {
        write(d, "client.pfx", b"not PKCS#12");
    }

    fn no_p8(d: &Path, _: &Path) {
        let _ = std::fs::remove_file(d.join("apns.p8"));
    }

    fn empty_fcm_account(d: &Path, config: &Path) {
        let fcm = write(d, "fcm.json", b"{}");
        let text = std::fs::read_to_string(config).unwrap_or_else(|e| panic!("{e}"));
        let section = format!(
            "[push.fcm]\nservice_account_file = {:?}\n[[tenants]]",
            fcm.display().to_string()
        );
        std::fs::write(config, text.replace("[[tenants]]", &section))
            .unwrap_or_else(|e| panic!("{e}"));
    }

    fn no_tls_certificate(d: &Path, _: &Path) {
        let _ = std::fs::remove_file(d.join("bems.crt"));
    }

    #[test]
    fn bems_log_wins_over_rust_log_which_wins_over_the_default() {
        let some = |s: &str| Some(s.to_owned());
        assert_eq!(log_filter(some("debug"), some("trace"), "info"), "debug");
        assert_eq!(log_filter(None, some("trace"), "info"), "trace");
        assert_eq!(log_filter(some(""), some("trace"), "info"), "trace");
        assert_eq!(log_filter(None, None, "warn"), "warn");
    }

    #[tokio::test]
    async fn check_config_opens_every_file_the_settings_name() {
        let (_dir, config) = good();
        check(&config).await.unwrap_or_else(|e| panic!("{e}"));
        // What is broken, how, and what the refusal names.
        let cases: [(&str, Break, &str); 6] = [
            (
                "a .pfx with the wrong password",
                wrong_password,
                "client_certificate",
            ),
            ("a missing .pfx", no_pfx, "client_certificate.pfx_file"),
            (
                "a .pfx that is not PKCS#12",
                not_pkcs12,
                "client_certificate",
            ),
            ("a missing .p8", no_p8, "push.apns.key_file"),
            (
                "an FCM service account of {}",
                empty_fcm_account,
                "push.fcm",
            ),
            (
                "a missing TLS certificate",
                no_tls_certificate,
                "server.tls_cert_file",
            ),
        ];
        let mut wrong = Vec::new();
        for (what, break_it, named) in cases {
            let (dir, config) = good();
            break_it(dir.path(), &config);
            match check(&config).await {
                Ok(()) => wrong.push(format!("{what}: valid")),
                Err(error) if !error.contains(named) => {
                    wrong.push(format!("{what}: does not name {named}: {error}"));
                }
                Err(_) => {}
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
    }
}
