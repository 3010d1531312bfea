//! Controller processes on this machine (managed jobs, services): each holds a
//! lock in aloft's home while it runs, and commands that need one start it.
//!
//! Commands that start a controller take turns on its spawn lock and hold it
//! until their controller holds the main lock, so two commands at once never
//! start two controllers; a controller going idle takes the same spawn lock
//! before it lets go, so it never misses work added meanwhile.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::roles::Role;

use super::{Client, ClientError, ClientResult};

/// How long a starting controller waits for the lock a just-killed one still holds.
const LOCK_GRACE: Duration = Duration::from_secs(3);

/// How long a command that started a controller waits for it to take its lock.
const CONTROLLER_START: Duration = Duration::from_secs(20);

/// One kind of controller process.
pub(crate) struct ControllerProcess {
    /// What the program is asked to play.
    pub role: Role,
    /// Held by the running controller.
    pub lock: PathBuf,
    /// Held by a command from its check until the one it started holds `lock`.
    pub spawn_lock: PathBuf,
    /// Its stdout and stderr.
    pub log: PathBuf,
}

impl Client {
    /// Starts the controller unless one runs; it outlives this call and exits
    /// when idle.
    pub(crate) fn ensure_controller(&self, process: &ControllerProcess) -> ClientResult<()> {
        let spawning = open_lock(&process.spawn_lock)?;
        spawning.lock().map_err(ClientError::other)?;
        if lock_held(&process.lock)? {
            return Ok(());
        }
        let log_path = &process.log;
        let log = File::options()
            .create(true)
            .append(true)
            .open(log_path)
            .map_err(|e| ClientError::Other(format!("{}: {e}", log_path.display())))?;
        let err = log.try_clone().map_err(ClientError::other)?;
        let line = process.role.command_line(&self.agent_binary);
        use std::os::unix::process::CommandExt;
        let mut child = std::process::Command::new(&line[0])
            .args(&line[1..])
            .current_dir(&self.home)
            .stdin(std::process::Stdio::null())
            .stdout(log)
            .stderr(err)
            .process_group(0)
            .spawn()
            .map_err(|e| ClientError::Other(format!("cannot start a controller: {e}")))?;
        let deadline = Instant::now() + CONTROLLER_START;
        while Instant::now() < deadline {
            if lock_held(&process.lock)? {
                return Ok(());
            }
            if let Some(exit) = child.try_wait().map_err(ClientError::other)? {
                if exit.success() {
                    return Ok(());
                }
                return Err(ClientError::Other(format!(
                    "the controller exited at its start ({exit}); see {}",
                    log_path.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Slow to open, not failed: it takes the lock when it gets there.
        Ok(())
    }
}

/// Whether someone holds the lock at `path` (probing takes it for a moment,
/// which a controller starting right then waits out).
pub(crate) fn lock_held(path: &Path) -> ClientResult<bool> {
    Ok(open_lock(path)?.try_lock().is_err())
}

/// Takes a controller's main lock, waiting [`LOCK_GRACE`] for one a just-killed
/// controller (or a command's probe) still holds; `None` when another controller
/// holds it.
pub(crate) fn take_controller_lock(path: &Path) -> ClientResult<Option<File>> {
    let lock = open_lock(path)?;
    // A controller killed a moment ago keeps its lock until the kernel has torn
    // the process down (a wasmtime host unmaps large reservations first).
    let deadline = Instant::now() + LOCK_GRACE;
    while lock.try_lock().is_err() {
        if Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(Some(lock))
}

/// Opens (creating) a lock file.
pub(crate) fn open_lock(path: &Path) -> ClientResult<File> {
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| ClientError::Other(format!("{}: {e}", path.display())))
}
