//! The failover engine's view of provider components: `run` asks a provider for a
//! cluster's instances and waits until they run; what the provider answers is
//! checked before it is used (it is untrusted input, like a task file).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::launch::NodeAddress;
use crate::optimizer::Candidate;
use crate::plugin::{
    ClusterRef, ErrorKind, Instance, InstanceStatus, PluginError, ProviderInstance, RunRequest,
};
use crate::provision::{Failure, FailureKind, Provisioner};
use crate::runtime::keys::KeyPair;
use crate::runtime::node::HostKeys;
use crate::task::{ImageId, Resources};

use super::Providers;

/// Maps a provider's typed error to the failover engine's.
pub(crate) fn failure(err: PluginError) -> Failure {
    match err {
        PluginError::Provider { error, .. } => Failure {
            kind: match error.kind {
                ErrorKind::Capacity => FailureKind::Capacity,
                ErrorKind::Quota => FailureKind::Quota,
                ErrorKind::Auth => FailureKind::Auth,
                ErrorKind::Unsupported => FailureKind::Unsupported,
                ErrorKind::Transient => FailureKind::Transient,
                ErrorKind::Invalid => FailureKind::Invalid,
                ErrorKind::Other => FailureKind::Other,
            },
            code: error.code,
            message: error.message,
        },
        // A crashed or hung provider: try elsewhere.
        other => Failure {
            kind: FailureKind::Other,
            code: "ProviderFailed".into(),
            message: other.to_string(),
        },
    }
}

fn bad_answer(message: String) -> Failure {
    Failure {
        kind: FailureKind::Other,
        code: "BadProviderAnswer".into(),
        message,
    }
}

/// How the launcher reaches a provider's instances.
pub(crate) struct Access {
    /// The provider's name.
    pub provider: String,
    /// What it may answer beyond addresses: node folders on this machine, key
    /// files from the user's pools, kubeconfig contexts.
    pub privileges: crate::plugin::Privileges,
    /// The key the cluster's nodes are reached with (its own, see
    /// [`crate::launch::cluster_key`]).
    pub key: KeyPair,
    /// The cluster.
    pub cluster: String,
    /// Its `known_hosts` file, where its nodes' host keys are pinned on first use
    /// (see [`crate::launch::cluster_key::known_hosts`]).
    pub known_hosts: PathBuf,
    /// The public host key made for the cluster (see
    /// [`crate::launch::cluster_key::ensure_host_key`]): nodes whose provider says
    /// they were given it are pinned to it before the first connection.
    pub host_key: Option<String>,
    /// The provider's proxy command (from the user's config).
    pub proxy_command: Option<String>,
    /// The aloft program (the client's agent binary): Kubernetes pods are reached
    /// through its `kube-proxy` subcommand.
    pub aloft_binary: PathBuf,
    /// The kubeconfig named in the user's config, passed on to `kube-proxy`.
    pub kubeconfig: Option<PathBuf>,
}

impl Access {
    /// Where each node is, head first.
    pub fn addresses(&self, mut nodes: Vec<Instance>) -> Result<Vec<NodeAddress>, Failure> {
        nodes.sort_by_key(|i| (!i.is_head, i.id.clone()));
        nodes.iter().map(|n| self.address(n)).collect()
    }

