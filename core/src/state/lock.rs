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

/// Who holds a cluster's lock, as the holder wrote it into the lock file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockHolder {
    /// The holder's process id.
    pub pid: u32,
    /// Since when (Unix seconds).
    pub since: i64,
    /// What it is doing (`launch`, `down`, ...).
    pub command: String,
}

impl std::fmt::Display for LockHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ago = (crate::runtime::agent::unix_now() - self.since).max(0);
        write!(
            f,
            "`aloft {}` (pid {}) holds it since {ago} s ago",
            self.command, self.pid
        )
    }
}

impl ClusterLock {
    /// Takes the lock for `cluster` under `lock_dir`, failing at once with
    /// [`StateError::Busy`] when another process holds it, and with
    /// [`StateError::BadName`] for a name [`super::validate_cluster_name`] refuses.
    pub fn try_acquire(lock_dir: &Path, cluster: &str) -> Result<ClusterLock, StateError> {
        Self::acquire_as(lock_dir, cluster, "(unnamed)", false, &mut |_| {})
    }

    /// Takes the lock for `cluster`, waiting for another process to release it
    /// ([`StateError::BadName`] for an invalid name).
    pub fn acquire(lock_dir: &Path, cluster: &str) -> Result<ClusterLock, StateError> {
        Self::acquire_as(lock_dir, cluster, "(unnamed)", true, &mut |_| {})
    }

    /// Takes the lock for `cluster` on behalf of `command` (recorded in the lock
    /// file for others to see). When another process holds it: with `wait`,
    /// `on_wait` hears who (when known) and the call waits; without, it fails at
    /// once with [`StateError::Busy`].
    pub fn acquire_as(
        lock_dir: &Path,
        cluster: &str,
        command: &str,
        wait: bool,
        on_wait: &mut dyn FnMut(Option<&LockHolder>),
    ) -> Result<ClusterLock, StateError> {
        let (mut file, path) = open(lock_dir, cluster)?;
        let io = |source| StateError::Io {
            path: path.display().to_string(),
            source,
        };
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) if wait => {
                on_wait(read_holder(&path).as_ref());
                file.lock().map_err(io)?;
            }
            Err(TryLockError::WouldBlock) => {
                return Err(match read_holder(&path) {
                    Some(holder) => StateError::Held {
                        cluster: cluster.to_string(),
                        holder,
                    },
                    None => StateError::Busy(cluster.to_string()),
                });
            }
            Err(TryLockError::Error(source)) => return Err(io(source)),
        }
        use std::io::{Seek, Write};
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        write!(
            file,
            "{}\n{}\n{command}\n",
            std::process::id(),
            crate::runtime::agent::unix_now()
        )
        .map_err(io)?;
        Ok(ClusterLock { _file: file, path })
    }

    /// Who holds `cluster`'s lock now, when someone does and said so.
    pub fn holder(lock_dir: &Path, cluster: &str) -> Option<LockHolder> {
        let (file, path) = open(lock_dir, cluster).ok()?;
        match file.try_lock() {
            Ok(()) => None,
            Err(_) => read_holder(&path),
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn read_holder(path: &Path) -> Option<LockHolder> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut lines = text.lines();
    Some(LockHolder {
        pid: lines.next()?.trim().parse().ok()?,
        since: lines.next()?.trim().parse().ok()?,
        command: lines.next()?.trim().to_string(),
    })
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
