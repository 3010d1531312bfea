//! Buckets: getting a task's bucket mounts ready before a launch (S3, Google
//! Cloud Storage and Cloudflare R2 today), listing and deleting the buckets aloft
//! created.
//!
//! A task's `s3://`, `gs://` and `r2://` file mounts, and storage objects in COPY
//! mode, are copied by the nodes themselves ([`storage::fetch`]): the launcher
//! lists the prefix and signs one GET per object (S3 and R2: a SigV4 pre-signed
//! URL valid for an hour; GCS with a service-account key: a V4 signed URL; GCS
//! with an `authorized_user` file, which cannot sign: the object's URL with the
//! launcher's short-lived OAuth token), and every new node runs one script with
//! `curl` that downloads them, checks sizes and plain MD5s, before the agent
//! starts. The objects' bytes never pass through the launcher, and no store key
//! leaves it (only, in that last case, the access token). A storage object with `store: s3`, `gcs` or `r2` gets its bucket created when missing
//! (and recorded with its store, so `storage ls` shows it) and its local `source`
//! uploaded once, to the bucket; in MOUNT and MOUNT_CACHED mode every new node
//! mounts the bucket with rclone before the agent starts ([`storage::mount`]).
//!
//! R2 is the same S3 client pointed at `https://<account>.r2.cloudflarestorage.com`
//! (or `storage.r2.endpoint`), region `auto`, with the keys of profile `r2` in
//! `~/.cloudflare/r2.credentials` and the account id in `~/.cloudflare/accountid`.
//! GCS is its JSON API ([`storage::Gcs`]) with Google's credentials as Google's
//! tools find them (`GOOGLE_APPLICATION_CREDENTIALS`, else gcloud's
//! application-default credentials), `storage.gcs.endpoint` pointing it elsewhere.
//! Azure Blob is its REST API ([`storage::Azure`]) with a storage account's key as
//! the `az` CLI finds it (`AZURE_STORAGE_CONNECTION_STRING`, whose `BlobEndpoint`
//! may point elsewhere, or `AZURE_STORAGE_ACCOUNT` and `AZURE_STORAGE_KEY`); its
//! nodes get read-only service SAS URLs, and its buckets (containers) are
//! recorded with their account, so none is deleted in another account.

use std::collections::BTreeMap;
use std::path::Path;

use crate::plugin::credentials::GCP_CREDENTIALS_JSON;
use crate::plugin::{CredentialSource, StandardCredentials};
use crate::runtime::agent::unix_now;
use crate::state::StorageRecord;
use crate::storage::fetch::NodeFetch;
use crate::storage::mount::{MountMode, NodeMount, RcloneRemote};
use crate::storage::{
    self, AwsCredentials, Azure, Gcs, GcsOptions, ObjectStore, S3, StorageError, Store,
};
use crate::task::{FileMount, StorageMode, StorageSpec, Task};

use super::{Client, ClientError, ClientResult, Event};

fn failure(err: impl std::fmt::Display) -> ClientError {
    ClientError::Other(err.to_string())
}

/// How deleting one bucket went.
#[derive(Debug)]
pub enum BucketDeletion {
    /// Deleted, with this many objects.
    Deleted(usize),
    /// It was already gone.
    AlreadyGone,
}

/// Classifies the result of deleting a bucket: a bucket that no longer exists is
/// not an error.
pub fn delete_bucket_result(
    result: Result<usize, StorageError>,
) -> Result<BucketDeletion, StorageError> {
    match result {
        Ok(n) => Ok(BucketDeletion::Deleted(n)),
        Err(err) if err.is_no_such_bucket() => Ok(BucketDeletion::AlreadyGone),
        Err(err) => Err(err),
    }
}

/// The store a recorded bucket is on (`S3` for records that predate R2).
fn record_store(record: &StorageRecord) -> ClientResult<Store> {
    Store::from_name(&record.store).ok_or_else(|| {
        ClientError::Other(format!(
            "bucket `{}` is on store {}, which this build does not speak",
            record.name, record.store
        ))
    })
}