    /// Where `instance` can be reached, after checking what the provider said.
    fn address(&self, instance: &Instance) -> Result<NodeAddress, Failure> {
        let p = &self.provider;
        check_id(&instance.id).map_err(|e| bad_answer(format!("{p}: instance id: {e}")))?;
        for ip in [&instance.private_ip, &instance.public_ip]
            .into_iter()
            .flatten()
        {
            check_host(ip).map_err(|e| bad_answer(format!("{p}: address {ip:?}: {e}")))?;
        }
        let ip = instance
            .private_ip
            .clone()
            .or_else(|| instance.public_ip.clone())
            .unwrap_or_else(|| "127.0.0.1".into());
        if let Some(dir) = instance.extra("node_dir") {
            if !self.privileges.node_folders {
                return Err(bad_answer(format!(
                    "{p}: only the bundled `local` provider may place nodes on this machine (node_dir)"
                )));
            }
            return Ok(NodeAddress::Local {
                id: instance.id.clone(),
                home: dir.into(),
                ip,
            });
        }
        let pinned = self.pinned(instance)?;
        let kube = kube_target(instance).map_err(|e| bad_answer(format!("{p}: {e}")))?;
        let user = instance.ssh_user.clone().unwrap_or_else(|| "ubuntu".into());
        check_user(&user).map_err(|e| bad_answer(format!("{p}: ssh user {user:?}: {e}")))?;
        let identity_file = match instance.extra("identity_file") {
            Some(path) if self.privileges.pool_hosts => path.into(),
            Some(_) => {
                return Err(bad_answer(format!(
                    "{p}: a provider cannot choose a local key file (identity_file)"
                )));
            }
            None => self.key.private_key.clone(),
        };
        if kube.is_some() && !self.privileges.kube_bridge {
            return Err(bad_answer(format!(
                "{p}: only the bundled `kubernetes` provider may route SSH through a kubeconfig context (kube-context)"
            )));
        }
        if let Some(kube) = kube {
            // Through the API server: the launcher's (and `aloft ssh`'s) way in.
            // The host name only names the pod for SSH (connection sharing keys on
            // it; a pod IP may repeat across clusters); the head uses `ip`.
            let proxy = kube_proxy_command(&self.aloft_binary, &kube, self.kubeconfig.as_deref())
                .map_err(|e| bad_answer(format!("{p}: {e}")))?;
            let host = format!("{}.{}", kube.pod, kube.namespace);
            return Ok(NodeAddress::Ssh {
                id: instance.id.clone(),
                host_keys: Some(self.host_keys(&host, instance.ssh_port, pinned)),
                host,
                port: instance.ssh_port,
                user,
                identity_file,
                proxy_command: Some(proxy),
                ip,
                direct_from_head: true,
            });
        }
        let host = instance.public_ip.clone().unwrap_or_else(|| ip.clone());
        Ok(NodeAddress::Ssh {
            id: instance.id.clone(),
            host_keys: Some(self.host_keys(&host, instance.ssh_port, pinned)),
            host,
            port: instance.ssh_port,
            user,
            identity_file,
            proxy_command: self.proxy_command.clone(),
            ip,
            direct_from_head: false,
        })
    }

    fn host_keys(&self, host: &str, port: u16, pinned: bool) -> HostKeys {
        let keys = HostKeys::first_use(&self.cluster, &self.known_hosts, host, port);
        if pinned { keys.pinned() } else { keys }
    }

    /// Whether the provider says `instance` was given the cluster's host key (its
    /// `extra` [`HOST_KEY_SETTING`]); a key that is not the cluster's is refused.
    fn pinned(&self, instance: &Instance) -> Result<bool, Failure> {
        let Some(said) = instance.extra(HOST_KEY_SETTING) else {
            return Ok(false);
        };
        fn data(line: &str) -> Vec<&str> {
            line.split_whitespace().take(2).collect()
        }
        match &self.host_key {
            Some(ours) if data(said) == data(ours) => Ok(true),
            _ => Err(bad_answer(format!(
                "{}: instance {} reports a host key that aloft did not make for cluster `{}`",
                self.provider, instance.id, self.cluster
            ))),
        }
    }

    /// Files the cluster's host key in its `known_hosts` for every node of
    /// `addresses` pinned to it, so the first connection already checks it.
    pub fn pin(&self, addresses: &[NodeAddress]) -> Result<(), Failure> {
        let Some(key) = &self.host_key else {
            return Ok(());
        };
        let aliases: Vec<&str> = addresses
            .iter()
            .filter(|a| a.host_keys().is_some_and(|k| !k.accept_new))
            .filter_map(NodeAddress::host_key_alias)
            .collect();
        crate::launch::cluster_key::pin_host_key(&self.known_hosts, &aliases, key).map_err(|e| {
            Failure {
                kind: FailureKind::Other,
                code: "HostKeyPin".into(),
                message: format!("{}: {e}", self.known_hosts.display()),
            }
        })
    }
}

/// The `run-instances` settings that hand the provider the host key pair its
/// nodes should answer SSH with (the private key, and the public key line), and
/// the `extra` key with which it confirms an instance got it (the public key);
/// see the provider SDK's `settings::HOST_KEY`.
pub(crate) const HOST_KEY_SETTING: &str = "ssh_host_key";

/// The public half of [`HOST_KEY_SETTING`].
pub(crate) const HOST_KEY_PUBLIC_SETTING: &str = "ssh_host_key_public";

/// A pod to reach through its cluster's API server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KubeTarget {
    pub context: String,
    pub namespace: String,
    pub pod: String,
}

