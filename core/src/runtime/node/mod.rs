//! Reaching a node: run a script there and copy files to it.
//!
//! One mechanism for every kind of node: a script is written to the standard input of
//! `bash -s`, locally ([`LocalNode`]: the `local` provider's nodes are folders on this
//! machine) or through `ssh` ([`SshNode`]: OpenSSH with ControlMaster multiplexing).
//! Environment variables go inside the script, never on a command line, so secrets do
//! not show up in `ps`. Output (stdout and stderr merged) streams as it comes, and a
//! [`Killer`] stops a script and everything it started, from any thread.

mod forward;
mod local;
mod ssh;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use thiserror::Error;

pub use forward::Forward;
pub use local::LocalNode;
pub use ssh::{HostKeys, SshNode, SshTarget, close_shared_connections};

/// Why a node could not be reached or a transfer failed. A script that ran and
/// exited non-zero is not an error: its exit code is returned.
#[derive(Debug, Error)]
pub enum NodeError {
    /// A local program (`bash`, `ssh`, `rsync`) could not be started.
    #[error("cannot start `{program}`: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Reading output or writing the script failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `ssh` could not connect or authenticate (exit code 255).
    #[error("cannot reach {node} over SSH: {detail}")]
    Unreachable {
        /// `user@host:port`.
        node: String,
        /// What ssh said.
        detail: String,
    },
    /// The node's sshd refuses the key aloft logs in with (`Permission denied
    /// (publickey)`), and kept refusing it for a while after boot (a cloud may put
    /// the key on a fresh node only after its sshd started): waiting longer would
    /// not help. The provider did not authorize the cluster's public key
    /// (`run-request`'s `ssh-public-key`) for the user it returned.
    #[error(
        "{node} refuses the SSH key aloft logs in with (refused for {seconds} s without a \
         break, so waiting longer will not help); a provider must authorize run-request's \
         ssh-public-key for the user it returns, on every node. ssh said: {detail}"
    )]
    KeyRefused {
        /// `user@host:port`.
        node: String,
        /// How long it was refused without a break.
        seconds: u64,
        /// What ssh said.
        detail: String,
    },
    /// The node answered with a host key other than the one pinned for its cluster
    /// (or, on the head, one the launcher never saw): ssh refused it, so nothing
    /// was sent to it.
    #[error(
        "refusing {node} of cluster `{cluster}`: its SSH host key changed (it is not the key \
         pinned in {file}), so another machine may be answering at its address; nothing was \
         sent to it. If the node was really replaced, delete its line from that file. \
         ssh said: {detail}"
    )]
    HostKeyChanged {
        /// `user@host:port`.
        node: String,
        /// Its cluster.
        cluster: String,
        /// The `known_hosts` file holding the pinned key.
        file: String,
        /// What ssh said.
        detail: String,
    },
    /// A file transfer failed.
    #[error("copying {local} to {node}:{remote} failed: {detail}")]
    Transfer {
        /// Local path.
        local: String,
        /// Node.
        node: String,
        /// Remote path.
        remote: String,
        /// What went wrong.
        detail: String,
    },
    /// The process was killed by a signal.
    #[error("the command on {node} was killed by a signal")]
    Killed {
        /// Node.
        node: String,
    },
    /// A command aloft runs on the node failed.
    #[error("{what} on {node} failed (exit {code}): {output}")]
    Failed {
        /// Node.
        node: String,
        /// What the command was for.
        what: String,
        /// Its exit code.
        code: i32,
        /// Its output (merged stdout and stderr).
        output: String,
    },
}

impl NodeError {
    /// Whether ssh got to the node and was refused the key it logged in with (as
    /// opposed to not reaching it at all: refused or timed-out connections, a node
    /// still booting).
    pub fn is_key_refusal(&self) -> bool {
        match self {
            NodeError::Unreachable { detail, .. } => {
                detail.contains("Permission denied (")
                    || detail.contains("Too many authentication failures")
            }
            NodeError::KeyRefused { .. } => true,
            _ => false,
        }
    }
}