/// The user's AWS credentials, as aloft lends them to providers
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, else
/// `~/.aws/credentials`), for S3 and S3 mounts; none is an error saying where to
/// put them.
pub(crate) fn user_aws_credentials() -> ClientResult<AwsCredentials> {
    let source = StandardCredentials;
    let (Some(access_key_id), Some(secret_access_key)) = (
        source.get("AWS_ACCESS_KEY_ID"),
        source.get("AWS_SECRET_ACCESS_KEY"),
    ) else {
        return Err(ClientError::Other(
            "no AWS credentials for S3: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile in ~/.aws/credentials".into(),
        ));
    };
    Ok(AwsCredentials {
        access_key_id,
        secret_access_key,
        session_token: source.get("AWS_SESSION_TOKEN"),
    })
}

impl Client {
    /// An S3 client from the user's config (`providers.aws.endpoint`,
    /// `providers.aws.storage_region`) and the credentials aloft lends providers.
    fn s3(&self) -> ClientResult<S3> {
        let credentials = user_aws_credentials()?;
        let region = self
            .config
            .provider_setting("aws", "storage_region")
            .unwrap_or_else(|| "us-east-1".into());
        S3::new(
            &region,
            self.config.provider_setting("aws", "endpoint"),
            credentials,
        )
        .map_err(failure)
    }

    /// An R2 client: S3's API at the account's endpoint (or `storage.r2.endpoint`),
    /// region `auto`, with the keys in `~/.cloudflare/`.
    fn r2(&self) -> ClientResult<S3> {
        let (credentials, account_id) = storage::r2_credentials().map_err(failure)?;
        let endpoint = self
            .config
            .storage
            .r2
            .endpoint
            .clone()
            .unwrap_or_else(|| storage::r2_endpoint(&account_id));
        S3::for_store(Store::R2, "auto", Some(endpoint), credentials).map_err(failure)
    }

    /// A GCS client: Google's credentials (`GOOGLE_APPLICATION_CREDENTIALS`, else
    /// gcloud's application-default credentials), `storage.gcs.*` from the config;
    /// new buckets go to `storage.gcs.project`, else `GOOGLE_CLOUD_PROJECT`, else
    /// `providers.gcp.project`, else the credentials' project.
    pub(crate) fn gcs(&self) -> ClientResult<Gcs> {
        let json = StandardCredentials
            .get(GCP_CREDENTIALS_JSON)
            .ok_or_else(|| {
                let named = std::env::var_os("GOOGLE_APPLICATION_CREDENTIALS")
                .filter(|p| !p.is_empty())
                .map(|p| {
                    format!(
                        " (GOOGLE_APPLICATION_CREDENTIALS names {}, which cannot be read as JSON)",
                        std::path::Path::new(&p).display()
                    )
                })
                .unwrap_or_default();
                ClientError::Other(format!(
                    "no Google credentials for GCS{named}: {}",
                    storage::gcs::GCS_CREDENTIALS_HELP
                ))
            })?;
        let settings = &self.config.storage.gcs;
        let project = settings
            .project
            .clone()
            .or_else(|| {
                std::env::var("GOOGLE_CLOUD_PROJECT")
                    .ok()
                    .filter(|p| !p.is_empty())
            })
            .or_else(|| self.config.provider_setting("gcp", "project"));
        Gcs::new(
            &json,
            GcsOptions {
                endpoint: settings.endpoint.clone(),
                project,
                location: settings.location.clone(),
            },
        )
        .map_err(failure)
    }

    /// An Azure Blob client for the storage account the `az` CLI's variables
    /// (or its config file's `[storage]` section) name.
    pub(crate) fn azure(&self) -> ClientResult<Azure> {
        let credentials =
            storage::azure::azure_credentials(|name| std::env::var(name).ok()).map_err(failure)?;
        Azure::new(credentials).map_err(failure)
    }

    /// A client for `store`.
    fn store_client(&self, store: Store) -> ClientResult<Box<dyn ObjectStore>> {
        Ok(match store {
            Store::S3 => Box::new(self.s3()?),
            Store::R2 => Box::new(self.r2()?),
            Store::Gcs => Box::new(self.gcs()?),
            Store::Azure => Box::new(self.azure()?),
        })
    }

