//! What a launch of this build carries out. A parsed field that the launcher would
//! otherwise drop is refused here, naming the field and what to do instead: no task
//! field is ever silently ignored.

use super::{FileMount, SecretValue, Task, Workdir};

/// `Err(message)` naming the first field of `task` this build cannot carry out.
pub fn check_launchable(task: &Task) -> Result<(), String> {
    if let Some(name) = task.secrets.iter().find_map(|(k, v)| match v {
        SecretValue::Managed => Some(k),
        SecretValue::Inline(_) => None,
    }) {
        return Err(format!(
            "secrets.{name}: has no value (null): pass it with `--secret {name}` (taken from your environment) or `--secret {name}=VALUE`"
        ));
    }
    if let Some(secret) = task.managed_secrets.first() {
        return Err(format!(
            "managed_secrets: `{}`: server-side managed secrets are not supported; pass the value with `--secret {}=VALUE` (or `--secret-file`)",
            secret.name, secret.name
        ));
    }
    if let Some(Workdir::Git { .. }) = &task.workdir {
        return Err(
            "workdir: a git repository as workdir is not supported yet; clone it in `setup`, or use a local folder"
                .into(),
        );
    }
    if let Some((target, url)) = task.file_mounts.iter().find_map(|(t, m)| match m {
        FileMount::Path(p)
            if p.contains("://")
                && !["s3://", "gs://", "r2://"]
                    .iter()
                    .any(|scheme| p.starts_with(scheme))
                && !is_azure_blob_url(p) =>
        {
            Some((t, p))
        }
        _ => None,
    }) {
        let scheme = url.split("://").next().unwrap_or_default();
        return Err(format!(
            "file_mounts.{target}: `{url}`: the {scheme}:// store is not supported yet; \
             only local paths, s3:// (Amazon S3), gs:// (Google Cloud Storage), r2:// (Cloudflare R2) \
             and https://<account>.blob.core.windows.net/<container> (Azure Blob Storage) buckets are"
        ));
    }
    if task.service.is_some() {
        return Err(
            "service: a task with `service:` is served with `aloft serve up TASK` (replicas behind one endpoint); `launch` runs tasks without it".into(),
        );
    }
    // `volumes:` naming volumes aloft made are checked by the client at launch
    // (`client::volumes`), where the volume records are.
    if task.pool.is_some() {
        return Err(
            "pool: worker pools are not supported yet; launch the jobs with `aloft jobs launch`"
                .into(),
        );
    }
    if let Some(config) = &task.config {
        if !config.hooks.is_empty() {
            return Err(
                "config.hooks: lifecycle hooks are not supported yet; put the commands in `run`"
                    .into(),
            );
        }
        if let Some(key) = config.overrides.keys().next() {
            return Err(format!(
                "config.{key}: per-task config overrides are not supported; set it in ~/.aloft/config.yaml"
            ));
        }
    }
    if task.inputs.is_some() || task.outputs.is_some() {
        let field = if task.inputs.is_some() {
            "inputs"
        } else {
            "outputs"
        };
        return Err(format!(
            "{field}: data sizes for the optimizer's egress model are not used by this build;              remove it, and mount the data with file_mounts"
        ));
    }
    if task.event_callback.is_some() {
        return Err("event_callback: not supported (legacy SkyPilot field); remove it".into());
    }
    if task.api_server_access == Some(false) {
        return Err(
            "api_server_access: aloft has no API server to hide from the job; remove the field"
                .into(),
        );
    }
    for r in task.resources.candidates() {
        check_resources(r)?;
    }
    Ok(())
}

/// Whether `url` is an Azure blob URL (`https://<account>.blob.core.windows.net/...`).
fn is_azure_blob_url(url: &str) -> bool {
    url.strip_prefix("https://")
        .and_then(|rest| rest.split('/').next())
        .and_then(|host| host.strip_suffix(".blob.core.windows.net"))
        .is_some_and(|account| !account.is_empty() && !account.contains('.'))
}

/// The per-resources fields this build cannot honour.
fn check_resources(r: &super::Resources) -> Result<(), String> {
    if let Some(tier) = r
        .disk_tier
        .as_deref()
        .filter(|t| !matches!(*t, "best" | "none"))
    {
        return Err(format!(
            "resources.disk_tier: `{tier}` cannot be chosen yet (each provider gives its default \
             general-purpose disk); use `best` (best available) or remove it"
        ));
    }
    if r.network_tier.as_deref() == Some("best") {
        return Err(
            "resources.network_tier: `best` (high-bandwidth networking) is not supported yet; remove it"
                .into(),
        );
    }
    if let Some(disk) = &r.local_disk {
        return Err(format!(
            "resources.local_disk: `{disk}`: choosing instances by local disk is not supported yet; \
             pick an instance_type that has it"
        ));
    }
    if r.priority.is_some() || r.priority_class.is_some() {
        let field = if r.priority.is_some() {
            "priority"
        } else {
            "priority_class"
        };
        return Err(format!(
            "resources.{field}: job priorities are not supported yet; remove it"
        ));
    }
    if r.accelerator_args.is_some() {
        return Err(
            "resources.accelerator_args: TPU arguments are not supported (no TPU provider yet); remove it"
                .into(),
        );
    }
    if !r.volumes.is_empty() {
        return Err(
            "resources.volumes: attached volumes are not supported yet; use file_mounts".into(),
        );
    }
    if let Some(autostop) = &r.autostop {
        if autostop.hook.is_some() {
            return Err(
                "resources.autostop.hook: autostop hooks are not supported yet; remove it".into(),
            );
        }
        if let Some(wait) = autostop.wait_for.as_deref().filter(|w| *w != "jobs") {
            return Err(format!(
                "resources.autostop.wait_for: `{wait}`: aloft counts only jobs as activity; \
                 use `wait_for: jobs` or remove it"
            ));
        }
    }
    Ok(())
}
