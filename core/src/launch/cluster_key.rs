//! Each cluster's own SSH key pair, under `$ALOFT_HOME/keys/clusters/NAME`.
//!
//! A new cluster gets its key before the provider is asked for nodes: the
//! provider's run-request carries its public key, the launcher reaches the nodes
//! with it, and the head gets only that private key (to reach its workers), never
//! the user's `$ALOFT_HOME/keys/aloft-key`. A leaked head key opens one cluster.
//!
//! Nodes the user brought (SSH node pools) are first reached with the pool's
//! `identity_file` (even when that is aloft's own key): that key only adopts the
//! host, authorizing the cluster key there (the `authorized_keys` line carries the
//! marker `aloft-cluster:NAME`); every later connection uses the cluster key.
//! `down` takes that line and the head's copy of the key off the hosts
//! ([`release_hosts`]) and deletes the key here ([`forget`]).
//!
//! Clusters recorded before keys were per cluster name the user's key in their
//! node addresses: they keep it (start, exec, `ssh`) until they are torn down; a
//! new cluster of the same name then gets a key of its own.
//!
//! Beside the key, [`known_hosts`] pins the host keys of the cluster's nodes:
//! trusted on first use, refused when they change (see
//! [`crate::runtime::node::HostKeys`]); `down` deletes it with the key. A `start`
//! keeps the entries of nodes that kept their address and instance id
//! ([`keep_known_hosts`]): a node at a new address is a new first use, and one
//! address answered by another instance than before is trusted anew. The same
//! instance at the same address answering with a new key is refused, as a
//! changed key is: a cloud image that makes new host keys at every boot needs
//! its line deleted by hand.

use std::path::{Path, PathBuf};

use crate::runtime::address::NodeAddress;
use crate::runtime::head::{NODE_KEY, NODE_KNOWN_HOSTS};
use crate::runtime::keys::{KeyError, KeyPair, ensure_key_pair};
use crate::runtime::node::{Node, NodeError, Script};

use super::LaunchError;

/// Where the key of `cluster` lives under aloft's home.
pub fn key_dir(home: &Path, cluster: &str) -> PathBuf {
    home.join("keys").join("clusters").join(cluster)
}

/// The file that pins the host keys of `cluster`'s nodes, beside its key.
pub fn known_hosts(home: &Path, cluster: &str) -> PathBuf {
    key_dir(home, cluster).join("known_hosts")
}

/// Keeps only the entries of `file` filed under one of `names` (see
/// [`crate::runtime::node::HostKeys::alias`]); a missing file stays missing.
pub fn keep_known_hosts(file: &Path, names: &[&str]) -> std::io::Result<()> {
    let text = match std::fs::read_to_string(file) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        other => other?,
    };
    let kept: String = text
        .lines()
        .filter(|line| {
            let hosts = line.split_whitespace().next().unwrap_or_default();
            hosts.split(',').any(|host| names.contains(&host))
        })
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(file, kept)
}

/// The key pair of `cluster`, made (private key mode 0600) on first use.
pub fn ensure(home: &Path, cluster: &str) -> Result<KeyPair, KeyError> {
    ensure_key_pair(&key_dir(home, cluster))
}

/// The host key pair `cluster`'s nodes are asked to answer SSH with, made
/// (private key mode 0600) on first use, beside the cluster's key: providers
/// that can install it at creation do (the `ssh_host_key` setting of `run-instances`),
/// and their nodes are pinned to it before the first connection.
pub fn ensure_host_key(home: &Path, cluster: &str) -> Result<KeyPair, KeyError> {
    ensure_key_pair(&key_dir(home, cluster).join("host"))
}

/// The public host key made for `cluster` by [`ensure_host_key`], if any
/// (clusters launched before host keys were made have none).
pub fn host_public_key(home: &Path, cluster: &str) -> Option<String> {
    let dir = key_dir(home, cluster).join("host");
    let path = crate::runtime::keys::private_key_path(&dir).with_extension("pub");
    std::fs::read_to_string(path)
        .ok()
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
}