    /// A client for the store `record` was made on; an Azure container made in
    /// another storage account than the credentials' is refused (its name may
    /// be another container there).
    fn record_client(&self, record: &StorageRecord) -> ClientResult<Box<dyn ObjectStore>> {
        let client = self.store_client(record_store(record)?)?;
        if let Some(account) = client.account()
            && account != record.region
        {
            return Err(ClientError::Other(format!(
                "container `{}` was made in Azure storage account `{}`, and the credentials are \
                 for `{account}`; use that account's credentials to delete it",
                record.name, record.region
            )));
        }
        Ok(client)
    }

    /// The buckets aloft created.
    pub fn buckets(&self) -> ClientResult<Vec<StorageRecord>> {
        Ok(self.state.storage()?)
    }

    /// Deletes bucket `name` (every object in it) on the store it was made on,
    /// and forgets it. Only a bucket aloft created (one in local state) is
    /// deleted; another name is [`ClientError::UnknownBucket`], with no cloud call.
    pub fn delete_bucket(&self, name: &str) -> ClientResult<BucketDeletion> {
        let buckets = self.buckets()?;
        let Some(record) = buckets.iter().find(|b| b.name == name) else {
            let known: Vec<String> = buckets.into_iter().map(|b| b.name).collect();
            let known = if known.is_empty() {
                "aloft created none".to_string()
            } else {
                format!("aloft's buckets: {}", known.join(", "))
            };
            return Err(ClientError::UnknownBucket {
                name: name.to_string(),
                known,
            });
        };
        let client = self.record_client(record)?;
        let outcome =
            delete_bucket_result(storage::delete_bucket(client.as_ref(), name)).map_err(failure)?;
        self.state.remove_storage(name)?;
        Ok(outcome)
    }

    /// Deletes the buckets that were made for `cluster` only (`persistent: false`);
    /// a failure is a warning, never fatal: the cluster is gone either way, and
    /// `aloft storage delete` can finish the job.
    pub(crate) fn delete_cluster_buckets(&self, cluster: &str) {
        let owned: Vec<StorageRecord> = self
            .state
            .storage()
            .unwrap_or_default()
            .into_iter()
            .filter(|b| b.cluster.as_deref() == Some(cluster))
            .collect();
        let mut clients: BTreeMap<Store, ClientResult<Box<dyn ObjectStore>>> = BTreeMap::new();
        for bucket in owned {
            let client = match record_store(&bucket) {
                Ok(store) => clients
                    .entry(store)
                    .or_insert_with(|| self.store_client(store)),
                Err(err) => {
                    self.emit(Event::Warning(err.to_string()));
                    continue;
                }
            };
            let client = match client {
                Ok(client) => client,
                Err(err) => {
                    self.emit(Event::Warning(format!(
                        "bucket `{}` of `{cluster}` was not deleted: {err}",
                        bucket.name
                    )));
                    continue;
                }
            };
            if let Some(account) = client.account()
                && account != bucket.region
            {
                self.emit(Event::Warning(format!(
                    "container `{}` of `{cluster}` was not deleted: it is in Azure storage account `{}`, \
                     and the credentials are for `{account}`",
                    bucket.name, bucket.region
                )));
                continue;
            }
            match storage::delete_bucket(client.as_ref(), &bucket.name) {
                Ok(_) => {
                    let _ = self.state.remove_storage(&bucket.name);
                    self.emit(Event::Detail(format!(
                        "deleted bucket `{}` (persistent: false)",
                        client.url(&bucket.name, "")
                    )));
                }
                Err(err) => self.emit(Event::Warning(format!(
                    "bucket `{}` was not deleted ({err}); `aloft storage delete {}` retries",
                    bucket.name, bucket.name
                ))),
            }
        }
    }

