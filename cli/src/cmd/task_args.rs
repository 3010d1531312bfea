//! The task-override flags shared by `launch`, `exec` and friends (SkyPilot's
//! `TASK_OPTIONS`), and loading a task file with them applied.

use std::path::{Path, PathBuf};

use aloft::task::{Overrides, TaskChain};

use crate::exit::{CliError, INVALID_TASK};

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
    /// Use spot instances (`--use-spot` or `--use-spot=false`).
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub use_spot: Option<bool>,
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
            use_spot: self.use_spot,
            instance_type: self.instance_type.clone(),
            name: self.name.clone(),
            workdir: self.workdir.clone(),
            disk_size: self.disk_size.clone(),
            disk_tier: self.disk_tier.clone(),
            network_tier: self.network_tier.clone(),
            image_id: self.image_id.clone(),
            ports: self.ports.clone(),
            priority: self.priority,
            env: key_values("--env", &self.env)?,
            secret: key_values("--secret", &self.secret)?,
            ..Overrides::default()
        })
    }
}

/// `KEY=VALUE` pairs; a bare `KEY` takes its value from this process's environment.
fn key_values(flag: &str, items: &[String]) -> Result<Vec<(String, String)>, CliError> {
    items
        .iter()
        .map(|item| match item.split_once('=') {
            Some((key, value)) => Ok((key.to_string(), value.to_string())),
            None => std::env::var(item)
                .map(|value| (item.clone(), value))
                .map_err(|_| {
                    CliError::new(
                        INVALID_TASK,
                        format!("{flag} {item}: no value given and ${item} is not set here"),
                    )
                }),
        })
        .collect()
}

/// A task file given on the command line.
#[derive(Debug, Clone, clap::Args)]
pub struct TaskFile {
    /// The task YAML (SkyPilot format; several documents make a pipeline).
    #[arg(value_name = "TASK.yaml")]
    pub path: PathBuf,
}

/// The folder a task file's relative `workdir` and `file_mounts` are relative to.
pub fn task_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Loads and validates a task file; an invalid one exits with code 2.
pub fn load(path: &Path, overrides: &Overrides) -> Result<TaskChain, CliError> {
    TaskChain::from_yaml_file(path, overrides)
        .map_err(|err| CliError::new(INVALID_TASK, err.to_string()))
}
