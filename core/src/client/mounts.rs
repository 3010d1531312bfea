//! MOUNT and MOUNT_CACHED storage objects, as a launch makes them and `down`
//! undoes them ([`crate::storage::mount`] has the node side): the rclone remote
//! of each store, from the same credentials aloft's own store clients use, the
//! task's `config.mount_cached` / `config.mount` settings as rclone flags
//! (checked before anything is provisioned), and a note in aloft's home that a
//! cluster has mounts, so that `down` unmounts them on its nodes (only then: a
//! cluster without mounts costs `down` no extra node call).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::plugin::credentials::GCP_CREDENTIALS_JSON;
use crate::plugin::{CredentialSource, StandardCredentials};
use crate::runtime::node::Script;
use crate::state::ClusterRecord;
use crate::storage::mount::{self, MountMode, RcloneRemote};
use crate::storage::{self, Store};
use crate::task::{StorageMode, StorageSpec};

use super::{Client, ClientError, ClientResult};

/// The mount mode of a storage object, `None` for COPY.
pub(crate) fn mount_mode(spec: &StorageSpec) -> Option<MountMode> {
    match spec.mode.unwrap_or(StorageMode::Mount) {
        StorageMode::Copy => None,
        StorageMode::Mount => Some(MountMode::Plain),
        StorageMode::MountCached => Some(MountMode::Cached),
    }
}

/// The rclone flags of a storage object mounted at `target` (see
/// [`mount::flags`]); a setting aloft cannot honour is bad input, named.
pub(crate) fn mount_flags(
    spec: &StorageSpec,
    target: &str,
    mode: MountMode,
) -> ClientResult<Vec<String>> {
    mount::flags(
        target,
        mode,
        spec.mount_type.as_deref(),
        spec.config.as_ref(),
    )
    .map_err(|e| ClientError::InvalidInput(e.to_string()))
}

/// How long the SAS link of an Azure mount lasts, and so the mount: the nodes
/// hold a link to one container, never the account key.
pub const AZURE_MOUNT_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

impl Client {
    /// The rclone remote of an Azure Blob mount of `container`: a SAS link to that
    /// container only, read and list for a read-only mount (`flags` holds
    /// `--read-only`), read, write and delete besides otherwise, valid for
    /// [`AZURE_MOUNT_LIFETIME`].
    pub(crate) fn azure_mount_remote(
        &self,
        container: &str,
        flags: &[String],
    ) -> ClientResult<RcloneRemote> {
        let azure = self.azure()?;
        let permissions = if flags.iter().any(|f| f == "--read-only") {
            "rl"
        } else {
            "racwdl"
        };
        let link = azure.container_sas_url(container, permissions, AZURE_MOUNT_LIFETIME);
        Ok(mount::azure_sas_remote(&link))
    }