/// The pod a node record names (`extra` `kube-context`, `kube-namespace`,
/// `kube-pod`: all three or none), checked: they end up on a command line.
pub(crate) fn kube_target(instance: &Instance) -> Result<Option<KubeTarget>, String> {
    use crate::kube::{EXTRA_CONTEXT, EXTRA_NAMESPACE, EXTRA_POD, portforward};
    let facts = [EXTRA_CONTEXT, EXTRA_NAMESPACE, EXTRA_POD].map(|k| instance.extra(k));
    let [Some(context), Some(namespace), Some(pod)] = facts else {
        if facts.iter().any(Option::is_some) {
            return Err(format!(
                "a Kubernetes node needs all of `{EXTRA_CONTEXT}`, `{EXTRA_NAMESPACE}` and `{EXTRA_POD}`"
            ));
        }
        return Ok(None);
    };
    portforward::check_context(context)?;
    portforward::check_namespace(namespace)?;
    portforward::check_pod(pod)?;
    Ok(Some(KubeTarget {
        context: context.to_string(),
        namespace: namespace.to_string(),
        pod: pod.to_string(),
    }))
}

/// `'<aloft>' aloft-role kube-proxy --context C --namespace N --pod P --port %p`
/// ([`crate::roles::Role::KubeProxy`]): the SSH `ProxyCommand` to `target`, every
/// word quoted for the shell SSH runs it with, `%` doubled where SSH would expand
/// it (all but the port, which SSH fills in).
pub(crate) fn kube_proxy_command(
    aloft: &Path,
    target: &KubeTarget,
    kubeconfig: Option<&Path>,
) -> Result<String, String> {
    use crate::roles::{KubeProxyTarget, Role};
    let role = Role::KubeProxy(KubeProxyTarget {
        context: target.context.clone(),
        namespace: target.namespace.clone(),
        pod: target.pod.clone(),
        port: None,
        kubeconfig: kubeconfig.map(Path::to_path_buf),
    });
    let line = role.command_line(aloft);
    if line.iter().any(|w| w.chars().any(char::is_control)) {
        return Err(format!(
            "the SSH proxy command for pod {} cannot hold control characters (in the \
             aloft program's or the kubeconfig's path)",
            target.pod
        ));
    }
    let words = line
        .iter()
        .map(|word| match word.as_str() {
            "%p" => Ok(word.clone()),
            _ => shlex::try_quote(word)
                .map(|q| q.replace('%', "%%"))
                .map_err(|e| format!("cannot quote {word:?}: {e}")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(words.join(" "))
}

/// An instance id: printable, no spaces, bounded.
fn check_id(id: &str) -> Result<(), &'static str> {
    if id.is_empty() || id.len() > 256 {
        return Err("empty or longer than 256 characters");
    }
    if id.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("holds spaces or control characters");
    }
    Ok(())
}

/// An address to connect to: an IP literal or a DNS name, never an option.
pub(crate) fn check_host(host: &str) -> Result<(), &'static str> {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    if host.is_empty() || host.len() > 253 {
        return Err("empty or longer than 253 characters");
    }
    if host.starts_with('-') || host.starts_with('.') {
        return Err("starts with `-` or `.`");
    }
    if !host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    {
        return Err("not an IP address or a DNS name");
    }
    Ok(())
}

/// A login name: what `useradd` accepts, never an option.
pub(crate) fn check_user(user: &str) -> Result<(), &'static str> {
    let mut chars = user.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    if !first_ok || user.len() > 32 {
        return Err("must start with a letter, digit or `_` and be at most 32 characters");
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) {
        return Err("only letters, digits, `_`, `-` and `.` are allowed");
    }
    Ok(())
}

/// Polls the provider until every node runs and has an address (clouds return
/// from `run-instances` while instances are still pending).
pub(crate) fn wait_running(
    rt: &tokio::runtime::Runtime,
    instance: &mut ProviderInstance,
    cluster: &ClusterRef,
    mut nodes: Vec<Instance>,
) -> Result<Vec<Instance>, Failure> {
    let ready = |nodes: &[Instance]| {
        !nodes.is_empty()
            && nodes.iter().all(|n| {
                n.status == InstanceStatus::Running
                    && (n.public_ip.is_some() || n.private_ip.is_some())
            })
    };
    let deadline = Instant::now() + NODES_READY_TIMEOUT;
    while !ready(&nodes) {
        if nodes.iter().any(|n| n.status == InstanceStatus::Preempted) {
            return Err(Failure {
                kind: FailureKind::Capacity,
                code: "Preempted".into(),
                message: "an instance was reclaimed while starting".into(),
            });
        }
        if Instant::now() > deadline {
            return Err(Failure {
                kind: FailureKind::Transient,
                code: "NotReady".into(),
                message: format!(
                    "instances not running after {} s",
                    NODES_READY_TIMEOUT.as_secs()
                ),
            });
        }
        std::thread::sleep(Duration::from_secs(2));
        let found = rt
            .block_on(instance.query_instances(std::slice::from_ref(cluster)))
            .map_err(failure)?;
        nodes = found
            .into_iter()
            .filter(|c| c.cluster.cluster == cluster.cluster)
            .flat_map(|c| c.instances)
            .filter(|n| n.status != InstanceStatus::Terminated)
            .collect();
    }
    Ok(nodes)
}

