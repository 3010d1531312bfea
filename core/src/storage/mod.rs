//! Buckets as sources of files for a task: `s3://`, `gs://` and `r2://` file
//! mounts (and storage objects in COPY mode) are copied by the nodes themselves
//! ([`fetch`]: the launcher lists and signs, each node downloads), storage objects
//! with a local `source` are uploaded into their bucket (created when missing).
//! Four stores are spoken, each behind [`ObjectStore`]: Amazon S3 and Cloudflare
//! R2 with the one S3 client (R2 is S3's API at
//! `https://<account>.r2.cloudflarestorage.com`, region `auto`, credentials from
//! `~/.cloudflare/`, as SkyPilot reads them), Google Cloud Storage with its
//! JSON API ([`gcs::Gcs`], Google's credentials as Google's tools read them), and
//! Azure Blob Storage with its REST API ([`azure::Azure`]: containers of the
//! storage account the `az` CLI's variables name, blob URLs
//! `https://<account>.blob.core.windows.net/<container>/<path>`).

pub mod azure;
pub mod fetch;
pub mod gcs;
pub mod mount;
pub mod s3;

use std::path::Path;
use std::time::Duration;

use thiserror::Error;

pub use aloft_provider_sdk::signing::AwsCredentials;
pub use azure::Azure;
pub use gcs::{Gcs, GcsOptions};
pub use s3::{ObjectInfo, S3};

/// Why a storage operation failed. Messages never carry credentials.
#[derive(Debug, Error)]
pub enum StorageError {
    /// The request could not be sent or read.
    #[error("storage request failed: {0}")]
    Request(String),
    /// S3 answered an error.
    #[error("{what}: {code} (HTTP {status})")]
    S3 {
        /// What was attempted.
        what: String,
        /// S3's error code (`NoSuchBucket`, `AccessDenied`).
        code: String,
        /// HTTP status.
        status: u16,
    },
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Google Cloud Storage answered an error.
    #[error("{what}: {reason} (HTTP {status}){}", if message.is_empty() { String::new() } else { format!(": {message}") })]
    Gcs {
        /// What was attempted.
        what: String,
        /// Google's error reason (`notFound`, `forbidden`, `conflict`).
        reason: String,
        /// Google's message.
        message: String,
        /// HTTP status.
        status: u16,
    },
    /// Azure Blob Storage answered an error.
    #[error("{what}: {code} (HTTP {status})")]
    Azure {
        /// What was attempted.
        what: String,
        /// Azure's error code (`ContainerNotFound`, `AuthenticationFailed`).
        code: String,
        /// HTTP status.
        status: u16,
    },
    /// The bucket a task reads does not exist (the message says what to do).
    #[error("{0}")]
    NoSuchBucket(String),
    /// Not a bucket URL this build understands.
    #[error("{0}")]
    Unsupported(String),
    /// The store's credentials are missing (the message names where they go).
    #[error("{0}")]
    Credentials(String),
}

impl StorageError {
    /// Whether the error says the bucket does not exist (S3's `NoSuchBucket`,
    /// GCS's 404, Azure's `ContainerNotFound`).
    pub fn is_no_such_bucket(&self) -> bool {
        match self {
            StorageError::S3 { code, .. } => code == "NoSuchBucket",
            StorageError::Gcs { status, .. } => *status == 404,
            StorageError::Azure { code, .. } => code == "ContainerNotFound",
            StorageError::NoSuchBucket(_) => true,
            _ => false,
        }
    }
}

/// How a node reads one object without the store's credentials: a URL (S3, R2
/// and GCS with a service-account key: signed, so a bearer secret until it
/// expires) and, for GCS with user credentials, a short-lived `Authorization`
/// header. `Debug` shows neither.
#[derive(Clone)]
pub struct SignedGet {
    /// The URL to GET.
    pub url: String,
    /// A header to send with it (name, value).
    pub header: Option<(String, String)>,
}

impl std::fmt::Debug for SignedGet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedGet")
            .field("url", &"<redacted>")
            .field("header", &self.header.as_ref().map(|(name, _)| name))
            .finish()
    }
}

