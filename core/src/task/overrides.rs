//! Command-line overrides (`--env`, `--gpus`, `--infra`, ...), applied like
//! SkyPilot's CLI: environment and secrets at parse time (before substitution),
//! resource overrides to every candidate afterwards.

use std::fmt;

use super::envs::valid_env_name;
use super::error::TaskError;
use super::resources::{ImageId, ResourceSet, Resources};
use super::spec::{Task, Workdir};
use super::units;

/// Overrides from the command line. Every field is optional; strings use the CLI
/// forms (`gpus: "A100:8"`, `infra: "aws/us-east-1"`, `cpus: "8+"`).
///
/// `Debug` never shows secret values.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `--env KEY=VALUE`, in order; later wins.
    pub env: Vec<(String, String)>,
    /// `--secret KEY=VALUE`, in order; later wins.
    pub secret: Vec<(String, String)>,
    /// `--name`.
    pub name: Option<String>,
    /// `--workdir`.
    pub workdir: Option<String>,
    /// `--num-nodes`.
    pub num_nodes: Option<u32>,
    /// `--infra`.
    pub infra: Option<String>,
    /// `--gpus` (`A100:8`, `A100:0.5`, `40GB+`; `none`: no accelerator).
    pub gpus: Option<String>,
    /// `--cpus` (`8`, `8+`).
    pub cpus: Option<String>,
    /// `--memory` (`32`, `32+`, `64GB+`).
    pub memory: Option<String>,
    /// `--instance-type`.
    pub instance_type: Option<String>,
    /// `--use-spot` / `--no-use-spot`.
    pub use_spot: Option<bool>,
    /// `--disk-size` (`512`, `1Ti`).
    pub disk_size: Option<String>,
    /// `--disk-tier`.
    pub disk_tier: Option<String>,
    /// `--network-tier`.
    pub network_tier: Option<String>,
    /// `--image-id`.
    pub image_id: Option<String>,
    /// `--ports` (repeatable; each `8080`, `8000-8010` or `8080,9090`). Non-empty replaces.
    pub ports: Vec<String>,
    /// `--job-recovery` strategy.
    pub job_recovery: Option<String>,
    /// `--priority`.
    pub priority: Option<i32>,
}

impl fmt::Debug for Overrides {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secret_keys: Vec<&str> = self.secret.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("Overrides")
            .field("env", &self.env)
            .field("secret", &format_args!("{secret_keys:?} (values redacted)"))
            .field("name", &self.name)
            .field("workdir", &self.workdir)
            .field("num_nodes", &self.num_nodes)
            .field("infra", &self.infra)
            .field("gpus", &self.gpus)
            .field("cpus", &self.cpus)
            .field("memory", &self.memory)
            .field("instance_type", &self.instance_type)
            .field("use_spot", &self.use_spot)
            .field("disk_size", &self.disk_size)
            .field("disk_tier", &self.disk_tier)
            .field("network_tier", &self.network_tier)
            .field("image_id", &self.image_id)
            .field("ports", &self.ports)
            .field("job_recovery", &self.job_recovery)
            .field("priority", &self.priority)
            .finish()
    }
}

impl Overrides {
    /// Checks `--env` / `--secret` names.
    pub(crate) fn check_names(&self) -> Result<(), TaskError> {
        for (flag, list) in [("--env", &self.env), ("--secret", &self.secret)] {
            if let Some((k, _)) = list.iter().find(|(k, _)| !valid_env_name(k)) {
                return Err(TaskError::override_flag(
                    flag,
                    format!("invalid variable name `{k}`"),
                ));
            }
        }
        Ok(())
    }

    /// Whether any override other than env/secret is set.
    pub fn changes_task(&self) -> bool {
        self.name.is_some()
            || self.workdir.is_some()
            || self.num_nodes.is_some()
            || self.changes_resources()
    }

    fn changes_resources(&self) -> bool {
        self.infra.is_some()
            || self.gpus.is_some()
            || self.cpus.is_some()
            || self.memory.is_some()
            || self.instance_type.is_some()
            || self.use_spot.is_some()
            || self.disk_size.is_some()
            || self.disk_tier.is_some()
            || self.network_tier.is_some()
            || self.image_id.is_some()
            || !self.ports.is_empty()
            || self.job_recovery.is_some()
            || self.priority.is_some()
    }

    /// Applies the task-level and resource overrides to `task`.
    pub fn apply(&self, task: &mut Task) -> Result<(), TaskError> {
        if let Some(n) = &self.name {
            task.name = Some(n.clone());
        }
        if let Some(w) = &self.workdir {
            if w.is_empty() {
                return Err(TaskError::override_flag("--workdir", "must not be empty"));
            }
            task.workdir = Some(Workdir::Local(w.clone()));
        }
        if let Some(n) = self.num_nodes {
            if n == 0 {
                return Err(TaskError::override_flag(
                    "--num-nodes",
                    "must be at least 1",
                ));
            }
            task.num_nodes = n;
        }
        if !self.changes_resources() {
            return Ok(());
        }
        let patch = self.resource_patch()?;
        let (ordered, candidates) = match &task.resources {
            ResourceSet::AnyOf(v) => (false, v),
            ResourceSet::Ordered(v) => (true, v),
        };
        let mut out: Vec<Resources> = Vec::new();
        for c in candidates {
            let mut r = c.clone();
            patch(&mut r);
            if !out.contains(&r) {
                out.push(r);
            }
        }
        task.resources = if ordered {
            ResourceSet::Ordered(out)
        } else {
            ResourceSet::AnyOf(out)
        };
        Ok(())
    }

