//! Tenant changes from every node: one dedicated connection that `LISTEN`s on
//! [`CHANNEL`], its notifications forwarded to the store's broadcast channel.
//!
//! Writers send `pg_notify(CHANNEL, tenant id)` in the transaction of the write, so a change is
//! announced exactly when it is committed. The connection is made in
//! [`PostgresStore::connect`](super::PostgresStore::connect), so a receiver made once the store
//! exists misses nothing. If the connection drops, it is made again with jittered backoff
//! (250 ms doubling to 30 s, for as long as the store lives), and then every stored tenant id is
//! sent once: changes made meanwhile were not heard, and listeners reread.

use std::future::poll_fn;
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, Client, Config};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::Failure;
use super::shared::tenant_id;
use crate::model::TenantId;

/// The channel tenant changes are notified on; the payload is the tenant id.
pub(super) const CHANNEL: &str = "bems_tenants";
/// The listening connection's `application_name` (to be found in `pg_stat_activity`).
pub(super) const APPLICATION_NAME: &str = "bems-store tenant changes";

/// The first wait before making the connection again.
const BACKOFF_MIN: Duration = Duration::from_millis(250);
/// The longest wait between two attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// How long making the connection (and `LISTEN`) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The listening task; stopped when dropped (with the store).
pub(super) struct Listener {
    task: JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Listener {
    /// Connects, listens, and keeps listening in a task of its own.
    pub(super) async fn start(
        config: &Config,
        tls: MakeRustlsConnect,
        changes: &broadcast::Sender<TenantId>,
    ) -> Result<Self, Failure> {
        let mut config = config.clone();
        config
            .application_name(APPLICATION_NAME)
            .keepalives_idle(Duration::from_secs(30));
        let session = Session::open(&config, &tls, changes).await?;
        let task = tokio::spawn(keep_listening(config, tls, changes.clone(), session));
        Ok(Self { task })
    }
}

/// One listening connection: its client, and the task driving it that forwards notifications.
struct Session {
    client: Client,
    driver: JoinHandle<()>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl Session {
    /// Connects (with the pool's TLS) and listens on [`CHANNEL`], within [`CONNECT_TIMEOUT`].
    async fn open(
        config: &Config,
        tls: &MakeRustlsConnect,
        changes: &broadcast::Sender<TenantId>,
    ) -> Result<Self, Failure> {
        let open = async {
            let (client, mut connection) = config.connect(tls.clone()).await?;
            let changes = changes.clone();
            let driver = tokio::spawn(async move {
                // Driving the connection by its messages also runs the client's queries.
                while let Some(message) = poll_fn(|cx| connection.poll_message(cx)).await {
                    match message {
                        Ok(AsyncMessage::Notification(note)) if note.channel() == CHANNEL => {
                            match TenantId::new(note.payload()) {
                                // Nobody listening is no failure.
                                Ok(tenant) => drop(changes.send(tenant)),
                                Err(error) => {
                                    tracing::warn!(%error, "a tenant change names no tenant");
                                }
                            }
                        }
                        Ok(_) => {}
                        Err(error) => {
                            tracing::warn!(error = %Failure::from(error), "tenant changes: the connection failed");
                            return;
                        }
                    }
                }
            });
            let session = Self { client, driver };
            session
                .client
                .batch_execute(&format!("LISTEN {CHANNEL}"))
                .await?;
            Ok::<_, Failure>(session)
        };
        tokio::time::timeout(CONNECT_TIMEOUT, open)
            .await
            .unwrap_or(Err(Failure::Timeout(CONNECT_TIMEOUT)))
    }

    /// Sends every stored tenant id once.
    async fn announce_all(&self, changes: &broadcast::Sender<TenantId>) -> Result<(), Failure> {
        let rows = self
            .client
            .query("SELECT id FROM tenants ORDER BY id", &[])
            .await?;
        for row in &rows {
            let _ = changes.send(tenant_id(row, 0)?);
        }
        Ok(())
    }
}

/// Waits for the connection to end, then makes it again, announcing every tenant once it is
/// back; for as long as the store lives.
async fn keep_listening(
    config: Config,
    tls: MakeRustlsConnect,
    changes: broadcast::Sender<TenantId>,
    mut session: Session,
) {
    let mut backoff = BACKOFF_MIN;
    loop {
        let listening = Instant::now();
        let _ = (&mut session.driver).await;
        tracing::warn!("tenant changes: the listening connection was lost, making it again");
        // A connection that held a while starts the backoff anew; one that keeps dropping
        // at once does not.
        if listening.elapsed() > BACKOFF_MAX {
            backoff = BACKOFF_MIN;
        }
        session = loop {
            tokio::time::sleep(jittered(backoff)).await;
            backoff = (backoff * 2).min(BACKOFF_MAX);
            match Session::open(&config, &tls, &changes).await {
                Ok(session) => break session,
                Err(error) => {
                    tracing::warn!(%error, retry_in = ?backoff, "tenant changes: cannot listen");
                }
            }
        };
        match session.announce_all(&changes).await {
            Ok(()) => tracing::info!("tenant changes: listening again, every tenant announced"),
            // The connection failed again: the next turn makes it anew.
            Err(error) => tracing::warn!(%error, "tenant changes: cannot read the tenants"),
        }
    }
}

/// `wait` less up to a half of it, so that nodes do not all come back at the same moment.
fn jittered(wait: Duration) -> Duration {
    let nanos = OffsetDateTime::now_utc().nanosecond();
    let half = u32::try_from(wait.as_millis() / 2)
        .unwrap_or(u32::MAX)
        .max(1);
    wait.saturating_sub(Duration::from_millis(u64::from(nanos % half)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_takes_at_most_half_the_wait() {
        for _ in 0..100 {
            let wait = jittered(Duration::from_secs(2));
            assert!(wait > Duration::from_millis(999) && wait <= Duration::from_secs(2));
        }
    }
}
