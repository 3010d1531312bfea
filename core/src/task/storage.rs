//! `file_mounts`: local paths and bucket URLs, or storage objects (buckets).

use serde::{Deserialize, Serialize};

use super::error::TaskError;
use super::resources_yaml::disk_size;
use super::walk::{At, check_known, get_some, to_json};
use super::yaml::Value;

/// One `file_mounts` entry's source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FileMount {
    /// A local path (rsynced) or a bucket URL (`s3://`, `gs://`, ...) copied at launch.
    Path(String),
    /// A storage object: a bucket, created or reused, mounted or copied.
    Storage(StorageSpec),
}

/// Bucket store kinds (`store:`).
pub const STORES: &[&str] = &[
    "S3",
    "GCS",
    "AZURE",
    "R2",
    "IBM",
    "OCI",
    "NEBIUS",
    "COREWEAVE",
    "VASTDATA",
    "HF",
    "VOLUME",
];

/// How a bucket reaches the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StorageMode {
    /// FUSE mount (default).
    Mount,
    /// Copied at launch.
    Copy,
    /// Mounted with a local write-back cache (rclone VFS).
    MountCached,
}

impl StorageMode {
    /// The YAML spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            StorageMode::Mount => "MOUNT",
            StorageMode::Copy => "COPY",
            StorageMode::MountCached => "MOUNT_CACHED",
        }
    }
}

/// A storage object (`file_mounts: {/dst: {name, source, store, mode, ...}}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StorageSpec {
    /// Bucket name.
    pub name: Option<String>,
    /// Local path, bucket URL, or several local paths.
    pub source: Vec<String>,
    /// Whether `source` was written as a list.
    pub source_is_list: bool,
    /// Store kind, upper case (one of [`STORES`]).
    pub store: Option<String>,
    /// Keep the bucket after the task (default true).
    pub persistent: Option<bool>,
    /// Mount mode (default `MOUNT`).
    pub mode: Option<StorageMode>,
    /// rclone preset for `MOUNT_CACHED`: `MODEL_CHECKPOINT_RO|RW`, `DATASET_RO|RW`.
    #[serde(rename = "type")]
    pub mount_type: Option<String>,
    /// Store-specific settings (`mount_cached`, `mount`, volume disk settings), validated.
    pub config: Option<serde_json::Value>,
}

pub(crate) fn parse_file_mount(at: &At<'_>) -> Result<FileMount, TaskError> {
    match &at.node.value {
        Value::Str(s) if s.is_empty() => Err(at.err("source must not be empty")),
        Value::Str(s) => Ok(FileMount::Path(s.clone())),
        Value::Map(_) => Ok(FileMount::Storage(parse_storage(at)?)),
        other => Err(at.err(format!(
            "expected a path, a bucket URL or a storage object, found {}",
            other.type_name()
        ))),
    }
}

fn parse_storage(at: &At<'_>) -> Result<StorageSpec, TaskError> {
    let fields = at.fields()?;
    check_known(
        &fields,
        &[
            "name",
            "source",
            "store",
            "persistent",
            "mode",
            "type",
            "config",
            "_is_sky_managed",
            "_bucket_sub_path",
            "_force_delete",
        ],
    )?;
    let mut s = StorageSpec::default();
    for f in &fields {
        let at = &f.value;
        if at.is_null() {
            continue;
        }
        match f.key.as_str() {
            "name" => s.name = Some(at.string()?),
            "source" => match &at.node.value {
                Value::Seq(_) => {
                    s.source_is_list = true;
                    for item in at.seq()? {
                        s.source.push(item.string()?);
                    }
                }
                _ => s.source.push(at.string()?),
            },
            "store" => s.store = Some(at.choice(STORES)?.to_string()),
            "persistent" => s.persistent = Some(at.bool()?),
            "mode" => {
                s.mode = Some(match at.choice(&["MOUNT", "COPY", "MOUNT_CACHED"])? {
                    "COPY" => StorageMode::Copy,
                    "MOUNT_CACHED" => StorageMode::MountCached,
                    _ => StorageMode::Mount,
                })
            }
            "type" => {
                s.mount_type = Some(
                    at.choice(&[
                        "MODEL_CHECKPOINT_RO",
                        "MODEL_CHECKPOINT_RW",
                        "DATASET_RO",
                        "DATASET_RW",
                    ])?
                    .to_string(),
                )
            }
            "config" => s.config = Some(storage_config(at)?),
            // Internal flags SkyPilot writes for itself; accepted, not modelled.
            _ => {}
        }
    }
    if s.name.is_none() && s.source.is_empty() {
        return Err(at.err("a storage object needs `name` or `source`"));
    }
    if s.source_is_list && s.source.is_empty() {
        return Err(at.err("`source` list must not be empty"));
    }
    Ok(s)
}

fn storage_config(at: &At<'_>) -> Result<serde_json::Value, TaskError> {
    let fields = at.fields()?;
    check_known(
        &fields,
        &[
            "disk_size",
            "disk_tier",
            "storage_type",
            "attach_mode",
            "mount_cached",
            "mount",
        ],
    )?;
    if let Some(d) = get_some(&fields, "disk_size") {
        disk_size(d)?;
    }
    if let Some(mc) = get_some(&fields, "mount_cached") {
        let f = mc.fields()?;
        check_known(
            &f,
            &[
                "transfers",
                "buffer_size",
                "vfs_cache_max_size",
                "vfs_cache_max_age",
                "vfs_read_ahead",
                "vfs_read_chunk_size",
                "vfs_read_chunk_streams",
                "vfs_write_back",
                "read_only",
            ],
        )?;
        for field in &f {
            match field.key.as_str() {
                "transfers" | "vfs_read_chunk_streams" => {
                    field.value.u64()?;
                }
                "read_only" => {
                    field.value.bool()?;
                }
                _ => {
                    field.value.python_str()?;
                }
            }
        }
    }
    if let Some(m) = get_some(&fields, "mount") {
        let f = m.fields()?;
        check_known(&f, &["read_only", "hf_mount_args"])?;
        if let Some(r) = get_some(&f, "read_only") {
            r.bool()?;
        }
    }
    Ok(to_json(at.node))
}
