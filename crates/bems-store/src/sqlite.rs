//! [`SqliteStore`]: the store in one SQLite file, worked by one thread of its own.
//!
//! rusqlite is synchronous, so the connection lives on a dedicated thread (`bems-store`); async
//! callers send it work through a bounded queue (they wait when it is full) and await the answer.
//! The Tokio runtime's threads never block on the database, and there is exactly one writer, as
//! SQLite wants. Operations that queue up together are committed together (see `worker`). The
//! file is private to the service's user (see `file`).

mod api;
mod cluster;
mod devices;
mod file;
mod followme;
mod leases;
mod mailboxes;
mod nodes;
mod outbox;
mod relay;
mod secrets;
mod tenants;
#[cfg(test)]
mod testing;
mod worker;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;
use rusqlite::types::Type;
use time::OffsetDateTime;
use tokio::sync::{broadcast, mpsc, oneshot};

use self::worker::{Deliver, Job};
use super::schema::{self, MigrateError};
use super::{StoreError, StoreKey, TENANT_CHANGES};
use crate::model::TenantId;

/// How many operations may wait for the worker; callers wait beyond that.
const QUEUE: usize = 1024;
/// How long a write waits for another process's write to finish.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The store in an SQLite file: WAL journal, `synchronous=NORMAL`, foreign keys on, a busy
/// timeout, and its schema brought up to date by numbered migrations when opened.
///
/// Cheap to share behind an `Arc`; the file is closed when the last handle is dropped.
pub struct SqliteStore {
    jobs: mpsc::Sender<Job>,
    key: StoreKey,
    path: PathBuf,
    /// This process's changes of tenant settings, for `tenant_changes`.
    changes: broadcast::Sender<TenantId>,
}

impl SqliteStore {
    /// Opens (or creates) the store at `path` and migrates its schema. Refuses a file written by
    /// a newer bems ([`StoreError::TooNew`]) or by another application ([`StoreError::NotBems`]).
    ///
    /// The file is private: created `0600`, in a directory created `0700` if it is missing
    /// (an existing file readable by others is made private, with a warning); SQLite's `-wal`
    /// and `-shm` files take the file's mode.
    pub async fn open(path: impl AsRef<Path>, key: StoreKey) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        file::prepare(&path).map_err(|error| StoreError::Open {
            path: path.clone(),
            source: Box::new(error),
        })?;
        let file = path.clone();
        Self::start(path, key, move || Connection::open(file)).await
    }

    /// A store in memory, lost when dropped (tests).
    pub async fn in_memory(key: StoreKey) -> Result<Self, StoreError> {
        Self::start(PathBuf::from(":memory:"), key, Connection::open_in_memory).await
    }

    /// The file (`:memory:` for a store in memory).
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn start(
        path: PathBuf,
        key: StoreKey,
        connect: impl FnOnce() -> rusqlite::Result<Connection> + Send + 'static,
    ) -> Result<Self, StoreError> {
        let (jobs, queue) = mpsc::channel::<Job>(QUEUE);
        let (ready, opened) = oneshot::channel();
        let file = path.clone();
        std::thread::Builder::new()
            .name("bems-store".into())
            .spawn(move || {
                let conn = match prepare(connect, &file) {
                    Ok(conn) => conn,
                    Err(error) => {
                        let _ = ready.send(Err(error));
                        return;
                    }
                };
                let _ = ready.send(Ok(()));
                worker::run(conn, queue);
            })
            .map_err(|error| StoreError::Open {
                path: path.clone(),
                source: Box::new(error),
            })?;
        opened
            .await
            .map_err(|_| StoreError::Stopped { op: "open" })??;
        let (changes, _) = broadcast::channel(TENANT_CHANGES);
        Ok(Self {
            jobs,
            key,
            path,
            changes,
        })
    }

    /// Runs `work` on the store's thread; `record` names what it concerns if it fails.
    async fn call<T: Send + 'static>(
        &self,
        op: &'static str,
        record: impl FnOnce() -> String,
        work: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = work(conn);
            let deliver: Deliver = Box::new(move |batch_failed| {
                let result = match (result, batch_failed) {
                    (Ok(_), Some(error)) => Err(worker::not_committed(error)),
                    (result, _) => result,
                };
                let _ = answer.send(result);
            });
            deliver
        });
        self.jobs
            .send(job)
            .await
            .map_err(|_| StoreError::Stopped { op })?;
        answered
            .await
            .map_err(|_| StoreError::Stopped { op })?
            .map_err(|error| StoreError::database(op, record(), error))
    }
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// Connects, sets the pragmas and migrates.
fn prepare(
    connect: impl FnOnce() -> rusqlite::Result<Connection>,
    path: &Path,
) -> Result<Connection, StoreError> {
    let failed = |error: rusqlite::Error| StoreError::Open {
        path: path.to_path_buf(),
        source: Box::new(error),
    };
    let mut conn = connect().map_err(failed)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(failed)?;
    // In memory the journal stays "memory"; a file turns to WAL.
    conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))
        .map_err(failed)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(failed)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(failed)?;
    conn.set_prepared_statement_cache_capacity(64);
    match schema::migrate(&mut conn, now_ms()) {
        Ok(0) => {}
        Ok(applied) => tracing::info!(path = %path.display(), applied, "store schema migrated"),
        Err(MigrateError::Database(error)) => return Err(failed(error)),
        Err(MigrateError::TooNew(found)) => {
            return Err(StoreError::TooNew {
                path: path.to_path_buf(),
                found,
                supported: schema::LATEST,
            });
        }
        Err(MigrateError::NotBems) => {
            return Err(StoreError::NotBems {
                path: path.to_path_buf(),
            });
        }
    }
    Ok(conn)
}

/// Now, in Unix milliseconds.
fn now_ms() -> i64 {
    let ms = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// A stored value that does not convert, as the database error rusqlite would give.
fn unreadable(column: usize, kind: Type, what: impl Into<String>) -> rusqlite::Error {
    let what: String = what.into();
    rusqlite::Error::FromSqlConversionFailure(column, kind, what.into())
}
