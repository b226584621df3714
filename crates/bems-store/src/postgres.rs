//! [`PostgresStore`]: the store in a PostgreSQL database, shared by several nodes.
//!
//! Connections come from a pool (`deadpool-postgres`); every operation takes one, runs its
//! statements (in one transaction when it writes more than one row) and gives it back. The
//! schema is brought up to date by numbered migrations when the store connects (see `schema`),
//! under an advisory lock, so nodes starting together do not both apply them. Secrets are sealed
//! as in SQLite (`crypto`) before they reach the database. Leases are timed by the database's
//! clock (`leases`); one more connection listens for tenant changes of every node (`listen`).
//! Connections speak TLS as the URL's `sslmode` says, verifying the server's certificate (`tls`).

mod devices;
mod followme;
mod leases;
mod listen;
mod mailboxes;
mod outbox;
mod relay;
mod schema;
mod shared;
mod tenants;
mod tls;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use time::OffsetDateTime;
use tokio::sync::broadcast;
use tokio_postgres::error::SqlState;

use self::listen::Listener;
use self::schema::MigrateError;
pub use self::tls::PostgresOptions;
use super::{StoreError, StoreKey, TENANT_CHANGES};
use crate::model::TenantId;

/// How many connections one store holds at most.
const POOL_SIZE: usize = 16;
/// How long an operation waits for a free connection, or for a new one to be made.
const POOL_WAIT: Duration = Duration::from_secs(10);

