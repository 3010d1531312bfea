//! From what a user typed to the task a verb runs: one rule for every verb
//! (`validate`, `launch`, `exec`, `jobs launch`, `serve up|update`).
//!
//! A [`TaskSource`] (a task file, a command line, or nothing) is loaded with the
//! [`Overrides`] of the command line, its clouds are checked against those this
//! program knows (the shipped catalogs, the bundled providers and those installed
//! in the home), and the verb's own rule is applied ([`TaskUse`]): how many tasks
//! it takes, whether it runs without one, and whether relative paths are resolved
//! against the task file's folder. Every refusal is a [`ClientError`], of class
//! [`ErrorClass::Invalid`](super::ErrorClass::Invalid) for bad input.
//!
//! ```
//! use aloft::client::{Client, TaskUse};
//! use aloft::task::{Overrides, TaskSource};
//!
//! let source = TaskSource::from_words(&["echo".into(), "hi".into()])?;
//! let loaded = Client::builder()
//!     .home(std::env::temp_dir().join("aloft-doc-tasks"))
//!     .load_task(&source, &Overrides::default(), TaskUse::Exec)?;
//! assert_eq!(loaded.task.run.as_deref(), Some("echo hi"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::{Path, PathBuf};

use crate::task::{LoadedTasks, Overrides, Task, TaskSource};

use super::{Client, ClientBuilder, ClientError, ClientResult};

/// The verb a task is loaded for: each takes its own shape of input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskUse {
    /// A check or a plan (`validate`, a dry run): any number of tasks, or nothing.
    Plan,
    /// A launch on a cluster: one task, or nothing (a cluster with no job); a
    /// pipeline is refused (it runs as a managed job).
    Launch,
    /// A job on an existing cluster: one task.
    Exec,
    /// A managed job: one task or a pipeline, never nothing; relative paths are
    /// resolved against the task file's folder.
    ManagedJob,
    /// A service (`serve up`, `serve update`): exactly one task, never nothing;
    /// relative paths are resolved against the task file's folder.
    Service,
}

/// One task as loaded, with the folder its relative paths are resolved against.
#[derive(Debug, Clone)]
pub struct LoadedTask {
    /// The task.
    pub task: Task,
    /// The task file's folder (`.` for a command or nothing).
    pub task_dir: PathBuf,
    /// Whether it came from a task file (not a command line or nothing).
    pub from_file: bool,
}

impl LoadedTask {
    /// The folder [`Client::exec`] syncs the workdir from: the task file's, so
    /// that edits made since the launch run; `None` for a command line, which
    /// runs in the workdir the cluster has.
    pub fn exec_dir(&self) -> Option<&Path> {
        self.from_file.then_some(self.task_dir.as_path())
    }
}

impl ClientBuilder {
    /// Loads the tasks `source` names for `usage`, with `overrides` applied, as
    /// the client this builder opens would ([`Client::load_tasks`]), without opening
    /// it: no settings or state are read, so a task file can be checked anywhere.
    pub fn load_tasks(
        &self,
        source: &TaskSource,
        overrides: &Overrides,
        usage: TaskUse,
    ) -> ClientResult<LoadedTasks> {
        let home = self.home.clone().unwrap_or_else(crate::config::aloft_home);
        load(&home, &names(&self.bundled), source, overrides, usage)
    }

    /// The one task `source` names for `usage` (see [`ClientBuilder::load_tasks`]);
    /// a pipeline is refused.
    pub fn load_task(
        &self,
        source: &TaskSource,
        overrides: &Overrides,
        usage: TaskUse,
    ) -> ClientResult<LoadedTask> {
        single(self.load_tasks(source, overrides, usage)?, source, usage)
    }
}

impl Client {
    /// Loads the tasks `source` names for `usage`, with `overrides` applied: the
    /// clouds they name must be known to this client (a shipped catalog, a bundled
    /// or an installed provider), and `usage`'s rule holds (see [`TaskUse`]).
    pub fn load_tasks(
        &self,
        source: &TaskSource,
        overrides: &Overrides,
        usage: TaskUse,
    ) -> ClientResult<LoadedTasks> {
        load(&self.home, &names(&self.bundled), source, overrides, usage)
    }

