//! Node pools as the host hands them over (the `pools` setting: JSON of
//! `~/.aloft/ssh_node_pools.yaml`), and the offers they make.

use std::collections::BTreeMap;

use aloft_provider_sdk::errors;
use aloft_provider_sdk::types::{Offer, ProviderError};
use serde::Deserialize;

/// All pools by name.
pub type Pools = BTreeMap<String, Pool>;

/// One pool: SkyPilot's `ssh_node_pools.yaml` entry, plus what each node offers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pool {
    /// The machines.
    pub hosts: Vec<HostEntry>,
    /// Login user for hosts that do not name one.
    #[serde(default)]
    pub user: Option<String>,
    /// Private key (a path on the user's machine) for hosts that do not name one.
    #[serde(default)]
    pub identity_file: Option<String>,
    /// SSH port for hosts that do not name one.
    #[serde(default)]
    pub port: Option<u16>,
    /// vCPUs of each node (for the optimizer; 1 when not declared).
    #[serde(default)]
    pub cpus: Option<f64>,
    /// Memory of each node in GiB (1 when not declared).
    #[serde(default)]
    pub memory: Option<f64>,
    /// Accelerators of each node, `NAME:COUNT` (e.g. `A100:8`).
    #[serde(default)]
    pub accelerators: Option<String>,
    /// Accepted for compatibility with SkyPilot's file; aloft logs in with keys only.
    #[serde(default)]
    pub password: Option<String>,
}

/// A host: an address, or an address with its own login details.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum HostEntry {
    /// Just the address.
    Address(String),
    /// With overrides.
    Detailed {
        /// Address.
        ip: String,
        /// Login user.
        #[serde(default)]
        user: Option<String>,
        /// Private key.
        #[serde(default)]
        identity_file: Option<String>,
        /// SSH port.
        #[serde(default)]
        port: Option<u16>,
        /// Ignored (keys only).
        #[serde(default)]
        password: Option<String>,
    },
}

/// A host with every login detail resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Host {
    /// Address.
    pub ip: String,
    /// Port.
    pub port: u16,
    /// Login user.
    pub user: String,
    /// Private key path, if any.
    pub identity_file: Option<String>,
}

impl Host {
    /// Its id in the books and in `query-instances`: `ip:port`.
    pub fn id(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }
}

impl Pool {
    /// Every host of the pool, defaults applied.
    pub fn resolved_hosts(&self) -> Vec<Host> {
        self.hosts
            .iter()
            .map(|h| match h {
                HostEntry::Address(ip) => Host {
                    ip: ip.clone(),
                    port: self.port.unwrap_or(22),
                    user: self.user.clone().unwrap_or_else(|| "root".into()),
                    identity_file: self.identity_file.clone(),
                },
                HostEntry::Detailed {
                    ip,
                    user,
                    identity_file,
                    port,
                    ..
                } => Host {
                    ip: ip.clone(),
                    port: port.or(self.port).unwrap_or(22),
                    user: user
                        .clone()
                        .or_else(|| self.user.clone())
                        .unwrap_or_else(|| "root".into()),
                    identity_file: identity_file.clone().or_else(|| self.identity_file.clone()),
                },
            })
            .collect()
    }

    /// What one node of the pool offers (free: the machines are the user's own).
    pub fn offer(&self, name: &str) -> Offer {
        let (accelerator_name, accelerator_count) = match &self.accelerators {
            Some(spec) => match spec.split_once(':') {
                Some((n, c)) => (Some(n.trim().to_string()), c.trim().parse().unwrap_or(1.0)),
                None => (Some(spec.trim().to_string()), 1.0),
            },
            None => (None, 0.0),
        };
        Offer {
            instance_type: instance_type(name),
            accelerator_name,
            accelerator_count,
            vcpus: self.cpus.unwrap_or(1.0),
            memory_gib: self.memory.unwrap_or(1.0),
            gpu_memory_mib: None,
            price: Some(0.0),
            spot_price: None,
            region: name.to_string(),
            zone: None,
        }
    }
}

/// The instance type name of a pool's nodes.
pub fn instance_type(pool: &str) -> String {
    format!("{pool}-node")
}

/// Parses the `pools` setting.
pub fn parse(settings: &BTreeMap<String, String>) -> Result<Pools, ProviderError> {
    match settings.get("pools") {
        None => Ok(Pools::new()),
        Some(text) => serde_json::from_str(text).map_err(|e| {
            errors::invalid(
                "BadPools",
                &format!("ssh_node_pools.yaml does not describe node pools: {e}"),
            )
        }),
    }
}
