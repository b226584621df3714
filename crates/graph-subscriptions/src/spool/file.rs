//! A spool in a file: one JSON record per line, synced before `append` returns; compaction
//! writes the kept records to a new file, syncs it and renames it over the old one.
//!
//! Appends are committed in groups: the first caller becomes the writer and writes what the
//! others queued meanwhile, with one sync for all, so a burst of webhook requests costs a
//! few syncs rather than one each.
//!
//! A line that cannot be read (the end of a write cut short by a crash) is skipped and
//! logged, never fatal.
//!
//! The spool holds what Graph said about users' mail, so it is private to the service's user:
//! the file (and the file compaction writes) `0600`, the directories `open` creates `0700`,
//! whatever the umask.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::sync::oneshot;

use super::{Spool, SpoolRecord};
use crate::error::GraphError;

/// A spool kept in `<dir>/spool.jsonl`.
#[derive(Debug, Clone)]
pub struct FileSpool {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    /// The file, open for appending (one writer at a time).
    file: Mutex<File>,
    /// Appends waiting for the writer.
    pending: Mutex<Pending>,
}

/// Told when a line is synced, or why it is not.
type Synced = oneshot::Sender<Result<(), String>>;

/// Lines waiting to be written, each with who waits for the sync.
#[derive(Debug, Default)]
struct Pending {
    queue: Vec<(Vec<u8>, Synced)>,
    /// Whether a writer is at work (it takes the queue until it finds it empty).
    writing: bool,
}

fn io(what: &str, path: &Path, error: &std::io::Error) -> GraphError {
    GraphError::Spool(format!("{what} {}: {error}", path.display()))
}

fn open_append(path: &Path) -> Result<File, GraphError> {
    open_private(OpenOptions::new().create(true).append(true), path)
        .map_err(|e| io("cannot open", path, &e))
}

/// Opens `path` with `options`; the file is `0600` (created so, or made so), whatever the umask.
fn open_private(options: &mut OpenOptions, path: &Path) -> std::io::Result<File> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        let file = options.mode(0o600).open(path)?;
        if file.metadata()?.permissions().mode() & 0o777 != 0o600 {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(file)
    }
    #[cfg(not(unix))]
    {
        options.open(path)
    }
}

/// Creates `dir` and its missing parents, each `0700` whatever the umask; existing ones are
/// left as they are.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
        let mut missing = Vec::new();
        let mut here = Some(dir);
        while let Some(path) = here {
            if path.as_os_str().is_empty() || path.exists() {
                break;
            }
            missing.push(path);
            here = path.parent();
        }
        for path in missing.into_iter().rev() {
            match std::fs::DirBuilder::new().mode(0o700).create(path) {
                Ok(()) => std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?,
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
    }
}

