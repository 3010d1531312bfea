//! The task-override flags shared by `launch`, `exec` and friends (SkyPilot's
//! `TASK_OPTIONS`), and loading a task file with them applied.

use std::path::{Path, PathBuf};

use aloft::task::{Overrides, TaskChain};

use crate::config::aloft_home;
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
    /// Use on-demand instances, whatever the task says.
    #[arg(long, conflicts_with = "use_spot")]
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
            use_spot: if self.no_use_spot {
                Some(false)
            } else {
                self.use_spot
            },
            instance_type: self.instance_type.clone(),
            name: self.name.clone(),
            workdir: self.workdir.clone(),
            disk_size: self.disk_size.clone(),
            disk_tier: self.disk_tier.clone(),
            network_tier: self.network_tier.clone(),
            image_id: self.image_id.clone(),
            ports: self.ports.clone(),
            priority: self.priority,
            env: with_file(self.env_file.as_deref(), key_values("--env", &self.env)?)?,
            secret: with_file(
                self.secret_file.as_deref(),
                key_values("--secret", &self.secret)?,
            )?,
            ..Overrides::default()
        })
    }
}

/// The pairs of dotenv file `file` (when given) followed by `flags` (later wins).
/// A malformed line is an error naming the file and line; values never appear in it.
fn with_file(
    file: Option<&Path>,
    flags: Vec<(String, String)>,
) -> Result<Vec<(String, String)>, CliError> {
    let Some(file) = file else {
        return Ok(flags);
    };
    let text = std::fs::read_to_string(file)
        .map_err(|e| CliError::new(INVALID_TASK, format!("{}: {e}", file.display())))?;
    let mut pairs = Vec::new();
    for item in dotenvy::from_read_iter(text.as_bytes()) {
        match item {
            Ok(pair) => pairs.push(pair),
            Err(dotenvy::Error::LineParse(line, _)) => {
                let number = text
                    .lines()
                    .position(|l| l.trim() == line.trim())
                    .map_or_else(|| "?".to_string(), |i| (i + 1).to_string());
                return Err(CliError::new(
                    INVALID_TASK,
                    format!(
                        "{}:{number}: not a KEY=VALUE line (dotenv format)",
                        file.display()
                    ),
                ));
            }
            Err(err) => {
                return Err(CliError::new(
                    INVALID_TASK,
                    format!("{}: {err}", file.display()),
                ));
            }
        }
    }
    pairs.extend(flags);
    Ok(pairs)
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

/// What `launch` runs, as SkyPilot reads it: a task YAML (a path ending in
/// `.yaml`/`.yml`, or naming an existing file), an inline command (the rest of the
/// line, also after `--`), or nothing (a cluster with no job).
#[derive(Debug, Clone, clap::Args)]
pub struct Entrypoint {
    /// `TASK.yaml`, or a command to run: quoted (`aloft launch 'python train.py'`)
    /// or after `--` (`aloft launch -- python train.py --lr 1`).
    #[arg(value_name = "TASK.yaml|COMMAND")]
    pub words: Vec<String>,
}

/// What an [`Entrypoint`] names.
pub enum Entry {
    /// A task file.
    File(PathBuf),
    /// A command line.
    Command(String),
    /// Nothing: provision only.
    Nothing,
}

impl Entrypoint {
    /// SkyPilot's rule: a YAML path when it ends in `.yaml`/`.yml` or names an
    /// existing file (a missing `.yaml` is an error, never a command).
    pub fn entry(&self) -> Result<Entry, CliError> {
        match self.words.as_slice() {
            [] => Ok(Entry::Nothing),
            [one] => {
                let path = Path::new(one);
                let yaml = one.ends_with(".yaml") || one.ends_with(".yml");
                if path.is_file() {
                    Ok(Entry::File(path.to_path_buf()))
                } else if yaml {
                    Err(CliError::new(
                        INVALID_TASK,
                        format!("{one}: no such task file"),
                    ))
                } else {
                    Ok(Entry::Command(one.clone()))
                }
            }
            words => Ok(Entry::Command(words.join(" "))),
        }
    }
}

/// The folder a task file's relative `workdir` and `file_mounts` are relative to.
pub fn task_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Parses task YAML given as text (`origin` names it in errors); invalid exits 2.
pub fn parse(yaml: &str, origin: &str, overrides: &Overrides) -> Result<TaskChain, CliError> {
    let chain = TaskChain::from_yaml_str(yaml, origin, overrides)
        .map_err(|err| CliError::new(INVALID_TASK, err.to_string()))?;
    if let Some(known) = unknown_cloud(&chain) {
        return Err(cloud_error(yaml, origin, &known));
    }
    Ok(chain)
}

/// Loads and validates a task file; an invalid one exits with code 2.
pub fn load(path: &Path, overrides: &Overrides) -> Result<TaskChain, CliError> {
    let chain = TaskChain::from_yaml_file(path, overrides)
        .map_err(|err| CliError::new(INVALID_TASK, err.to_string()))?;
    if let Some(known) = unknown_cloud(&chain) {
        let src = std::fs::read_to_string(path)
            .map_err(|e| CliError::new(INVALID_TASK, format!("{}: {e}", path.display())))?;
        return Err(cloud_error(&src, &path.display().to_string(), &known));
    }
    Ok(chain)
}

/// When a task names a cloud that neither SkyPilot, a catalog, nor a bundled or
/// installed provider knows: those names, and the names that are known.
fn unknown_cloud(chain: &TaskChain) -> Option<(Vec<String>, Vec<String>)> {
    let named: Vec<&str> = chain
        .tasks()
        .iter()
        .flat_map(|t| t.resources.candidates())
        .filter_map(|r| r.infra.cloud.as_deref())
        .filter(|c| !aloft::task::units::CLOUDS.contains(c))
        .collect();
    if named.is_empty() {
        return None;
    }
    let bundled: Vec<String> = crate::bundled::providers()
        .iter()
        .map(|(name, _)| name.to_string())
        .collect();
    let known = aloft::client::known_clouds(&aloft_home(), &bundled);
    let mut unknown: Vec<String> = named
        .into_iter()
        .filter(|cloud| !known.iter().any(|k| k == cloud))
        .map(str::to_string)
        .collect();
    unknown.dedup();
    (!unknown.is_empty()).then_some((unknown, known))
}

/// The error for an unknown cloud: at its line in the file, or, when the file does
/// not name it, as the command-line flag that did.
fn cloud_error(src: &str, origin: &str, (unknown, known): &(Vec<String>, Vec<String>)) -> CliError {
    match aloft::task::check_cloud_names(src, origin, known) {
        Err(err) => CliError::new(INVALID_TASK, err.to_string()),
        Ok(()) => CliError::new(
            INVALID_TASK,
            format!(
                "--infra: unknown cloud `{}`: no shipped catalog and no provider has that name \
                 (known: {})",
                unknown.join("`, `"),
                known.join(", ")
            ),
        ),
    }
}
