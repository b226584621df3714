//! The store conformance suite against [`SqliteStore`], in memory and in a file, and against
//! [`PostgresStore`] when PostgreSQL is at hand.

mod in_memory {
    use std::sync::Arc;

    use bems_store::{SqliteStore, Store, StoreKey};

    bems_store::conformance_tests!(async {
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::in_memory(StoreKey::generate().unwrap())
                .await
                .unwrap(),
        );
        store
    });
}

mod in_a_file {
    use std::sync::Arc;

    use bems_store::{SqliteStore, Store, StoreKey};

    bems_store::conformance_tests!(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bems.db");
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(path, StoreKey::generate().unwrap())
                .await
                .unwrap(),
        );
        (store, dir)
    });
}

/// The suite against [`PostgresStore`](bems_store::PostgresStore), each check in a database of
/// its own, created from `BEMS_POSTGRES_URL` (a `postgres://` URL of a role that may create
/// databases; `scripts/postgres/start.sh` prints one) and dropped after the check. Without
/// `BEMS_POSTGRES_URL` the checks are skipped with a note on stderr, unless
/// `BEMS_REQUIRE_SERVICES=1`: then they fail.
///
/// ```sh
/// eval "$(scripts/postgres/start.sh)"
/// BEMS_REQUIRE_SERVICES=1 cargo test -p bems-store --test conformance postgres
/// scripts/postgres/stop.sh
/// ```
mod postgres {
    use std::io::Write;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use bems_store::{PostgresStore, Store, StoreKey};
    use tokio_postgres::NoTls;

    /// A database made for one check, dropped (with its connections) after it.
    struct Scratch {
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

    async fn admin_client(url: &str) -> tokio_postgres::Client {
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

    /// A store in a fresh, empty database; `None` (with a note) when PostgreSQL is not asked
    /// for, or a panic when it is required and missing.
    async fn fresh() -> Option<(Arc<dyn Store>, Scratch)> {
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
                "note: a PostgreSQL conformance check was SKIPPED: BEMS_POSTGRES_URL is not set (see scripts/postgres/start.sh)"
            );
            return None;
        };
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "bems_conformance_{}_{}",
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
        let scratch = Scratch { admin, name };
        let store = PostgresStore::connect(
            &with_database(&scratch.admin, &scratch.name),
            StoreKey::generate().unwrap(),
        )
        .await
        .unwrap();
        let store: Arc<dyn Store> = Arc::new(store);
        Some((store, scratch))
    }

    bems_store::conformance_tests!(fresh());
}
