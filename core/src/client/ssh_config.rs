//! `ssh CLUSTER`: a host entry per cluster node (`CLUSTER`, `CLUSTER-worker1`, ...)
//! in a file aloft owns (`$ALOFT_HOME/ssh/config`), rewritten from local state
//! whenever clusters change; the user's `~/.ssh/config` only gets one `Include`
//! line, added once by [`Client::install_ssh_include`]. `ssh`, `scp`, `rsync` and
//! VS Code Remote-SSH then reach clusters by name, through each provider's proxy
//! command where it has one, checking each node's host key against the key
//! aloft pinned for its cluster (see [`crate::runtime::node::HostKeys`]).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::launch::NodeAddress;

use super::lifecycle::handle;
use super::{Client, ClientError, ClientResult};

/// What [`Client::install_ssh_include`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IncludeOutcome {
    /// The line was added at the top of this file.
    Added(PathBuf),
    /// The file already had it.
    AlreadyThere(PathBuf),
}

/// What [`Client::ssh_setup`] did, and how `ssh` now reaches each cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshSetup {
    /// The `Include` line's fate in the user's SSH config.
    pub outcome: IncludeOutcome,
    /// aloft's file of host entries, which that line includes.
    pub entries: PathBuf,
    /// How `ssh NAME` reaches each cluster's head.
    pub heads: Vec<(String, super::HeadAccess)>,
}

impl Client {
    /// `aloft ssh-setup`: rewrites aloft's host entries and includes them from
    /// `ssh_config` (by default `~/.ssh/config`), so that `ssh CLUSTER`, `scp`,
    /// `rsync` and VS Code Remote-SSH reach clusters by name.
    pub fn ssh_setup(&self, ssh_config: Option<&Path>) -> ClientResult<SshSetup> {
        let target = match ssh_config {
            Some(path) => path.to_path_buf(),
            None => dirs::home_dir()
                .map(|home| home.join(".ssh").join("config"))
                .ok_or_else(|| ClientError::other("no home folder, so no ~/.ssh/config"))?,
        };
        self.write_ssh_config()?;
        Ok(SshSetup {
            outcome: self.install_ssh_include(&target)?,
            entries: self.ssh_config_path(),
            heads: self.head_access()?,
        })
    }

    /// The file with aloft's host entries.
    pub fn ssh_config_path(&self) -> PathBuf {
        self.home.join("ssh").join("config")
    }

    /// Rewrites aloft's SSH config from local state: one entry per node of every
    /// cluster reached over SSH.
    pub fn write_ssh_config(&self) -> ClientResult<()> {
        let mut text = String::from(
            "# Written by aloft from its local state: edits are lost. One entry per cluster node.\n",
        );
        for record in self.state.clusters()? {
            let Ok(handle) = handle(&record) else {
                continue;
            };
            for (i, node) in handle.nodes.iter().enumerate() {
                let NodeAddress::Ssh {
                    host,
                    port,
                    user,
                    identity_file,
                    proxy_command,
                    host_keys,
                    ..
                } = node
                else {
                    continue;
                };
                let alias = if i == 0 {
                    record.name.clone()
                } else {
                    format!("{}-worker{i}", record.name)
                };
                let _ = writeln!(text, "\nHost {alias}");
                let _ = writeln!(text, "  HostName {host}");
                let _ = writeln!(text, "  Port {port}");
                let _ = writeln!(text, "  User {user}");
                let _ = writeln!(text, "  IdentityFile \"{}\"", identity_file.display());
                let _ = writeln!(text, "  IdentitiesOnly yes");
                // The host keys aloft pinned, under the names it pinned them.
                match host_keys {
                    Some(keys) => {
                        let _ = writeln!(text, "  HostKeyAlias {}", keys.alias);
                        let _ = writeln!(text, "  UserKnownHostsFile \"{}\"", keys.file.display());
                        let strict = if keys.accept_new { "accept-new" } else { "yes" };
                        let _ = writeln!(text, "  StrictHostKeyChecking {strict}");
                        let _ = writeln!(text, "  HashKnownHosts no");
                    }
                    None => {
                        let _ = writeln!(text, "  StrictHostKeyChecking no");
                        let _ = writeln!(text, "  UserKnownHostsFile /dev/null");
                    }
                }
                let _ = writeln!(text, "  LogLevel ERROR");
                if let Some(proxy) = proxy_command {
                    let proxy = expand_host_port(proxy, host, *port);
                    let _ = writeln!(text, "  ProxyCommand {proxy}");
                }
            }
        }
        let path = self.ssh_config_path();
        write_private(&path, &text)
    }

    /// Adds `Include <aloft's file>` at the top of `ssh_config` (the user's
    /// `~/.ssh/config`) unless it is there; nothing else in the file changes.
    pub fn install_ssh_include(&self, ssh_config: &Path) -> ClientResult<IncludeOutcome> {
        let line = format!("Include \"{}\"", self.ssh_config_path().display());
        let current = match std::fs::read_to_string(ssh_config) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => {
                return Err(ClientError::Other(format!("{}: {e}", ssh_config.display())));
            }
        };
        if current.lines().any(|l| l.trim() == line) {
            return Ok(IncludeOutcome::AlreadyThere(ssh_config.to_path_buf()));
        }
        // At the top: an Include after a `Host` line would only apply inside it.
        let text = format!("# Added by aloft: host entries for its clusters.\n{line}\n\n{current}");
        write_private(ssh_config, &text)?;
        Ok(IncludeOutcome::Added(ssh_config.to_path_buf()))
    }
}

/// Fills SSH's `%h` and `%p` in `proxy` with the node's; `%%` (a literal `%` for
/// SSH) and any other token stay as they are, for SSH to expand.
fn expand_host_port(proxy: &str, host: &str, port: u16) -> String {
    let mut out = String::with_capacity(proxy.len());
    let mut chars = proxy.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('h') => out.push_str(host),
            Some('p') => out.push_str(&port.to_string()),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

/// Writes `text` to `path` (mode 0600, folder 0700), through a temporary file so a
/// reader never sees half of it.
fn write_private(path: &Path, text: &str) -> ClientResult<()> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let fail = |e: std::io::Error| ClientError::Other(format!("{}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(fail)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(fail)?;
    file.write_all(text.as_bytes()).map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::expand_host_port;

    #[test]
    fn only_host_and_port_are_filled_in() {
        assert_eq!(
            expand_host_port("nc %h %p", "10.0.0.1", 22),
            "nc 10.0.0.1 22"
        );
        assert_eq!(
            expand_host_port("'/opt/100%%/aloft' kube-proxy --port %p", "x", 2222),
            "'/opt/100%%/aloft' kube-proxy --port 2222"
        );
        assert_eq!(expand_host_port("a %r %", "x", 1), "a %r %");
    }
}
