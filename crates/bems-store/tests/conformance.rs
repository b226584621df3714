//! The store conformance suite against [`SqliteStore`], in memory and in a file.

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
