//! From what a user typed to tasks: one rule for every verb that takes a task
//! (`launch`, `exec`, `jobs launch`, `validate`), as SkyPilot's CLI reads it.
//!
//! ```
//! use aloft::task::{Overrides, TaskSource};
//!
//! // A command is a one-task file whose `run` is the command.
//! let source = TaskSource::from_words(&["python".into(), "train.py".into()])?;
//! let loaded = source.load(&Overrides::default(), &[])?;
//! assert_eq!(loaded.chain.tasks()[0].run.as_deref(), Some("python train.py"));
//! // A missing `.yaml` is an error, never a command.
//! assert!(TaskSource::from_words(&["missing.yaml".into()]).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::{Path, PathBuf};

use super::{Overrides, TaskChain, TaskError};

/// Where the tasks come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskSource {
    /// A task file (several YAML documents make a pipeline).
    File(PathBuf),
    /// A command line to run.
    Command(String),
    /// Nothing: a cluster with the given resources and no job.
    Nothing,
}

/// Tasks as loaded, with the folder their relative paths are resolved against.
#[derive(Debug, Clone)]
pub struct LoadedTasks {
    /// The tasks.
    pub chain: TaskChain,
    /// The task file's folder (`.` for a command or nothing).
    pub task_dir: PathBuf,
}

/// Why the tasks cannot be loaded: always bad input, located where possible.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The task file or the overrides are invalid (file, line, column and field).
    #[error(transparent)]
    Task(#[from] TaskError),
    /// Anything else about the input (a missing file, a bad dotenv line, a flag).
    #[error("{0}")]
    Input(String),
}

impl TaskSource {
    /// SkyPilot's rule: no words is nothing; one word is a task file when it names
    /// an existing file or ends in `.yaml`/`.yml` (a missing one is an error, never
    /// a command); anything else is a command (its words joined by spaces).
    pub fn from_words(words: &[String]) -> Result<TaskSource, SourceError> {
        match words {
            [] => Ok(TaskSource::Nothing),
            [one] => {
                let path = Path::new(one);
                if path.is_file() {
                    Ok(TaskSource::File(path.to_path_buf()))
                } else if one.ends_with(".yaml") || one.ends_with(".yml") {
                    Err(SourceError::Input(format!("{one}: no such task file")))
                } else {
                    Ok(TaskSource::Command(one.clone()))
                }
            }
            words => Ok(TaskSource::Command(words.join(" "))),
        }
    }

    /// Reads the tasks with `overrides` applied. A cloud that is neither one of
    /// SkyPilot's nor in `known_clouds` (catalogs, bundled and installed providers:
    /// see `aloft::client::known_clouds`) is an error at its line in the file, or
    /// naming `--infra` when the flag brought it.
    pub fn load(
        &self,
        overrides: &Overrides,
        known_clouds: &[String],
    ) -> Result<LoadedTasks, SourceError> {
        let (text, origin, task_dir) = match self {
            TaskSource::File(path) => (
                std::fs::read_to_string(path)
                    .map_err(|e| SourceError::Input(format!("{}: {e}", path.display())))?,
                path.display().to_string(),
                path.parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(Path::new("."))
                    .to_path_buf(),
            ),
            TaskSource::Command(command) => (
                serde_yaml::to_string(&serde_json::json!({ "run": command }))
                    .map_err(|e| SourceError::Input(e.to_string()))?,
                "<command line>".to_string(),
                PathBuf::from("."),
            ),
            TaskSource::Nothing => ("{}".into(), "<command line>".into(), PathBuf::from(".")),
        };
        let chain = match self {
            TaskSource::File(path) => TaskChain::from_yaml_file(path, overrides)?,
            _ => TaskChain::from_yaml_str(&text, &origin, overrides)?,
        };
        check_clouds(&chain, &text, &origin, known_clouds)?;
        Ok(LoadedTasks { chain, task_dir })
    }
}

/// Refuses a cloud nobody knows: at its line in `src`, else as the `--infra` flag.
fn check_clouds(
    chain: &TaskChain,
    src: &str,
    origin: &str,
    known: &[String],
) -> Result<(), SourceError> {
    let mut unknown: Vec<&str> = chain
        .tasks()
        .iter()
        .flat_map(|t| t.resources.candidates())
        .filter_map(|r| r.infra.cloud.as_deref())
        .filter(|c| !super::units::CLOUDS.contains(c) && !known.iter().any(|k| k == c))
        .collect();
    unknown.dedup();
    if unknown.is_empty() {
        return Ok(());
    }
    super::check_cloud_names(src, origin, known)?;
    Err(SourceError::Input(format!(
        "--infra: unknown cloud `{}`: no shipped catalog and no provider has that name \
         (known: {})",
        unknown.join("`, `"),
        known.join(", ")
    )))
}

/// `KEY=VALUE` pairs of a dotenv file, in order. A malformed line is an error
/// naming the file and the line number; values never appear in errors.
pub fn dotenv_file(file: &Path) -> Result<Vec<(String, String)>, SourceError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| SourceError::Input(format!("{}: {e}", file.display())))?;
    let mut pairs = Vec::new();
    for item in dotenvy::from_read_iter(text.as_bytes()) {
        match item {
            Ok(pair) => pairs.push(pair),
            Err(dotenvy::Error::LineParse(line, _)) => {
                let number = text
                    .lines()
                    .position(|l| l.trim() == line.trim())
                    .map_or_else(|| "?".to_string(), |i| (i + 1).to_string());
                return Err(SourceError::Input(format!(
                    "{}:{number}: not a KEY=VALUE line (dotenv format)",
                    file.display()
                )));
            }
            Err(err) => return Err(SourceError::Input(format!("{}: {err}", file.display()))),
        }
    }
    Ok(pairs)
}

/// `KEY=VALUE` items of flag `flag` (`--env`, `--secret`); a bare `KEY` takes its
/// value from this process's environment.
pub fn key_values(flag: &str, items: &[String]) -> Result<Vec<(String, String)>, SourceError> {
    items
        .iter()
        .map(|item| match item.split_once('=') {
            Some((key, value)) => Ok((key.to_string(), value.to_string())),
            None => std::env::var(item)
                .map(|value| (item.clone(), value))
                .map_err(|_| {
                    SourceError::Input(format!(
                        "{flag} {item}: no value given and ${item} is not set here"
                    ))
                }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dotenv_line_that_is_not_key_value_is_named_by_its_number() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("e.env");
        std::fs::write(&file, "A=1\nB=2\nnot a pair\n").unwrap();
        let err = dotenv_file(&file).unwrap_err().to_string();
        assert!(
            err.ends_with("e.env:3: not a KEY=VALUE line (dotenv format)"),
            "{err}"
        );
        std::fs::write(&file, "A=1\nB=\"two words\"\n").unwrap();
        assert_eq!(
            dotenv_file(&file).unwrap(),
            [("A".into(), "1".into()), ("B".into(), "two words".into())]
        );
    }

    #[test]
    fn an_unknown_cloud_is_located_in_the_file_or_named_as_the_flag() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.yaml");
        std::fs::write(&file, "resources:\n  infra: skynet\nrun: x\n").unwrap();
        let err = TaskSource::File(file.clone())
            .load(&Overrides::default(), &["local".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("t.yaml:2"), "{err}");
        let flag = Overrides {
            infra: Some("skynet".into()),
            ..Overrides::default()
        };
        let err = TaskSource::Command("x".into())
            .load(&flag, &["local".into()])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("--infra: unknown cloud `skynet`"), "{err}");
    }
}
