//! Where a provisioned node is and how to reach it: from this machine (a folder or
//! SSH), from the head node's agent, and where the head's agent lives.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::agent::NodeSpec;
use super::head::HeadLocation;
use super::node::{HostKeys, LocalNode, Node, SshNode, SshTarget};

/// Where a provisioned node is, as its provider reported it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NodeAddress {
    /// A folder on this machine (the `local` provider).
    Local {
        /// Instance id.
        id: String,
        /// The node's home folder.
        home: PathBuf,
        /// Its IP as the other nodes see it.
        ip: String,
    },
    /// A machine reached over SSH.
    Ssh {
        /// Instance id.
        id: String,
        /// Address to connect to.
        host: String,
        /// SSH port.
        port: u16,
        /// Login user.
        user: String,
        /// Private key.
        identity_file: PathBuf,
        /// `ProxyCommand`, if any.
        proxy_command: Option<String>,
        /// Its IP as the other nodes see it (private IP).
        ip: String,
        /// The proxy command is for this machine only: the head reaches the node
        /// directly at `ip` (Kubernetes pods: the launcher goes through the API
        /// server's port-forward, pods reach each other by pod IP).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        direct_from_head: bool,
        /// Where its host key is pinned (`None` in records written before aloft
        /// pinned host keys: not checked until the cluster is started again).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        host_keys: Option<HostKeys>,
    },
}

impl NodeAddress {
    /// The IP the other nodes see.
    pub fn ip(&self) -> &str {
        match self {
            NodeAddress::Local { ip, .. } | NodeAddress::Ssh { ip, .. } => ip,
        }
    }

    /// How the launcher reaches this node.
    pub fn connect(&self, control_dir: &Path) -> Box<dyn Node> {
        match self {
            NodeAddress::Local { home, .. } => Box::new(LocalNode::new(home.clone())),
            NodeAddress::Ssh {
                host,
                port,
                user,
                identity_file,
                proxy_command,
                host_keys,
                ..
            } => Box::new(SshNode::new(SshTarget {
                host: host.clone(),
                port: *port,
                user: user.clone(),
                identity_file: identity_file.clone(),
                control_dir: control_dir.to_path_buf(),
                proxy_command: proxy_command.clone(),
                host_keys: host_keys.clone(),
            })),
        }
    }

    /// How the head's agent reaches this node.
    pub fn node_spec(&self) -> NodeSpec {
        match self {
            NodeAddress::Local { home, ip, .. } => NodeSpec::Local {
                home: home.clone(),
                ip: ip.clone(),
            },
            NodeAddress::Ssh {
                host,
                port,
                user,
                proxy_command,
                ip,
                direct_from_head,
                host_keys,
                ..
            } => NodeSpec::Ssh {
                host: if *direct_from_head { ip } else { host }.clone(),
                port: *port,
                user: user.clone(),
                // The head holds the cluster key at a fixed place (installed with
                // the agent).
                identity_file: PathBuf::from(super::head::NODE_KEY),
                proxy_command: if *direct_from_head {
                    None
                } else {
                    proxy_command.clone()
                },
                ip: ip.clone(),
                // Checked against the launcher's entries, copied to the head with
                // the agent.
                host_keys: host_keys
                    .as_ref()
                    .map(|keys| keys.on_head(Path::new(super::head::NODE_KNOWN_HOSTS))),
            },
        }
    }

    /// Where this node's agent lives, if it is the head.
    pub fn head_location(&self, aloft_binary: &Path) -> HeadLocation {
        match self {
            NodeAddress::Local { home, .. } => HeadLocation::Local {
                root: home.join(".aloft/agent"),
            },
            NodeAddress::Ssh {
                host,
                port,
                user,
                identity_file,
                proxy_command,
                host_keys,
                ..
            } => HeadLocation::Ssh {
                host: host.clone(),
                port: *port,
                user: user.clone(),
                identity_file: identity_file.clone(),
                proxy_command: proxy_command.clone(),
                host_keys: host_keys.clone().map(Box::new),
                root: ".aloft/agent".into(),
                binary: if aloft_binary.is_absolute() {
                    ".aloft/bin/aloft".into()
                } else {
                    aloft_binary.display().to_string()
                },
            },
        }
    }

    /// The same node reached with another key (SSH nodes; a local node is as is).
    pub fn with_identity_file(&self, key: PathBuf) -> NodeAddress {
        let mut node = self.clone();
        if let NodeAddress::Ssh { identity_file, .. } = &mut node {
            *identity_file = key;
        }
        node
    }

    /// The instance id.
    pub fn id(&self) -> &str {
        match self {
            NodeAddress::Local { id, .. } | NodeAddress::Ssh { id, .. } => id,
        }
    }

    /// How this node's host key is checked, if it is pinned.
    pub fn host_keys(&self) -> Option<&HostKeys> {
        match self {
            NodeAddress::Ssh {
                host_keys: Some(keys),
                ..
            } => Some(keys),
            _ => None,
        }
    }

    /// The name this node's host key is pinned under, if it is pinned.
    pub fn host_key_alias(&self) -> Option<&str> {
        match self {
            NodeAddress::Ssh {
                host_keys: Some(keys),
                ..
            } => Some(&keys.alias),
            _ => None,
        }
    }

    /// The private key the head needs to reach the nodes (SSH nodes only).
    pub fn key_for_head(&self) -> Option<&Path> {
        match self {
            NodeAddress::Ssh { identity_file, .. } => Some(identity_file.as_path()),
            NodeAddress::Local { .. } => None,
        }
    }
}
