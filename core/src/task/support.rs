//! What a launch of this build carries out. A parsed field that the launcher would
//! otherwise drop is refused here, naming the field and what to do instead: no task
//! field is ever silently ignored.

use super::{FileMount, ImageId, SecretValue, Task, Workdir};

/// `Err(message)` naming the first field of `task` this build cannot carry out.
pub fn check_launchable(task: &Task) -> Result<(), String> {
    for r in task.resources.candidates() {
        if let Some(ImageId::Docker(image)) = &r.image_id {
            return Err(format!(
                "resources.image_id: `docker:{image}`: running setup and run inside a container is not supported yet; \
                 use a VM image (image_id: ami-..., or a per-region map) and install what the job needs in `setup`"
            ));
        }
    }
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
    if let Some((target, _)) = task.file_mounts.iter().find(
        |(_, m)| matches!(m, FileMount::Path(p) if p.contains("://") && !p.starts_with("s3://")),
    ) {
        return Err(format!(
            "file_mounts.{target}: only local paths and s3:// buckets are supported so far"
        ));
    }
    if task.service.is_some() {
        return Err(
            "service: serving is not supported yet; launch the task without `service:`".into(),
        );
    }
    if !task.volumes.is_empty() {
        return Err("volumes: not supported yet; use file_mounts".into());
    }
    Ok(())
}
