//! The store conformance suite: what every backend of [`Store`] must do, whatever it keeps its
//! data in. Behind the cargo feature `conformance`.
//!
//! Each check is an `async fn(Arc<dyn Store>)` that takes a fresh, empty store and panics when
//! the backend does not behave. [`conformance_tests!`](crate::conformance_tests) turns the whole
//! suite into one `#[tokio::test]` per check, so a backend's test file is a few lines:
//!
//! ```no_run
//! // A backend's tests/conformance.rs; here the SQLite store in memory.
//! use std::sync::Arc;
//!
//! use bems_store::{SqliteStore, Store, StoreKey};
//!
//! bems_store::conformance_tests!(async {
//!     let key = StoreKey::generate().unwrap();
//!     let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory(key).await.unwrap());
//!     store
//! });
//! # fn main() {}
//! ```
//!
//! The backend crate takes `bems-store` with the `conformance` feature and `tokio` (with
//! `macros` and `rt-multi-thread`) as dev-dependencies. The block is run once per check and
//! returns an `Arc<dyn Store>`, or `(Arc<dyn Store>, guard)` when something must outlive the
//! check (a temporary directory, a scratch database), or an `Option` of either, `None` skipping
//! the check: see [`Fixture`]. Tests that need a
//! backend's internals (raw rows, its schema, its files) stay with the backend.

mod concurrency;
mod devices;
mod followme;
mod mailboxes;
mod outbox;
mod secrets;
mod tenants;

use std::sync::Arc;

use crate::Store;
use crate::model::{NewDevice, Platform, TenantId};

pub use concurrency::many_tasks_register_at_once;
pub use devices::{
    a_bad_token_is_refused_and_changes_nothing, a_mailbox_holds_at_most_its_bound_of_devices,
    a_token_of_another_mailbox_or_tenant_is_refused_and_nothing_moves,
    devices_are_found_by_mailbox_and_tenant, registering_again_in_place_keeps_pending_pushes,
    unregistering_and_removing_delete_the_device_and_its_pushes,
};
pub use followme::{
    deletes_need_the_current_version_and_users_and_tenants_are_apart,
    documents_are_created_then_updated_only_at_the_version_read,
    the_document_count_bad_keys_and_bad_bodies_are_refused,
};
pub use mailboxes::{
    an_upsert_without_a_watermark_keeps_the_saved_one,
    mailboxes_of_all_tenants_are_listed_for_start_up,
    unread_counts_are_kept_per_tenant_for_saved_mailboxes_only,
    watermarks_are_saved_loaded_and_removed_with_their_mailbox,
};
pub use outbox::{
    a_failure_half_way_writes_neither_pushes_nor_watermark,
    a_retried_push_counts_its_attempts_and_waits, an_id_names_one_push_for_good,
    pushes_come_due_oldest_first_and_leave_when_completed, the_watermark_advances_with_its_pushes,
};
pub use secrets::{
    certificates_are_listed_by_name_and_deleted, secrets_are_kept_replaced_and_deleted,
};
pub use tenants::{
    deleting_a_tenant_deletes_everything_of_it_and_nothing_else,
    settings_that_are_not_json_leave_the_old_ones, tenant_settings_are_saved_replaced_and_listed,
};

/// What a backend's factory in [`conformance_tests!`](crate::conformance_tests) returns: a fresh
/// store, alone or with a guard that is dropped only after the check has run, or `None` when the
/// backend is not at hand (a database server not started): the check is then skipped, and the
/// factory says so on stderr.
pub trait Fixture: Send {
    /// The store to check; `None` skips the check.
    fn store(&self) -> Option<Arc<dyn Store>>;
}

impl Fixture for Arc<dyn Store> {
    fn store(&self) -> Option<Arc<dyn Store>> {
        Some(Arc::clone(self))
    }
}

impl<G: Send> Fixture for (Arc<dyn Store>, G) {
    fn store(&self) -> Option<Arc<dyn Store>> {
        Some(Arc::clone(&self.0))
    }
}

impl<F: Fixture> Fixture for Option<F> {
    fn store(&self) -> Option<Arc<dyn Store>> {
        self.as_ref().and_then(F::store)
    }
}

/// Runs one check on the store `fixture` holds (none when it holds none), then drops the
/// fixture. Used by [`conformance_tests!`](crate::conformance_tests).
pub async fn run<F, C, Fut>(fixture: F, check: C)
where
    F: Fixture,
    C: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()>,
{
    if let Some(store) = fixture.store() {
        check(store).await;
    }
    drop(fixture);
}

/// Expands to one `#[tokio::test]` per check of [`conformance`](crate::conformance), each run on
/// a fresh store from `$make` (an `async` block evaluating to a [`Fixture`](crate::conformance::Fixture)).
///
/// The calling crate needs `tokio` with `macros` and `rt-multi-thread` among its
/// dev-dependencies.
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::conformance_tests!(@tests $make;
            tenant_settings_are_saved_replaced_and_listed,
            settings_that_are_not_json_leave_the_old_ones,
            deleting_a_tenant_deletes_everything_of_it_and_nothing_else,
            secrets_are_kept_replaced_and_deleted,
            certificates_are_listed_by_name_and_deleted,
            devices_are_found_by_mailbox_and_tenant,
            a_token_of_another_mailbox_or_tenant_is_refused_and_nothing_moves,
            a_mailbox_holds_at_most_its_bound_of_devices,
            registering_again_in_place_keeps_pending_pushes,
            unregistering_and_removing_delete_the_device_and_its_pushes,
            a_bad_token_is_refused_and_changes_nothing,
            an_upsert_without_a_watermark_keeps_the_saved_one,
            unread_counts_are_kept_per_tenant_for_saved_mailboxes_only,
            mailboxes_of_all_tenants_are_listed_for_start_up,
            watermarks_are_saved_loaded_and_removed_with_their_mailbox,
            pushes_come_due_oldest_first_and_leave_when_completed,
            an_id_names_one_push_for_good,
            a_retried_push_counts_its_attempts_and_waits,
            the_watermark_advances_with_its_pushes,
            a_failure_half_way_writes_neither_pushes_nor_watermark,
            documents_are_created_then_updated_only_at_the_version_read,
            deletes_need_the_current_version_and_users_and_tenants_are_apart,
            the_document_count_bad_keys_and_bad_bodies_are_refused,
        );
        #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn many_tasks_register_at_once() {
            $crate::conformance::run(
                $make.await,
                $crate::conformance::many_tasks_register_at_once,
            )
            .await;
        }
    };
    (@tests $make:expr; $($check:ident,)*) => {
        $(
            #[::tokio::test]
            async fn $check() {
                $crate::conformance::run($make.await, $crate::conformance::$check).await;
            }
        )*
    };
}

/// The tenant most checks store things for.
fn contoso() -> TenantId {
    TenantId::new("contoso").unwrap()
}

/// An APNs device of contoso's `mailbox` with `token`.
fn new_device(mailbox: &str, token: &str) -> NewDevice {
    NewDevice {
        tenant: contoso(),
        mailbox: mailbox.into(),
        platform: Platform::Apns,
        token: token.into(),
        app_id: "com.example.mail".into(),
        locale: "en".into(),
    }
}