/// The store in a PostgreSQL database: a pool of connections, the schema brought up to date by
/// numbered migrations when connecting, secrets sealed with the store key.
///
/// Several processes (nodes) may use one database at once: every write is one transaction;
/// [`claim_due`](crate::Outbox::claim_due) and [`claim`](crate::Leases::claim) select with
/// `FOR UPDATE SKIP LOCKED`, so nodes claiming at the same moment are handed different pushes
/// and mailboxes; leases are timed by the database's clock. Besides the pool, the store keeps
/// one connection that listens for tenant changes of every node
/// ([`tenant_changes`](crate::TenantStore::tenant_changes)). Cheap to share behind an `Arc`.
pub struct PostgresStore {
    pool: Pool,
    key: StoreKey,
    url: String,
    /// Tenant changes heard by `listener`.
    changes: broadcast::Sender<TenantId>,
    /// Listens for tenant changes until the store is dropped.
    _listener: Listener,
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database`, or
    /// libpq's `key=value` form) and migrates its schema. Refuses a database written by a newer
    /// bems ([`StoreError::TooNew`]) or one whose schema holds another application's tables
    /// ([`StoreError::NotBems`]); an unreachable database is [`StoreError::Connect`].
    ///
    /// TLS: the URL's `sslmode` decides: `disable` plain, `prefer` (the default) TLS when the
    /// server offers it, `require` TLS or fail. With TLS the server's certificate is always
    /// verified, against the platform's roots, and must name the URL's host (an IP address
    /// host: one of the certificate's IP addresses): rustls cannot encrypt without verifying,
    /// so `require` here is libpq's `verify-full`, and `prefer` fails on a server offering TLS
    /// with a certificate not trusted. A database whose certificate a private CA issued:
    /// [`connect_with`](Self::connect_with). A TLS failure is [`StoreError::Connect`] naming
    /// its cause (the certificate not trusted, a name mismatch).
    pub async fn connect(url: &str, key: StoreKey) -> Result<Self, StoreError> {
        Self::connect_with(url, key, PostgresOptions::default()).await
    }

    /// [`connect`](Self::connect), trusting for the server's certificate the CAs of `options`
    /// besides the platform's roots. The pool's connections and the listening one use the same
    /// TLS.
    pub async fn connect_with(
        url: &str,
        key: StoreKey,
        options: PostgresOptions,
    ) -> Result<Self, StoreError> {
        let shown = redact(url);
        let failed = |source: Box<dyn std::error::Error + Send + Sync>| StoreError::Connect {
            url: shown.clone(),
            source,
        };
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| failed(Box::new(Failure::from(e))))?;
        let tls = tls::connector(&options).map_err(|e| failed(Box::new(e)))?;
        let manager = Manager::from_config(
            config.clone(),
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(POOL_WAIT))
            .build()
            .map_err(|e| failed(Box::new(e)))?;
        let mut client = pool.get().await.map_err(|error| match error {
            deadpool_postgres::PoolError::Backend(error) => failed(Box::new(Failure::from(error))),
            error => failed(Box::new(error)),
        })?;
        match schema::migrate(&mut client, now_ms()).await {
            Ok(0) => {}
            Ok(applied) => tracing::info!(url = %shown, applied, "store schema migrated"),
            Err(MigrateError::Database(error)) => {
                return Err(failed(Box::new(Failure::from(error))));
            }
            Err(MigrateError::TooNew(found)) => {
                return Err(StoreError::TooNew {
                    path: PathBuf::from(shown),
                    found,
                    supported: schema::LATEST,
                });
            }
            Err(MigrateError::NotBems) => {
                return Err(StoreError::NotBems {
                    path: PathBuf::from(shown),
                });
            }
        }
        drop(client);
        let (changes, _) = broadcast::channel(TENANT_CHANGES);
        let listener = Listener::start(&config, tls, &changes)
            .await
            .map_err(|e| failed(Box::new(e)))?;
        Ok(Self {
            pool,
            key,
            url: shown,
            changes,
            _listener: listener,
        })
    }

    /// The database's URL, without its password.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A connection from the pool.
    async fn client(
        &self,
        op: &'static str,
        record: &str,
    ) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(|error| match error {
            deadpool_postgres::PoolError::Timeout(_) => StoreError::Busy {
                op,
                record: record.to_owned(),
            },
            deadpool_postgres::PoolError::Backend(error) => {
                Failure::from(error).into_store_error(op, record.to_owned())
            }
            error => StoreError::Database {
                op,
                record: record.to_owned(),
                source: Box::new(error),
            },
        })
    }
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("url", &self.url)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// Why a statement failed: the database refused it, or a stored value does not read back.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Failure {
    /// The database's error, shown with what the server said.
    #[error("{}", describe(.0))]
    Database(#[from] tokio_postgres::Error),
    /// A stored value that is not what the store writes.
    #[error("a stored value cannot be read: {0}")]
    Unreadable(String),
    /// The database did not answer in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

impl Failure {
    /// The [`StoreError`] of `op` on `record`: a serialization failure, a deadlock or a lock
    /// not available is [`StoreError::Busy`] (retryable), the rest [`StoreError::Database`].
    fn into_store_error(self, op: &'static str, record: String) -> StoreError {
        if let Self::Database(error) = &self
            && let Some(code) = error.code()
            && [
                SqlState::T_R_SERIALIZATION_FAILURE,
                SqlState::T_R_DEADLOCK_DETECTED,
                SqlState::LOCK_NOT_AVAILABLE,
            ]
            .contains(code)
        {
            return StoreError::Busy { op, record };
        }
        StoreError::Database {
            op,
            record,
            source: Box::new(self),
        }
    }
}

/// A driver error with its cause: tokio-postgres shows a server's refusal as "db error" alone.
fn describe(error: &tokio_postgres::Error) -> String {
    if let Some(tls) = tls::explain(error) {
        return tls;
    }
    match (error.as_db_error(), std::error::Error::source(error)) {
        (Some(db), _) => format!("{}: {}", db.severity(), db.message()),
        (None, Some(cause)) => format!("{error}: {cause}"),
        (None, None) => error.to_string(),
    }
}

/// `url` without its password, to be shown.
fn redact(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
        let authority = match authority.rsplit_once('@') {
            Some((user, hosts)) => {
                let user = user.split_once(':').map_or(user, |(name, _)| name);
                format!("{user}@{hosts}")
            }
            None => authority.to_owned(),
        };
        let tail = match tail.split_once('?') {
            Some((path, query)) => {
                let kept: Vec<&str> = query
                    .split('&')
                    .filter(|pair| !pair.starts_with("password="))
                    .collect();
                if kept.is_empty() {
                    path.to_owned()
                } else {
                    format!("{path}?{}", kept.join("&"))
                }
            }
            None => tail.to_owned(),
        };
        format!("{scheme}://{authority}{tail}")
    } else {
        url.split_whitespace()
            .filter(|pair| !pair.starts_with("password="))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Now, in Unix milliseconds, by the database's clock (leases are timed by it, so that nodes
/// with skewed clocks agree).
pub(crate) const CLOCK: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

/// Now, in Unix milliseconds (this node's clock: what the outbox and `updated_at_ms` keep).
fn now_ms() -> i64 {
    let ms = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    i64::try_from(ms).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(
            redact("postgres://bems:s3cret@db.example:5433/bems?sslmode=disable&password=x"),
            "postgres://bems@db.example:5433/bems?sslmode=disable"
        );
        assert_eq!(
            redact("postgresql://db.example/bems"),
            "postgresql://db.example/bems"
        );
        assert_eq!(
            redact("host=db user=bems password=s3cret dbname=bems"),
            "host=db user=bems dbname=bems"
        );
    }
}
