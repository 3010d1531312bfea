//! One process at a time per cluster: an advisory file lock.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use super::StateError;

/// Held while one command works on a cluster (launch, stop, down, ...). The lock is
/// released when this value is dropped, or by the OS when the process dies, so a
/// killed command never leaves a cluster locked.
#[derive(Debug)]
pub struct ClusterLock {
    _file: File,
    path: PathBuf,
}

impl ClusterLock {
    /// Takes the lock for `cluster` under `lock_dir`, failing at once with
    /// [`StateError::Busy`] when another process holds it, and with
    /// [`StateError::BadName`] for a name [`super::validate_cluster_name`] refuses.
    pub fn try_acquire(lock_dir: &Path, cluster: &str) -> Result<ClusterLock, StateError> {
        let (file, path) = open(lock_dir, cluster)?;
        match file.try_lock() {
            Ok(()) => Ok(ClusterLock { _file: file, path }),
            Err(TryLockError::WouldBlock) => Err(StateError::Busy(cluster.to_string())),
            Err(TryLockError::Error(source)) => Err(StateError::Io {
                path: path.display().to_string(),
                source,
            }),
        }
    }

    /// Takes the lock for `cluster`, waiting for another process to release it
    /// ([`StateError::BadName`] for an invalid name).
    pub fn acquire(lock_dir: &Path, cluster: &str) -> Result<ClusterLock, StateError> {
        let (file, path) = open(lock_dir, cluster)?;
        file.lock().map_err(|source| StateError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Ok(ClusterLock { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn open(lock_dir: &Path, cluster: &str) -> Result<(File, PathBuf), StateError> {
    super::validate_cluster_name(cluster)?;
    std::fs::create_dir_all(lock_dir).map_err(|source| StateError::Io {
        path: lock_dir.display().to_string(),
        source,
    })?;
    // The name is validated above; hex-encoding keeps it a safe file name anyway.
    let path = lock_dir.join(format!("{}.lock", hex_name(cluster)));
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| StateError::Io {
            path: path.display().to_string(),
            source,
        })?;
    Ok((file, path))
}

fn hex_name(name: &str) -> String {
    name.bytes().map(|b| format!("{b:02x}")).collect()
}
