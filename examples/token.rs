//! Obtain an OAuth token for EWS the way the service would, and print its expiry and scopes
//! (never the token).
//!
//! ```text
//! CLIENT_SECRET=... cargo run --example token -- --authority https://login.microsoftonline.com/contoso.onmicrosoft.com \
//!     --client-id 11111111-1111-1111-1111-111111111111 [--server https://outlook.office365.com]
//! cargo run --example token -- --authority URL --client-id ID --pfx app.pfx      # PFX_PASSWORD in the environment
//! cargo run --example token -- --authority URL --client-id ID --user svc@contoso.com   # SERVICE_PASSWORD
//! cargo run --example token -- --sim                                              # against exchange-sim
//! ```

use std::process::ExitCode;

use bems::exchange_auth::{
    AssertionAlgorithm, ClientCertificate, Grant, ModernAuth, OAuthTokens, SecretString,
    TokenSource, TransportSettings,
};
use clap::Parser;

/// Obtains an EWS access token from the Microsoft identity platform (or the simulator's).
#[derive(Debug, Parser)]
struct Args {
    /// Run exchange-sim's identity platform and ask it (sample Contoso app, client secret).
    #[arg(long)]
    sim: bool,
    /// Authentication authority (`https://login.microsoftonline.com/<tenant>`).
    #[arg(long, required_unless_present = "sim")]
    authority: Option<url::Url>,
    /// Client application ID.
    #[arg(long, required_unless_present = "sim")]
    client_id: Option<String>,
    /// Server name: the resource the token is for.
    #[arg(long, default_value = "https://outlook.office365.com")]
    server: String,
    /// Client secret (client credentials).
    #[arg(long, env = "CLIENT_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// The app's certificate (client credentials with an assertion); its password in
    /// `PFX_PASSWORD`.
    #[arg(long)]
    pfx: Option<std::path::PathBuf>,
    /// `.pfx` password.
    #[arg(long, env = "PFX_PASSWORD", hide_env_values = true)]
    pfx_password: Option<String>,
    /// Sign the assertion with RS256 and `x5t` instead of PS256 and `x5t#S256`.
    #[arg(long)]
    rs256: bool,
    /// Service account UPN (password grant); its password in `SERVICE_PASSWORD`.
    #[arg(long)]
    user: Option<String>,
    /// Service account password.
    #[arg(long, env = "SERVICE_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// A CA certificate (PEM) to trust besides the system's.
    #[arg(long)]
    ca: Vec<std::path::PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("token: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(mut args: Args) -> Result<(), String> {
    let mut transport = TransportSettings::default();
    for path in &args.ca {
        transport.trusted_ca_pem.push(
            std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
        );
    }
    let _sim = if args.sim {
        let scenario = exchange_sim::Scenario::contoso().map_err(|e| e.to_string())?;
        let sim = exchange_sim::Sim::builder()
            .scenario(scenario)
            .start()
            .await
            .map_err(|e| e.to_string())?;
        transport.trusted_ca_pem.push(sim.ca_pem().to_owned());
        transport
            .resolve
            .push((sim.scenario().login_host.clone(), sim.https_addr()));
        args.authority = Some(
            sim.identity()
                .authority()
                .parse()
                .map_err(|e| format!("{e}"))?,
        );
        let app = sim
            .scenario()
            .apps
            .first()
            .ok_or("the scenario has no app")?;
        args.client_id = Some(app.client_id.clone());
        args.secret = Some(app.secret.clone());
        Some(sim)
    } else {
        None
    };
    let authority = args.authority.clone().ok_or("--authority is required")?;
    let client_id = args.client_id.clone().ok_or("--client-id is required")?;
    let grant = grant(&args)?;
    let config = ModernAuth::new(authority, client_id, args.server.clone());
    let tokens = OAuthTokens::new(config, grant, &transport).map_err(|e| e.to_string())?;
    let token = tokens.token().await.map_err(|e| e.to_string())?;
    let now = time::OffsetDateTime::now_utc();
    println!(
        "{}",
        serde_json::json!({
            "expires_at": token.expires_at().format(&time::format_description::well_known::Rfc3339).map_err(|e| e.to_string())?,
            "expires_in_seconds": (token.expires_at() - now).whole_seconds(),
            "scopes": token.scopes(),
        })
    );
    Ok(())
}

fn grant(args: &Args) -> Result<Grant, String> {
    if let Some(path) = &args.pfx {
        let pfx =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let password = SecretString::from(args.pfx_password.as_deref().unwrap_or_default());
        let certificate =
            ClientCertificate::from_pfx(&pfx, &password).map_err(|e| e.to_string())?;
        let algorithm = if args.rs256 {
            AssertionAlgorithm::Rs256
        } else {
            AssertionAlgorithm::Ps256
        };
        return Ok(Grant::ClientCertificate {
            certificate,
            algorithm,
        });
    }
    if let Some(user) = &args.user {
        let password = args
            .password
            .as_deref()
            .ok_or("the password grant needs SERVICE_PASSWORD")?;
        return Ok(Grant::Password {
            user: user.clone(),
            password: SecretString::from(password),
        });
    }
    let secret = args
        .secret
        .as_deref()
        .ok_or("give CLIENT_SECRET, --pfx, or --user (see --help)")?;
    Ok(Grant::ClientSecret(SecretString::from(secret)))
}