/// Files `public_key` (an OpenSSH public key line) in `file` under each of
/// `aliases` that has no entry yet: the nodes are pinned to it before the
/// first connection.
pub fn pin_host_key(file: &Path, aliases: &[&str], public_key: &str) -> std::io::Result<()> {
    let key: Vec<&str> = public_key.split_whitespace().take(2).collect();
    let text = match std::fs::read_to_string(file) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        other => other?,
    };
    let filed = |alias: &str| {
        text.lines().any(|line| {
            line.split_whitespace()
                .next()
                .is_some_and(|hosts| hosts.split(',').any(|h| h == alias))
        })
    };
    let mut added = String::new();
    for alias in aliases.iter().filter(|a| !filed(a)) {
        added.push_str(&format!("{alias} {}\n", key.join(" ")));
    }
    if added.is_empty() {
        return Ok(());
    }
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let sep = if text.is_empty() || text.ends_with('\n') {
        ""
    } else {
        "\n"
    };
    std::fs::write(file, format!("{text}{sep}{added}"))
}

/// Deletes the key of `cluster` here (nothing to do when it has none).
pub fn forget(home: &Path, cluster: &str) -> std::io::Result<()> {
    match std::fs::remove_dir_all(key_dir(home, cluster)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn marker(cluster: &str) -> String {
    format!("aloft-cluster:{cluster}")
}

/// The `authorized_keys` line for `key`: its type and data, and the marker.
fn authorized_line(key: &KeyPair, cluster: &str) -> String {
    let mut fields = key.public_key.split_whitespace();
    let kind = fields.next().unwrap_or_default();
    let data = fields.next().unwrap_or_default();
    format!("{kind} {data} {}", marker(cluster))
}

fn quote(s: &str) -> String {
    shlex::try_quote(s)
        .map(|q| q.into_owned())
        .unwrap_or_else(|_| "''".into())
}

/// When some nodes were reached with a key other than the cluster's own `key`
/// (a pool's `identity_file`): authorizes `key` for `cluster` on each node, and
/// returns the addresses to use from now on (the same nodes, with `key`). `None`
/// when every node is already reached with `key`.
pub fn adopt(
    cluster: &str,
    key: &KeyPair,
    addresses: &[NodeAddress],
    nodes: &[Box<dyn Node>],
) -> Result<Option<Vec<NodeAddress>>, LaunchError> {
    let foreign = addresses.iter().any(|a| {
        matches!(a, NodeAddress::Ssh { identity_file, .. } if *identity_file != key.private_key)
    });
    if !foreign {
        return Ok(None);
    }
    let line = quote(&authorized_line(key, cluster));
    let script = Script::new(format!(
        "umask 077; mkdir -p ~/.ssh && touch ~/.ssh/authorized_keys && \
         {{ grep -qxF {line} ~/.ssh/authorized_keys || echo {line} >> ~/.ssh/authorized_keys; }}"
    ));
    super::on_every_node(nodes, |node| run_ok(node, &script, "authorizing"))?;
    Ok(Some(
        addresses
            .iter()
            .map(|a| a.with_identity_file(key.private_key.clone()))
            .collect(),
    ))
}

/// The script that takes `cluster`'s key off a host it adopted: the
/// `authorized_keys` lines whose last field is exactly its marker (`a.b` leaves
/// `axb`'s and `a.bc`'s lines), and the head's copies of the private key and of
/// the pinned host keys.
fn release_script(cluster: &str) -> Script {
    Script::new(format!(
        "rm -f ~/{NODE_KEY} ~/{NODE_KNOWN_HOSTS}; f=~/.ssh/authorized_keys; [ -f \"$f\" ] || exit 0; \
         awk -v m={marker} '$NF != m' \"$f\" > \"$f.aloft\" && mv \"$f.aloft\" \"$f\"",
        marker = quote(&marker(cluster)),
    ))
}

/// Takes `cluster`'s key off the hosts it adopted (reached with that key itself):
/// see `release_script`. Returns a line per host not reached; the key is
/// deleted here anyway ([`forget`]), so what is left there opens nothing.
pub fn release_hosts(cluster: &str, nodes: &[Box<dyn Node>]) -> Vec<String> {
    let script = release_script(cluster);
    std::thread::scope(|scope| {
        let runs: Vec<_> = nodes
            .iter()
            .map(|node| scope.spawn(|| run_ok(node.as_ref(), &script, "removing").err()))
            .collect();
        runs.into_iter()
            .filter_map(|r| r.join().ok().flatten())
            .map(|e| e.to_string())
            .collect()
    })
}

fn run_ok(node: &dyn Node, script: &Script, verb: &str) -> Result<(), NodeError> {
    let mut out = Vec::new();
    match node.run(script, &mut out)? {
        0 => Ok(()),
        code => Err(NodeError::Failed {
            node: node.describe(),
            what: format!("{verb} the cluster key"),
            code,
            output: String::from_utf8_lossy(&out).trim().to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::node::LocalNode;

    #[test]
    fn down_of_a_dotted_name_removes_exactly_its_own_line_and_key() {
        let host = tempfile::tempdir().unwrap();
        let ssh = host.path().join(".ssh");
        std::fs::create_dir_all(&ssh).unwrap();
        let lines = [
            "ssh-ed25519 AAAAuser me@laptop",
            "ssh-ed25519 AAAAone aloft-cluster:a.b",
            "ssh-ed25519 AAAAtwo aloft-cluster:axb",
            "ssh-ed25519 AAAAthree aloft-cluster:a.bc",
        ];
        std::fs::write(ssh.join("authorized_keys"), lines.join("\n") + "\n").unwrap();
        let head_key = host.path().join(NODE_KEY);
        std::fs::create_dir_all(head_key.parent().unwrap()).unwrap();
        std::fs::write(&head_key, "private").unwrap();
        std::fs::write(
            host.path().join(NODE_KNOWN_HOSTS),
            "[h]:22 ssh-ed25519 AAAA\n",
        )
        .unwrap();
        let nodes: Vec<Box<dyn Node>> = vec![Box::new(LocalNode::new(host.path().to_path_buf()))];

        assert_eq!(release_hosts("a.b", &nodes), Vec::<String>::new());
        let left = std::fs::read_to_string(ssh.join("authorized_keys")).unwrap();
        let expected: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| !l.contains("AAAAone"))
            .collect();
        assert_eq!(left.lines().collect::<Vec<_>>(), expected);
        assert!(!head_key.exists(), "the head's copy of the key is gone");
        assert!(!host.path().join(NODE_KNOWN_HOSTS).exists());
    }

    #[test]
    fn only_the_named_hosts_keys_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("known_hosts");
        keep_known_hosts(&file, &["[a]:22"]).unwrap();
        assert!(!file.exists(), "nothing made");
        let lines = [
            "[a]:22 ssh-ed25519 AAAAa",
            "[a]:2222 ssh-ed25519 AAAAport",
            "[b]:22,[a]:22 ssh-rsa AAAAboth",
            "|1|hashed|name= ssh-ed25519 AAAAhashed",
            "[c]:22 ssh-ed25519 AAAAc",
        ];
        std::fs::write(&file, lines.join("\n") + "\n").unwrap();
        keep_known_hosts(&file, &["[a]:22", "[x]:1"]).unwrap();
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "[a]:22 ssh-ed25519 AAAAa\n[b]:22,[a]:22 ssh-rsa AAAAboth\n"
        );
        assert_eq!(
            known_hosts(dir.path(), "c"),
            key_dir(dir.path(), "c").join("known_hosts")
        );
    }

    #[test]
    fn a_node_reached_with_any_other_key_is_adopted() {
        let home = tempfile::tempdir().unwrap();
        let key = ensure(home.path(), "c").unwrap();
        let host = tempfile::tempdir().unwrap();
        let address = |identity: &Path| NodeAddress::Ssh {
            id: "n".into(),
            host: "192.0.2.1".into(),
            port: 22,
            user: "u".into(),
            identity_file: identity.to_path_buf(),
            proxy_command: None,
            ip: "192.0.2.1".into(),
            direct_from_head: false,
            host_keys: None,
        };
        let nodes: Vec<Box<dyn Node>> = vec![Box::new(LocalNode::new(host.path().to_path_buf()))];
        // Reached with the cluster's own key: nothing to do.
        let own = [address(&key.private_key)];
        assert!(adopt("c", &key, &own, &nodes).unwrap().is_none());
        // Reached with aloft's own user key: adopted like any other.
        let users = home.path().join("keys/aloft-key");
        let adopted = adopt("c", &key, &[address(&users)], &nodes)
            .unwrap()
            .unwrap();
        assert_eq!(adopted, own);
        let authorized = std::fs::read_to_string(host.path().join(".ssh/authorized_keys")).unwrap();
        assert_eq!(authorized.trim(), authorized_line(&key, "c"));
        forget(home.path(), "c").unwrap();
        assert!(!key_dir(home.path(), "c").exists());
        forget(home.path(), "c").unwrap();
    }
}
