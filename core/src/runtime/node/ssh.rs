//! Nodes reached with the OpenSSH client (ControlMaster multiplexing, rsync).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Node, NodeError, Running, Script, quote};

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

    /// Starts `script` over ssh; with `pid_file` (relative to the remote home) the
    /// returned [`Running`] is killed remotely, else by stopping the ssh client.
    fn start(&self, script: &Script, pid_file: Option<String>) -> Result<Running, NodeError> {
        self.ensure_control_dir()?;
        let mut command = Command::new("ssh");
        command
            .args(self.options())
            .arg(self.destination())
            .arg("bash -s");
        let text = script.render(pid_file.as_deref());
        let remote = pid_file.map(|file| (self.clone(), file));
        Running::start(command, "ssh", text, self.describe(), true, remote)
    }

    /// Stops the process group whose leader wrote `pid_file` on this node.
    pub(super) fn kill_remote(&self, pid_file: &str) {
        let file = quote(pid_file);
        let script = Script::new(format!(
            "[ -f {file} ] && kill -TERM -- -\"$(cat {file})\" 2>/dev/null; rm -f {file}; true"
        ));
        // Best effort: an unreachable node's processes go down with the node.
        if let Ok(running) = self.start(&script, None) {
            let _ = running.wait(&mut std::io::sink());
        }
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

    fn spawn(&self, script: &Script) -> Result<Running, NodeError> {
        self.start(script, Some(format!(".aloft/pids/{}", unique_token())))
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
        if let Some(prepare) = prepare_target(remote, local.is_dir()) {
            command.arg(format!("--rsync-path={prepare} && rsync"));
        }
        command
            .arg("-e")
            .arg(ssh)
            .arg(source)
            .arg(rsync_destination(
                &self.target.user,
                &self.target.host,
                remote,
            ))
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

/// Shell that makes the folder an upload to `remote` writes into. Under the
/// home it is a `mkdir -p`; an absolute target outside the user's reach (`/data`)
/// is created with passwordless sudo and handed to the login user, as SkyPilot does.
fn prepare_target(remote: &str, is_dir: bool) -> Option<String> {
    let path = Path::new(remote);
    let folder = if is_dir { Some(path) } else { path.parent() }
        .map(|p| p.display().to_string())
        .filter(|p| !p.is_empty() && p != "/")?;
    let folder = quote(&folder);
    Some(if path.is_absolute() {
        format!(
            "{{ mkdir -p {folder} 2>/dev/null || sudo -n mkdir -p {folder}; }} && \
             {{ [ -w {folder} ] || sudo -n chown \"$(id -u):$(id -g)\" {folder}; }}"
        )
    } else {
        format!("mkdir -p {folder}")
    })
}

/// `user@host:remote` for rsync: an IPv6 address is bracketed (`u@[::1]:p`), as
/// rsync splits its argument at the colon; ssh itself takes the bare address.
fn rsync_destination(user: &str, host: &str, remote: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("{user}@[{host}]:{remote}")
    } else {
        format!("{user}@{host}:{remote}")
    }
}

/// A unique name for a remote pid file.
fn unique_token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

#[cfg(test)]
mod tests {
    use super::prepare_target;

    fn run(script: &str, cwd: &std::path::Path) {
        let status = std::process::Command::new("sh")
            .args(["-c", script])
            .current_dir(cwd)
            .status()
            .unwrap();
        assert!(status.success(), "{script}");
    }

    #[test]
    fn absolute_targets_are_prepared_where_they_say_relative_ones_under_home() {
        let home = tempfile::tempdir().unwrap();
        let abs = home.path().join("abs dir/sub");
        let file_target = format!("{}/f.txt", abs.display());
        run(&prepare_target(&file_target, false).unwrap(), home.path());
        assert!(abs.is_dir());
        let dir_target = home.path().join("whole").display().to_string();
        run(&prepare_target(&dir_target, true).unwrap(), home.path());
        assert!(home.path().join("whole").is_dir());
        run(&prepare_target("rel/f.txt", false).unwrap(), home.path());
        assert!(home.path().join("rel").is_dir());
        // A file at the top of the home or of `/` needs no folder made.
        assert_eq!(prepare_target("f.txt", false), None);
        assert_eq!(prepare_target("/f.txt", false), None);
    }

    #[test]
    fn rsync_gets_ipv6_hosts_in_brackets() {
        use super::rsync_destination as dest;
        assert_eq!(dest("u", "::1", "x/y"), "u@[::1]:x/y");
        assert_eq!(dest("u", "2600:1f18::7", "/d"), "u@[2600:1f18::7]:/d");
        assert_eq!(dest("u", "[::1]", "p"), "u@[::1]:p");
        assert_eq!(dest("u", "10.0.0.1", "p"), "u@10.0.0.1:p");
        assert_eq!(dest("u", "node.example", "p"), "u@node.example:p");
    }
}
