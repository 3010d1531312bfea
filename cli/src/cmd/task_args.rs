//! The task-override flags shared by `launch`, `exec` and friends (SkyPilot's
//! `TASK_OPTIONS`), and loading a task file with them applied.

use std::path::PathBuf;

use aloft::client::{ClientError, LoadedTask, TaskUse, key_values_with_file};
use aloft::task::{LoadedTasks, Overrides, TaskSource};

use crate::exit::CliError;

/// Flags that override fields of the task file.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TaskFlags {
    /// Where to run: `aws`, `aws/us-east-1`, `*/us-west-2`, `k8s`, `ssh/POOL`.
    #[arg(long)]
    pub infra: Option<String>,
    /// Accelerators per node, e.g. `A100:8`, `H100`, `A100:0.5`.
    #[arg(long)]
    pub gpus: Option<String>,
    /// vCPUs per node, e.g. `8` or `8+`.
    #[arg(long)]
    pub cpus: Option<String>,
    /// Memory per node in GiB, e.g. `32` or `32+`.
    #[arg(long)]
    pub memory: Option<String>,
    /// Number of nodes.
    #[arg(long)]
    pub num_nodes: Option<u32>,
    /// Use spot instances, whatever the task says (a flag: it takes no value).
    #[arg(long, overrides_with = "no_use_spot")]
    pub use_spot: bool,
    /// Use on-demand instances, whatever the task says.
    #[arg(long, overrides_with = "use_spot")]
    pub no_use_spot: bool,
    /// An exact instance type.
    #[arg(short = 't', long)]
    pub instance_type: Option<String>,
    /// Task name.
    #[arg(short = 'n', long)]
    pub name: Option<String>,
    /// Local folder synced to the nodes as the working directory.
    #[arg(long)]
    pub workdir: Option<String>,
    /// OS disk size per node, GiB or with a unit (`512`, `1Ti`).
    #[arg(long)]
    pub disk_size: Option<String>,
    /// Disk tier: low, medium, high, ultra, best.
    #[arg(long)]
    pub disk_tier: Option<String>,
    /// Network tier: standard, best.
    #[arg(long)]
    pub network_tier: Option<String>,
    /// Machine image, or `docker:IMAGE`.
    #[arg(long)]
    pub image_id: Option<String>,
    /// Ports to open (repeatable): `8080`, `8000-8010`.
    #[arg(long = "ports")]
    pub ports: Vec<String>,
    /// Job priority, -1000..=1000.
    #[arg(long, allow_negative_numbers = true)]
    pub priority: Option<i32>,
    /// Set an environment variable: `KEY=VALUE`, or `KEY` to take it from here.
    #[arg(long = "env", value_name = "KEY[=VALUE]")]
    pub env: Vec<String>,
    /// Set a secret: `KEY=VALUE`, or `KEY` to take it from here. Never logged.
    #[arg(long = "secret", value_name = "KEY[=VALUE]")]
    pub secret: Vec<String>,
    /// Environment variables from a dotenv file (`KEY=VALUE` lines); `--env` wins.
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Option<PathBuf>,
    /// Secrets from a dotenv file (`KEY=VALUE` lines); `--secret` wins. Never logged.
    #[arg(long = "secret-file", value_name = "FILE")]
    pub secret_file: Option<PathBuf>,
}

impl TaskFlags {
    /// The overrides these flags stand for.
    pub fn overrides(&self) -> Result<Overrides, CliError> {
        Ok(Overrides {
            infra: self.infra.clone(),
            gpus: self.gpus.clone(),
            cpus: self.cpus.clone(),
            memory: self.memory.clone(),
            num_nodes: self.num_nodes,
            // Either flag says it; clap lets only the last one given be set.
            use_spot: (self.use_spot || self.no_use_spot).then_some(self.use_spot),
            instance_type: self.instance_type.clone(),
            name: self.name.clone(),
            workdir: self.workdir.clone(),
            disk_size: self.disk_size.clone(),
            disk_tier: self.disk_tier.clone(),
            network_tier: self.network_tier.clone(),
            image_id: self.image_id.clone(),
            ports: self.ports.clone(),
            priority: self.priority,
            env: key_values_with_file("--env", &self.env, self.env_file.as_deref())?,
            secret: key_values_with_file("--secret", &self.secret, self.secret_file.as_deref())?,
            ..Overrides::default()
        })
    }
}

/// The words that name a task, as SkyPilot reads them ([`TaskSource::from_words`]):
/// a task YAML (a path ending in `.yaml`/`.yml`, or naming an existing file), an
/// inline command, or nothing; invalid input exits 2.
pub fn source_of(words: &[String]) -> Result<TaskSource, CliError> {
    let source = TaskSource::from_words(words);
    Ok(source.map_err(|err| ClientError::InvalidInput(err.to_string()))?)
}

impl TaskFlags {
    /// The tasks `source` names for `usage`, these flags applied, as this
    /// program's client loads them ([`aloft::client::ClientBuilder::load_tasks`]).
    pub fn load(&self, source: &TaskSource, usage: TaskUse) -> Result<LoadedTasks, CliError> {
        let overrides = self.overrides()?;
        Ok(crate::client::builder().load_tasks(source, &overrides, usage)?)
    }

    /// The one task `source` names for `usage` (see [`TaskFlags::load`]).
    pub fn load_one(&self, source: &TaskSource, usage: TaskUse) -> Result<LoadedTask, CliError> {
        let overrides = self.overrides()?;
        Ok(crate::client::builder().load_task(source, &overrides, usage)?)
    }
}

/// A verb's task (`launch`, `jobs launch`, `serve up|update`): the words that
/// name it and the flags that override its fields.
#[derive(Debug, Clone, clap::Args)]
pub struct TaskInput {
    #[command(flatten)]
    pub flags: TaskFlags,
    /// `TASK.yaml`, or a command to run: quoted (`aloft launch 'python train.py'`)
    /// or after `--` (`aloft launch -- python train.py --lr 1`).
    #[arg(value_name = "TASK.yaml|COMMAND")]
    pub words: Vec<String>,
}

impl TaskInput {
    /// What the words name ([`source_of`]).
    pub fn source(&self) -> Result<TaskSource, CliError> {
        source_of(&self.words)
    }

    /// The tasks for `usage` with the flags applied ([`TaskFlags::load`]).
    pub fn load(&self, usage: TaskUse) -> Result<LoadedTasks, CliError> {
        self.flags.load(&self.source()?, usage)
    }

    /// The one task for `usage` with the flags applied ([`TaskFlags::load_one`]).
    pub fn load_one(&self, usage: TaskUse) -> Result<LoadedTask, CliError> {
        self.flags.load_one(&self.source()?, usage)
    }
}