    /// The task with its bucket mounts taken out of its file mounts, and the
    /// script every node runs to copy them itself (see the module docs); a task
    /// without buckets comes back unchanged, with no script, and nothing is
    /// contacted. Every store's credentials are checked before any bucket is
    /// touched.
    pub(crate) fn prepare_storage(
        &self,
        task: &Task,
        task_dir: &Path,
        cluster: &str,
    ) -> ClientResult<PreparedStorage> {
        let mut clients: BTreeMap<Store, Box<dyn ObjectStore>> = BTreeMap::new();
        let mut remotes: BTreeMap<Store, RcloneRemote> = BTreeMap::new();
        for (target, mount) in &task.file_mounts {
            let (store, url) = match mount {
                FileMount::Path(url) if url.contains("://") => (
                    storage::parse_bucket_url(url).map_err(failure)?.0,
                    Some(url),
                ),
                FileMount::Path(_) => continue,
                FileMount::Storage(spec) => (
                    bucket_of(spec, target)?.0,
                    spec.source.iter().find(|s| s.contains("://")),
                ),
            };
            if let std::collections::btree_map::Entry::Vacant(slot) = clients.entry(store) {
                slot.insert(self.store_client(store)?);
            }
            // A mount's rclone remote: its credentials checked now, too (an Azure
            // mount's remote is one container's SAS link, made per mount below).
            if let FileMount::Storage(spec) = mount
                && super::mounts::mount_mode(spec).is_some()
                && store != Store::Azure
                && let std::collections::btree_map::Entry::Vacant(slot) = remotes.entry(store)
            {
                slot.insert(self.rclone_remote(store)?);
            }
            // An Azure blob URL names its account: it must be the credentials'.
            if let (Some(url), Some(account)) = (url, clients[&store].account())
                && let Some((named, _, _)) = storage::azure::parse_blob_url(url)
                && named != account
            {
                return Err(ClientError::Other(format!(
                    "file_mounts.{target}: `{url}` is in Azure storage account `{named}`, and the \
                     credentials are for `{account}`; {}",
                    storage::azure::AZURE_CREDENTIALS_HELP
                )));
            }
        }
        if clients.is_empty() {
            return Ok(PreparedStorage {
                task: task.clone(),
                fetch: None,
            });
        }
        let progress = |line: String| self.emit(Event::Detail(line));
        let mut task = task.clone();
        let mut node_mounts: Vec<NodeMount> = Vec::new();
        let mut fetches: Vec<NodeFetch> = Vec::new();
        let mut plan_fetch =
            |client: &dyn ObjectStore, bucket: &str, prefix: &str, target: &str| {
                let fetch =
                    storage::fetch::plan(client, bucket, prefix, target).map_err(failure)?;
                progress(format!(
                    "the nodes copy {} ({} object(s), {} bytes) to {target}",
                    fetch.source,
                    fetch.objects.len(),
                    fetch.bytes()
                ));
                fetches.push(fetch);
                Ok::<(), ClientError>(())
            };
        for (target, mount) in task.file_mounts.iter_mut() {
            match mount.clone() {
                FileMount::Path(url) if url.contains("://") => {
                    let (store, bucket, prefix) =
                        storage::parse_bucket_url(&url).map_err(failure)?;
                    plan_fetch(clients[&store].as_ref(), &bucket, &prefix, target)?;
                    *mount = FileMount::Path(String::new());
                }
                FileMount::Path(_) => {}
                FileMount::Storage(spec) => {
                    let (store, bucket, prefix) = bucket_of(&spec, target)?;
                    let client = clients[&store].as_ref();
                    let local_sources: Vec<&String> =
                        spec.source.iter().filter(|s| !s.contains("://")).collect();
                    if !local_sources.is_empty() {
                        if !client.bucket_exists(&bucket).map_err(failure)? {
                            progress(format!("creating bucket {}", client.url(&bucket, "")));
                            client.create_bucket(&bucket).map_err(failure)?;
                            self.state.add_storage(&StorageRecord {
                                name: bucket.clone(),
                                store: store.name().into(),
                                region: client.region().to_string(),
                                source: Some(spec.source.join(", ")),
                                created_at: unix_now(),
                                cluster: (spec.persistent == Some(false))
                                    .then(|| cluster.to_string()),
                            })?;
                        }
                        for source in &local_sources {
                            let dir = if Path::new(source).is_absolute() {
                                Path::new(source).to_path_buf()
                            } else {
                                task_dir.join(source)
                            };
                            let n = storage::upload_dir(client, &bucket, &dir, &prefix)
                                .map_err(failure)?;
                            progress(format!(
                                "uploaded {n} file(s) from {source} to {}",
                                client.url(&bucket, "")
                            ));
                        }
                    }
                    match spec.mode.unwrap_or(StorageMode::Mount) {
                        StorageMode::Copy => plan_fetch(client, &bucket, &prefix, target)?,
                        StorageMode::Mount | StorageMode::MountCached => {
                            let mode = super::mounts::mount_mode(&spec).unwrap_or(MountMode::Plain);
                            let flags = super::mounts::mount_flags(&spec, target, mode)?;
                            let remote = match store {
                                Store::Azure => self.azure_mount_remote(&bucket, &flags)?,
                                _ => remotes[&store].clone(),
                            };
                            node_mounts.push(NodeMount {
                                target: target.clone(),
                                source: client.url(&bucket, &prefix),
                                remote,
                                path: if prefix.is_empty() {
                                    bucket.clone()
                                } else {
                                    format!("{bucket}/{prefix}")
                                },
                                mode,
                                flags,
                            });
                        }
                    }
                    *mount = FileMount::Path(String::new());
                }
            }
        }
        task.file_mounts
            .retain(|_, m| !matches!(m, FileMount::Path(p) if p.is_empty()));
        // Mounts first (the COPY script ends the node's script with its status);
        // a job on cached mounts ends once their writes reached the bucket.
        let mut script = String::new();
        if !node_mounts.is_empty() {
            let cached = node_mounts.iter().any(|m| m.mode == MountMode::Cached);
            self.note_mounts(cluster, cached)?;
            script.push_str(&storage::mount::script(&node_mounts));
            if cached && let Some(run) = task.run.take() {
                task.run = Some(storage::mount::run_then_wait(&run));
            }
        }
        if !fetches.is_empty() {
            script.push_str(&storage::fetch::script(&fetches));
        }
        Ok(PreparedStorage {
            task,
            fetch: (!script.is_empty()).then_some(script),
        })
    }
}

