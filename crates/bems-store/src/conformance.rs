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

mod claims;
mod concurrency;
mod devices;
mod fencing;
mod followme;
mod groups;
mod leases;
mod mailboxes;
mod nodes;
mod outbox;
mod relay;
#[cfg(feature = "postgres")]
pub mod scratch;
mod secrets;
mod tenants;
mod unread;

use std::sync::Arc;
use std::time::Duration;

use crate::model::{MailboxRecord, NewDevice, Platform, TenantId};
use crate::{NodeId, Store};

pub use claims::{
    a_push_claimed_again_is_the_new_claimers,
    a_retried_push_is_nobodys_and_waits_when_its_node_leaves,
    leaving_gives_back_only_the_leaving_nodes_pushes,
    leaving_gives_back_the_pushes_the_node_claimed_at_once,
    leaving_gives_back_the_pushes_the_node_enqueued_at_once,
};
pub use concurrency::many_tasks_register_at_once;
pub use devices::{
    a_bad_token_is_refused_and_changes_nothing, a_mailbox_holds_at_most_its_bound_of_devices,
    a_registration_rotates_or_clears_the_public_key,
    a_token_of_another_mailbox_or_tenant_is_refused_and_nothing_moves,
    devices_are_found_by_mailbox_and_tenant, registering_again_in_place_keeps_pending_pushes,
    unregistering_and_removing_delete_the_device_and_its_pushes,
};
pub use fencing::{
    enqueue_after_the_lease_expired_is_refused_and_writes_nothing,
    enqueue_by_the_holder_is_written,
    enqueue_for_a_mailbox_another_node_holds_is_refused_and_writes_nothing,
    enqueue_for_a_mailbox_nobody_holds_is_refused,
};
pub use followme::{
    deletes_need_the_current_version_and_users_and_tenants_are_apart,
    documents_are_created_then_updated_only_at_the_version_read,
    the_document_count_bad_keys_and_bad_bodies_are_refused,
};
pub use groups::{
    a_group_another_node_holds_is_claimed_last, claim_takes_the_rest_of_a_group_it_holds_first,
    free_mailboxes_are_claimed_in_tenant_grouping_mailbox_order,
};
pub use leases::{
    an_expired_lease_is_claimable_by_another_node,
    claim_mailbox_takes_a_free_one_refuses_a_held_one_and_renews_its_own,
    claim_takes_free_mailboxes_up_to_the_limit_and_never_a_held_one,
    release_frees_at_once_and_only_the_callers_leases,
    renew_returns_what_is_held_and_drops_what_expired,
    saving_a_mailbox_keeps_its_lease_and_removing_it_drops_it,
};
pub use mailboxes::{
    an_upsert_without_a_watermark_keeps_the_saved_one,
    mailboxes_of_all_tenants_are_listed_for_start_up,
    unread_counts_are_kept_per_tenant_for_saved_mailboxes_only,
    unread_counts_of_returns_only_the_asked_saved_ones,
    watermarks_are_saved_loaded_and_removed_with_their_mailbox,
};
pub use nodes::{
    a_node_back_after_its_ttl_ran_out_starts_a_new_run,
    a_node_long_gone_is_forgotten_by_any_heartbeat, a_node_whose_ttl_ran_out_is_listed_not_alive,
    heartbeats_list_nodes_with_capacity_and_url, leaving_releases_the_leases_and_removes_the_node,
    nodes_count_their_unexpired_leases,
};
pub use outbox::{
    a_claimed_push_is_due_again_at_its_until_unless_completed,
    a_failure_half_way_writes_neither_pushes_nor_watermark,
    a_retried_push_counts_its_attempts_and_waits, an_id_names_one_push_for_good,
    claimed_pushes_come_oldest_first_and_only_when_due, enqueued_pushes_wait_for_their_not_before,
    the_watermark_advances_with_its_pushes,
};
pub use relay::{
    a_bad_subscription_is_refused_and_nothing_is_stored,
    a_shared_subscription_is_found_replaced_and_withdrawn,
    deleting_a_tenant_deletes_its_subscriptions_and_notes,
    dropped_notes_are_gone_and_the_next_holder_gets_the_rest,
    expire_relayed_removes_only_the_tenants_notes_before_the_bound,
    relayed_notes_reach_only_the_holder_oldest_first,
};
pub use secrets::{
    certificates_are_listed_by_name_and_deleted, secrets_are_kept_replaced_and_deleted,
};
pub use tenants::{
    deleting_a_tenant_deletes_everything_of_it_and_nothing_else,
    settings_that_are_not_json_leave_the_old_ones, tenant_changes_report_saves_and_deletes,
    tenant_settings_are_saved_replaced_and_listed,
};
pub use unread::{
    a_checkpoint_without_a_count_keeps_the_saved_one,
    a_failure_half_way_leaves_the_saved_unread_count, a_fenced_write_leaves_the_saved_unread_count,
    an_unread_count_for_a_mailbox_not_stored_adds_it, the_unread_count_is_written_with_its_pushes,
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
            a_registration_rotates_or_clears_the_public_key,
            unregistering_and_removing_delete_the_device_and_its_pushes,
            a_bad_token_is_refused_and_changes_nothing,
            an_upsert_without_a_watermark_keeps_the_saved_one,
            unread_counts_are_kept_per_tenant_for_saved_mailboxes_only,
            mailboxes_of_all_tenants_are_listed_for_start_up,
            watermarks_are_saved_loaded_and_removed_with_their_mailbox,
            unread_counts_of_returns_only_the_asked_saved_ones,
            tenant_changes_report_saves_and_deletes,
            claimed_pushes_come_oldest_first_and_only_when_due,
            a_claimed_push_is_due_again_at_its_until_unless_completed,
            enqueued_pushes_wait_for_their_not_before,
            an_id_names_one_push_for_good,
            a_retried_push_counts_its_attempts_and_waits,
            the_watermark_advances_with_its_pushes,
            a_failure_half_way_writes_neither_pushes_nor_watermark,
            enqueue_for_a_mailbox_another_node_holds_is_refused_and_writes_nothing,
            enqueue_after_the_lease_expired_is_refused_and_writes_nothing,
            enqueue_for_a_mailbox_nobody_holds_is_refused,
            enqueue_by_the_holder_is_written,
            the_unread_count_is_written_with_its_pushes,
            a_fenced_write_leaves_the_saved_unread_count,
            a_checkpoint_without_a_count_keeps_the_saved_one,
            an_unread_count_for_a_mailbox_not_stored_adds_it,
            a_failure_half_way_leaves_the_saved_unread_count,
            leaving_gives_back_the_pushes_the_node_enqueued_at_once,
            leaving_gives_back_the_pushes_the_node_claimed_at_once,
            leaving_gives_back_only_the_leaving_nodes_pushes,
            a_push_claimed_again_is_the_new_claimers,
            a_retried_push_is_nobodys_and_waits_when_its_node_leaves,
            heartbeats_list_nodes_with_capacity_and_url,
            a_node_whose_ttl_ran_out_is_listed_not_alive,
            a_node_back_after_its_ttl_ran_out_starts_a_new_run,
            a_node_long_gone_is_forgotten_by_any_heartbeat,
            leaving_releases_the_leases_and_removes_the_node,
            nodes_count_their_unexpired_leases,
            claim_takes_free_mailboxes_up_to_the_limit_and_never_a_held_one,
            an_expired_lease_is_claimable_by_another_node,
            renew_returns_what_is_held_and_drops_what_expired,
            release_frees_at_once_and_only_the_callers_leases,
            claim_mailbox_takes_a_free_one_refuses_a_held_one_and_renews_its_own,
            saving_a_mailbox_keeps_its_lease_and_removing_it_drops_it,
            free_mailboxes_are_claimed_in_tenant_grouping_mailbox_order,
            claim_takes_the_rest_of_a_group_it_holds_first,
            a_group_another_node_holds_is_claimed_last,
            documents_are_created_then_updated_only_at_the_version_read,
            deletes_need_the_current_version_and_users_and_tenants_are_apart,
            the_document_count_bad_keys_and_bad_bodies_are_refused,
            a_shared_subscription_is_found_replaced_and_withdrawn,
            a_bad_subscription_is_refused_and_nothing_is_stored,
            relayed_notes_reach_only_the_holder_oldest_first,
            dropped_notes_are_gone_and_the_next_holder_gets_the_rest,
            expire_relayed_removes_only_the_tenants_notes_before_the_bound,
            deleting_a_tenant_deletes_its_subscriptions_and_notes,
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
        public_key: None,
    }
}

/// A lease or heartbeat ttl that does not run out during a check.
const LONG: Duration = Duration::from_secs(60);
/// A ttl that [`expire`] outlasts.
const SHORT: Duration = Duration::from_millis(200);

/// Waits until what was given [`SHORT`] has run out (by the store's clock too: it is this
/// machine's, or the database's on the same host).
async fn expire() {
    tokio::time::sleep(SHORT * 2 + Duration::from_millis(100)).await;
}

/// A node of the cluster.
fn node(name: &str) -> NodeId {
    NodeId::new(name).unwrap()
}

/// Saves contoso's `mailbox` in `grouping`, held by nobody.
async fn stored(store: &dyn Store, mailbox: &str, grouping: Option<&str>) {
    store
        .upsert_mailbox(&MailboxRecord {
            tenant: contoso(),
            mailbox: mailbox.into(),
            ews_url: None,
            grouping: grouping.map(str::to_owned),
            watermark: None,
        })
        .await
        .unwrap();
}
