//! Why settings were refused: the file could not be read or parsed, or settings break rules.

use std::fmt;
use std::path::PathBuf;

/// Why settings could not be loaded.
///
/// Callers usually print it (each problem names the field and the rule it breaks) and stop;
/// [`SettingsError::problems`] lists the broken rules one by one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// The settings file could not be read.
    #[error("cannot read settings file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The text is not TOML, or not the settings' shape (an unknown key, a wrong type, a
    /// missing field).
    #[error("{}: {message}", Location { file: file.as_ref(), line: *line, column: *column })]
    Parse {
        /// The file, when the text came from one.
        file: Option<PathBuf>,
        /// The line (from 1), when the parser knows it.
        line: Option<usize>,
        /// The column (from 1, in characters), when the parser knows it.
        column: Option<usize>,
        /// The parser's message; an unknown key's message names the key.
        message: String,
        /// The parser's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Settings break rules; every broken rule is listed.
    #[error("{}", Listing(problems))]
    Invalid {
        /// The broken rules, in the order the settings are read.
        problems: Vec<Problem>,
    },
}

impl SettingsError {
    /// The broken rules (empty unless [`SettingsError::Invalid`]).
    pub fn problems(&self) -> &[Problem] {
        match self {
            Self::Invalid { problems } => problems,
            Self::Read { .. } | Self::Parse { .. } => &[],
        }
    }

    /// `Ok` when there are no problems, else [`SettingsError::Invalid`].
    pub(crate) fn check(problems: Vec<Problem>) -> Result<(), Self> {
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Self::Invalid { problems })
        }
    }
}

/// One broken rule: the field (`tenants[contoso].scp_ssl`, or an environment variable's
/// name) and the rule in plain words.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Problem {
    /// The field's path, as in the TOML file, or the environment variable.
    pub field: String,
    /// The rule it breaks.
    pub rule: String,
}

impl Problem {
    /// A problem with `field`.
    pub fn new(field: impl Into<String>, rule: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            rule: rule.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.rule)
    }
}

/// Collects problems under a path prefix.
#[derive(Debug, Default)]
pub(crate) struct Problems(pub(crate) Vec<Problem>);

impl Problems {
    /// Records that `field` breaks `rule`.
    pub(crate) fn push(&mut self, field: impl Into<String>, rule: impl Into<String>) {
        self.0.push(Problem::new(field, rule));
    }

    /// `Ok` when nothing was recorded.
    pub(crate) fn finish(self) -> Result<(), SettingsError> {
        SettingsError::check(self.0)
    }
}

struct Location<'a> {
    file: Option<&'a PathBuf>,
    line: Option<usize>,
    column: Option<usize>,
}

impl fmt::Display for Location<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.file {
            Some(file) => write!(f, "{}", file.display())?,
            None => f.write_str("settings")?,
        }
        match (self.line, self.column) {
            (Some(line), Some(column)) => write!(f, ":{line}:{column}"),
            (Some(line), None) => write!(f, ":{line}"),
            _ => Ok(()),
        }
    }
}

struct Listing<'a>(&'a [Problem]);

impl fmt::Display for Listing<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.0.len();
        write!(
            f,
            "{count} invalid setting{}:",
            if count == 1 { "" } else { "s" }
        )?;
        for problem in self.0 {
            write!(f, "\n  - {problem}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_listed_with_its_field() {
        let error = SettingsError::Invalid {
            problems: vec![
                Problem::new("server.listen", "is not an address"),
                Problem::new("tenants[contoso].scp_ssl", "requires scp_lookup"),
            ],
        };
        assert_eq!(
            error.to_string(),
            "2 invalid settings:\n  - server.listen: is not an address\n  \
             - tenants[contoso].scp_ssl: requires scp_lookup"
        );
        assert_eq!(error.problems().len(), 2);
    }

    #[test]
    fn parse_errors_name_file_line_and_column() {
        let error = SettingsError::Parse {
            file: Some("/etc/bems.toml".into()),
            line: Some(3),
            column: Some(7),
            message: "unknown field `colour`".into(),
            source: "x".into(),
        };
        assert_eq!(
            error.to_string(),
            "/etc/bems.toml:3:7: unknown field `colour`"
        );
        assert!(error.problems().is_empty());
    }
}
