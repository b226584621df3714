//! Runs the mock APNs of exchange-sim on its own, for load tests from another process.
//!
//! ```text
//! cargo run --release -p push-delivery --example push_mock -- --out /tmp/apns-mock --port 8443
//! ```
//!
//! Writes `ca.pem` (trust it), `key.p8` (sign with it; team `TEAM123456`, key `KEY1234567`,
//! topic `com.example.mail`) and `url` into `--out`, then serves until interrupted.

use std::path::PathBuf;

use clap::Parser;
use exchange_sim::push::{MockApns, MockApnsConfig, keys};

/// A mock APNs on loopback.
#[derive(Debug, Parser)]
struct Args {
    /// Where to write ca.pem, key.p8 and url.
    #[arg(long, default_value = "apns-mock")]
    out: PathBuf,
    /// The port (0: any free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// SETTINGS_MAX_CONCURRENT_STREAMS.
    #[arg(long, default_value_t = 1000)]
    max_streams: u32,
    /// Requests kept in memory (0 for load tests).
    #[arg(long, default_value_t = 0)]
    record_limit: usize,
    /// Seconds before a new provider token is accepted after the previous one (Apple: 1200;
    /// 0 lets load runs from several processes, each with its own token, follow each other).
    #[arg(long, default_value_t = 1200)]
    min_token_refresh: u64,
    /// Runtime worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = args.threads {
        runtime.worker_threads(threads);
    }
    runtime.enable_all().build()?.block_on(async move {
        let key = keys::p8_key_pair()?;
        let mut config = MockApnsConfig::new(
            "TEAM123456",
            "KEY1234567",
            key.public_pem.clone(),
            "com.example.mail",
        );
        config.max_concurrent_streams = args.max_streams;
        config.record_limit = args.record_limit;
        config.min_token_refresh = std::time::Duration::from_secs(args.min_token_refresh);
        config.address = ([127, 0, 0, 1], args.port).into();
        let mock = MockApns::start(config).await?;
        std::fs::create_dir_all(&args.out)?;
        std::fs::write(args.out.join("ca.pem"), mock.ca_pem())?;
        std::fs::write(args.out.join("key.p8"), &key.private_pem)?;
        std::fs::write(args.out.join("url"), mock.url())?;
        println!("{}", mock.url());
        tokio::signal::ctrl_c().await?;
        let stats = mock.stats();
        eprintln!("{stats:?}");
        Ok(())
    })
}