impl FileSpool {
    /// Opens (or creates) the spool in `dir`, creating the directory (`0700`) if needed; the
    /// file is `0600`.
    pub fn open(dir: &Path) -> Result<Self, GraphError> {
        create_private_dir(dir).map_err(|e| io("cannot create", dir, &e))?;
        let path = dir.join("spool.jsonl");
        let file = open_append(&path)?;
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                file: Mutex::new(file),
                pending: Mutex::new(Pending::default()),
            }),
        })
    }

    /// The spool's file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Inner) -> Result<T, GraphError> + Send + 'static,
    ) -> Result<T, GraphError> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || work(&inner))
            .await
            .map_err(|e| GraphError::Spool(format!("spool task failed: {e}")))?
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, File> {
        self.file.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes and syncs what is queued, batch after batch, until nothing is.
    fn write_pending(&self) {
        loop {
            let batch = {
                let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
                if pending.queue.is_empty() {
                    pending.writing = false;
                    return;
                }
                std::mem::take(&mut pending.queue)
            };
            let result = {
                let mut file = self.lock();
                batch
                    .iter()
                    .try_for_each(|(text, _)| file.write_all(text))
                    .and_then(|()| file.sync_data())
                    .map_err(|e| io("cannot write", &self.path, &e).to_string())
            };
            for (_, done) in batch {
                let _ = done.send(result.clone());
            }
        }
    }

    fn read(&self) -> Result<Vec<SpoolRecord>, GraphError> {
        let file = File::open(&self.path).map_err(|e| io("cannot read", &self.path, &e))?;
        let mut out = Vec::new();
        for (number, line) in BufReader::new(file).lines().enumerate() {
            let Ok(line) = line else {
                tracing::warn!(path = %self.path.display(), line = number + 1, "spool: unreadable line skipped");
                continue;
            };
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<SpoolRecord>(&line) {
                Ok(record) => out.push(record),
                Err(error) => {
                    tracing::warn!(path = %self.path.display(), line = number + 1, %error, "spool: record skipped");
                }
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl Spool for FileSpool {
    async fn append(&self, records: &[SpoolRecord]) -> Result<(), GraphError> {
        let mut text = Vec::new();
        for record in records {
            serde_json::to_writer(&mut text, record)
                .map_err(|e| GraphError::Spool(e.to_string()))?;
            text.push(b'\n');
        }
        let (done, synced) = oneshot::channel();
        let lead = {
            let mut pending = self.inner.pending.lock().unwrap_or_else(|p| p.into_inner());
            pending.queue.push((text, done));
            !std::mem::replace(&mut pending.writing, true)
        };
        if lead {
            let inner = Arc::clone(&self.inner);
            tokio::task::spawn_blocking(move || inner.write_pending());
        }
        synced
            .await
            .map_err(|_| GraphError::Spool("the spool's writer stopped".into()))?
            .map_err(GraphError::Spool)
    }

    async fn records(&self) -> Result<Vec<SpoolRecord>, GraphError> {
        self.blocking(|inner| {
            let _writer = inner.lock();
            inner.read()
        })
        .await
    }

    async fn retain(
        &self,
        keep: &(dyn for<'r> Fn(&'r SpoolRecord) -> bool + Send + Sync),
    ) -> Result<(), GraphError> {
        let gone: HashSet<u64> = self
            .records()
            .await?
            .iter()
            .filter(|r| !keep(r))
            .map(|r| r.seq)
            .collect();
        if gone.is_empty() {
            return Ok(());
        }
        self.blocking(move |inner| {
            let mut file = inner.lock();
            // Read again under the lock: what was appended meanwhile stays.
            let current = inner.read()?;
            let tmp = inner.path.with_extension("jsonl.tmp");
            let mut out = open_private(
                OpenOptions::new().write(true).create(true).truncate(true),
                &tmp,
            )
            .map_err(|e| io("cannot create", &tmp, &e))?;
            for record in current.iter().filter(|r| !gone.contains(&r.seq)) {
                let mut line =
                    serde_json::to_vec(record).map_err(|e| GraphError::Spool(e.to_string()))?;
                line.push(b'\n');
                out.write_all(&line)
                    .map_err(|e| io("cannot write", &tmp, &e))?;
            }
            out.sync_all().map_err(|e| io("cannot sync", &tmp, &e))?;
            std::fs::rename(&tmp, &inner.path)
                .map_err(|e| io("cannot replace", &inner.path, &e))?;
            if let Some(dir) = inner.path.parent()
                && let Ok(dir) = File::open(dir)
            {
                let _ = dir.sync_all();
            }
            *file = open_append(&inner.path)?;
            tracing::debug!(dropped = gone.len(), "spool compacted");
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::record;
    use super::*;

    #[tokio::test]
    async fn records_survive_reopening_and_compaction_keeps_late_appends() {
        let dir = tempfile::tempdir().expect("dir");
        let spool = FileSpool::open(dir.path()).expect("opens");
        spool
            .append(&[record(1, "a"), record(2, "b")])
            .await
            .expect("append");
        drop(spool);
        let spool = FileSpool::open(dir.path()).expect("reopens");
        assert_eq!(spool.records().await.expect("records").len(), 2);
        spool.append(&[record(3, "b")]).await.expect("append");
        spool.retain(&|r| r.mailbox == "a").await.expect("retain");
        spool
            .append(&[record(4, "c")])
            .await
            .expect("append after compaction");
        let seqs: Vec<u64> = spool
            .records()
            .await
            .expect("records")
            .iter()
            .map(|r| r.seq)
            .collect();
        assert_eq!(seqs, [1, 4]);
    }

    #[tokio::test]
    async fn concurrent_appends_are_each_written_once_and_in_whole_lines() {
        let dir = tempfile::tempdir().expect("dir");
        let spool = FileSpool::open(dir.path()).expect("opens");
        let appends = (0..200u64).map(|n| {
            let spool = spool.clone();
            tokio::spawn(async move {
                spool
                    .append(&[record(2 * n, "a"), record(2 * n + 1, "b")])
                    .await
            })
        });
        for append in futures_util::future::join_all(appends).await {
            append.expect("task").expect("append");
        }
        let mut seqs: Vec<u64> = spool
            .records()
            .await
            .expect("records")
            .iter()
            .map(|r| r.seq)
            .collect();
        seqs.sort_unstable();
        assert_eq!(seqs, (0..400).collect::<Vec<_>>());
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_spool_is_private_before_and_after_compaction() {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |path: &Path| {
            std::fs::metadata(path)
                .map(|m| m.permissions().mode() & 0o777)
                .expect("metadata")
        };
        let base = tempfile::tempdir().expect("dir");
        let dir = base.path().join("bems.db.graph").join("contoso");
        let spool = FileSpool::open(&dir).expect("opens");
        assert_eq!(mode(&base.path().join("bems.db.graph")), 0o700);
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(spool.path()), 0o600);
        spool
            .append(&[record(1, "a"), record(2, "b")])
            .await
            .expect("append");
        spool.retain(&|r| r.mailbox == "a").await.expect("retain");
        assert_eq!(mode(spool.path()), 0o600, "the compacted file");
    }

    #[tokio::test]
    async fn a_torn_last_line_is_skipped() {
        let dir = tempfile::tempdir().expect("dir");
        let spool = FileSpool::open(dir.path()).expect("opens");
        spool.append(&[record(1, "a")]).await.expect("append");
        let mut file = open_append(spool.path()).expect("file");
        file.write_all(b"{\"seq\":2,\"mail").expect("write");
        let records = spool.records().await.expect("records");
        assert_eq!(records.len(), 1);
    }
}
