//! Talking to a cluster's head node agent from the user's machine.
//!
//! For a `local` cluster the agent's files are on this machine, so the calls go
//! straight to [`super::agent`]. For a remote cluster the same calls run as
//! `aloft agent ...` on the head over SSH, with requests (secrets included) written
//! into the script's standard input, never onto a command line.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::address::NodeAddress;
use super::agent::{self, AgentError, AgentPaths, AutostopFailure, AutostopSpec, ClusterSpec};
use super::daemon;
use super::node::{Node, NodeError, Script, SshNode};
use super::node_agents::{NodeAgentError, NodeAgents};
use super::queue::{JobQueue, JobRecord, JobSpec, JobStatus};
use super::scheduler::JobId;

/// Where a remote head keeps the key it reaches the other nodes with (relative to
/// its home): its cluster's own key (see [`crate::launch::cluster_key`]), named
/// apart from the user's `aloft-key`, so a pool host whose user runs aloft too
/// keeps that user's key. Heads set up before keys were per cluster hold the key
/// at `.aloft/keys/aloft-key` until their cluster is torn down.
pub const NODE_KEY: &str = ".aloft/keys/cluster-key";

/// Where a remote head keeps its copy of the launcher's `known_hosts` file of its
/// cluster (relative to its home): the head checks its workers' host keys against
/// the keys the launcher pinned and trusts no new one itself (see
/// [`super::node::HostKeys`]).
pub const NODE_KNOWN_HOSTS: &str = ".aloft/keys/cluster-known_hosts";

/// Where a cluster's agent is and how to reach it (kept in local state).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HeadLocation {
    /// The agent folder is on this machine.
    Local {
        /// The agent folder.
        root: PathBuf,
    },
    /// The head is reached over SSH; `aloft` is installed there.
    Ssh {
        /// Host.
        host: String,
        /// Port.
        port: u16,
        /// User.
        user: String,
        /// Private key on this machine.
        identity_file: PathBuf,
        /// `ProxyCommand`, if any.
        proxy_command: Option<String>,
        /// Where its host key is pinned (`None` in records written before aloft
        /// pinned host keys).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        host_keys: Option<Box<super::node::HostKeys>>,
        /// The agent folder on the head: relative to the user's home, or absolute.
        root: String,
        /// The `aloft` binary on the head.
        binary: String,
    },
}

/// What local state keeps about a cluster's nodes (the `nodes_json` of its record):
/// where its agent is, and every node's address (head first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterHandle {
    /// The head node's agent.
    pub head: HeadLocation,
    /// Every node's IP, head first.
    pub ips: Vec<String>,
    /// How this machine reaches every node, head first (empty in records written
    /// before aloft kept it).
    #[serde(default)]
    pub nodes: Vec<NodeAddress>,
}

impl ClusterHandle {
    /// The handle of a cluster whose nodes are `addresses` (head first); `None`
    /// without nodes. `binary` is this machine's `aloft` (see
    /// [`NodeAddress::head_location`]).
    pub fn of(addresses: &[NodeAddress], binary: &Path) -> Option<ClusterHandle> {
        Some(ClusterHandle {
            head: addresses.first()?.head_location(binary),
            ips: addresses.iter().map(|a| a.ip().to_string()).collect(),
            nodes: addresses.to_vec(),
        })
    }
}