    /// Parses every resource override once; returns a function that applies them.
    #[allow(clippy::type_complexity)]
    fn resource_patch(&self) -> Result<Box<dyn Fn(&mut Resources)>, TaskError> {
        let flag = |f: &'static str| move |m: String| TaskError::override_flag(f, m);
        let infra = self
            .infra
            .as_deref()
            .map(units::parse_infra)
            .transpose()
            .map_err(flag("--infra"))?;
        // `none` asks for no accelerator, as SkyPilot's `--gpus none`.
        let gpus = match self.gpus.as_deref() {
            Some(g) if g.trim().eq_ignore_ascii_case("none") => Some(None),
            other => other
                .map(units::parse_accelerator)
                .transpose()
                .map_err(flag("--gpus"))?
                .map(Some),
        };
        let cpus = self
            .cpus
            .as_deref()
            .map(|c| units::parse_quantity(c, false))
            .transpose()
            .map_err(flag("--cpus"))?;
        let memory = self
            .memory
            .as_deref()
            .map(|c| units::parse_quantity(c, true))
            .transpose()
            .map_err(flag("--memory"))?;
        let disk = match &self.disk_size {
            Some(d) => {
                let gib = units::parse_size_gib(d).map_err(flag("--disk-size"))?;
                if gib < 1.0 || gib.fract() != 0.0 || gib > 1e15 {
                    return Err(TaskError::override_flag(
                        "--disk-size",
                        "must be a positive whole number of GiB",
                    ));
                }
                Some(gib as u64)
            }
            None => None,
        };
        let choice = |flag: &str, v: &Option<String>, allowed: &[&str]| match v {
            None => Ok(None),
            Some(v) => allowed
                .iter()
                .find(|a| a.eq_ignore_ascii_case(v))
                .map(|a| Some(a.to_string()))
                .ok_or_else(|| {
                    TaskError::override_flag(
                        flag,
                        format!(
                            "invalid value `{v}`; expected one of: {}",
                            allowed.join(", ")
                        ),
                    )
                }),
        };
        let disk_tier = choice(
            "--disk-tier",
            &self.disk_tier,
            &["low", "medium", "high", "ultra", "best", "none"],
        )?;
        let network_tier = choice("--network-tier", &self.network_tier, &["standard", "best"])?;
        let strategy = choice(
            "--job-recovery",
            &self.job_recovery,
            &["EAGER_NEXT_REGION", "FAILOVER"],
        )?;
        let image = match &self.image_id {
            Some(i) if i.is_empty() || i == "docker:" => {
                return Err(TaskError::override_flag("--image-id", "must not be empty"));
            }
            Some(i) => Some(match i.strip_prefix("docker:") {
                Some(d) => ImageId::Docker(d.to_string()),
                None => ImageId::Single(i.clone()),
            }),
            None => None,
        };
        let mut ports = Vec::new();
        for p in &self.ports {
            ports.extend(units::parse_ports(p).map_err(flag("--ports"))?);
        }
        if let Some(p) = self.priority
            && !(-1000..=1000).contains(&p)
        {
            return Err(TaskError::override_flag(
                "--priority",
                "must be in -1000..=1000",
            ));
        }
        let priority = self.priority;
        let instance_type = self.instance_type.clone();
        let use_spot = self.use_spot;
        Ok(Box::new(move |r: &mut Resources| {
            if let Some(i) = &infra {
                r.infra = i.clone();
            }
            if let Some(g) = &gpus {
                r.accelerators = g.clone();
            }
            if let Some(c) = cpus {
                r.cpus = Some(c);
            }
            if let Some(m) = memory {
                r.memory = Some(m);
            }
            if let Some(t) = &instance_type {
                r.instance_type = Some(t.clone());
            }
            if let Some(s) = use_spot {
                r.use_spot = s;
            }
            if let Some(d) = disk {
                r.disk_size_gib = Some(d);
            }
            if let Some(t) = &disk_tier {
                r.disk_tier = Some(t.clone());
            }
            if let Some(t) = &network_tier {
                r.network_tier = Some(t.clone());
            }
            if let Some(i) = &image {
                r.image_id = Some(i.clone());
            }
            if !ports.is_empty() {
                r.ports = ports.clone();
            }
            if let Some(s) = &strategy {
                let mut jr = r
                    .job_recovery
                    .clone()
                    .unwrap_or(super::resources::JobRecovery {
                        strategy: None,
                        max_restarts_on_errors: 0,
                        recover_on_exit_codes: Vec::new(),
                    });
                jr.strategy = Some(s.clone());
                r.job_recovery = Some(jr);
            }
            if let Some(p) = priority {
                r.priority = Some(p);
            }
        }))
    }
}
