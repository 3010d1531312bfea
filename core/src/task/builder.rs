//! A builder for tasks made in code rather than read from YAML.

use super::config::TaskConfig;
use super::envs::{Secret, SecretValue, valid_env_name};
use super::error::TaskError;
use super::resources::ResourceSet;
use super::service::{PoolSpec, ServiceSpec};
use super::spec::{Task, Workdir};
use super::storage::FileMount;

/// Builds a [`Task`]; [`TaskBuilder::build`] validates what the YAML parser would.
#[derive(Debug, Clone, Default)]
pub struct TaskBuilder {
    task: Task,
}

impl Task {
    /// Starts a task builder (one node, default resources).
    pub fn builder() -> TaskBuilder {
        TaskBuilder::default()
    }
}

impl TaskBuilder {
    /// Task name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.task.name = Some(name.into());
        self
    }

    /// Run script.
    pub fn run(mut self, run: impl Into<String>) -> Self {
        self.task.run = Some(run.into());
        self
    }

    /// Setup script.
    pub fn setup(mut self, setup: impl Into<String>) -> Self {
        self.task.setup = Some(setup.into());
        self
    }

    /// Number of nodes.
    pub fn num_nodes(mut self, n: u32) -> Self {
        self.task.num_nodes = n;
        self
    }

    /// Resource candidates (a single [`super::Resources`] converts).
    pub fn resources(mut self, resources: impl Into<ResourceSet>) -> Self {
        self.task.resources = resources.into();
        self
    }

    /// Local working directory.
    pub fn workdir(mut self, dir: impl Into<String>) -> Self {
        self.task.workdir = Some(Workdir::Local(dir.into()));
        self
    }

    /// Adds an environment variable.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.task.envs.insert(key.into(), value.into());
        self
    }

    /// Adds an inline secret.
    pub fn secret(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.task
            .secrets
            .insert(key.into(), SecretValue::Inline(Secret::new(value)));
        self
    }

    /// Adds a file mount.
    pub fn file_mount(mut self, dst: impl Into<String>, src: FileMount) -> Self {
        self.task.file_mounts.insert(dst.into(), src);
        self
    }

    /// Sets the service spec.
    pub fn service(mut self, service: ServiceSpec) -> Self {
        self.task.service = Some(service);
        self
    }

    /// Sets the worker-pool spec.
    pub fn pool(mut self, pool: PoolSpec) -> Self {
        self.task.pool = Some(pool);
        self
    }

    /// Sets the per-task config.
    pub fn config(mut self, config: TaskConfig) -> Self {
        self.task.config = Some(config);
        self
    }

    /// Validates and returns the task.
    pub fn build(self) -> Result<Task, TaskError> {
        let t = self.task;
        let bad = |field: &str, message: String| TaskError::Build {
            field: field.to_string(),
            message,
        };
        if t.num_nodes == 0 {
            return Err(bad("num_nodes", "must be at least 1".into()));
        }
        for k in t.envs.keys().chain(t.secrets.keys()) {
            if !valid_env_name(k) {
                return Err(bad("envs", format!("invalid variable name `{k}`")));
            }
        }
        if t.resources.candidates().is_empty() {
            return Err(bad("resources", "needs at least one candidate".into()));
        }
        if t.service.is_some() && t.pool.is_some() {
            return Err(bad(
                "pool",
                "`service` and `pool` cannot be used together".into(),
            ));
        }
        if t.file_mounts.keys().any(String::is_empty) {
            return Err(bad(
                "file_mounts",
                "destination path must not be empty".into(),
            ));
        }
        Ok(t)
    }
}