/// A script to run on a node.
#[derive(Debug, Clone, Default)]
pub struct Script {
    /// Bash source.
    pub body: String,
    /// Environment variables, exported before the body runs.
    pub env: Vec<(String, String)>,
    /// Folder to run in, relative to the node's home (created if missing).
    pub cwd: Option<String>,
}

impl Script {
    /// A script with only a body.
    pub fn new(body: impl Into<String>) -> Self {
        Script {
            body: body.into(),
            ..Script::default()
        }
    }

    /// The full text fed to `bash -s`. With `pid_file`, the shell first records its
    /// pid (the leader of its process group) so that [`Killer`] can stop it remotely.
    pub(crate) fn render(&self, pid_file: Option<&str>) -> String {
        let mut text = String::from("exec 2>&1\n");
        if let Some(file) = pid_file {
            let file = quote(file);
            text.push_str(&format!(
                "mkdir -p \"$(dirname {file})\" && echo $$ > {file}\ntrap 'rm -f {file}' EXIT\n"
            ));
        }
        for (key, value) in &self.env {
            text.push_str(&format!("export {key}={}\n", quote(value)));
        }
        if let Some(cwd) = &self.cwd {
            let cwd = quote(cwd);
            text.push_str(&format!("mkdir -p {cwd} && cd {cwd} || exit 1\n"));
        }
        text.push_str(&self.body);
        text.push('\n');
        text
    }
}

/// Shell-quotes a value for bash.
fn quote(value: &str) -> String {
    shlex::try_quote(value)
        .map(|q| q.into_owned())
        // Only a NUL byte makes quoting fail; it cannot be passed to a process anyway.
        .unwrap_or_else(|_| "''".to_string())
}

/// A node of a cluster.
pub trait Node: Send + Sync {
    /// A short name for messages (`user@host:port`, or the local folder).
    fn describe(&self) -> String;

    /// Starts `script`; read its output and exit code with [`Running::wait`].
    fn spawn(&self, script: &Script) -> Result<Running, NodeError>;

    /// Runs `script`, streaming its merged output to `out`; returns the exit code.
    fn run(&self, script: &Script, out: &mut dyn Write) -> Result<i32, NodeError> {
        self.spawn(script)?.wait(out)
    }

    /// Copies a local file or folder to `remote` (relative to the node's home). With
    /// `gitignore`, files the folder's ignore files match are skipped: its
    /// top-level `.skyignore` when it has one (SkyPilot's rule), else its
    /// `.gitignore` files.
    fn upload(&self, local: &Path, remote: &str, gitignore: bool) -> Result<(), NodeError>;
}

/// Stops a running script and everything it started, from any thread.
#[derive(Debug, Clone)]
pub struct Killer {
    how: KillHow,
    /// The script has ended: nothing to kill (and its pid may be reused).
    done: Arc<AtomicBool>,
    /// `kill` was called: the script's end is reported as killed.
    fired: Arc<AtomicBool>,
}

#[derive(Debug, Clone)]
enum KillHow {
    /// A process group on this machine.
    Group(i32),
    /// A process group on an SSH node whose leader wrote its pid to `pid_file`.
    Remote {
        node: Box<SshNode>,
        pid_file: String,
    },
}