    /// The one task `source` names for `usage` (see [`Client::load_tasks`]); a
    /// pipeline is refused.
    pub fn load_task(
        &self,
        source: &TaskSource,
        overrides: &Overrides,
        usage: TaskUse,
    ) -> ClientResult<LoadedTask> {
        single(self.load_tasks(source, overrides, usage)?, source, usage)
    }
}

/// `KEY=VALUE` pairs from the lines of dotenv file `file` (when given), then from
/// `items` (`KEY=VALUE`, or `KEY` to take the value from this process's
/// environment); later pairs win. `flag` names the items in errors (`--env`).
pub fn key_values_with_file(
    flag: &str,
    items: &[String],
    file: Option<&Path>,
) -> ClientResult<Vec<(String, String)>> {
    let invalid = |e: crate::task::SourceError| ClientError::InvalidInput(e.to_string());
    let flags = crate::task::key_values(flag, items).map_err(invalid)?;
    let mut pairs = match file {
        Some(file) => crate::task::dotenv_file(file).map_err(invalid)?,
        None => Vec::new(),
    };
    pairs.extend(flags);
    Ok(pairs)
}

fn names(bundled: &[(String, &'static [u8])]) -> Vec<String> {
    bundled.iter().map(|(name, _)| name.clone()).collect()
}

fn load(
    home: &Path,
    bundled: &[String],
    source: &TaskSource,
    overrides: &Overrides,
    usage: TaskUse,
) -> ClientResult<LoadedTasks> {
    if *source == TaskSource::Nothing {
        match usage {
            TaskUse::ManagedJob => {
                return Err(ClientError::InvalidInput(
                    "jobs launch needs a task file or a command".into(),
                ));
            }
            TaskUse::Service => {
                return Err(ClientError::InvalidInput(
                    "serve needs a task file with a `service:` section".into(),
                ));
            }
            TaskUse::Plan | TaskUse::Launch | TaskUse::Exec => {}
        }
    }
    let known = super::known_clouds(home, bundled);
    let mut loaded = source
        .load(overrides, &known)
        .map_err(|e| ClientError::InvalidInput(e.to_string()))?;
    if matches!(usage, TaskUse::ManagedJob | TaskUse::Service) {
        // Relative paths are the task file's, as in a launch.
        loaded.chain.resolve_local_paths(&loaded.task_dir);
    }
    Ok(loaded)
}

fn single(loaded: LoadedTasks, source: &TaskSource, usage: TaskUse) -> ClientResult<LoadedTask> {
    let LoadedTasks { chain, task_dir } = loaded;
    let mut tasks = chain.into_tasks();
    if tasks.len() == 1
        && let Some(task) = tasks.pop()
    {
        return Ok(LoadedTask {
            task,
            task_dir,
            from_file: matches!(source, TaskSource::File(_)),
        });
    }
    Err(match usage {
        TaskUse::Launch => ClientError::Other(
            "a pipeline (several tasks) runs as a managed job: `aloft jobs launch` runs \
             its tasks in order, each on a cluster of its own"
                .into(),
        ),
        TaskUse::Exec => ClientError::Other("exec takes a single task, not a pipeline".into()),
        TaskUse::Service => ClientError::InvalidInput(format!(
            "a service is one task; this file has {}",
            tasks.len()
        )),
        TaskUse::Plan | TaskUse::ManagedJob => {
            ClientError::InvalidInput(format!("one task is needed; this file has {}", tasks.len()))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ErrorClass;

    fn builder(home: &Path) -> ClientBuilder {
        Client::builder().home(home)
    }

    fn pipeline(dir: &Path) -> TaskSource {
        let path = dir.join("two.yaml");
        std::fs::write(&path, "name: a\nrun: echo a\n---\nname: b\nrun: echo b\n").unwrap();
        TaskSource::File(path)
    }

    #[test]
    fn each_verb_refuses_a_pipeline_it_cannot_run_in_its_own_words() {
        let home = tempfile::tempdir().unwrap();
        let b = builder(home.path());
        let source = pipeline(home.path());
        let none = Overrides::default();
        let plan = b.load_tasks(&source, &none, TaskUse::Plan).unwrap();
        assert_eq!(plan.chain.tasks().len(), 2);
        let launch = b.load_task(&source, &none, TaskUse::Launch).unwrap_err();
        assert_eq!(launch.class(), ErrorClass::Failure);
        assert!(
            launch.to_string().contains("runs as a managed job"),
            "{launch}"
        );
        let exec = b.load_task(&source, &none, TaskUse::Exec).unwrap_err();
        assert_eq!(exec.to_string(), "exec takes a single task, not a pipeline");
        let serve = b.load_task(&source, &none, TaskUse::Service).unwrap_err();
        assert_eq!(serve.class(), ErrorClass::Invalid);
        assert_eq!(serve.to_string(), "a service is one task; this file has 2");
    }

    #[test]
    fn managed_jobs_and_services_need_a_task_and_get_absolute_paths() {
        let home = tempfile::tempdir().unwrap();
        let b = builder(home.path());
        let none = Overrides::default();
        for usage in [TaskUse::ManagedJob, TaskUse::Service] {
            let err = b
                .load_tasks(&TaskSource::Nothing, &none, usage)
                .unwrap_err();
            assert_eq!(err.class(), ErrorClass::Invalid, "{usage:?}: {err}");
        }
        assert!(
            b.load_task(&TaskSource::Nothing, &none, TaskUse::Launch)
                .is_ok()
        );
        let path = home.path().join("t.yaml");
        std::fs::write(&path, "workdir: code\nrun: ls\n").unwrap();
        let source = TaskSource::File(path);
        let job = b.load_task(&source, &none, TaskUse::ManagedJob).unwrap();
        let exec = b.load_task(&source, &none, TaskUse::Exec).unwrap();
        assert_eq!(exec.exec_dir(), Some(home.path()));
        let command = TaskSource::Command("ls".into());
        let typed = b.load_task(&command, &none, TaskUse::Exec).unwrap();
        assert_eq!(typed.exec_dir(), None);
        let dir = |t: &Task| format!("{:?}", t.workdir);
        assert!(dir(&job.task).contains(&*home.path().to_string_lossy()));
        assert!(!dir(&exec.task).contains(&*home.path().to_string_lossy()));
    }

    #[test]
    fn an_unknown_cloud_is_bad_input_and_an_installed_provider_is_known() {
        let home = tempfile::tempdir().unwrap();
        let none = Overrides::default();
        let source = TaskSource::Command("true".into());
        let with = |infra: &str| Overrides {
            infra: Some(infra.into()),
            ..Overrides::default()
        };
        let err = builder(home.path())
            .load_tasks(&source, &with("nocloud"), TaskUse::Launch)
            .unwrap_err();
        assert_eq!(err.class(), ErrorClass::Invalid);
        assert!(err.to_string().contains("unknown cloud `nocloud`"), "{err}");
        std::fs::create_dir_all(home.path().join("providers")).unwrap();
        std::fs::write(home.path().join("providers/nocloud.wasm"), b"").unwrap();
        builder(home.path())
            .load_tasks(&source, &with("nocloud"), TaskUse::Launch)
            .unwrap();
        builder(home.path())
            .load_tasks(&source, &none, TaskUse::Launch)
            .unwrap();
    }

    #[test]
    fn dotenv_pairs_come_first_and_flags_win() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(".env");
        std::fs::write(&file, "A=file\nB=file\n").unwrap();
        let pairs = key_values_with_file("--env", &["B=flag".to_string()], Some(&file)).unwrap();
        assert_eq!(
            pairs,
            vec![
                ("A".to_string(), "file".to_string()),
                ("B".to_string(), "file".to_string()),
                ("B".to_string(), "flag".to_string()),
            ]
        );
        let missing =
            key_values_with_file("--env", &[], Some(&dir.path().join("nope"))).unwrap_err();
        assert_eq!(missing.class(), ErrorClass::Invalid);
    }
}
