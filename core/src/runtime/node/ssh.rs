//! Nodes reached with the OpenSSH client (ControlMaster multiplexing, rsync).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use super::forward::Forward;
use super::{Node, NodeError, Running, Script, quote};

/// Where a node's SSH host key is pinned: its cluster's own `known_hosts` file.
///
/// The launcher trusts a node's key on first use (`StrictHostKeyChecking
/// accept-new`) and refuses any other key at that name afterwards; a node its
/// provider gave the cluster's own host key at creation is pinned to that key
/// before the first connection ([`HostKeys::pinned`]). Every key is
/// filed under [`HostKeys::alias`], `[host]:port` as the launcher reaches the node
/// (`HostKeyAlias`), not under the address ssh dials: the head reaches its workers
/// at other addresses (private IPs, pod IPs), so it gets a copy of the launcher's
/// file and checks its workers against the launcher's entries, adding none (see
/// [`HostKeys::on_head`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostKeys {
    /// The cluster the node belongs to (named in errors).
    pub cluster: String,
    /// The `known_hosts` file.
    pub file: PathBuf,
    /// The name the node's key is filed under.
    pub alias: String,
    /// A node not in the file yet is trusted on first use (the launcher); without,
    /// it is refused (the head).
    #[serde(default)]
    pub accept_new: bool,
}

impl HostKeys {
    /// The launcher's pin of `cluster`'s node at `host:port`, in `file`.
    pub fn first_use(cluster: &str, file: &Path, host: &str, port: u16) -> HostKeys {
        HostKeys {
            cluster: cluster.to_string(),
            file: file.to_path_buf(),
            alias: format!("[{host}]:{port}"),
            accept_new: true,
        }
    }

    /// The same pin with the key filed before the first connection (the cluster's
    /// own host key, which the node was given at creation): no key is trusted on
    /// first use.
    pub fn pinned(self) -> HostKeys {
        HostKeys {
            accept_new: false,
            ..self
        }
    }

    /// The same pin checked on the head against its copy of the file at `file`
    /// (relative to the head's home): a node the launcher never saw is refused.
    pub fn on_head(&self, file: &Path) -> HostKeys {
        HostKeys {
            file: file.to_path_buf(),
            accept_new: false,
            ..self.clone()
        }
    }

    /// `-o` values that make ssh check the node's key against the file.
    fn ssh_options(&self) -> [String; 4] {
        let strict = if self.accept_new { "accept-new" } else { "yes" };
        [
            format!("StrictHostKeyChecking={strict}"),
            // Quoted: ssh splits an option's value at spaces.
            format!("UserKnownHostsFile=\"{}\"", self.file.display()),
            format!("HostKeyAlias={}", self.alias),
            // Plain names: aloft drops entries by name (see `cluster_key`).
            "HashKnownHosts=no".into(),
        ]
    }

    /// The refusal ssh's `stderr` reports, if it refused the node's host key.
    pub(super) fn refusal(&self, node: &str, stderr: &str) -> Option<NodeError> {
        const SIGNS: [&str; 2] = [
            "REMOTE HOST IDENTIFICATION HAS CHANGED",
            "Host key verification failed",
        ];
        SIGNS
            .iter()
            .any(|sign| stderr.contains(sign))
            .then(|| NodeError::HostKeyChanged {
                node: node.to_string(),
                cluster: self.cluster.clone(),
                file: self.file.display().to_string(),
                detail: stderr.trim().to_string(),
            })
    }
}

/// The tag of the launcher's shared connections to nodes pinned in `known_hosts`.
fn pin_tag_of(known_hosts: &Path) -> String {
    // FNV-1a: stable across builds, and short (socket paths are limited).
    let hash = (known_hosts.as_os_str().as_encoded_bytes().iter())
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        });
    format!("-{:08x}", hash as u32)
}

