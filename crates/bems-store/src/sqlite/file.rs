//! The store's file is private to the service's user: it holds device tokens and the sealed
//! secrets.
//!
//! | what | mode |
//! |---|---|
//! | the directory, when the service creates it (and any missing parent) | `0700` |
//! | the database file, when the service creates it | `0600` |
//! | a database file or journal found readable by others | tightened to the owner's bits, with a warning |
//! | `-wal`, `-shm` | SQLite gives them the database file's mode |
//!
//! Modes are set explicitly after creation, so the umask cannot widen them.

use std::io;
use std::path::Path;

/// Makes `path` ready for SQLite: its directory and the file created private, an existing
/// file (and journals of an earlier run) no longer readable by others.
pub(super) fn prepare(path: &Path) -> io::Result<()> {
    if path.as_os_str() == ":memory:" {
        return Ok(()); // SQLite's name for a database in memory: no file
    }
    #[cfg(unix)]
    {
        unix::prepare(path)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(())
    }
}

#[cfg(unix)]
mod unix {
    use std::fs::{DirBuilder, OpenOptions, Permissions};
    use std::io;
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
    use std::path::Path;

    const FILE: u32 = 0o600;
    const DIRECTORY: u32 = 0o700;

    pub(super) fn prepare(path: &Path) -> io::Result<()> {
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            create_private_dir(parent)?;
        }
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(FILE)
            .open(path)
        {
            Ok(_) => std::fs::set_permissions(path, Permissions::from_mode(FILE))?,
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => tighten(path),
            Err(error) => return Err(error),
        }
        for suffix in ["-wal", "-shm", "-journal"] {
            let mut journal = path.as_os_str().to_owned();
            journal.push(suffix);
            tighten(Path::new(&journal));
        }
        Ok(())
    }

    /// Creates `dir` and its missing parents, each `0700`; existing ones are left alone.
    fn create_private_dir(dir: &Path) -> io::Result<()> {
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
            match DirBuilder::new().mode(DIRECTORY).create(path) {
                Ok(()) => std::fs::set_permissions(path, Permissions::from_mode(DIRECTORY))?,
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    /// Takes the group's and others' bits off an existing file (a store made by an older
    /// bems); a file that is not there, or not ours to change, is left as it is.
    fn tighten(path: &Path) {
        let Ok(metadata) = std::fs::metadata(path) else {
            return;
        };
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 == 0 {
            return;
        }
        let private = mode & 0o700;
        match std::fs::set_permissions(path, Permissions::from_mode(private)) {
            Ok(()) => tracing::warn!(
                path = %path.display(),
                was = format!("{mode:o}"),
                now = format!("{private:o}"),
                "the store was readable by others: made private"
            ),
            Err(error) => tracing::warn!(
                path = %path.display(),
                %error,
                "the store is readable by others and could not be made private"
            ),
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn mode(path: &Path) -> u32 {
            std::fs::metadata(path)
                .map(|m| m.permissions().mode() & 0o777)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        }

        #[test]
        fn new_files_and_directories_are_private_and_old_ones_made_so() {
            let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
            let path = dir.path().join("a").join("b").join("bems.db");
            prepare(&path).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(&dir.path().join("a")), 0o700);
            assert_eq!(mode(&dir.path().join("a").join("b")), 0o700);
            let old = dir.path().join("old.db");
            std::fs::write(&old, b"").unwrap_or_else(|e| panic!("{e}"));
            std::fs::set_permissions(&old, Permissions::from_mode(0o644))
                .unwrap_or_else(|e| panic!("{e}"));
            prepare(&old).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(mode(&old), 0o600);
        }
    }
}
