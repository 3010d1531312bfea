//! Reaching a node: run a script there and copy files to it.
//!
//! One mechanism for every kind of node: a script is written to the standard input of
//! `bash -s`, locally (the `local` provider's nodes are folders on this machine) or
//! through `ssh` (OpenSSH with ControlMaster multiplexing). Environment variables go
//! inside the script, never on a command line, so secrets do not show up in `ps`.
//! Output (stdout and stderr merged) streams to a writer as it comes.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use thiserror::Error;

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

    /// The full text fed to `bash -s`.
    fn render(&self) -> String {
        let mut text = String::from("exec 2>&1\n");
        for (key, value) in &self.env {
            text.push_str(&format!("export {key}={}\n", quote(value)));
        }
        if let Some(cwd) = &self.cwd {
            let cwd = quote(cwd);
            text.push_str(&format!("mkdir -p {cwd} && cd {cwd} || exit 1\n"));
        }
        // The body runs in a subshell-free block so `exit` in it sets our status.
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

    /// Runs `script`, streaming its merged output to `out`; returns the exit code.
    fn run(&self, script: &Script, out: &mut dyn Write) -> Result<i32, NodeError>;

    /// Copies a local file or folder to `remote` (relative to the node's home). With
    /// `gitignore`, files matched by `.gitignore` files are skipped.
    fn upload(&self, local: &Path, remote: &str, gitignore: bool) -> Result<(), NodeError>;
}

