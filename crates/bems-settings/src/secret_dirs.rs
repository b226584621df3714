//! `[secrets]`: the directories files holding secret material are read from.
//!
//! ```toml
//! [secrets]
//! directories = ["/etc/bems", "/run/secrets"]   # default: the configuration file's directory
//! ```
//!
//! | file | setting |
//! |---|---|
//! | a secret given by file | `*_file` of `store.key`, `admin.token`, a tenant's passwords and client secrets |
//! | the tenant's client certificate | `tenants[..].client_certificate.pfx_file` |
//! | the APNs signing key | `push.apns.key_file` |
//! | the Firebase service account | `push.fcm.service_account_file` |
//! | the API's TLS private key | `server.tls_key_file` |
//!
//! Each of these is read only when it lies inside a secret directory once symbolic links and
//! `..` are resolved; anything else is refused with the field named. The path is first
//! checked as written (`..` taken away without looking at the disk), so a path outside is
//! refused without being opened: the answer is the same whether such a file exists or not.
//! Then links are resolved and the real file checked again, and the real path is the one read.
//!
//! A tenant's settings given through the admin API may not name a file another part of the
//! settings uses (the store key, the admin token, the APNs key, the FCM account, the TLS key,
//! another tenant's secrets, the configuration file itself): a tenant's password is sent to
//! the tenant's Exchange, and the others' secrets are not the tenant's to send.
//!
//! Relative paths (of files and of directories) are relative to the working directory.
//! Settings made without a file ([`ServiceSettings::from_toml_str`](super::ServiceSettings::from_toml_str))
//! have no default directory: their secret files are refused until `directories` names one.

use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

/// `[secrets]`: where files holding secret material may be.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecretsSettings {
    /// The secret directories; empty (the default): the configuration file's directory.
    pub directories: Vec<PathBuf>,
    /// The directory of the configuration file the settings were read from, if any.
    #[serde(skip)]
    pub config_dir: Option<PathBuf>,
    /// Every file holding secrets that was read, with the field that named it (and the
    /// configuration file itself), by real path: a tenant's settings given through the admin
    /// API may name only files no other part of the settings uses.
    #[serde(skip)]
    pub in_use: Vec<(String, PathBuf)>,
}

impl SecretsSettings {
    /// Records that `field` uses the file at `real` (once per file).
    pub(crate) fn record(&mut self, field: String, real: PathBuf) {
        if !self.in_use.iter().any(|(_, known)| *known == real) {
            self.in_use.push((field, real));
        }
    }

    /// The field other than one under `owner` (`tenants[contoso].`) that uses the file at
    /// `real`, if any.
    pub(crate) fn used_by_other(&self, real: &Path, owner: &str) -> Option<&str> {
        self.in_use
            .iter()
            .find(|(field, known)| known == real && !field.starts_with(owner))
            .map(|(field, _)| field.as_str())
    }

    /// The directories in force: `directories`, else the configuration file's directory.
    pub fn in_force(&self) -> Vec<PathBuf> {
        if self.directories.is_empty() {
            self.config_dir.iter().cloned().collect()
        } else {
            self.directories.clone()
        }
    }

    /// `path`, checked: inside a secret directory once links and `..` are resolved. Returns
    /// the real path, to be read in its place; the error is the rule it breaks.
    pub fn admit(&self, path: &Path) -> Result<PathBuf, String> {
        let directories = self.in_force();
        if directories.is_empty() {
            return Err(format!(
                "{} is not read: no secret directory is configured ([secrets] directories)",
                path.display()
            ));
        }
        let real_directories: Vec<PathBuf> = directories
            .iter()
            .filter_map(|d| std::fs::canonicalize(d).ok())
            .collect();
        let outside = || {
            let list: Vec<String> = directories
                .iter()
                .map(|d| d.display().to_string())
                .collect();
            format!(
                "{} is outside the secret directories ({}): files holding secrets are read \
                 only from there ([secrets] directories)",
                path.display(),
                list.join(", ")
            )
        };
        // As written: nothing outside is opened, not even to resolve its links.
        let written = lexical(path);
        let inside = directories
            .iter()
            .map(|d| lexical(d))
            .chain(real_directories.iter().cloned())
            .any(|d| written.starts_with(d));
        if !inside {
            return Err(outside());
        }
        let real = std::fs::canonicalize(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if real_directories.iter().any(|d| real.starts_with(d)) {
            Ok(real)
        } else {
            Err(outside())
        }
    }
}

/// `path` made absolute (from the working directory) with `.` and `..` taken away, without
/// looking at the disk.
fn lexical(path: &Path) -> PathBuf {
    let absolute = if path.is_absolute() {
        path.to_owned()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    let mut out = PathBuf::new();
    for component in absolute.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// The directory of the configuration file at `path` (`.` for a bare file name).
pub(crate) fn directory_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, "s3cret").unwrap_or_else(|e| panic!("{e}"));
        path
    }

    fn secrets(directories: &[&Path]) -> SecretsSettings {
        SecretsSettings {
            directories: directories.iter().map(|d| d.to_path_buf()).collect(),
            ..SecretsSettings::default()
        }
    }

    #[test]
    fn files_inside_are_admitted_by_their_real_path() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let file = write(dir.path(), "password");
        let real = std::fs::canonicalize(&file).unwrap_or_else(|e| panic!("{e}"));
        let secrets = secrets(&[dir.path()]);
        assert_eq!(secrets.admit(&file), Ok(real.clone()));
        let roundabout = dir.path().join(".").join("sub").join("..").join("password");
        std::fs::create_dir(dir.path().join("sub")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(secrets.admit(&roundabout), Ok(real));
    }

    #[cfg(unix)]
    #[test]
    fn files_outside_links_out_and_dot_dot_are_refused() {
        let inside = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let outside = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let secret = write(outside.path(), "password");
        let link = inside.path().join("link");
        std::os::unix::fs::symlink(&secret, &link).unwrap_or_else(|e| panic!("{e}"));
        let name = outside.path().file_name().unwrap_or_default();
        let dot_dot = inside.path().join("..").join(name).join("password");
        let secrets = secrets(&[inside.path()]);
        for path in [&secret, &link, &dot_dot, &outside.path().join("missing")] {
            let error = secrets.admit(path).unwrap_err();
            assert!(error.contains("outside the secret directories"), "{error}");
        }
        let missing = secrets.admit(&inside.path().join("missing")).unwrap_err();
        assert!(missing.starts_with("cannot read"), "{missing}");
    }

    #[test]
    fn the_default_is_the_configuration_files_directory_and_else_nothing() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let file = write(dir.path(), "password");
        let mut secrets = SecretsSettings::default();
        let error = secrets.admit(&file).unwrap_err();
        assert!(error.contains("no secret directory"), "{error}");
        secrets.config_dir = Some(directory_of(&dir.path().join("bems.toml")));
        assert!(secrets.admit(&file).is_ok());
        assert_eq!(directory_of(Path::new("bems.toml")), PathBuf::from("."));
    }
}
