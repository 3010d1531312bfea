//! A cluster's own SSH key, for nodes the user brought (SSH node pools).
//!
//! The user's key (the pool's `identity_file`) opens each host once, to authorize
//! a key aloft made for this cluster; from then on every connection — the
//! launcher's and the head's to its workers — uses the cluster key, so the user's
//! key never leaves the user's machine. `down` removes the authorization (the
//! line carries the marker `aloft-cluster:NAME`) and deletes the key.

use std::path::{Path, PathBuf};

use crate::runtime::address::NodeAddress;
use crate::runtime::keys::{KeyPair, ensure_key_pair};
use crate::runtime::node::{Node, NodeError, Script};

use super::LaunchError;

/// Where the key of `cluster` lives under aloft's home.
pub fn key_dir(home: &Path, cluster: &str) -> PathBuf {
    home.join("keys").join("clusters").join(cluster)
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

/// When the nodes were reached with a key other than aloft's own (`own_key`):
/// authorizes a new key for `cluster` on each, and returns the addresses to use
/// from now on (the same nodes, with the cluster key). `None` when there is
/// nothing to do.
pub fn adopt(
    home: &Path,
    cluster: &str,
    own_key: &Path,
    addresses: &[NodeAddress],
    nodes: &[Box<dyn Node>],
) -> Result<Option<Vec<NodeAddress>>, LaunchError> {
    let foreign = addresses
        .iter()
        .any(|a| matches!(a, NodeAddress::Ssh { identity_file, .. } if identity_file != own_key));
    if !foreign {
        return Ok(None);
    }
    let key = ensure_key_pair(&key_dir(home, cluster))
        .map_err(|e| LaunchError::Unsupported(format!("the cluster's SSH key: {e}")))?;
    let line = quote(&authorized_line(&key, cluster));
    let script = Script::new(format!(
        "umask 077; mkdir -p ~/.ssh && touch ~/.ssh/authorized_keys && \
         {{ grep -qxF {line} ~/.ssh/authorized_keys || echo {line} >> ~/.ssh/authorized_keys; }}"
    ));
    super::on_every_node(nodes, |node| run_ok(node, &script))?;
    Ok(Some(
        addresses
            .iter()
            .map(|a| match a {
                NodeAddress::Ssh { .. } => a.with_identity_file(key.private_key.clone()),
                NodeAddress::Local { .. } => a.clone(),
            })
            .collect(),
    ))
}

/// Removes `cluster`'s authorization from its nodes (reached with the cluster key
/// itself) and deletes the key. Nodes that cannot be reached are reported; the
/// key is deleted anyway, so the authorization left there opens nothing.
pub fn release(home: &Path, cluster: &str, nodes: &[Box<dyn Node>]) -> Vec<String> {
    let dir = key_dir(home, cluster);
    if !dir.exists() {
        return Vec::new();
    }
    // The marker ends the line (`lab1` must not take `lab10`'s line with it);
    // cluster names are letters, digits and `-`, nothing a pattern reads.
    let pattern = quote(&format!(" {}$", marker(cluster)));
    let script = Script::new(format!(
        "f=~/.ssh/authorized_keys; [ -f \"$f\" ] || exit 0; \
         grep -v -- {pattern} \"$f\" > \"$f.aloft\"; mv \"$f.aloft\" \"$f\""
    ));
    let failures: Vec<String> = std::thread::scope(|scope| {
        let runs: Vec<_> = nodes
            .iter()
            .map(|node| scope.spawn(|| run_ok(node.as_ref(), &script).err()))
            .collect();
        runs.into_iter()
            .filter_map(|r| r.join().ok().flatten())
            .map(|e| e.to_string())
            .collect()
    });
    let _ = std::fs::remove_dir_all(&dir);
    failures
}

fn run_ok(node: &dyn Node, script: &Script) -> Result<(), NodeError> {
    let mut out = Vec::new();
    match node.run(script, &mut out)? {
        0 => Ok(()),
        code => Err(NodeError::Failed {
            node: node.describe(),
            what: "authorizing the cluster key".into(),
            code,
            output: String::from_utf8_lossy(&out).trim().to_string(),
        }),
    }
}