/// A task's bucket mounts made ready for a launch.
pub(crate) struct PreparedStorage {
    /// The task without its bucket file mounts (a job on MOUNT_CACHED mounts
    /// waits for their uploads at the end of its `run`).
    pub(crate) task: Task,
    /// The script every new node runs to mount the MOUNT and MOUNT_CACHED buckets
    /// and copy the COPY-mode buckets itself (holds the stores' keys for rclone
    /// and pre-signed URLs: a secret, never logged).
    pub(crate) fetch: Option<String>,
}

/// Refuses, before anything is created, the storage mounts a launch cannot make
/// (a store other than S3, GCS, R2 and Azure, a store that does not match the source's
/// URL, a storage object without a bucket, a `config.mount_cached` or
/// `config.mount` setting that does not map onto rclone).
pub(crate) fn check_storage(task: &Task) -> ClientResult<()> {
    for (target, mount) in &task.file_mounts {
        if let FileMount::Storage(spec) = mount {
            bucket_of(spec, target)?;
            if let Some(mode) = super::mounts::mount_mode(spec) {
                super::mounts::mount_flags(spec, target, mode)?;
            }
        }
    }
    Ok(())
}

/// The store, bucket and prefix of a storage object.
fn bucket_of(spec: &StorageSpec, target: &str) -> ClientResult<(Store, String, String)> {
    let store = match &spec.store {
        Some(name) => Some(Store::from_name(name).ok_or_else(|| {
            ClientError::InvalidInput(format!(
                "file_mounts.{target}: store {name} is not supported yet (S3, GCS, R2 and AZURE are)"
            ))
        })?),
        None => None,
    };
    if let Some(url) = spec.source.iter().find(|s| s.contains("://")) {
        let (url_store, bucket, prefix) = storage::parse_bucket_url(url)
            .map_err(|e| ClientError::InvalidInput(format!("file_mounts.{target}: {e}")))?;
        if let Some(store) = store.filter(|s| *s != url_store) {
            return Err(ClientError::InvalidInput(format!(
                "file_mounts.{target}: store {} does not match source `{url}` ({}); \
                 make them agree, or drop `store`",
                store.name(),
                url_store.name()
            )));
        }
        return Ok((url_store, bucket, prefix));
    }
    spec.name
        .clone()
        .map(|n| (store.unwrap_or(Store::S3), n, String::new()))
        .ok_or_else(|| {
            ClientError::InvalidInput(format!(
                "file_mounts.{target}: a storage object needs a `name`"
            ))
        })
}