/// An error reaching or using a head node's agent.
#[derive(Debug, Error)]
pub enum HeadError {
    /// The agent (local) failed.
    #[error(transparent)]
    Agent(#[from] AgentError),
    /// The head could not be reached.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// The remote agent failed; its message.
    #[error("the head node's agent failed: {0}")]
    Remote(String),
    /// No program for the head's architecture.
    #[error(transparent)]
    Agents(#[from] NodeAgentError),
}

/// Where a remote head keeps aloft itself, for the roles that need all of it (the
/// stop kit's provider call, a jobs controller), relative to its home.
pub const FULL_PROGRAM: &str = ".aloft/bin/aloft-full";

/// A handle on a cluster's agent.
pub struct Head {
    location: HeadLocation,
    control_dir: PathBuf,
    /// `uname -m` of a remote head, asked once.
    arch: std::cell::OnceCell<String>,
}

impl Head {
    /// A handle; `control_dir` holds SSH ControlMaster sockets.
    pub fn new(location: HeadLocation, control_dir: PathBuf) -> Self {
        Head {
            location,
            control_dir,
            arch: std::cell::OnceCell::new(),
        }
    }

    /// Queues a job; returns its id.
    pub fn submit(
        &self,
        spec: &JobSpec,
        secrets: &[(String, String)],
        now: i64,
    ) -> Result<JobId, HeadError> {
        match &self.location {
            HeadLocation::Local { root } => {
                Ok(agent::submit(&AgentPaths::new(root), spec, secrets, now)?)
            }
            HeadLocation::Ssh { .. } => {
                let request = serde_json::json!({ "spec": spec, "secrets": secrets });
                let out = self.remote("submit", &[], Some(&request.to_string()))?;
                out.trim()
                    .parse()
                    .map_err(|_| HeadError::Remote(format!("unexpected reply `{}`", out.trim())))
            }
        }
    }

    /// The job queue.
    pub fn queue(&self, skip_finished: bool) -> Result<Vec<JobRecord>, HeadError> {
        match &self.location {
            HeadLocation::Local { root } => {
                let queue =
                    JobQueue::open(&AgentPaths::new(root).queue_db()).map_err(AgentError::from)?;
                Ok(queue.jobs(skip_finished).map_err(AgentError::from)?)
            }
            HeadLocation::Ssh { .. } => {
                let flags: &[&str] = if skip_finished {
                    &["--skip-finished"]
                } else {
                    &[]
                };
                let out = self.remote("queue", flags, None)?;
                serde_json::from_str(&out)
                    .map_err(|e| HeadError::Remote(format!("unreadable queue: {e}")))
            }
        }
    }

    /// Whether the head carried out its autostop through its provider, and how
    /// (`down` or `stop`): for machines that outlive that call (a node pool's).
    #[cfg(feature = "plugin")]
    pub fn self_stopped(&self) -> Result<Option<String>, HeadError> {
        match &self.location {
            HeadLocation::Local { root } => Ok(super::stop_kit::done(root)),
            HeadLocation::Ssh { .. } => {
                let out = self.remote("self-stopped", &[], None)?;
                serde_json::from_str(&out)
                    .map_err(|_| HeadError::Remote(format!("unexpected reply `{}`", out.trim())))
            }
        }
    }

    /// The autostop command's last failure, while it keeps failing.
    pub fn autostop_failure(&self) -> Result<Option<AutostopFailure>, HeadError> {
        match &self.location {
            HeadLocation::Local { root } => {
                Ok(super::agent::autostop_failure(&AgentPaths::new(root)))
            }
            HeadLocation::Ssh { .. } => {
                let out = self.remote("autostop-failure", &[], None)?;
                serde_json::from_str(&out)
                    .map_err(|_| HeadError::Remote(format!("unexpected reply `{}`", out.trim())))
            }
        }
    }

    /// Requests cancellation; returns the jobs as they are after the request.
    pub fn cancel(&self, ids: &[JobId], now: i64) -> Result<Vec<JobRecord>, HeadError> {
        match &self.location {
            HeadLocation::Local { root } => {
                let queue =
                    JobQueue::open(&AgentPaths::new(root).queue_db()).map_err(AgentError::from)?;
                let jobs = ids
                    .iter()
                    .map(|id| queue.request_cancel(*id, now))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(AgentError::from)?;
                Ok(jobs)
            }
            HeadLocation::Ssh { .. } => {
                let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
                let args: Vec<&str> = ids.iter().map(String::as_str).collect();
                let out = self.remote("cancel", &args, None)?;
                serde_json::from_str(&out)
                    .map_err(|e| HeadError::Remote(format!("unreadable reply: {e}")))
            }
        }
    }

    /// Streams a job's log to `out` (see [`agent::write_log`]); returns the job's
    /// status when the head said it (a local head does).
    pub fn logs(
        &self,
        id: JobId,
        tail: Option<usize>,
        follow: bool,
        out: &mut dyn Write,
    ) -> Result<Option<JobStatus>, HeadError> {
        match &self.location {
            HeadLocation::Local { root } => {
                let job = agent::write_log(&AgentPaths::new(root), id, tail, follow, out)?;
                Ok(Some(job.status))
            }
            HeadLocation::Ssh { .. } => {
                let id = id.to_string();
                let tail = tail.map(|n| n.to_string());
                let mut args = vec![id.as_str()];
                if let Some(tail) = &tail {
                    args.extend(["--tail", tail.as_str()]);
                }
                if follow {
                    args.push("--follow");
                }
                let (node, script) = self.remote_script("logs", &args, None)?;
                match node.run(&script, out)? {
                    0 => Ok(None),
                    code => Err(HeadError::Remote(format!("logs exited with {code}"))),
                }
            }
        }
    }

    /// Sets or cancels autostop on the cluster.
    pub fn set_autostop(&self, spec: Option<&AutostopSpec>) -> Result<(), HeadError> {
        match &self.location {
            HeadLocation::Local { root } => Ok(agent::set_autostop(&AgentPaths::new(root), spec)?),
            HeadLocation::Ssh { .. } => {
                let request = serde_json::json!({ "autostop": spec });
                self.remote("autostop", &[], Some(&request.to_string()))?;
                Ok(())
            }
        }
    }

    /// Sets autostop on a remote head whose cloud stops (or terminates) a node
    /// that shuts itself down: its agent powers the cluster's nodes off (`agent
    /// power-off`), with no credential on the head; a stop kit it held is removed.
    pub fn set_power_off_autostop(&self, spec: &AutostopSpec) -> Result<(), HeadError> {
        let request = serde_json::json!({ "autostop": spec, "power_off": true });
        self.remote("autostop", &[], Some(&request.to_string()))?;
        Ok(())
    }

    /// Has a remote head's agent drop the stop kit from its memory, keeping its
    /// autostop setting (before the cluster is stopped: a `start` sends it again).
    pub fn drop_stop_kit(&self) -> Result<(), HeadError> {
        match &self.location {
            HeadLocation::Local { root } => {
                super::stop_kit::remove_kit(root);
                Ok(())
            }
            HeadLocation::Ssh { .. } => self.remote("drop-kit", &[], None).map(|_| ()),
        }
    }

    /// Sets autostop on a remote head together with the stop kit its agent uses to
    /// stop the cluster through the provider (see `stop_kit`), run by `stopper`
    /// (aloft itself on the head, see [`Head::install_full_program`]); the kit
    /// travels on the SSH connection's stdin, never on a command line, and the
    /// head's agent keeps it in its memory only, never on the disk.
    #[cfg(feature = "plugin")]
    pub fn set_remote_autostop(
        &self,
        spec: &AutostopSpec,
        kit: &super::stop_kit::StopKit,
        stopper: &str,
    ) -> Result<(), HeadError> {
        let request = serde_json::json!({ "autostop": spec, "kit": kit, "stopper": stopper });
        self.remote("autostop", &[], Some(&request.to_string()))?;
        Ok(())
    }

    /// Runs `script` on a remote head over its SSH connection (stdout and stderr
    /// merged into `out`) and returns its exit code; a local head has no such
    /// connection.
    pub fn run_script(&self, script: &Script, out: &mut dyn Write) -> Result<i32, HeadError> {
        Ok(self.ssh_node()?.run(script, out)?)
    }

    /// Where the agent's folder is on the head, as its own command line names it.
    pub fn agent_root(&self) -> String {
        match &self.location {
            HeadLocation::Local { root } => root.display().to_string(),
            HeadLocation::Ssh { root, .. } => root.clone(),
        }
    }

    /// The agent program on the head.
    pub fn agent_program(&self) -> Option<String> {
        match &self.location {
            HeadLocation::Local { .. } => None,
            HeadLocation::Ssh { binary, .. } => Some(binary.clone()),
        }
    }

    /// Puts the agent in place and starts it: the cluster description, autostop, and
    /// for a remote head also the node agent for its architecture (see
    /// [`NodeAgents`]), the key the head uses to reach the other nodes (mode
    /// 0600) and the host keys the launcher pinned for them ([`NODE_KNOWN_HOSTS`];
    /// call it once every node was reached from here). Idempotent.
    pub fn install(
        &self,
        agents: &NodeAgents,
        node_key: Option<&Path>,
        spec: &ClusterSpec,
        autostop: Option<&AutostopSpec>,
    ) -> Result<(), HeadError> {
        match &self.location {
            HeadLocation::Local { root } => Ok(daemon::install(
                agents.launcher(),
                &AgentPaths::new(root),
                spec,
                autostop,
            )?),
            HeadLocation::Ssh {
                binary: remote_binary,
                host_keys,
                ..
            } => {
                let node = self.ssh_node()?;
                let program = agents.agent_for(&self.arch()?)?;
                node.upload(&program, remote_binary, false)?;
                if let Some(key) = node_key {
                    node.upload(key, NODE_KEY, false)?;
                }
                if let Some(keys) = host_keys {
                    node.upload(&keys.file, NODE_KNOWN_HOSTS, false)?;
                }
                let request = serde_json::json!({ "spec": spec, "autostop": autostop });
                self.remote("init", &[], Some(&request.to_string()))?;
                Ok(())
            }
        }
    }

    /// The head's architecture, as `uname -m` says it (this machine's for a local
    /// head).
    pub fn arch(&self) -> Result<String, HeadError> {
        match &self.location {
            HeadLocation::Local { .. } => Ok(std::env::consts::ARCH.to_string()),
            HeadLocation::Ssh { .. } => {
                if let Some(arch) = self.arch.get() {
                    return Ok(arch.clone());
                }
                let mut out = Vec::new();
                let code = self.ssh_node()?.run(&Script::new("uname -m"), &mut out)?;
                let text = String::from_utf8_lossy(&out).trim().to_string();
                let valid = !text.is_empty()
                    && text.len() <= 32
                    && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if code != 0 || !valid {
                    return Err(HeadError::Remote(format!(
                        "cannot tell the head's architecture: `uname -m` said `{text}`"
                    )));
                }
                Ok(self.arch.get_or_init(|| text).clone())
            }
        }
    }

    /// Installs aloft itself on a remote head (for `what`, said in the error when
    /// this launcher cannot run there) and returns its path on the head.
    pub fn install_full_program(
        &self,
        agents: &NodeAgents,
        what: &str,
    ) -> Result<String, HeadError> {
        let program = agents.full_program_for(&self.arch()?, what)?;
        self.ssh_node()?.upload(&program, FULL_PROGRAM, false)?;
        Ok(FULL_PROGRAM.to_string())
    }

    /// The cluster description the agent runs with.
    pub fn spec(&self) -> Result<ClusterSpec, HeadError> {
        match &self.location {
            HeadLocation::Local { root } => Ok(agent::read_cluster_spec(&AgentPaths::new(root))?),
            HeadLocation::Ssh { .. } => {
                let out = self.remote("spec", &[], None)?;
                serde_json::from_str(&out)
                    .map_err(|e| HeadError::Remote(format!("unreadable cluster description: {e}")))
            }
        }
    }

    /// Cancels the cluster's unfinished jobs and stops its agent.
    pub fn shutdown(&self) -> Result<(), HeadError> {
        match &self.location {
            HeadLocation::Local { root } => Ok(daemon::shutdown(&AgentPaths::new(root))?),
            HeadLocation::Ssh { .. } => self.remote("stop", &[], None).map(|_| ()),
        }
    }

    /// Runs `aloft agent <command> <args>` on the head and returns its stdout.
    fn remote(
        &self,
        command: &str,
        args: &[&str],
        stdin: Option<&str>,
    ) -> Result<String, HeadError> {
        let (node, script) = self.remote_script(command, args, stdin)?;
        let mut out = Vec::new();
        let code = node.run(&script, &mut out)?;
        let text = String::from_utf8_lossy(&out).into_owned();
        if code == 0 {
            Ok(text)
        } else {
            Err(HeadError::Remote(text.trim().to_string()))
        }
    }

    /// A forward from this machine to `port` on the head, where only SSH reaches
    /// the head (a `ProxyCommand`: a bastion, a Kubernetes port-forward); `None`
    /// where the head's address can be dialled directly.
    pub fn forward(&self, port: u16) -> Result<Option<super::node::Forward>, HeadError> {
        match &self.location {
            HeadLocation::Ssh {
                proxy_command: Some(_),
                ..
            } => Ok(Some(self.ssh_node()?.forward(port)?)),
            _ => Ok(None),
        }
    }

    fn ssh_node(&self) -> Result<SshNode, HeadError> {
        let HeadLocation::Ssh {
            host,
            port,
            user,
            identity_file,
            proxy_command,
            host_keys,
            ..
        } = &self.location
        else {
            return Err(HeadError::Remote("not a remote head".into()));
        };
        Ok(SshNode::new(super::node::SshTarget {
            host: host.clone(),
            port: *port,
            user: user.clone(),
            identity_file: identity_file.clone(),
            control_dir: self.control_dir.clone(),
            proxy_command: proxy_command.clone(),
            host_keys: host_keys.as_deref().cloned(),
        }))
    }

    fn remote_script(
        &self,
        command: &str,
        args: &[&str],
        stdin: Option<&str>,
    ) -> Result<(SshNode, Script), HeadError> {
        let node = self.ssh_node()?;
        let HeadLocation::Ssh { root, binary, .. } = &self.location else {
            return Err(HeadError::Remote("not a remote head".into()));
        };
        let quoted: Vec<String> = args
            .iter()
            .map(|a| {
                shlex::try_quote(a)
                    .map(|q| q.into_owned())
                    .unwrap_or_default()
            })
            .collect();
        let root_quoted = shlex::try_quote(root)
            .map(|q| q.into_owned())
            .unwrap_or_default();
        let root_arg = if root.starts_with('/') {
            root_quoted
        } else {
            format!("\"$HOME\"/{root_quoted}")
        };
        let binary = shlex::try_quote(binary)
            .map(|q| q.into_owned())
            .unwrap_or_default();
        let mut body = format!(
            "{binary} agent --root {root_arg} {command} {}",
            quoted.join(" ")
        );
        if let Some(input) = stdin {
            // A quoted heredoc: the request is passed verbatim, never expanded.
            body.push_str(" <<'ALOFT_REQUEST_END'\n");
            body.push_str(input);
            body.push_str("\nALOFT_REQUEST_END");
        }
        Ok((node, Script::new(body)))
    }
}