    /// The rclone remote that reaches `store` with the user's credentials for it.
    pub(crate) fn rclone_remote(&self, store: Store) -> ClientResult<RcloneRemote> {
        match store {
            Store::S3 => {
                let credentials = super::storage::user_aws_credentials()?;
                let region = self
                    .config
                    .provider_setting("aws", "storage_region")
                    .unwrap_or_else(|| "us-east-1".into());
                let endpoint = self.config.provider_setting("aws", "endpoint");
                Ok(mount::s3_remote(&credentials, &region, endpoint.as_deref()))
            }
            Store::R2 => {
                let (credentials, account_id) =
                    storage::r2_credentials().map_err(|e| ClientError::Other(e.to_string()))?;
                let endpoint = self
                    .config
                    .storage
                    .r2
                    .endpoint
                    .clone()
                    .unwrap_or_else(|| storage::r2_endpoint(&account_id));
                Ok(mount::r2_remote(&credentials, &endpoint))
            }
            Store::Gcs => {
                let json = StandardCredentials
                    .get(GCP_CREDENTIALS_JSON)
                    .ok_or_else(|| {
                        ClientError::Other(format!(
                            "no Google credentials for GCS: {}",
                            storage::gcs::GCS_CREDENTIALS_HELP
                        ))
                    })?;
                let kind = serde_json::from_str::<serde_json::Value>(&json)
                    .ok()
                    .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_string));
                if kind.as_deref() != Some("service_account") {
                    return Err(ClientError::InvalidInput(
                        "mounting a gs:// bucket (MOUNT, MOUNT_CACHED) needs a service-account key \
                         (GOOGLE_APPLICATION_CREDENTIALS naming its JSON file): the nodes' rclone \
                         signs in with it, and aloft hands no user's refresh token to a node; \
                         or use mode: COPY"
                            .into(),
                    ));
                }
                Ok(mount::gcs_remote(
                    &json,
                    self.config.storage.gcs.endpoint.as_deref(),
                ))
            }
            #[allow(unreachable_patterns)]
            other => Err(ClientError::InvalidInput(format!(
                "mounting a bucket of store {} (MOUNT, MOUNT_CACHED) is not supported yet; use mode: COPY",
                other.name()
            ))),
        }
    }

    /// Where the note that `cluster` has bucket mounts lies.
    fn mounts_note(&self, cluster: &str) -> PathBuf {
        self.home.join("mounts").join(cluster)
    }

    /// Notes that `cluster`'s nodes have bucket mounts (for `down`), and whether
    /// any is cached (then every job on it waits for uploads at its end).
    pub(crate) fn note_mounts(&self, cluster: &str, cached: bool) -> ClientResult<()> {
        let note = self.mounts_note(cluster);
        // A launch on the cluster again never makes a cached one plain.
        let cached = cached || std::fs::read_to_string(&note).is_ok_and(|t| t.trim() == "cached");
        let text: &[u8] = if cached { b"cached\n" } else { b"plain\n" };
        let made = note
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&note, text));
        made.map_err(|e| ClientError::Other(format!("{}: {e}", note.display())))
    }

    /// Whether `cluster`'s nodes have bucket mounts.
    pub(crate) fn has_mounts(&self, cluster: &str) -> bool {
        self.mounts_note(cluster).exists()
    }

    /// `task` as a job on `cluster` runs it: when the cluster has MOUNT_CACHED
    /// mounts, its `run` then waits for their uploads
    /// ([`mount::run_then_wait`]), so an `exec`'d job too is reported done only
    /// once its writes reached the bucket.
    pub(crate) fn waiting_for_uploads(
        &self,
        cluster: &str,
        task: &crate::task::Task,
    ) -> crate::task::Task {
        let mut task = task.clone();
        let cached =
            std::fs::read_to_string(self.mounts_note(cluster)).is_ok_and(|t| t.trim() == "cached");
        if cached && let Some(run) = task.run.take() {
            task.run = Some(mount::run_then_wait(&run));
        }
        task
    }

    /// Forgets the note of `cluster`'s mounts.
    pub(crate) fn forget_mounts(&self, cluster: &str) {
        let note = self.mounts_note(cluster);
        let _ = std::fs::remove_file(&note);
        // The folder goes with its last note.
        if let Some(dir) = note.parent() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// Unmounts the bucket mounts on every node of `record` (all at once; see
/// [`mount::unmount_script`]); returns warnings (a node not reached, a mount
/// left behind), never fails.
pub(crate) fn unmount_at(control_dir: &Path, record: &ClusterRecord) -> Vec<String> {
    let Ok(handle) = super::lifecycle::handle(record) else {
        return Vec::new();
    };
    let script = Script::new(mount::unmount_script());
    std::thread::scope(|scope| {
        let runs: Vec<_> = handle
            .nodes
            .iter()
            .map(|address| {
                let script = &script;
                scope.spawn(move || {
                    let node = address.connect(control_dir);
                    let mut output = Vec::new();
                    let result = node.run(script, &mut output);
                    let text = String::from_utf8_lossy(&output);
                    let mut warnings: Vec<String> = text
                        .lines()
                        .filter(|l| l.starts_with("aloft: "))
                        .map(|l| format!("{}: {}", node.describe(), &l["aloft: ".len()..]))
                        .collect();
                    if let Err(err) = result {
                        warnings.push(format!(
                            "bucket mounts on {} were not unmounted: {err}",
                            node.describe()
                        ));
                    }
                    warnings
                })
            })
            .collect();
        runs.into_iter()
            .flat_map(|run| run.join().unwrap_or_default())
            .collect()
    })
}

/// The mount points at or under `dir` on this machine (from `/proc/self/mounts`;
/// none where that cannot be read). A folder with a live mount inside is never
/// removed: the removal would go through the mount into the bucket.
pub(crate) fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(table) = std::fs::read_to_string("/proc/self/mounts") else {
        return Vec::new();
    };
    table
        .lines()
        .filter_map(|line| line.split(' ').nth(1))
        // The table escapes spaces and the like as octal (`\040`).
        .map(unescape_mount_path)
        .filter(|point| point.starts_with(dir))
        .collect()
}

fn unescape_mount_path(field: &str) -> PathBuf {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && let Some(digits) = field.get(i + 1..i + 4)
            && let Ok(code) = u8::from_str_radix(digits, 8)
        {
            out.push(code);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    PathBuf::from(std::ffi::OsString::from(
        String::from_utf8_lossy(&out).into_owned(),
    ))
}
