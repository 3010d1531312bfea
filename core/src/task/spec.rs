//! The [`Task`] type and its parsing from one YAML document.

use std::collections::BTreeMap;

use std::fmt;

use serde::{Serialize, Serializer};

use super::config::{TaskConfig, parse_config};
use super::envs::{
    ManagedSecret, Secret, SecretValue, parse_envs, parse_managed_secrets, parse_secrets,
    substitute,
};
use super::error::TaskError;
use super::overrides::Overrides;
use super::resources::ResourceSet;
use super::resources_yaml::parse_resource_set;
use super::service::{PoolSpec, ServiceSpec, parse_pool, parse_service};
use super::storage::{FileMount, parse_file_mount};
use super::walk::{At, check_known, get, to_json};
use super::yaml::{Node, Value};

/// Top-level task fields.
pub(crate) const TASK_FIELDS: &[&str] = &[
    "name",
    "workdir",
    "event_callback",
    "num_nodes",
    "resources",
    "file_mounts",
    "service",
    "pool",
    "setup",
    "run",
    "envs",
    "secrets",
    "managed_secrets",
    "inputs",
    "outputs",
    "config",
    "volumes",
    "api_server_access",
];

/// A task: what to run, where, with which files and environment.
///
/// `Debug` and `Serialize` never show secret values, not even where a secret was
/// substituted into another field (`${TOKEN}` in a service header).
#[derive(Clone, PartialEq)]
pub struct Task {
    /// Task name.
    pub name: Option<String>,
    /// Working directory synced to the nodes, or a git checkout.
    pub workdir: Option<Workdir>,
    /// Number of nodes (default 1).
    pub num_nodes: u32,
    /// Resource candidates.
    pub resources: ResourceSet,
    /// Destination path -> source.
    pub file_mounts: BTreeMap<String, FileMount>,
    /// Setup script, run once per cluster.
    pub setup: Option<String>,
    /// Run script.
    pub run: Option<String>,
    /// Environment variables (values resolved; overrides applied).
    pub envs: BTreeMap<String, String>,
    /// Secret environment variables.
    pub secrets: BTreeMap<String, SecretValue>,
    /// Managed secrets to inject.
    pub managed_secrets: Vec<ManagedSecret>,
    /// Serving spec (SkyServe).
    pub service: Option<ServiceSpec>,
    /// Worker pool spec (exclusive with `service`).
    pub pool: Option<PoolSpec>,
    /// Per-task config overrides and hooks.
    pub config: Option<TaskConfig>,
    /// Mount path -> volume.
    pub volumes: BTreeMap<String, VolumeMount>,
    /// Input data (for the optimizer's egress estimate).
    pub inputs: Option<DataRef>,
    /// Output data (for the optimizer's egress estimate).
    pub outputs: Option<DataRef>,
    /// Legacy event callback command.
    pub event_callback: Option<String>,
    /// Whether the task may reach the API server (default true).
    pub api_server_access: Option<bool>,
}

impl Default for Task {
    fn default() -> Self {
        Task {
            name: None,
            workdir: None,
            num_nodes: 1,
            resources: ResourceSet::default(),
            file_mounts: BTreeMap::new(),
            setup: None,
            run: None,
            envs: BTreeMap::new(),
            secrets: BTreeMap::new(),
            managed_secrets: Vec::new(),
            service: None,
            pool: None,
            config: None,
            volumes: BTreeMap::new(),
            inputs: None,
            outputs: None,
            event_callback: None,
            api_server_access: None,
        }
    }
}

/// `workdir`: a local directory or a git repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Workdir {
    /// Local directory, synced to `~/sky_workdir`.
    Local(String),
    /// A git checkout.
    Git {
        /// Repository URL.
        url: String,
        /// Branch, tag or commit.
        git_ref: Option<String>,
    },
}

/// One `volumes` entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum VolumeMount {
    /// An existing volume by name.
    Name(String),
    /// An inline volume spec, verbatim.
    Spec(serde_json::Value),
}

/// `inputs` / `outputs`: one location and its size.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DataRef {
    /// URI (`s3://...`).
    pub uri: String,
    /// Size in GB.
    pub size_gb: f64,
}

/// The fields of a task, for the derived `Serialize` that [`Task`] redacts.
#[derive(Serialize)]
struct TaskFields<'a> {
    name: &'a Option<String>,
    workdir: &'a Option<Workdir>,
    num_nodes: u32,
    resources: &'a ResourceSet,
    file_mounts: &'a BTreeMap<String, FileMount>,
    setup: &'a Option<String>,
    run: &'a Option<String>,
    envs: &'a BTreeMap<String, String>,
    secrets: &'a BTreeMap<String, SecretValue>,
    managed_secrets: &'a [ManagedSecret],
    service: &'a Option<ServiceSpec>,
    pool: &'a Option<PoolSpec>,
    config: &'a Option<TaskConfig>,
    volumes: &'a BTreeMap<String, VolumeMount>,
    inputs: &'a Option<DataRef>,
    outputs: &'a Option<DataRef>,
    event_callback: &'a Option<String>,
    api_server_access: Option<bool>,
}