/// Feeds `script` to `command`'s stdin and streams its stdout to `out`.
fn run_with_stdin(
    mut command: Command,
    program: &str,
    script: &Script,
    out: &mut dyn Write,
) -> Result<(Option<i32>, Vec<u8>), NodeError> {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().map_err(|source| NodeError::Spawn {
        program: program.to_string(),
        source,
    })?;
    let text = script.render();
    let mut stdin = child.stdin.take();
    // Write the script from a thread: a script larger than the pipe buffer would
    // otherwise deadlock against a child that is already producing output.
    let writer = std::thread::spawn(move || {
        if let Some(stdin) = stdin.as_mut() {
            // A child that exits early closes the pipe; its exit code tells the story.
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
    if let Some(stdout) = child.stdout.take() {
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
    let status = child.wait().map_err(|source| NodeError::Io {
        context: format!("waiting for `{program}`"),
        source,
    })?;
    let _ = writer.join();
    let stderr = errors.join().unwrap_or_default();
    Ok((status.code(), stderr))
}

/// A node that is a folder on this machine (the `local` provider).
#[derive(Debug, Clone)]
pub struct LocalNode {
    home: PathBuf,
}

impl LocalNode {
    /// A node whose home is `home` (created when first used).
    pub fn new(home: impl Into<PathBuf>) -> Self {
        LocalNode { home: home.into() }
    }

    /// The node's home folder.
    pub fn home(&self) -> &Path {
        &self.home
    }

    fn ensure_home(&self) -> Result<(), NodeError> {
        std::fs::create_dir_all(&self.home).map_err(|source| NodeError::Io {
            context: format!("creating {}", self.home.display()),
            source,
        })
    }
}

impl Node for LocalNode {
    fn describe(&self) -> String {
        self.home.display().to_string()
    }

    fn run(&self, script: &Script, out: &mut dyn Write) -> Result<i32, NodeError> {
        self.ensure_home()?;
        let mut command = Command::new("bash");
        command
            .arg("-s")
            .current_dir(&self.home)
            .env("HOME", &self.home);
        let (code, _) = run_with_stdin(command, "bash", script, out)?;
        code.ok_or_else(|| NodeError::Killed {
            node: self.describe(),
        })
    }

    fn upload(&self, local: &Path, remote: &str, gitignore: bool) -> Result<(), NodeError> {
        self.ensure_home()?;
        let target = self.home.join(remote);
        copy_tree(local, &target, gitignore).map_err(|err| NodeError::Transfer {
            local: local.display().to_string(),
            node: self.describe(),
            remote: remote.to_string(),
            detail: err.to_string(),
        })
    }
}

/// Copies `from` (a file or a folder) to `to`, skipping what `.gitignore` files
/// exclude when `gitignore` is set. `.git` folders are never copied.
fn copy_tree(from: &Path, to: &Path, gitignore: bool) -> std::io::Result<()> {
    if from.is_file() {
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(from, to)?;
        return Ok(());
    }
    let walker = ignore::WalkBuilder::new(from)
        .hidden(false)
        .git_ignore(gitignore)
        .git_global(false)
        .git_exclude(false)
        .ignore(false)
        .parents(false)
        .require_git(false)
        .filter_entry(|entry| entry.file_name() != ".git")
        .build();
    std::fs::create_dir_all(to)?;
    for entry in walker {
        let entry = entry.map_err(std::io::Error::other)?;
        let relative = entry
            .path()
            .strip_prefix(from)
            .map_err(std::io::Error::other)?;
        let target = to.join(relative);
        match entry.file_type() {
            Some(kind) if kind.is_dir() => std::fs::create_dir_all(&target)?,
            Some(kind) if kind.is_file() => {
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::copy(entry.path(), &target)?;
            }
            // Symlinks and special files are skipped, as rsync -a without -L would
            // copy links we cannot resolve safely here.
            _ => {}
        }
    }
    Ok(())
}

/// How to reach a node over SSH.
#[derive(Debug, Clone)]
pub struct SshTarget {
    /// Host name or IP.
    pub host: String,
    /// Port.
    pub port: u16,
    /// User to log in as.
    pub user: String,
    /// Private key file (mode 0600).
    pub identity_file: PathBuf,
    /// Folder for ControlMaster sockets (short path: sockets have a length limit).
    pub control_dir: PathBuf,
    /// A `ProxyCommand` (with `%h`/`%p`), e.g. for a bastion host.
    pub proxy_command: Option<String>,
}

/// A node reached with the OpenSSH client.
#[derive(Debug, Clone)]
pub struct SshNode {
    target: SshTarget,
}

impl SshNode {
    /// A node reached through `target`.
    pub fn new(target: SshTarget) -> Self {
        SshNode { target }
    }

    /// `-o` options shared by ssh and rsync's ssh.
    fn options(&self) -> Vec<String> {
        let t = &self.target;
        let mut opts = vec![
            "-o".into(),
            "BatchMode=yes".into(),
            "-o".into(),
            "StrictHostKeyChecking=no".into(),
            "-o".into(),
            "UserKnownHostsFile=/dev/null".into(),
            "-o".into(),
            "LogLevel=ERROR".into(),
            "-o".into(),
            "IdentitiesOnly=yes".into(),
            "-o".into(),
            "ConnectTimeout=10".into(),
            "-o".into(),
            "ServerAliveInterval=15".into(),
            "-o".into(),
            "ControlMaster=auto".into(),
            "-o".into(),
            format!("ControlPath={}/%C", t.control_dir.display()),
            "-o".into(),
            "ControlPersist=300s".into(),
            "-i".into(),
            t.identity_file.display().to_string(),
            "-p".into(),
            t.port.to_string(),
        ];
        if let Some(proxy) = &t.proxy_command {
            opts.push("-o".into());
            opts.push(format!("ProxyCommand={proxy}"));
        }
        opts
    }

    fn destination(&self) -> String {
        format!("{}@{}", self.target.user, self.target.host)
    }

    fn ensure_control_dir(&self) -> Result<(), NodeError> {
        std::fs::create_dir_all(&self.target.control_dir).map_err(|source| NodeError::Io {
            context: format!("creating {}", self.target.control_dir.display()),
            source,
        })
    }
}

impl Node for SshNode {
    fn describe(&self) -> String {
        format!(
            "{}@{}:{}",
            self.target.user, self.target.host, self.target.port
        )
    }

    fn run(&self, script: &Script, out: &mut dyn Write) -> Result<i32, NodeError> {
        self.ensure_control_dir()?;
        let mut command = Command::new("ssh");
        command
            .args(self.options())
            .arg(self.destination())
            .arg("bash -s");
        let (code, stderr) = run_with_stdin(command, "ssh", script, out)?;
        match code {
            // 255 is ssh's own failure (the remote script's codes pass through).
            Some(255) => Err(NodeError::Unreachable {
                node: self.describe(),
                detail: String::from_utf8_lossy(&stderr).trim().to_string(),
            }),
            Some(code) => Ok(code),
            None => Err(NodeError::Killed {
                node: self.describe(),
            }),
        }
    }

    fn upload(&self, local: &Path, remote: &str, gitignore: bool) -> Result<(), NodeError> {
        self.ensure_control_dir()?;
        let transfer_error = |detail: String| NodeError::Transfer {
            local: local.display().to_string(),
            node: self.describe(),
            remote: remote.to_string(),
            detail,
        };
        // rsync copies "dir/" as the folder's contents.
        let mut source = local.display().to_string();
        if local.is_dir() && !source.ends_with('/') {
            source.push('/');
        }
        let ssh = std::iter::once("ssh".to_string())
            .chain(self.options().into_iter().map(|o| quote(&o)))
            .collect::<Vec<_>>()
            .join(" ");
        let mut command = Command::new("rsync");
        command.args(["-a", "--exclude=.git"]);
        if gitignore {
            command.arg("--filter=:- .gitignore");
        }
        let parent = Path::new(remote)
            .parent()
            .map(|p| p.display().to_string())
            .filter(|p| !p.is_empty());
        if let Some(parent) = parent {
            command.arg(format!("--rsync-path=mkdir -p {} && rsync", quote(&parent)));
        }
        command
            .arg("-e")
            .arg(ssh)
            .arg(source)
            .arg(format!("{}:{remote}", self.destination()))
            .stdin(Stdio::null());
        let output = command.output().map_err(|source| NodeError::Spawn {
            program: "rsync".into(),
            source,
        })?;
        if output.status.success() {
            Ok(())
        } else {
            Err(transfer_error(
                String::from_utf8_lossy(&output.stderr).trim().to_string(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_values_are_quoted_not_interpreted() {
        let dir = tempfile::tempdir().unwrap();
        let node = LocalNode::new(dir.path().join("node"));
        let script = Script {
            body: "printf '%s|' \"$A\" \"$B\"; exit 3".into(),
            env: vec![
                ("A".into(), "it's $(echo no) `x`".into()),
                ("B".into(), "line1\nline2".into()),
            ],
            cwd: Some("work dir".into()),
        };
        let mut out = Vec::new();
        let code = node.run(&script, &mut out).unwrap();
        assert_eq!(code, 3);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "it's $(echo no) `x`|line1\nline2|"
        );
        assert!(dir.path().join("node/work dir").is_dir());
    }

    #[test]
    fn stderr_is_merged_and_home_is_the_node_folder() {
        let dir = tempfile::tempdir().unwrap();
        let node = LocalNode::new(dir.path().join("n0"));
        let mut out = Vec::new();
        let code = node
            .run(&Script::new("echo out; echo err >&2; echo $HOME"), &mut out)
            .unwrap();
        assert_eq!(code, 0);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            format!("out\nerr\n{}\n", dir.path().join("n0").display())
        );
    }

    #[test]
    fn a_large_script_does_not_deadlock() {
        let dir = tempfile::tempdir().unwrap();
        let node = LocalNode::new(dir.path());
        let body = format!("echo start\n: '{}'\necho end", "x".repeat(1 << 20));
        let mut out = Vec::new();
        assert_eq!(node.run(&Script::new(body), &mut out).unwrap(), 0);
        assert_eq!(String::from_utf8(out).unwrap(), "start\nend\n");
    }

    #[test]
    fn upload_honours_gitignore_and_skips_dot_git() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::create_dir_all(src.join(".git")).unwrap();
        std::fs::create_dir_all(src.join("build")).unwrap();
        std::fs::write(src.join(".gitignore"), "build/\n*.log\n").unwrap();
        std::fs::write(src.join("main.py"), "print(1)").unwrap();
        std::fs::write(src.join("sub/data.txt"), "d").unwrap();
        std::fs::write(src.join("sub/run.log"), "l").unwrap();
        std::fs::write(src.join("build/out.bin"), "b").unwrap();
        std::fs::write(src.join(".git/HEAD"), "h").unwrap();
        let node = LocalNode::new(dir.path().join("node"));
        node.upload(&src, "sky_workdir", true).unwrap();
        let dst = dir.path().join("node/sky_workdir");
        assert!(dst.join("main.py").is_file());
        assert!(dst.join("sub/data.txt").is_file());
        assert!(dst.join(".gitignore").is_file());
        assert!(!dst.join("sub/run.log").exists());
        assert!(!dst.join("build").exists());
        assert!(!dst.join(".git").exists());
        // Without gitignore, ignored files come along (but never .git).
        node.upload(&src, "all", false).unwrap();
        assert!(dir.path().join("node/all/sub/run.log").is_file());
        assert!(!dir.path().join("node/all/.git").exists());
    }
}