/// What aloft does with a bucket store, whichever API it speaks.
pub trait ObjectStore: Send + Sync {
    /// The store this client talks to.
    fn store(&self) -> Store;
    /// The region (S3) or location (GCS) new buckets get.
    fn region(&self) -> &str;
    /// `s3://bucket/key` (or `gs://...`, `r2://...`), for messages.
    fn url(&self, bucket: &str, key: &str) -> String {
        let scheme = self.store().scheme();
        if key.is_empty() {
            format!("{scheme}://{bucket}")
        } else {
            format!("{scheme}://{bucket}/{key}")
        }
    }
    /// The account the buckets belong to, for stores whose URLs name one
    /// (Azure's storage account); `None` for the others.
    fn account(&self) -> Option<&str> {
        None
    }
    /// Whether `bucket` exists (and is reachable with these credentials).
    fn bucket_exists(&self, bucket: &str) -> Result<bool, StorageError>;
    /// Creates `bucket`.
    fn create_bucket(&self, bucket: &str) -> Result<(), StorageError>;
    /// Uploads one object.
    fn put(&self, bucket: &str, key: &str, data: Vec<u8>) -> Result<(), StorageError>;
    /// Downloads one object.
    fn get(&self, bucket: &str, key: &str) -> Result<Vec<u8>, StorageError>;
    /// Deletes one object.
    fn delete(&self, bucket: &str, key: &str) -> Result<(), StorageError>;
    /// Deletes an (empty) bucket.
    fn delete_bucket(&self, bucket: &str) -> Result<(), StorageError>;
    /// Every object under `prefix` (all pages).
    fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectInfo>, StorageError>;
    /// How a node may GET `bucket`/`key` for about `expires` without this
    /// client's credentials (see [`SignedGet`]).
    fn signed_get(
        &self,
        bucket: &str,
        key: &str,
        expires: Duration,
    ) -> Result<SignedGet, StorageError>;
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StorageError + '_ {
    move |source| StorageError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The bucket stores this build speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Store {
    /// Amazon S3.
    S3,
    /// Cloudflare R2 (S3's API at an account endpoint).
    R2,
    /// Google Cloud Storage (its JSON API).
    Gcs,
    /// Azure Blob Storage (its REST API; buckets are containers).
    Azure,
}

impl Store {
    /// Every store, in order.
    pub const ALL: [Store; 4] = [Store::S3, Store::R2, Store::Gcs, Store::Azure];

    /// The name in `store:` and in state (`S3`, `R2`, `GCS`, `AZURE`).
    pub fn name(self) -> &'static str {
        match self {
            Store::S3 => "S3",
            Store::R2 => "R2",
            Store::Gcs => "GCS",
            Store::Azure => "AZURE",
        }
    }

    /// The URL scheme (`s3`, `r2`, `gs`; Azure's blob URLs are `https`).
    pub fn scheme(self) -> &'static str {
        match self {
            Store::S3 => "s3",
            Store::R2 => "r2",
            Store::Gcs => "gs",
            Store::Azure => "https",
        }
    }

    /// The store named `name` (any case), if this build speaks it.
    pub fn from_name(name: &str) -> Option<Store> {
        Store::ALL
            .into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(name))
    }
}

/// `s3://bucket/some/prefix` (or `gs://`, `r2://`, or Azure's
/// `https://<account>.blob.core.windows.net/container/some/prefix`) as
/// `(store, "bucket", "some/prefix")` (Azure: the container; the account is
/// [`azure::parse_blob_url`]'s).
pub fn parse_bucket_url(url: &str) -> Result<(Store, String, String), StorageError> {
    if let Some((_, container, prefix)) = azure::parse_blob_url(url) {
        if container.is_empty() {
            return Err(StorageError::Unsupported(format!(
                "`{url}` names no container"
            )));
        }
        return Ok((Store::Azure, container, prefix));
    }
    let Some((store, rest)) = Store::ALL
        .into_iter()
        .filter(|s| *s != Store::Azure)
        .find_map(|store| {
            url.strip_prefix(&format!("{}://", store.scheme()))
                .map(|rest| (store, rest))
        })
    else {
        return Err(StorageError::Unsupported(format!(
            "`{url}`: only s3://, gs://, r2:// and https://<account>.blob.core.windows.net/ \
             buckets are supported in this build"
        )));
    };
    let (bucket, prefix) = parse_rest(url, rest)?;
    Ok((store, bucket, prefix))
}

/// `s3://bucket/some/prefix` as `("bucket", "some/prefix")`.
pub fn parse_s3_url(url: &str) -> Result<(String, String), StorageError> {
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| StorageError::Unsupported(format!("`{url}` is not an s3:// bucket URL")))?;
    parse_rest(url, rest)
}

fn parse_rest(url: &str, rest: &str) -> Result<(String, String), StorageError> {
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(StorageError::Unsupported(format!(
            "`{url}` names no bucket"
        )));
    }
    Ok((bucket.to_string(), prefix.trim_end_matches('/').to_string()))
}

/// Where SkyPilot (and so aloft) reads R2's S3 keys: an AWS-style credentials
/// file, profile `r2`.
pub const R2_CREDENTIALS_FILE: &str = "~/.cloudflare/r2.credentials";
/// Where SkyPilot (and so aloft) reads the Cloudflare account id.
pub const R2_ACCOUNT_ID_FILE: &str = "~/.cloudflare/accountid";

/// R2's S3 endpoint for `account_id`.
pub fn r2_endpoint(account_id: &str) -> String {
    format!("https://{account_id}.r2.cloudflarestorage.com")
}

