//! `config:` — per-task overrides of the global config, plus task-only `hooks`.
//!
//! Only the keys SkyPilot lets a task override (`OVERRIDEABLE_CONFIG_KEYS_IN_TASK`)
//! are accepted; their values are kept verbatim as JSON for the provider that reads
//! them.

use serde::{Deserialize, Serialize};

use super::error::TaskError;
use super::walk::{At, check_known, get_some, to_json};

/// Keys a task may override, as `(section, allowed sub-keys)`; an empty list means
/// the section itself is a leaf value.
pub const OVERRIDABLE_KEYS: &[(&str, &[&str])] = &[
    ("docker", &["run_options"]),
    ("nvidia_gpus", &["disable_ecc"]),
    (
        "ssh",
        &["custom_metadata", "pod_config", "provision_timeout"],
    ),
    (
        "kubernetes",
        &[
            "custom_metadata",
            "pod_config",
            "provision_timeout",
            "dws",
            "kueue",
            "quota",
            "remote_identity",
            "enable_docker",
            "set_pod_resource_limits",
        ],
    ),
    ("azure", &["remote_identity", "vpc_name"]),
    (
        "gcp",
        &[
            "vpc_name",
            "subnet_names",
            "managed_instance_group",
            "enable_gvnic",
            "enable_gpu_direct",
            "placement_policy",
        ],
    ),
    ("vast", &["datacenter_only", "create_instance_kwargs"]),
    ("slurm", &["sbatch_options", "quota", "cpu_partition"]),
    ("active_workspace", &[]),
];

/// Most hooks a task may declare.
pub const MAX_HOOKS: usize = 32;
/// Longest hook script, in bytes.
pub const MAX_HOOK_BYTES: usize = 16 * 1024;

/// A task's `config:` block.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskConfig {
    /// The overridden keys (without `hooks`), verbatim.
    pub overrides: serde_json::Map<String, serde_json::Value>,
    /// Lifecycle hooks.
    pub hooks: Vec<Hook>,
}

/// A lifecycle hook: a script run on some cluster events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hook {
    /// Script (at most 16 KiB).
    pub run: String,
    /// Subset of `stop`, `preemption`, `down`; empty means all.
    pub events: Vec<String>,
    /// Timeout in seconds.
    pub timeout: Option<u64>,
}

pub(crate) fn parse_config(at: &At<'_>) -> Result<TaskConfig, TaskError> {
    let fields = at.fields()?;
    let mut sections: Vec<&str> = OVERRIDABLE_KEYS.iter().map(|(k, _)| *k).collect();
    sections.push("hooks");
    check_known(&fields, &sections)?;
    let mut cfg = TaskConfig::default();
    for f in &fields {
        if f.key == "hooks" {
            cfg.hooks = parse_hooks(&f.value)?;
            continue;
        }
        let subkeys = OVERRIDABLE_KEYS
            .iter()
            .find(|(k, _)| *k == f.key)
            .map(|(_, s)| *s)
            .unwrap_or(&[]);
        if !subkeys.is_empty() && !f.value.is_null() {
            check_known(&f.value.fields()?, subkeys)?;
        }
        cfg.overrides.insert(f.key.clone(), to_json(f.value.node));
    }
    Ok(cfg)
}

fn parse_hooks(at: &At<'_>) -> Result<Vec<Hook>, TaskError> {
    let items = at.seq()?;
    if items.len() > MAX_HOOKS {
        return Err(at.err(format!("at most {MAX_HOOKS} hooks are allowed")));
    }
    let mut hooks = Vec::new();
    for item in items {
        let fields = item.fields()?;
        check_known(&fields, &["run", "events", "timeout"])?;
        let run = match get_some(&fields, "run") {
            Some(r) => {
                let s = r.string()?;
                if s.len() > MAX_HOOK_BYTES {
                    return Err(r.err(format!("hook script exceeds {MAX_HOOK_BYTES} bytes")));
                }
                s
            }
            None => return Err(item.err("a hook needs `run`")),
        };
        let mut events = Vec::new();
        if let Some(e) = get_some(&fields, "events") {
            for ev in e.seq()? {
                let name = ev.choice(&["stop", "preemption", "down"])?.to_string();
                if !events.contains(&name) {
                    events.push(name);
                }
            }
        }
        let timeout = get_some(&fields, "timeout").map(At::u64).transpose()?;
        hooks.push(Hook {
            run,
            events,
            timeout,
        });
    }
    Ok(hooks)
}