impl Serialize for Task {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let fields = TaskFields {
            name: &self.name,
            workdir: &self.workdir,
            num_nodes: self.num_nodes,
            resources: &self.resources,
            file_mounts: &self.file_mounts,
            setup: &self.setup,
            run: &self.run,
            envs: &self.envs,
            secrets: &self.secrets,
            managed_secrets: &self.managed_secrets,
            service: &self.service,
            pool: &self.pool,
            config: &self.config,
            volumes: &self.volumes,
            inputs: &self.inputs,
            outputs: &self.outputs,
            event_callback: &self.event_callback,
            api_server_access: self.api_server_access,
        };
        let mut value = serde_json::to_value(fields).map_err(serde::ser::Error::custom)?;
        redact_json(&mut value, &self.secret_values());
        value.serialize(serializer)
    }
}

fn redact_json(v: &mut serde_json::Value, secrets: &[&str]) {
    match v {
        serde_json::Value::String(s) => *s = redact(s, secrets),
        serde_json::Value::Array(items) => items.iter_mut().for_each(|i| redact_json(i, secrets)),
        serde_json::Value::Object(map) => {
            let entries = std::mem::take(map);
            for (k, mut val) in entries {
                redact_json(&mut val, secrets);
                map.insert(redact(&k, secrets), val);
            }
        }
        _ => {}
    }
}

/// `text` with every secret value replaced by `<redacted>`.
pub(crate) fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        if out.contains(s) {
            out = out.replace(s, "<redacted>");
        }
    }
    out
}

/// Writes pre-formatted (already redacted) text as a `Debug` value.
struct Raw(String);

impl fmt::Debug for Raw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secrets = self.secret_values();
        let pretty = f.alternate();
        let show = |v: &dyn fmt::Debug| {
            let text = if pretty {
                format!("{v:#?}")
            } else {
                format!("{v:?}")
            };
            Raw(redact(&text, &secrets))
        };
        f.debug_struct("Task")
            .field("name", &show(&self.name))
            .field("workdir", &show(&self.workdir))
            .field("num_nodes", &self.num_nodes)
            .field("resources", &show(&self.resources))
            .field("file_mounts", &show(&self.file_mounts))
            .field("setup", &show(&self.setup))
            .field("run", &show(&self.run))
            .field("envs", &show(&self.envs))
            .field("secrets", &self.secrets)
            .field("managed_secrets", &self.managed_secrets)
            .field("service", &show(&self.service))
            .field("pool", &self.pool)
            .field("config", &show(&self.config))
            .field("volumes", &show(&self.volumes))
            .field("inputs", &self.inputs)
            .field("outputs", &self.outputs)
            .field("event_callback", &show(&self.event_callback))
            .field("api_server_access", &self.api_server_access)
            .finish()
    }
}

impl Task {
    /// Values of every inline secret, for redaction.
    pub(crate) fn secret_values(&self) -> Vec<&str> {
        self.secrets
            .values()
            .filter_map(|s| match s {
                SecretValue::Inline(v) => Some(v.expose()),
                SecretValue::Managed => None,
            })
            .collect()
    }
}

/// Parses one task document, applying `--env` / `--secret` overrides and variable
/// substitution (SkyPilot's order: stringify, validate, override, substitute).
pub(crate) fn parse_task(root: &At<'_>, overrides: &Overrides) -> Result<Task, TaskError> {
    let fields = root.fields()?;
    check_known(&fields, TASK_FIELDS)?;
    let mut task = Task::default();

    // Environment first: later sections substitute it.
    let mut env_values: Vec<(String, Option<String>, Option<At<'_>>)> = match get(&fields, "envs") {
        Some(at) => parse_envs(at)?
            .into_iter()
            .map(|(k, v, at)| (k, v, Some(at)))
            .collect(),
        None => Vec::new(),
    };
    for (k, v) in &overrides.env {
        match env_values.iter_mut().find(|(key, _, _)| key == k) {
            Some(entry) => entry.1 = Some(v.clone()),
            None => env_values.push((k.clone(), Some(v.clone()), None)),
        }
    }
    for (k, v, at) in env_values {
        match (v, at) {
            (Some(v), _) => {
                task.envs.insert(k, v);
            }
            (None, Some(at)) => {
                return Err(at.err(format!(
                    "no value; set it in the file or with `--env {k}=VALUE`"
                )));
            }
            (None, None) => {}
        }
    }
    if let Some(at) = get(&fields, "secrets") {
        task.secrets = parse_secrets(at)?;
    }
    for (k, v) in &overrides.secret {
        task.secrets
            .insert(k.clone(), SecretValue::Inline(Secret::new(v.clone())));
    }
    let secrets: Vec<String> = task
        .secret_values()
        .into_iter()
        .map(str::to_string)
        .collect();
    let secret_refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
    parse_rest(&fields, &mut task).map_err(|e| e.redact(&secret_refs))?;
    Ok(task)
}

