//! Buckets as sources of files for a task: `s3://` file mounts are downloaded
//! into a local staging folder (then synced to the nodes like any local folder),
//! storage objects with a local `source` are uploaded into their bucket (created
//! when missing). Only S3 is spoken today.

pub mod s3;

use std::path::{Path, PathBuf};

use thiserror::Error;

pub use aloft_provider_sdk::signing::AwsCredentials;
pub use s3::{ObjectInfo, S3};

/// Why a storage operation failed. Messages never carry credentials.
#[derive(Debug, Error)]
pub enum StorageError {
    /// The request could not be sent or read.
    #[error("S3 request failed: {0}")]
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
    /// Not a bucket URL this build understands.
    #[error("{0}")]
    Unsupported(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StorageError + '_ {
    move |source| StorageError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// `s3://bucket/some/prefix` as `("bucket", "some/prefix")`.
pub fn parse_s3_url(url: &str) -> Result<(String, String), StorageError> {
    let rest = url.strip_prefix("s3://").ok_or_else(|| {
        StorageError::Unsupported(format!(
            "`{url}`: only s3:// buckets are supported in this build"
        ))
    })?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(StorageError::Unsupported(format!(
            "`{url}` names no bucket"
        )));
    }
    Ok((bucket.to_string(), prefix.trim_end_matches('/').to_string()))
}

/// Uploads every file under `dir` (honouring `.gitignore`) to `bucket` under
/// `prefix`; returns how many files went up.
pub fn upload_dir(s3: &S3, bucket: &str, dir: &Path, prefix: &str) -> Result<usize, StorageError> {
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
        s3.put(bucket, &key, data)?;
        count += 1;
    }
    Ok(count)
}

/// Downloads `prefix` of `bucket` under `staging` and returns what to copy to the
/// nodes: the file itself when `prefix` names one object, else the folder.
pub fn download(
    s3: &S3,
    bucket: &str,
    prefix: &str,
    staging: &Path,
) -> Result<PathBuf, StorageError> {
    let objects = s3.list(bucket, prefix)?;
    if let Some(single) = objects
        .iter()
        .find(|o| o.key == prefix && !prefix.is_empty())
    {
        let name = single.key.rsplit('/').next().unwrap_or(&single.key);
        std::fs::create_dir_all(staging).map_err(io(staging))?;
        let file = staging.join(name);
        std::fs::write(&file, s3.get(bucket, &single.key)?).map_err(io(&file))?;
        return Ok(file);
    }
    let folder_prefix = if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}/")
    };
    std::fs::create_dir_all(staging).map_err(io(staging))?;
    for object in objects.iter().filter(|o| o.key.starts_with(&folder_prefix)) {
        let relative = &object.key[folder_prefix.len()..];
        // Keys are not paths: refuse anything that would land outside the folder.
        if relative.is_empty()
            || relative.ends_with('/')
            || relative
                .split('/')
                .any(|part| part == ".." || part.is_empty())
        {
            continue;
        }
        let file = staging.join(relative);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::write(&file, s3.get(bucket, &object.key)?).map_err(io(&file))?;
    }
    Ok(staging.to_path_buf())
}

/// Deletes every object of `bucket`, then the bucket.
pub fn delete_bucket(s3: &S3, bucket: &str) -> Result<usize, StorageError> {
    let objects = s3.list(bucket, "")?;
    for object in &objects {
        s3.delete(bucket, &object.key)?;
    }
    s3.delete_bucket(bucket)?;
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
    }
}