impl Killer {
    fn new(how: KillHow) -> Self {
        Killer {
            how,
            done: Arc::new(AtomicBool::new(false)),
            fired: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Sends SIGTERM to the script's process group (nothing once it has exited).
    pub fn kill(&self) {
        if self.done.load(Ordering::SeqCst) {
            return;
        }
        self.fired.store(true, Ordering::SeqCst);
        match &self.how {
            KillHow::Group(pgid) => {
                // ESRCH (already gone) is fine: there is nothing left to stop.
                let _ = killpg(Pid::from_raw(*pgid), Signal::SIGTERM);
            }
            KillHow::Remote { node, pid_file } => node.kill_remote(pid_file),
        }
    }
}

/// A script started on a node.
#[derive(Debug)]
pub struct Running {
    child: Child,
    writer: Option<JoinHandle<()>>,
    errors: Option<JoinHandle<Vec<u8>>>,
    killer: Killer,
    node: String,
    /// `ssh` exits 255 for its own failures; other programs do not.
    via_ssh: bool,
    /// Where the node's host key is pinned (ssh's refusal of it is told apart).
    host_keys: Option<ssh::HostKeys>,
}

impl Running {
    /// Starts `command` (a shell reading `text` on stdin) in its own process group.
    fn start(
        mut command: Command,
        program: &str,
        text: String,
        node: String,
        via_ssh: bool,
        remote: Option<(SshNode, String)>,
    ) -> Result<Running, NodeError> {
        use std::os::unix::process::CommandExt;
        command
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().map_err(|source| NodeError::Spawn {
            program: program.to_string(),
            source,
        })?;
        let mut stdin = child.stdin.take();
        // Write the script from a thread: a script larger than the pipe buffer would
        // otherwise deadlock against a child that is already producing output.
        let writer = std::thread::spawn(move || {
            if let Some(stdin) = stdin.as_mut() {
                // A child that exits early closes the pipe; its exit code tells.
                let _ = stdin.write_all(text.as_bytes());
            }
        });
        let mut stderr = child.stderr.take();
        let errors = std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(stderr) = stderr.as_mut() {
                let _ = std::io::Read::read_to_end(stderr, &mut buf);
            }
            buf
        });
        let how = match remote {
            Some((node, pid_file)) => KillHow::Remote {
                node: Box::new(node),
                pid_file,
            },
            None => KillHow::Group(child.id() as i32),
        };
        Ok(Running {
            child,
            writer: Some(writer),
            errors: Some(errors),
            killer: Killer::new(how),
            node,
            via_ssh,
            host_keys: None,
        })
    }

    /// A handle that stops the script from another thread.
    pub fn killer(&self) -> Killer {
        self.killer.clone()
    }

    /// Streams the merged output to `out` until the script ends; returns its exit
    /// code.
    pub fn wait(mut self, out: &mut dyn Write) -> Result<i32, NodeError> {
        let result = self.pump(out);
        self.killer.done.store(true, Ordering::SeqCst);
        result
    }

    fn pump(&mut self, out: &mut dyn Write) -> Result<i32, NodeError> {
        if let Some(stdout) = self.child.stdout.take() {
            let mut reader = BufReader::new(stdout);
            let mut line = Vec::new();
            loop {
                line.clear();
                let read = reader
                    .read_until(b'\n', &mut line)
                    .map_err(|source| NodeError::Io {
                        context: "reading the command's output".into(),
                        source,
                    })?;
                if read == 0 {
                    break;
                }
                out.write_all(&line)
                    .and_then(|()| out.flush())
                    .map_err(|source| NodeError::Io {
                        context: "writing the command's output".into(),
                        source,
                    })?;
            }
        }
        let status = self.child.wait().map_err(|source| NodeError::Io {
            context: format!("waiting for the command on {}", self.node),
            source,
        })?;
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
        let stderr = self
            .errors
            .take()
            .and_then(|e| e.join().ok())
            .unwrap_or_default();
        if self.killer.fired.load(Ordering::SeqCst) && !status.success() {
            return Err(NodeError::Killed {
                node: self.node.clone(),
            });
        }
        match status.code() {
            Some(255) if self.via_ssh => {
                let detail = String::from_utf8_lossy(&stderr);
                Err((self.host_keys.as_ref())
                    .and_then(|keys| keys.refusal(&self.node, &detail))
                    .unwrap_or_else(|| NodeError::Unreachable {
                        node: self.node.clone(),
                        detail: detail.trim().to_string(),
                    }))
            }
            Some(code) => Ok(code),
            None => Err(NodeError::Killed {
                node: self.node.clone(),
            }),
        }
    }
}

/// The `.skyignore` at the top of `folder`, when there is one: it replaces
/// `.gitignore` for what an upload skips, as in SkyPilot.
pub(crate) fn skyignore(folder: &Path) -> Option<std::path::PathBuf> {
    let path = folder.join(".skyignore");
    (folder.is_dir() && path.is_file()).then_some(path)
}
