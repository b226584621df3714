//! The store's thread: runs the queued operations, and commits those that queued up together in
//! one transaction (group commit).
//!
//! A commit costs a write to the WAL (and now and then a checkpoint) whatever it holds, so when
//! many tasks write at once, one commit for all of them is much cheaper than one each. Every
//! operation answers only once its batch is committed; if the commit fails, every operation of
//! the batch fails with it, so an answer of success always means "written". Each operation's
//! writes sit in its own savepoint, so a failing operation (a push for a device that is gone)
//! undoes only its own writes.

use std::panic::{AssertUnwindSafe, catch_unwind};

use rusqlite::{Connection, ffi};
use tokio::sync::mpsc;

/// Delivers an operation's answer, told whether its batch failed to commit.
pub(super) type Deliver = Box<dyn FnOnce(Option<&rusqlite::Error>) + Send>;

/// An operation: runs on the connection, and returns how to deliver its answer.
pub(super) type Job = Box<dyn FnOnce(&mut Connection) -> Deliver + Send>;

/// At most this many operations share a commit.
const BATCH: usize = 256;

/// Runs jobs until every sender is gone, then closes the connection.
pub(super) fn run(mut conn: Connection, mut queue: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(BATCH);
    while let Some(job) = queue.blocking_recv() {
        batch.push(job);
        while batch.len() < BATCH
            && let Ok(job) = queue.try_recv()
        {
            batch.push(job);
        }
        run_batch(&mut conn, &mut batch);
    }
}

/// Runs the jobs in one transaction, or alone if there is one (or no transaction can begin).
fn run_batch(conn: &mut Connection, batch: &mut Vec<Job>) {
    if batch.len() == 1 || conn.execute_batch("BEGIN IMMEDIATE").is_err() {
        for job in batch.drain(..) {
            run_alone(conn, job);
        }
        return;
    }
    let mut jobs = batch.drain(..);
    let mut answers = Vec::with_capacity(jobs.len());
    for job in jobs.by_ref() {
        answers.extend(run_job(conn, job));
        if conn.is_autocommit() {
            // SQLite rolled the whole transaction back (disk full, I/O error): stop here.
            break;
        }
    }
    let outcome = if conn.is_autocommit() {
        Err(rusqlite::Error::SqliteFailure(
            ffi::Error::new(ffi::SQLITE_ABORT),
            Some("the transaction was rolled back".into()),
        ))
    } else {
        conn.execute_batch("COMMIT")
    };
    if let Err(error) = &outcome {
        tracing::warn!(%error, operations = answers.len(), "store batch not committed");
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
    }
    for deliver in answers {
        deliver(outcome.as_ref().err());
    }
    // What the lost transaction did not reach runs on its own.
    for job in jobs {
        run_alone(conn, job);
    }
}

fn run_alone(conn: &mut Connection, job: Job) {
    if let Some(deliver) = run_job(conn, job) {
        deliver(None);
    }
}

/// Runs a job; a panic is logged and its caller sees the store's answer dropped.
fn run_job(conn: &mut Connection, job: Job) -> Option<Deliver> {
    // A savepoint the job left open rolls back as it unwinds.
    let answer = catch_unwind(AssertUnwindSafe(|| job(conn)));
    if answer.is_err() {
        tracing::error!("a store operation panicked; the store goes on");
    }
    answer.ok()
}

/// The answer of an operation whose batch did not commit.
pub(super) fn not_committed(error: &rusqlite::Error) -> rusqlite::Error {
    let code = error
        .sqlite_error()
        .copied()
        .unwrap_or(ffi::Error::new(ffi::SQLITE_ERROR));
    rusqlite::Error::SqliteFailure(code, Some(format!("not committed: {error}")))
}

#[cfg(test)]
mod tests {
    use crate::{DeviceStore, MailboxStore, Outbox};
    use std::time::Duration;

    use crate::SqliteStore;
    use crate::model::{Checkpoint, PendingPush};
    use crate::sqlite::testing::{contoso, new_device, store};

    /// Keeps the worker busy, so that what is sent meanwhile queues up into one batch.
    async fn hold(store: &SqliteStore) {
        let _ = store
            .call("hold", String::new, |_| {
                std::thread::sleep(Duration::from_millis(50));
                Ok(())
            })
            .await;
    }

    #[tokio::test]
    async fn a_failing_operation_in_a_batch_undoes_only_its_own_writes() {
        let store = store().await;
        let device = store
            .register_device(&new_device("alice@contoso.com", "tok"), 10)
            .await
            .unwrap();
        let push = |device_id| PendingPush {
            device_id,
            tenant: contoso(),
            mailbox: "alice@contoso.com".into(),
            payload: "{}".into(),
            seen_at_ms: 1,
        };
        let tenant = contoso();
        let (one, two) = ([push(device.id)], [push(device.id), push(-1)]);
        let bob = new_device("bob@contoso.com", "tok2");
        let mark = |watermark| Checkpoint {
            tenant: &tenant,
            mailbox: "alice@contoso.com",
            watermark: Some(watermark),
            unread: None,
            holder: None,
        };
        let (_, good, bad, other) = tokio::join!(
            hold(&store),
            store.enqueue(&one, 1, Some(mark("w1"))),
            store.enqueue(&two, 1, Some(mark("w2"))),
            store.register_device(&bob, 10),
        );
        assert_eq!(good.unwrap().len(), 1);
        assert!(bad.is_err());
        assert!(other.is_ok());
        assert_eq!(store.outbox_len().await.unwrap(), 1);
        let mark = store
            .load_watermark(&tenant, "alice@contoso.com")
            .await
            .unwrap();
        assert_eq!(mark.as_deref(), Some("w1"));
        assert_eq!(store.device_count().await.unwrap(), 2);
    }

    #[tokio::test]
    async fn a_lost_transaction_fails_what_it_held_and_runs_the_rest_alone() {
        let store = store().await;
        let tenant = contoso();
        store
            .save_watermark(&tenant, "alice@contoso.com", "w1")
            .await
            .unwrap();
        let (_, before, lost, after) = tokio::join!(
            hold(&store),
            store.save_watermark(&tenant, "alice@contoso.com", "w2"),
            store.call("roll back", String::new, |c| c.execute_batch("ROLLBACK")),
            store.save_watermark(&tenant, "bob@contoso.com", "b1"),
        );
        let error = before.unwrap_err();
        assert!(error.to_string().contains("not committed"), "{error}");
        assert!(lost.is_err());
        after.unwrap();
        let alice = store
            .load_watermark(&tenant, "alice@contoso.com")
            .await
            .unwrap();
        assert_eq!(
            alice.as_deref(),
            Some("w1"),
            "a failed answer means not written"
        );
        let bob = store
            .load_watermark(&tenant, "bob@contoso.com")
            .await
            .unwrap();
        assert_eq!(bob.as_deref(), Some("b1"));
    }
}