/// R2's keys (profile `r2` of [`R2_CREDENTIALS_FILE`]) and the account id (from
/// [`R2_ACCOUNT_ID_FILE`]); an error names both files, and never a value.
pub fn r2_credentials() -> Result<(AwsCredentials, String), StorageError> {
    let missing = |why: &str| {
        StorageError::Credentials(format!(
            "no Cloudflare R2 credentials ({why}): put the R2 API token's keys in {R2_CREDENTIALS_FILE} \
             (profile [r2], aws_access_key_id and aws_secret_access_key) and the account id in {R2_ACCOUNT_ID_FILE}"
        ))
    };
    let credentials_file = crate::config::expand_home(R2_CREDENTIALS_FILE);
    let file = ini::Ini::load_from_file(&credentials_file).map_err(|e| match e {
        ini::Error::Io(_) => missing(&format!("{R2_CREDENTIALS_FILE} cannot be read")),
        ini::Error::Parse(_) => missing(&format!("{R2_CREDENTIALS_FILE} is not an INI file")),
    })?;
    let value = |key: &str| {
        file.section(Some("r2"))
            .and_then(|s| s.get(key))
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let (Some(access_key_id), Some(secret_access_key)) =
        (value("aws_access_key_id"), value("aws_secret_access_key"))
    else {
        return Err(missing(&format!(
            "{R2_CREDENTIALS_FILE} has no [r2] profile with both keys"
        )));
    };
    let account_id = std::fs::read_to_string(crate::config::expand_home(R2_ACCOUNT_ID_FILE))
        .map(|t| t.trim().to_string())
        .ok()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| missing(&format!("{R2_ACCOUNT_ID_FILE} is missing or empty")))?;
    Ok((
        AwsCredentials {
            access_key_id,
            secret_access_key,
            session_token: value("aws_session_token"),
        },
        account_id,
    ))
}

/// Uploads every file under `dir` (honouring `.gitignore`) to `bucket` under
/// `prefix`; returns how many files went up.
pub fn upload_dir(
    store: &dyn ObjectStore,
    bucket: &str,
    dir: &Path,
    prefix: &str,
) -> Result<usize, StorageError> {
    let mut count = 0;
    let walker = ignore::WalkBuilder::new(dir)
        .hidden(false)
        .git_ignore(true)
        .require_git(false)
        .filter_entry(|e| e.file_name() != ".git")
        .build();
    for entry in walker {
        let entry = entry.map_err(|e| StorageError::Request(e.to_string()))?;
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let path = entry.path();
        let relative = path
            .strip_prefix(dir)
            .unwrap_or(path)
            .to_string_lossy()
            .replace('\\', "/");
        let key = if prefix.is_empty() {
            relative
        } else {
            format!("{prefix}/{relative}")
        };
        let data = std::fs::read(path).map_err(io(path))?;
        store.put(bucket, &key, data)?;
        count += 1;
    }
    Ok(count)
}

/// Deletes every object of `bucket`, then the bucket.
pub fn delete_bucket(store: &dyn ObjectStore, bucket: &str) -> Result<usize, StorageError> {
    let objects = store.list(bucket, "")?;
    for object in &objects {
        store.delete(bucket, &object.key)?;
    }
    store.delete_bucket(bucket)?;
    Ok(objects.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls_split_into_bucket_and_prefix() {
        assert_eq!(
            parse_s3_url("s3://data/train/part-1").unwrap(),
            ("data".into(), "train/part-1".into())
        );
        assert_eq!(
            parse_s3_url("s3://data").unwrap(),
            ("data".into(), "".into())
        );
        assert_eq!(
            parse_s3_url("s3://data/dir/").unwrap(),
            ("data".into(), "dir".into())
        );
        assert!(parse_s3_url("gs://x").is_err());
        assert!(parse_s3_url("s3:///x").is_err());
        assert_eq!(
            parse_bucket_url("r2://data/dir/").unwrap(),
            (Store::R2, "data".into(), "dir".into())
        );
        assert_eq!(
            parse_bucket_url("s3://data").unwrap(),
            (Store::S3, "data".into(), "".into())
        );
        assert!(parse_bucket_url("r2://").is_err());
        assert_eq!(
            parse_bucket_url("gs://data/train/").unwrap(),
            (Store::Gcs, "data".into(), "train".into())
        );
        assert!(parse_bucket_url("gs://").is_err());
        let err = parse_bucket_url("az://x").unwrap_err().to_string();
        assert!(
            err.contains("s3://, gs://, r2:// and https://<account>.blob.core.windows.net/"),
            "{err}"
        );
        assert_eq!(
            parse_bucket_url("https://acct.blob.core.windows.net/data/train/").unwrap(),
            (Store::Azure, "data".into(), "train".into())
        );
        assert!(parse_bucket_url("https://acct.blob.core.windows.net/").is_err());
        assert!(parse_bucket_url("https://example.com/data").is_err());
        assert_eq!(Store::from_name("r2"), Some(Store::R2));
        assert_eq!(Store::from_name("gcs"), Some(Store::Gcs));
        assert_eq!(Store::from_name("azure"), Some(Store::Azure));
        assert_eq!(Store::from_name("IBM"), None);
    }
}
