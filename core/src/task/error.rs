//! Task errors: every one names the file, line, column and field path.

use std::fmt;

/// Where and why a task file is invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The file (or origin label) the YAML came from.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// Field path, e.g. `resources.any_of[1].accelerators`; `(root)` for the document.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// A near-miss name the user probably meant.
    pub suggestion: Option<String>,
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file, self.line, self.col, self.path, self.message
        )?;
        if let Some(s) = &self.suggestion {
            write!(f, " (did you mean `{s}`?)")?;
        }
        Ok(())
    }
}

/// Why a task could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskError {
    /// The YAML is broken or does not follow the task schema.
    /// Displays as `{file}:{line}:{col}: {path}: {message}[ (did you mean `x`?)]`.
    #[error("{0}")]
    Invalid(Box<Located>),
    /// The task file could not be read.
    #[error("{file}: cannot read task file: {message}")]
    Io {
        /// The path.
        file: String,
        /// The OS error.
        message: String,
    },
    /// A task built in code ([`super::TaskBuilder`]) is invalid.
    #[error("{field}: {message}")]
    Build {
        /// The field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A command-line override is invalid, or cannot apply to this task.
    #[error("{flag}: {message}")]
    Override {
        /// The flag (`--gpus`, `--env`, ...).
        flag: String,
        /// What is wrong.
        message: String,
    },
}

impl TaskError {
    /// The location, when the error points into a file.
    pub fn location(&self) -> Option<&Located> {
        match self {
            TaskError::Invalid(l) => Some(l),
            _ => None,
        }
    }

    pub(crate) fn override_flag(flag: &str, message: impl Into<String>) -> Self {
        TaskError::Override {
            flag: flag.to_string(),
            message: message.into(),
        }
    }

    /// Replaces every occurrence of each secret in the message with `<redacted>`.
    pub(crate) fn redact(mut self, secrets: &[&str]) -> Self {
        let scrub = |s: &mut String| *s = super::spec::redact(s, secrets);
        match &mut self {
            TaskError::Invalid(l) => {
                scrub(&mut l.message);
                scrub(&mut l.path);
            }
            TaskError::Io { message, .. }
            | TaskError::Build { message, .. }
            | TaskError::Override { message, .. } => scrub(message),
        }
        self
    }
}

/// The candidate closest to `word`, when it is close enough to be a likely typo:
/// similar overall (normalized Damerau-Levenshtein >= 0.7), or one edit away.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let lower = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .filter(|c| *c != word)
        .map(|c| {
            let c_lower = c.to_ascii_lowercase();
            let score = strsim::normalized_damerau_levenshtein(&lower, &c_lower);
            let one_edit = lower.len() >= 3 && strsim::damerau_levenshtein(&lower, &c_lower) <= 1;
            (score, one_edit, c)
        })
        .filter(|(score, one_edit, _)| *score >= 0.7 || *one_edit)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, _, c)| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_near_misses_only() {
        let fields = ["accelerators", "cpus", "memory", "num_nodes"];
        assert_eq!(
            suggest("acelerators", fields).as_deref(),
            Some("accelerators")
        );
        assert_eq!(suggest("num_node", fields).as_deref(), Some("num_nodes"));
        assert_eq!(suggest("CPUS", fields).as_deref(), Some("cpus"));
        assert_eq!(suggest("zzzzzz", fields), None);
        assert_eq!(suggest("awz", ["aws", "gcp"]).as_deref(), Some("aws"));
        assert_eq!(suggest("spot_mixer", ["spot_placer"]), None);
        assert_eq!(suggest("ab", ["ac"]), None);
    }

    #[test]
    fn display_format() {
        let e = TaskError::Invalid(Box::new(Located {
            file: "t.yaml".into(),
            line: 3,
            col: 5,
            path: "resources.acelerators".into(),
            message: "unknown field".into(),
            suggestion: Some("accelerators".into()),
        }));
        assert_eq!(
            e.to_string(),
            "t.yaml:3:5: resources.acelerators: unknown field (did you mean `accelerators`?)"
        );
    }
}
