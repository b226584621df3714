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
    use std::sync::Arc;

    use bems_store::{PostgresStore, Store, StoreKey};

    use bems_store::conformance::scratch::{Scratch, scratch};

    /// A store in a fresh, empty database, or `None` when the check is skipped.
    async fn fresh() -> Option<(Arc<dyn Store>, Scratch)> {
        let (url, scratch) = scratch("a PostgreSQL conformance check").await?;
        let store = PostgresStore::connect(&url, StoreKey::generate().unwrap())
            .await
            .unwrap();
        let store: Arc<dyn Store> = Arc::new(store);
        Some((store, scratch))
    }

    bems_store::conformance_tests!(fresh());
}