/// Closes the launcher's shared connections (in `control_dir`) to the nodes pinned
/// in `known_hosts`, when that file goes with its cluster: a cluster of the same
/// name launched again on the same hosts must open (and so check and pin) its own,
/// not reuse one that a file no longer backs. Best effort: a socket that does not
/// answer is left to expire.
pub fn close_shared_connections(control_dir: &Path, known_hosts: &Path) {
    let tag = pin_tag_of(known_hosts);
    let Ok(entries) = std::fs::read_dir(control_dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().ends_with(&tag) {
            let _ = Command::new("ssh")
                .args(["-o", "BatchMode=yes", "-O", "exit", "-S"])
                .arg(entry.path())
                .arg("aloft-node")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
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
    /// Where the node's host key is pinned; `None`: not checked (nodes recorded
    /// before aloft pinned host keys, until their cluster is started again).
    pub host_keys: Option<HostKeys>,
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
        self.options_with(true)
    }

    /// The options; `shared`: through the launcher's shared connection to the
    /// node (ControlMaster), else over a connection of its own.
    fn options_with(&self, shared: bool) -> Vec<String> {
        let t = &self.target;
        let checks = match &t.host_keys {
            Some(keys) => keys.ssh_options().to_vec(),
            None => vec![
                "StrictHostKeyChecking=no".into(),
                "UserKnownHostsFile=/dev/null".into(),
            ],
        };
        let mut opts: Vec<String> = checks
            .into_iter()
            .flat_map(|o| ["-o".to_string(), o])
            .collect();
        opts.extend([
            "-o".into(),
            "BatchMode=yes".into(),
            "-o".into(),
            "LogLevel=ERROR".into(),
            "-o".into(),
            "IdentitiesOnly=yes".into(),
            "-o".into(),
            "ConnectTimeout=10".into(),
            "-o".into(),
            "ServerAliveInterval=15".into(),
        ]);
        if shared {
            opts.extend([
                "-o".into(),
                "ControlMaster=auto".into(),
                "-o".into(),
                format!(
                    "ControlPath={}/%C{}",
                    t.control_dir.display(),
                    self.pin_tag()
                ),
                "-o".into(),
                "ControlPersist=300s".into(),
            ]);
        } else {
            opts.extend(["-o".into(), "ControlPath=none".into()]);
        }
        opts.extend([
            "-i".into(),
            t.identity_file.display().to_string(),
            "-p".into(),
            t.port.to_string(),
        ]);
        if let Some(proxy) = &t.proxy_command {
            opts.push("-o".into());
            opts.push(format!("ProxyCommand={proxy}"));
        }
        opts
    }

    /// Tells apart the launcher's shared connections of nodes pinned in different
    /// files: a connection is checked once, when opened, so a new cluster on a
    /// host that another cluster still has a connection to must open its own,
    /// checking (and pinning) the host's key in its own file. Empty elsewhere: a
    /// head's sockets are its own, and their paths are already long.
    fn pin_tag(&self) -> String {
        match self.target.host_keys.as_ref().filter(|k| k.accept_new) {
            Some(keys) => pin_tag_of(&keys.file),
            None => String::new(),
        }
    }

    /// Forwards a free loopback port here to `remote_port` on the node's
    /// loopback, over a connection of its own (see [`Forward`]).
    pub fn forward(&self, remote_port: u16) -> Result<Forward, NodeError> {
        self.ensure_control_dir()?;
        let mut args = self.options_with(false);
        args.push(self.destination());
        Forward::start(args, remote_port, &self.describe())
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
        let mut running = Running::start(command, "ssh", text, self.describe(), true, remote)?;
        running.host_keys = self.target.host_keys.clone();
        Ok(running)
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

    /// Makes the folders ssh writes into: the control sockets', and the
    /// `known_hosts` file's (ssh pins nothing where it cannot write).
    fn ensure_control_dir(&self) -> Result<(), NodeError> {
        let known_hosts = (self.target.host_keys.as_ref())
            .filter(|keys| keys.accept_new)
            .and_then(|keys| keys.file.parent());
        for dir in std::iter::once(self.target.control_dir.as_path()).chain(known_hosts) {
            std::fs::create_dir_all(dir).map_err(|source| NodeError::Io {
                context: format!("creating {}", dir.display()),
                source,
            })?;
        }
        Ok(())
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
        match super::skyignore(local).filter(|_| gitignore) {
            // SkyPilot's rule: a `.skyignore` at the top replaces `.gitignore`.
            Some(skyignore) => {
                command.arg(format!("--exclude-from={}", skyignore.display()));
            }
            None if gitignore => {
                command.arg("--filter=:- .gitignore");
            }
            None => {}
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
        let stderr = String::from_utf8_lossy(&output.stderr);
        if output.status.success() {
            Ok(())
        } else if let Some(refused) = (self.target.host_keys.as_ref())
            .and_then(|keys| keys.refusal(&self.describe(), &stderr))
        {
            Err(refused)
        } else {
            Err(transfer_error(stderr.trim().to_string()))
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