/// How long instances may take to be running.
const NODES_READY_TIMEOUT: Duration = Duration::from_secs(600);

/// Waits for every node to accept SSH (up to `timeout`), telling `on_step` as each
/// one does (`node 2/4 reachable (12 s)`) and, while some are still waited for, which,
/// how long is left and what ssh last said, every `timeout / 5` (1 to 15 s): lines,
/// not a redrawn spinner, so the progress shows without a terminal too.
fn wait_reachable_with_progress(
    addresses: &[NodeAddress],
    control_dir: &std::path::Path,
    timeout: Duration,
    on_step: &dyn Fn(String),
) -> Result<(), crate::launch::LaunchError> {
    use crate::launch::NodeWait;
    let total = addresses.len();
    let start = Instant::now();
    let every = (timeout / 5).clamp(Duration::from_secs(1), Duration::from_secs(15));
    let (tx, rx) = std::sync::mpsc::channel();
    let role = |i: usize| {
        if i == 0 {
            "head".to_string()
        } else {
            format!("worker {i}")
        }
    };
    std::thread::scope(|scope| {
        let waiter = scope.spawn(move || {
            crate::launch::wait_reachable_addresses_reporting(addresses, control_dir, timeout, &tx)
        });
        let mut ready = vec![false; total];
        let mut last_error: Vec<Option<String>> = vec![None; total];
        let mut count = 0;
        let mut next_line = start + every;
        loop {
            let wait = next_line.saturating_duration_since(Instant::now());
            match rx.recv_timeout(wait) {
                Ok(NodeWait::Reachable(index)) => {
                    count += 1;
                    if let Some(seen) = ready.get_mut(index) {
                        *seen = true;
                    }
                    on_step(format!(
                        "node {count}/{total} reachable ({} s)",
                        start.elapsed().as_secs()
                    ));
                }
                Ok(NodeWait::Failed(index, why)) => {
                    if let Some(last) = last_error.get_mut(index) {
                        *last = Some(why);
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    next_line = Instant::now() + every;
                    let waiting: Vec<usize> = (0..total)
                        .filter(|i| !ready.get(*i).copied().unwrap_or(true))
                        .collect();
                    let names: Vec<String> = waiting.iter().map(|i| role(*i)).collect();
                    let errors: Vec<String> = waiting
                        .iter()
                        .filter_map(|i| {
                            let why = last_error.get(*i)?.as_ref()?;
                            Some(format!("{}: {}", role(*i), one_line(why)))
                        })
                        .collect();
                    on_step(format!(
                        "still waiting for {} of {total} node(s) to accept SSH: {} ({} s left){}",
                        waiting.len(),
                        names.join(", "),
                        timeout.saturating_sub(start.elapsed()).as_secs(),
                        if errors.is_empty() {
                            String::new()
                        } else {
                            format!("; last SSH error: {}", errors.join("; "))
                        }
                    ));
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        waiter.join().unwrap_or_else(|_| {
            Err(crate::launch::LaunchError::from(
                crate::runtime::node::NodeError::Killed {
                    node: "SSH wait".into(),
                },
            ))
        })
    })
}

/// `text` on one line, at most 200 characters (ssh's last words, for a progress line).
fn one_line(text: &str) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if joined.chars().count() > 200 {
        let cut: String = joined.chars().take(200).collect();
        format!("{cut}...")
    } else {
        joined
    }
}

/// The failure of a candidate whose nodes did not accept SSH within `timeout`:
/// a key the nodes refuse and a host key that changed are named as such, with
/// the node and what ssh said, not as a wait that ran out.
fn unreachable_failure(err: crate::launch::LaunchError, timeout: Duration) -> Failure {
    use crate::runtime::node::NodeError;
    match err {
        crate::launch::LaunchError::Node(err @ NodeError::KeyRefused { .. }) => Failure {
            kind: FailureKind::Other,
            code: "SshKeyRefused".into(),
            message: err.to_string(),
        },
        crate::launch::LaunchError::Node(err @ NodeError::HostKeyChanged { .. }) => Failure {
            kind: FailureKind::Other,
            code: "SshHostKeyRefused".into(),
            message: err.to_string(),
        },
        e => Failure {
            kind: FailureKind::Other,
            code: "NodesUnreachable".into(),
            message: format!(
                "nodes did not accept SSH within {} s: {e}",
                timeout.as_secs()
            ),
        },
    }
}

/// Provisions through provider components.
pub(crate) struct PluginProvisioner<'a> {
    pub rt: &'a tokio::runtime::Runtime,
    pub providers: &'a Providers,
    pub cluster: String,
    /// The cluster's key: its public half goes into the run-request.
    pub key: KeyPair,
    /// The cluster's `known_hosts` file.
    pub known_hosts: PathBuf,
    /// The host key pair the cluster's nodes are asked to answer SSH with.
    pub host_key: KeyPair,
    /// The task's resources; the one matching each candidate gives disk, image, ports.
    pub resources: Vec<Resources>,
    /// SSH control sockets.
    pub control_dir: std::path::PathBuf,
    /// The aloft program (for `kube-proxy`).
    pub aloft_binary: PathBuf,
    /// How long fresh nodes may take to accept SSH.
    pub node_ready_timeout: Duration,
    /// Reports a step.
    pub on_step: &'a dyn Fn(String),
}

impl PluginProvisioner<'_> {
    fn instance(&self, cloud: &str) -> Result<ProviderInstance, Failure> {
        self.rt
            .block_on(self.providers.host.instance(cloud))
            .map_err(failure)
    }

    /// An instance of `cloud` handed the cluster's host key pair (see
    /// [`HOST_KEY_SETTING`]).
    fn instance_with_host_key(&self, cloud: &str) -> Result<ProviderInstance, Failure> {
        let private = std::fs::read_to_string(&self.host_key.private_key).map_err(|e| Failure {
            kind: FailureKind::Other,
            code: "HostKey".into(),
            message: format!("{}: {e}", self.host_key.private_key.display()),
        })?;
        let settings = [
            (HOST_KEY_SETTING.to_string(), private),
            (
                HOST_KEY_PUBLIC_SETTING.to_string(),
                self.host_key.public_key.clone(),
            ),
        ];
        self.rt
            .block_on(self.providers.host.instance_with(cloud, &settings))
            .map_err(failure)
    }

    /// How to reach `cloud`'s nodes.
    pub fn access(&self, cloud: &str) -> Access {
        access(
            self.providers,
            cloud,
            (&self.cluster, &self.known_hosts),
            (self.key.clone(), Some(self.host_key.public_key.clone())),
            &self.aloft_binary,
        )
    }

    /// The task resources `c` was planned from (the first whose cloud allows it).
    fn resources_for(&self, c: &Candidate) -> Option<&Resources> {
        self.resources.iter().find(|r| {
            r.infra
                .cloud
                .as_deref()
                .is_none_or(|cloud| cloud == c.cloud)
        })
    }
}

/// How to reach `cloud`'s nodes of `cluster` with `key`, pinning their host keys in
/// `known_hosts` (to `host_key`, the cluster's public host key, where the
/// provider installed it; pods through `aloft_binary kube-proxy`).
pub(crate) fn access(
    providers: &Providers,
    cloud: &str,
    (cluster, known_hosts): (&str, &Path),
    (key, host_key): (KeyPair, Option<String>),
    aloft_binary: &Path,
) -> Access {
    Access {
        provider: cloud.to_string(),
        privileges: providers.host.privileges(cloud),
        key,
        cluster: cluster.to_string(),
        known_hosts: known_hosts.to_path_buf(),
        host_key,
        proxy_command: providers.proxy_commands.get(cloud).cloned(),
        aloft_binary: aloft_binary.to_path_buf(),
        kubeconfig: providers.kubeconfig.clone(),
    }
}

impl Provisioner for PluginProvisioner<'_> {
    type Nodes = Vec<NodeAddress>;

    fn run(&mut self, c: &Candidate, num_nodes: u32) -> Result<Vec<NodeAddress>, Failure> {
        let mut instance = self.instance_with_host_key(&c.cloud)?;
        let resources = self.resources_for(c);
        let request = RunRequest {
            cluster: ClusterRef {
                cluster: self.cluster.clone(),
                region: c.region.clone(),
                zone: c.zone.clone(),
            },
            instance_type: c.instance_type.clone(),
            count: num_nodes,
            use_spot: c.use_spot,
            disk_size_gib: resources
                .and_then(|r| r.disk_size_gib)
                .map(|g| u32::try_from(g).unwrap_or(u32::MAX)),
            image_id: resources
                .and_then(|r| r.image_id.as_ref())
                .and_then(|image| match image {
                    ImageId::Single(id) => Some(id.clone()),
                    ImageId::PerRegion(ids) => ids.get(&c.region).cloned(),
                    // Pods are containers of the image; on VMs the launch makes
                    // the container itself (see `runtime::container`).
                    ImageId::Docker(image) => {
                        crate::runtime::container::image_is_the_node(&c.cloud)
                            .then(|| format!("docker:{image}"))
                    }
                }),
            ports: resources
                .map(|r| {
                    r.ports
                        .iter()
                        .map(|p| crate::plugin::PortRange {
                            start: p.start,
                            end: p.end,
                        })
                        .collect()
                })
                .unwrap_or_default(),
            labels: vec![("aloft-cluster".into(), self.cluster.clone())],
            ssh_public_key: Some(self.key.public_key.clone()),
        };
        let result = self
            .rt
            .block_on(instance.run_instances(&request))
            .map_err(failure)?;
        let nodes = wait_running(self.rt, &mut instance, &request.cluster, result.instances)?;
        let access = self.access(&c.cloud);
        let addresses = access.addresses(nodes)?;
        access.pin(&addresses)?;
        // Nodes that never answer SSH are this candidate's failure: the engine
        // terminates them and moves on, rather than leaving them billed.
        let timeout = self.node_ready_timeout;
        (self.on_step)(format!(
            "Waiting for {} node(s) on {} to accept SSH (up to {} s)...",
            addresses.len(),
            c.cloud,
            timeout.as_secs()
        ));
        wait_reachable_with_progress(&addresses, &self.control_dir, timeout, self.on_step)
            .map_err(|e| unreachable_failure(e, timeout))?;
        Ok(addresses)
    }

    fn clean_up(&mut self, c: &Candidate) -> Result<(), Failure> {
        let mut instance = self.instance(&c.cloud)?;
        let cluster = ClusterRef {
            cluster: self.cluster.clone(),
            region: c.region.clone(),
            zone: c.zone.clone(),
        };
        self.rt
            .block_on(instance.terminate_instances(&cluster))
            .map_err(failure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_users_that_could_be_options_are_refused() {
        assert!(check_host("10.0.0.1").is_ok());
        assert!(check_host("::1").is_ok());
        assert!(check_host("ec2-1-2-3-4.compute.amazonaws.com").is_ok());
        assert!(check_host("-oProxyCommand=touch x").is_err());
        assert!(check_host("a b").is_err());
        assert!(check_host("").is_err());
        assert!(check_user("ubuntu").is_ok());
        assert!(check_user("ec2-user").is_ok());
        assert!(check_user("-oProxyCommand=x").is_err());
        assert!(check_user("root;rm").is_err());
        assert!(check_user(&"a".repeat(40)).is_err());
        assert!(check_id("i-0123").is_ok());
        assert!(check_id("i 0123").is_err());
    }

    fn pod(id: &str, head: bool, ip: &str, extra: &[(&str, &str)]) -> Instance {
        Instance {
            id: id.into(),
            is_head: head,
            status: InstanceStatus::Running,
            instance_type: "4CPU--16GB".into(),
            zone: None,
            spot: false,
            public_ip: None,
            private_ip: Some(ip.into()),
            ssh_port: 22,
            ssh_user: Some("aloft".into()),
            extra: extra
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn kube_access(binary: &str) -> Access {
        Access {
            provider: "kubernetes".into(),
            privileges: crate::plugin::Privileges::of("kubernetes", true),
            kubeconfig: None,
            key: KeyPair {
                private_key: "/home/u/.aloft/keys/aloft".into(),
                public_key: "ssh-ed25519 AAAA".into(),
            },
            cluster: "c1".into(),
            known_hosts: "/home/u/.aloft/keys/clusters/c1/known_hosts".into(),
            host_key: None,
            proxy_command: Some("nc %h %p".into()),
            aloft_binary: binary.into(),
        }
    }

    #[test]
    fn a_node_is_pinned_only_to_the_host_key_made_for_its_cluster() {
        let dir = tempfile::tempdir().unwrap();
        let ours = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIours aloft";
        let access = Access {
            provider: "aws".into(),
            privileges: crate::plugin::Privileges::NONE,
            host_key: Some(ours.into()),
            known_hosts: dir.path().join("known_hosts"),
            proxy_command: None,
            ..kube_access("/bin/aloft")
        };
        let vm = |id: &str, ip: &str, key: Option<&str>| {
            let mut i = pod(id, id == "h", ip, &[]);
            i.public_ip = Some(ip.into());
            i.extra = key
                .map(|k| vec![(HOST_KEY_SETTING.to_string(), k.to_string())])
                .unwrap_or_default();
            i
        };
        // Confirmed (the comment may differ): strict from the first connection.
        let given = vm(
            "h",
            "10.0.0.1",
            Some("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIours"),
        );
        // Not confirmed: trusted on first use.
        let plain = vm("w", "10.0.0.2", None);
        let addresses = access.addresses(vec![given, plain]).unwrap();
        let strict: Vec<bool> = addresses
            .iter()
            .map(|a| !a.host_keys().unwrap().accept_new)
            .collect();
        assert_eq!(strict, [true, false]);
        access.pin(&addresses).unwrap();
        let known = std::fs::read_to_string(dir.path().join("known_hosts")).unwrap();
        assert_eq!(
            known,
            "[10.0.0.1]:22 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIours\n"
        );
        // Pinning again adds nothing.
        access.pin(&addresses).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("known_hosts")).unwrap(),
            known
        );
        // A key aloft did not make is the provider's error, not a pin.
        let other = vm(
            "h",
            "10.0.0.1",
            Some("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIother"),
        );
        let err = access.addresses(vec![other]).unwrap_err();
        assert!(err.message.contains("did not make"), "{}", err.message);
        let without = Access {
            host_key: None,
            ..access
        };
        let given = vm("h", "10.0.0.1", Some(ours));
        assert!(without.addresses(vec![given]).is_err());
    }

    fn kube_extra<'a>(ctx: &'a str, ns: &'a str, pod: &'a str) -> [(&'a str, &'a str); 3] {
        use crate::kube::{EXTRA_CONTEXT, EXTRA_NAMESPACE, EXTRA_POD};
        [
            (EXTRA_CONTEXT, ctx),
            (EXTRA_NAMESPACE, ns),
            (EXTRA_POD, pod),
        ]
    }

    #[test]
    fn pods_are_reached_through_kube_proxy_from_here_and_directly_from_the_head() {
        let access = kube_access("/opt/aloft dir/bin/aloft");
        let nodes = vec![
            pod(
                "w1",
                false,
                "10.244.1.7",
                &kube_extra("gke_p_us-central1_c1", "team-a", "aloft-c1-worker1"),
            ),
            pod(
                "h",
                true,
                "10.244.0.5",
                &kube_extra("gke_p_us-central1_c1", "team-a", "aloft-c1-head"),
            ),
        ];
        let addresses = access.addresses(nodes).unwrap();
        let NodeAddress::Ssh {
            host,
            port,
            proxy_command,
            ip,
            direct_from_head,
            ..
        } = &addresses[0]
        else {
            panic!("not ssh: {:?}", addresses[0]);
        };
        assert_eq!(host, "aloft-c1-head.team-a");
        assert_eq!(*port, 22);
        assert_eq!(ip, "10.244.0.5");
        assert!(*direct_from_head);
        assert_eq!(
            proxy_command.as_deref(),
            Some(
                "'/opt/aloft dir/bin/aloft' aloft-role kube-proxy --context gke_p_us-central1_c1 \
                 --namespace team-a --pod aloft-c1-head --port %p"
            )
        );
        // The command line splits back into exactly these words.
        let words = shlex::split(proxy_command.as_deref().unwrap()).unwrap();
        assert_eq!(words[0], "/opt/aloft dir/bin/aloft");
        assert_eq!(words.len(), 11);
        // The head reaches the worker pod by its IP, without the launcher's proxy,
        // and checks it against the key the launcher pinned under its own name.
        let NodeAddress::Ssh {
            host_keys: Some(pinned),
            ..
        } = &addresses[1]
        else {
            panic!("not pinned: {:?}", addresses[1]);
        };
        assert!(
            pinned.accept_new,
            "the launcher trusts a new node on first use"
        );
        match addresses[1].node_spec() {
            crate::runtime::agent::NodeSpec::Ssh {
                host,
                proxy_command,
                ip,
                host_keys,
                ..
            } => {
                assert_eq!(host, "10.244.1.7");
                assert_eq!(ip, "10.244.1.7");
                assert_eq!(proxy_command, None);
                let keys = host_keys.expect("pinned");
                assert_eq!(keys.alias, "[aloft-c1-worker1.team-a]:22");
                assert_eq!(keys.alias, pinned.alias);
                assert_eq!(keys.file, Path::new(crate::runtime::head::NODE_KNOWN_HOSTS));
                assert!(!keys.accept_new, "the head trusts no new host key");
            }
            other => panic!("not ssh: {other:?}"),
        }
        // The launcher itself keeps the proxy, for the head too.
        let location = addresses[0].head_location(Path::new("/opt/aloft dir/bin/aloft"));
        assert!(
            format!("{location:?}").contains("kube-proxy"),
            "{location:?}"
        );
    }

    #[test]
    fn kube_facts_from_a_provider_are_checked() {
        let access = kube_access("/usr/bin/aloft");
        let bad = [
            kube_extra("ctx'; touch /tmp/x; '", "default", "p"),
            kube_extra("-oProxyCommand=x", "default", "p"),
            kube_extra("ctx%h", "default", "p"),
            kube_extra("ctx", "Default", "p"),
            kube_extra("ctx", "default", "p$(id)"),
            kube_extra("ctx", "default", "../p"),
            kube_extra("ctx", "default", ""),
        ];
        for extra in bad {
            let err = access
                .addresses(vec![pod("h", true, "10.0.0.1", &extra)])
                .expect_err("refused");
            assert_eq!(err.code, "BadProviderAnswer", "{extra:?}");
        }
        // Only the bundled `kubernetes` provider may name kubeconfig contexts.
        let mut other = kube_access("/usr/bin/aloft");
        other.privileges = crate::plugin::Privileges::NONE;
        let err = other
            .addresses(vec![pod(
                "h",
                true,
                "10.0.0.1",
                &kube_extra("ctx", "default", "p"),
            )])
            .expect_err("not the bundled provider");
        assert!(
            err.message.contains("only the bundled `kubernetes`"),
            "{}",
            err.message
        );
        // The kubeconfig the user's config names is passed on.
        let mut named = kube_access("/usr/bin/aloft");
        named.kubeconfig = Some("/home/u/kube config".into());
        let addresses = named
            .addresses(vec![pod(
                "h",
                true,
                "10.0.0.1",
                &kube_extra("ctx", "default", "p"),
            )])
            .unwrap();
        match &addresses[0] {
            NodeAddress::Ssh { proxy_command, .. } => assert!(
                proxy_command
                    .as_deref()
                    .is_some_and(|c| c.ends_with(" --kubeconfig '/home/u/kube config'")),
                "{proxy_command:?}"
            ),
            other => panic!("{other:?}"),
        }
        // All three or none.
        let err = access
            .addresses(vec![pod(
                "h",
                true,
                "10.0.0.1",
                &[(crate::kube::EXTRA_POD, "p")],
            )])
            .expect_err("half a kube node");
        assert!(err.message.contains("needs all of"), "{}", err.message);
        // No kube facts: the provider's own proxy command, unchanged.
        let addresses = access
            .addresses(vec![pod("h", true, "10.0.0.1", &[])])
            .unwrap();
        match &addresses[0] {
            NodeAddress::Ssh {
                proxy_command,
                direct_from_head,
                ..
            } => {
                assert_eq!(proxy_command.as_deref(), Some("nc %h %p"));
                assert!(!direct_from_head);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_proxy_command_quotes_the_binary_and_escapes_percent() {
        let target = KubeTarget {
            context: "arn:aws:eks:us-west-2:123456789012:cluster/c1".into(),
            namespace: "default".into(),
            pod: "p1".into(),
        };
        let command =
            kube_proxy_command(Path::new("/home/u/it's 100%/aloft"), &target, None).unwrap();
        assert!(command.contains("100%%/aloft"), "{command}");
        assert!(command.ends_with(" --port %p"), "{command}");
        // What the shell sees once SSH turned `%%` into `%`.
        let words = shlex::split(&command.replace("%%", "%")).unwrap();
        assert_eq!(words[0], "/home/u/it's 100%/aloft");
        assert_eq!(words[1..3], ["aloft-role", "kube-proxy"]);
        assert_eq!(words[4], "arn:aws:eks:us-west-2:123456789012:cluster/c1");
        assert!(kube_proxy_command(Path::new("/tmp/a\nb"), &target, None).is_err());
    }
}
