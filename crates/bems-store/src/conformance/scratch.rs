//! A scratch PostgreSQL database per test, from `BEMS_POSTGRES_URL` (behind the features
//! `conformance` and `postgres`): the backend's own tests and any test of a service on
//! PostgreSQL make one with [`scratch`].

use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};

use tokio_postgres::NoTls;

/// A database made for one check, dropped (with its connections) when this is dropped.
pub struct Scratch {
    admin: String,
    name: String,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Drop runs inside the test's runtime: the database is dropped from a thread of
        // its own, with a runtime of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let client = admin_client(&admin).await;
                client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            let _ = writeln!(
                std::io::stderr(),
                "note: the scratch database {} was not dropped: {dropped:?}",
                self.name
            );
        }
    }
}

/// A connection to `url`, its connection task spawned on the current runtime.
pub async fn admin_client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|e| {
            panic!("BEMS_POSTGRES_URL is set but PostgreSQL does not answer ({e}): run scripts/postgres/start.sh")
        });
    tokio::spawn(connection);
    client
}

/// `url` naming the database `name` instead of its own.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let (scheme, rest) = base
        .split_once("://")
        .expect("BEMS_POSTGRES_URL is a postgres:// URL");
    let authority = rest
        .split_once('/')
        .map_or(rest, |(authority, _)| authority);
    match query {
        Some(query) => format!("{scheme}://{authority}/{name}?{query}"),
        None => format!("{scheme}://{authority}/{name}"),
    }
}

/// A fresh, empty database and its URL; `None` (with a note naming `test`) when PostgreSQL is not
/// asked for, or a panic when it is required (`BEMS_REQUIRE_SERVICES=1`) and missing.
pub async fn scratch(test: &str) -> Option<(String, Scratch)> {
    let Ok(admin) = std::env::var("BEMS_POSTGRES_URL") else {
        if std::env::var("BEMS_REQUIRE_SERVICES").is_ok_and(|v| v == "1") {
            panic!(
                "BEMS_REQUIRE_SERVICES=1 but BEMS_POSTGRES_URL is not set: run \
                 eval \"$(scripts/postgres/start.sh)\" first"
            );
        }
        // Straight to stderr: the test harness captures print macros of passing tests.
        let _ = writeln!(
            std::io::stderr(),
            "note: {test} SKIPPED: BEMS_POSTGRES_URL is not set (see scripts/postgres/start.sh)"
        );
        return None;
    };
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "bems_test_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let client = admin_client(&admin).await;
    // One statement each: CREATE DATABASE cannot run in a transaction block.
    for sql in [
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        format!("CREATE DATABASE {name}"),
    ] {
        client
            .batch_execute(&sql)
            .await
            .unwrap_or_else(|e| panic!("cannot create the scratch database {name}: {e:?}"));
    }
    let url = with_database(&admin, &name);
    Some((url, Scratch { admin, name }))
}
