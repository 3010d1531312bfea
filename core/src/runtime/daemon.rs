//! Running the agent as a daemon on the head node: start it once, stop it (and its
//! jobs) on teardown. The same functions serve a `local` cluster (called by the
//! launcher) and a remote head (called by `aloft agent init|stop` there).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::agent::{self, AgentError, AgentPaths, AutostopSpec, ClusterSpec, unix_now};
use super::queue::JobQueue;

/// Starts `aloft agent run` in `paths` unless one already runs; the agent
/// outlives this process (its own process group) and logs to `agent.log`.
pub fn start_local_agent(binary: &Path, paths: &AgentPaths) -> Result<(), AgentError> {
    if running_pid(paths).is_some() {
        return Ok(());
    }
    let pid_file = paths.root().join("agent.pid");
    let log_path = paths.root().join("agent.log");
    let file_error = |path: &Path, e: std::io::Error| AgentError::File {
        path: path.display().to_string(),
        detail: e.to_string(),
    };
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| file_error(&log_path, e))?;
    let err_log = log.try_clone().map_err(|e| file_error(&log_path, e))?;
    use std::os::unix::process::CommandExt;
    let child = Command::new(binary)
        .arg("agent")
        .arg("--root")
        .arg(paths.root())
        .args(["run", "--poll-ms", "50"])
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err_log)
        .process_group(0)
        .spawn()
        .map_err(|e| file_error(binary, e))?;
    std::fs::write(&pid_file, child.id().to_string()).map_err(|e| file_error(&pid_file, e))
}

/// Stops the agent in `paths`, if it runs (its running jobs keep running: see
/// [`shutdown`]).
pub fn stop_local_agent(paths: &AgentPaths) {
    let pid_file = paths.root().join("agent.pid");
    if let Some(pid) = running_pid(paths) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    let _ = std::fs::remove_file(pid_file);
}

/// The pid of the agent in `paths`, when it runs.
pub fn running_pid(paths: &AgentPaths) -> Option<i32> {
    let text = std::fs::read_to_string(paths.root().join("agent.pid")).ok()?;
    let pid = text.trim().parse::<i32>().ok()?;
    alive(pid).then_some(pid)
}

fn alive(pid: i32) -> bool {
    pid > 0 && nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok() && !zombie(pid)
}

/// Whether `pid` has exited and waits for its parent to reap it (an agent whose
/// launcher is gone, under an init that does not reap): it does not run. Read
/// from Linux's `/proc`; elsewhere never.
fn zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z'))
    })
}

/// Writes the cluster description (and autostop) and starts the agent: everything a
/// head needs after its files are in place.
pub fn install(
    binary: &Path,
    paths: &AgentPaths,
    spec: &ClusterSpec,
    autostop: Option<&AutostopSpec>,
) -> Result<(), AgentError> {
    agent::write_cluster_spec(paths, spec)?;
    if autostop.is_some() {
        agent::set_autostop(paths, autostop)?;
    }
    start_local_agent(binary, paths)
}

/// How long a shutdown waits for the agent to stop the cluster's jobs.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Cancels every unfinished job, gives the agent a while to stop them on every
/// node, then stops the agent and removes its stop kit: what tearing down a cluster
/// whose machines live on (an on-prem pool) must do so that nothing keeps running
/// there.
pub fn shutdown(paths: &AgentPaths) -> Result<(), AgentError> {
    if paths.queue_db().exists() && running_pid(paths).is_some() {
        let queue = JobQueue::open(&paths.queue_db())?;
        for job in queue.jobs(true)? {
            queue.request_cancel(job.id, unix_now())?;
        }
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        while Instant::now() < deadline && !queue.jobs(true)?.is_empty() {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    stop_local_agent(paths);
    // Stopped or torn down by the launcher: no credentials stay on the disk.
    super::stop_kit::remove_kit(paths.root());
    Ok(())
}