fn parse_rest(fields: &[super::walk::Field<'_>], task: &mut Task) -> Result<(), TaskError> {
    let mut vars = task.envs.clone();
    for (k, v) in &task.secrets {
        if let SecretValue::Inline(s) = v {
            vars.insert(k.clone(), s.expose().to_string());
        }
    }
    for f in fields {
        let at = &f.value;
        if at.is_null() {
            continue;
        }
        // Sections that see `${VAR}` substitution are parsed from a substituted copy.
        let substituted: Option<Node> = matches!(
            f.key.as_str(),
            "file_mounts" | "workdir" | "service" | "volumes"
        )
        .then(|| substitute(at.node, &vars));
        let sub_at = substituted.as_ref().map(|node| At {
            node,
            path: at.path.clone(),
            file: at.file,
        });
        let at = sub_at.as_ref().unwrap_or(at);
        match f.key.as_str() {
            "name" => task.name = Some(at.python_str()?.unwrap_or_default()),
            "workdir" => task.workdir = Some(parse_workdir(at)?),
            "event_callback" => task.event_callback = Some(at.string()?),
            "num_nodes" => task.num_nodes = at.int_in(1, i64::from(u32::MAX))? as u32,
            "resources" => task.resources = parse_resource_set(at)?,
            "file_mounts" => {
                for m in at.fields()? {
                    if m.key.is_empty() {
                        return Err(m.value.err("destination path must not be empty"));
                    }
                    let mount = parse_file_mount(&m.value)?;
                    task.file_mounts.insert(m.key, mount);
                }
            }
            "service" => task.service = Some(parse_service(at)?),
            "pool" => task.pool = Some(parse_pool(at)?),
            "setup" => task.setup = Some(script(at)?),
            "run" => task.run = Some(script(at)?),
            "managed_secrets" => task.managed_secrets = parse_managed_secrets(at)?,
            "inputs" => task.inputs = Some(data_ref(at)?),
            "outputs" => task.outputs = Some(data_ref(at)?),
            "config" => task.config = Some(parse_config(at)?),
            "volumes" => {
                for v in at.fields()? {
                    let mount = match &v.value.node.value {
                        Value::Str(s) => VolumeMount::Name(s.clone()),
                        Value::Map(_) => VolumeMount::Spec(to_json(v.value.node)),
                        other => {
                            return Err(v.value.err(format!(
                                "expected a volume name or a mapping, found {}",
                                other.type_name()
                            )));
                        }
                    };
                    task.volumes.insert(v.key, mount);
                }
            }
            "api_server_access" => task.api_server_access = Some(at.bool()?),
            _ => {}
        }
    }
    if let (Some(_), Some(p)) = (&task.service, get(fields, "pool").filter(|p| !p.is_null())) {
        return Err(p.err("`service` and `pool` cannot be used together"));
    }
    Ok(())
}

fn parse_workdir(at: &At<'_>) -> Result<Workdir, TaskError> {
    match &at.node.value {
        Value::Str(s) if !s.is_empty() => Ok(Workdir::Local(s.clone())),
        Value::Map(_) => {
            let fields = at.fields()?;
            check_known(&fields, &["url", "ref"])?;
            let url = match get(&fields, "url").filter(|u| !u.is_null()) {
                Some(u) => u.string()?,
                None => return Err(at.err("a git workdir needs `url`")),
            };
            let git_ref = match get(&fields, "ref") {
                Some(r) => r.python_str()?,
                None => None,
            };
            Ok(Workdir::Git { url, git_ref })
        }
        Value::Str(_) => Err(at.err("must not be empty")),
        other => Err(at.err(format!(
            "expected a directory or {{url, ref}}, found {}",
            other.type_name()
        ))),
    }
}

fn script(at: &At<'_>) -> Result<String, TaskError> {
    match &at.node.value {
        Value::Str(s) => Ok(s.clone()),
        Value::Seq(_) => {
            let lines: Result<Vec<String>, TaskError> = at.seq()?.iter().map(At::string).collect();
            Ok(lines?.join("\n"))
        }
        other => Err(at.err(format!(
            "expected a script (string or list of strings), found {}",
            other.type_name()
        ))),
    }
}

fn data_ref(at: &At<'_>) -> Result<DataRef, TaskError> {
    let fields = at.fields()?;
    match fields.as_slice() {
        [f] => {
            let size_gb = f.value.number()?;
            if size_gb < 0.0 {
                return Err(f.value.err("size must not be negative"));
            }
            Ok(DataRef {
                uri: f.key.clone(),
                size_gb,
            })
        }
        _ => Err(at.err("expected exactly one `URI: size_in_GB` entry")),
    }
}
