//! The binary contract: the roles aloft asks a program that embeds it to play.
//!
//! aloft runs its own program for work that must outlive the call that started it:
//! a head node's agent, the managed-jobs controller, the SSH `ProxyCommand` to a
//! Kubernetes pod, and a `local` cluster's autostop. Every such command line is
//! made here ([`Role::command_line`]) and answered here ([`run_if_role`]), so an
//! embedding program plays every role by calling one function first in `main`:
//!
//! ```no_run
//! // First in `main`: answers `PROGRAM agent ...` and `PROGRAM aloft-role ...`,
//! // then exits; any other command line returns and the program goes on.
//! aloft::roles::run_if_role(aloft::client::Client::builder);
//! ```
//!
//! The closure builds the [`ClientBuilder`] a role opens its client with (bundled
//! providers, node agents); the home is set from the command line, never guessed.
//!
//! | command line | role |
//! | --- | --- |
//! | `PROGRAM agent [--root DIR] VERB ...` | a head node's agent ([`crate::runtime::agent_cli`]) |
//! | `PROGRAM aloft-role jobs-controller --home H [--poll-ms N] [--idle-ms N] [--retry-ms N]` | the managed-jobs controller, until idle |
//! | `PROGRAM aloft-role serve-controller --home H [--poll-ms N] [--idle-ms N] [--retry-ms N] [--window-ms N]` | the service controller and its load balancers, until no service is left |
//! | `PROGRAM aloft-role kube-proxy --context C --namespace N --pod P --port N [--kubeconfig F]` | relays SSH to a pod's port |
//! | `PROGRAM aloft-role autostop --home H --cluster C (--stop \| --down)` | stops or tears down an idle `local` cluster |

use std::path::{Path, PathBuf};
use std::time::Duration;

#[cfg(feature = "plugin")]
use crate::client::{ClientBuilder, ClientError};
use crate::jobs::{ControllerSettings, LaunchRetry};

/// The first word of every role's command line but the agent's.
pub const ROLE_WORD: &str = "aloft-role";

/// Timings of the managed-jobs controller that a client starts, for tests and
/// tuning; `None` keeps [`ControllerSettings::default`]'s value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ControllerTuning {
    /// How often running jobs are polled (and new ones looked for).
    pub poll: Option<Duration>,
    /// How long the controller stays without unfinished jobs before it exits.
    pub idle_exit: Option<Duration>,
    /// First back-off after a failed launch (the longest is eight times this).
    pub launch_retry: Option<Duration>,
    /// The window the service controller measures request rates over (not used
    /// by the jobs controller).
    pub window: Option<Duration>,
}

impl ControllerTuning {
    /// The controller's settings with these timings applied.
    pub fn settings(&self) -> ControllerSettings {
        let mut settings = ControllerSettings::default();
        if let Some(poll) = self.poll {
            settings.poll_interval = poll;
            settings.scan_interval = poll;
        }
        if let Some(idle) = self.idle_exit {
            settings.idle_exit_after = idle;
        }
        if let Some(backoff) = self.launch_retry {
            settings.launch_retry = LaunchRetry {
                initial_backoff: backoff,
                max_backoff: backoff * 8,
                ..settings.launch_retry
            };
        }
        settings
    }

    /// The service controller's settings with these timings applied: `poll` is
    /// how often replica clusters are asked about (and bounds a round),
    /// `launch_retry` the pause after a failed replica launch.
    #[cfg(feature = "plugin")]
    pub fn serve_settings(&self) -> crate::serve::controller::ServeSettings {
        let mut settings = crate::serve::controller::ServeSettings::default();
        if let Some(poll) = self.poll {
            settings.poll_every = poll;
            settings.tick = settings.tick.min(poll);
        }
        if let Some(idle) = self.idle_exit {
            settings.idle_exit_after = idle;
        }
        if let Some(backoff) = self.launch_retry {
            settings.launch_backoff = backoff;
        }
        if let Some(window) = self.window {
            settings.qps_window = window;
        }
        settings
    }
}

/// Where a `kube-proxy` role relays to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeProxyTarget {
    /// The kubeconfig context whose API server to go through.
    pub context: String,
    /// The pod's namespace.
    pub namespace: String,
    /// The pod.
    pub pod: String,
    /// The pod's port (`None` in a `ProxyCommand`: SSH's `%p` fills it in).
    pub port: Option<u16>,
    /// The kubeconfig file (default: `$KUBECONFIG`, else `~/.kube/config`).
    pub kubeconfig: Option<PathBuf>,
}

/// One role, parsed from or written as a command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// A head node's agent: the words after `agent`.
    Agent(Vec<String>),
    /// The managed-jobs controller of the home `home`.
    JobsController {
        /// aloft's home whose jobs it controls.
        home: PathBuf,
        /// Its timings.
        tuning: ControllerTuning,
    },
    /// The service controller of the home `home` (with every service's load
    /// balancer).
    ServeController {
        /// aloft's home whose services it runs.
        home: PathBuf,
        /// Its timings.
        tuning: ControllerTuning,
    },
    /// The SSH `ProxyCommand` to a Kubernetes pod.
    KubeProxy(KubeProxyTarget),
    /// A `local` cluster's autostop: stop (or tear down) `cluster` of `home`.
    Autostop {
        /// aloft's home the cluster belongs to.
        home: PathBuf,
        /// The cluster.
        cluster: String,
        /// Tear down instead of stopping.
        down: bool,
    },
}

/// Why a command line is not a role's, or a role failed.
#[derive(Debug, thiserror::Error)]
pub enum RoleError {
    /// The command line names a role but is malformed.
    #[error("{0}")]
    Usage(String),
    /// The role ran and failed.
    #[cfg(feature = "plugin")]
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The agent or the proxy failed.
    #[error("{0}")]
    Failed(String),
}

impl Role {
    /// The role `args` (the program's arguments, without the program) ask for;
    /// `None` when they ask for none (the program's own command line).
    pub fn parse(args: &[String]) -> Option<Result<Role, RoleError>> {
        match args {
            [first, rest @ ..] if first == "agent" => Some(Ok(Role::Agent(rest.to_vec()))),
            [first, name, rest @ ..] if first == ROLE_WORD => Some(parse_role(name, rest)),
            [first, ..] if first == ROLE_WORD => Some(Err(RoleError::Usage(format!(
                "{ROLE_WORD}: name a role (jobs-controller, serve-controller, kube-proxy, autostop)"
            )))),
            // Written by aloft 0.1 into SSH settings of Kubernetes clusters.
            [first, rest @ ..] if first == "kube-proxy" => Some(parse_role(first, rest)),
            _ => None,
        }
    }

    /// The command line that makes `program` play this role (`program` first).
    pub fn command_line(&self, program: &Path) -> Vec<String> {
        let mut words = vec![program.display().to_string()];
        let ms = |d: Duration| d.as_millis().to_string();
        match self {
            Role::Agent(rest) => {
                words.push("agent".into());
                words.extend(rest.iter().cloned());
            }
            Role::JobsController { home, tuning } | Role::ServeController { home, tuning } => {
                let name = match self {
                    Role::JobsController { .. } => "jobs-controller",
                    _ => "serve-controller",
                };
                words.extend([ROLE_WORD.into(), name.into()]);
                words.extend(["--home".into(), home.display().to_string()]);
                for (flag, value) in [
                    ("--poll-ms", tuning.poll),
                    ("--idle-ms", tuning.idle_exit),
                    ("--retry-ms", tuning.launch_retry),
                    ("--window-ms", tuning.window),
                ] {
                    if let Some(value) = value {
                        words.extend([flag.to_string(), ms(value)]);
                    }
                }
            }
            Role::KubeProxy(target) => {
                words.extend([ROLE_WORD.into(), "kube-proxy".into()]);
                words.extend(["--context".into(), target.context.clone()]);
                words.extend(["--namespace".into(), target.namespace.clone()]);
                words.extend(["--pod".into(), target.pod.clone()]);
                let port = target.port.map_or("%p".to_string(), |p| p.to_string());
                words.extend(["--port".into(), port]);
                if let Some(path) = &target.kubeconfig {
                    words.extend(["--kubeconfig".into(), path.display().to_string()]);
                }
            }
            Role::Autostop {
                home,
                cluster,
                down,
            } => {
                words.extend([ROLE_WORD.into(), "autostop".into()]);
                words.extend(["--home".into(), home.display().to_string()]);
                words.extend(["--cluster".into(), cluster.clone()]);
                words.push(if *down { "--down" } else { "--stop" }.into());
            }
        }
        words
    }

    /// Plays the role; `builder` makes the client of roles that need one.
    #[cfg(feature = "plugin")]
    pub fn run(self, builder: impl FnOnce() -> ClientBuilder) -> Result<(), RoleError> {
        match self {
            Role::Agent(words) => crate::runtime::agent_cli::run(&words).map_err(RoleError::Failed),
            Role::JobsController { home, tuning } => {
                // On a remote controller's host its environment holds the granted
                // credentials: other processes of the user may not read them.
                crate::runtime::stop_kit::make_undumpable().map_err(RoleError::Failed)?;
                let client = builder().home(home).open()?;
                let pid = std::process::id();
                let now = crate::runtime::agent::unix_now;
                use crate::jobs::controller_log::{idle_line, started_line};
                eprintln!("{}", started_line(now(), pid));
                if client.run_jobs_controller(tuning.settings())? {
                    eprintln!("{}", idle_line(now(), pid));
                } else {
                    eprintln!(
                        "{} another jobs controller runs; exiting",
                        crate::clock::utc(now())
                    );
                }
                Ok(())
            }
            Role::ServeController { home, tuning } => {
                crate::runtime::stop_kit::make_undumpable().map_err(RoleError::Failed)?;
                let client = builder().home(home).open()?;
                let pid = std::process::id();
                let now = || crate::clock::utc(crate::runtime::agent::unix_now());
                eprintln!("{} serve controller {pid} started", now());
                if client.run_serve_controller(tuning.serve_settings())? {
                    eprintln!("{} serve controller {pid}: no service left, exiting", now());
                } else {
                    eprintln!("{} another serve controller runs; exiting", now());
                }
                Ok(())
            }
            Role::KubeProxy(target) => kube_proxy(&target),
            Role::Autostop {
                home,
                cluster,
                down,
            } => {
                let client = builder().home(home).open()?;
                if down {
                    client.down(&cluster, false)?;
                } else {
                    client.stop(&cluster)?;
                }
                Ok(())
            }
        }
    }
}

/// For a program's `main`: when its arguments ask for one of aloft's roles (see
/// the [module](self) documentation), plays it and exits the process (status 0,
/// or 1 with the error on stderr); otherwise returns and the program goes on.
#[cfg(feature = "plugin")]
pub fn run_if_role(builder: impl FnOnce() -> ClientBuilder) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(role) = Role::parse(&args) else {
        return;
    };
    match role.and_then(|role| role.run(builder)) {
        Ok(()) => std::process::exit(0),
        Err(err) => {
            eprintln!("error: {err}");
            std::process::exit(1);
        }
    }
}

fn parse_role(name: &str, args: &[String]) -> Result<Role, RoleError> {
    let usage = |why: String| RoleError::Usage(format!("{ROLE_WORD} {name}: {why}"));
    let mut flags = std::collections::BTreeMap::new();
    let mut words = args.iter();
    while let Some(word) = words.next() {
        let Some(flag) = word.strip_prefix("--") else {
            return Err(usage(format!("unexpected `{word}`")));
        };
        let value = match flag {
            "stop" | "down" => String::new(),
            _ => words
                .next()
                .cloned()
                .ok_or_else(|| usage(format!("--{flag} needs a value")))?,
        };
        flags.insert(flag.to_string(), value);
    }
    let mut take = |flag: &str| flags.remove(flag);
    let required = |value: Option<String>, flag: &str| {
        value.ok_or_else(|| usage(format!("--{flag} is required")))
    };
    let millis = |value: Option<String>, flag: &str| -> Result<Option<Duration>, RoleError> {
        value
            .map(|v| {
                v.parse()
                    .map(Duration::from_millis)
                    .map_err(|_| usage(format!("--{flag} needs a number of milliseconds")))
            })
            .transpose()
    };
    let role = match name {
        "jobs-controller" | "serve-controller" => {
            let home = required(take("home"), "home")?.into();
            let tuning = ControllerTuning {
                poll: millis(take("poll-ms"), "poll-ms")?,
                idle_exit: millis(take("idle-ms"), "idle-ms")?,
                launch_retry: millis(take("retry-ms"), "retry-ms")?,
                window: millis(take("window-ms"), "window-ms")?,
            };
            if name == "jobs-controller" {
                Role::JobsController { home, tuning }
            } else {
                Role::ServeController { home, tuning }
            }
        }
        "kube-proxy" => Role::KubeProxy(KubeProxyTarget {
            context: required(take("context"), "context")?,
            namespace: required(take("namespace"), "namespace")?,
            pod: required(take("pod"), "pod")?,
            port: Some(
                required(take("port"), "port")?
                    .parse()
                    .map_err(|_| usage("--port needs a port number".into()))?,
            ),
            kubeconfig: take("kubeconfig").map(PathBuf::from),
        }),
        "autostop" => {
            let (stop, down) = (take("stop").is_some(), take("down").is_some());
            if stop == down {
                return Err(usage("give one of --stop and --down".into()));
            }
            Role::Autostop {
                home: required(take("home"), "home")?.into(),
                cluster: required(take("cluster"), "cluster")?,
                down,
            }
        }
        other => {
            return Err(RoleError::Usage(format!(
                "{ROLE_WORD}: unknown role `{other}` (jobs-controller, serve-controller, kube-proxy, autostop)"
            )));
        }
    };
    match flags.keys().next() {
        Some(extra) => Err(usage(format!("unknown flag --{extra}"))),
        None => Ok(role),
    }
}

/// Resolves the context, then relays stdin/stdout to the pod's port until either
/// side closes. Nothing but the pod's bytes goes to stdout (SSH reads it).
#[cfg(feature = "plugin")]
fn kube_proxy(target: &KubeProxyTarget) -> Result<(), RoleError> {
    use crate::kube::portforward::{check_context, check_namespace, check_pod, proxy_stdio};
    let failed = |e: &dyn std::fmt::Display| RoleError::Failed(format!("kube-proxy: {e}"));
    check_context(&target.context)
        .and_then(|()| check_namespace(&target.namespace))
        .and_then(|()| check_pod(&target.pod))
        .map_err(|e| failed(&e))?;
    let port = target.port.ok_or_else(|| failed(&"--port is required"))?;
    let ctx = crate::kube::config::resolve(target.kubeconfig.as_deref(), &target.context)
        .map_err(|e| failed(&e))?;
    proxy_stdio(&ctx, &target.namespace, &target.pod, port)
        .map(|_| ())
        .map_err(|e| failed(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &[String]) -> Vec<String> {
        line[1..].to_vec()
    }

    #[test]
    fn every_role_reads_back_what_it_writes() {
        let program = Path::new("/opt/my tool");
        let roles = [
            Role::Agent(vec!["--root".into(), "/x".into(), "queue".into()]),
            Role::JobsController {
                home: "/h".into(),
                tuning: ControllerTuning {
                    poll: Some(Duration::from_millis(200)),
                    idle_exit: None,
                    launch_retry: Some(Duration::from_millis(50)),
                    window: None,
                },
            },
            Role::ServeController {
                home: "/h".into(),
                tuning: ControllerTuning {
                    poll: Some(Duration::from_millis(300)),
                    idle_exit: Some(Duration::from_millis(900)),
                    launch_retry: None,
                    window: Some(Duration::from_millis(5000)),
                },
            },
            Role::KubeProxy(KubeProxyTarget {
                context: "kind-a".into(),
                namespace: "default".into(),
                pod: "c-head".into(),
                port: Some(22),
                kubeconfig: Some("/k/config".into()),
            }),
            Role::Autostop {
                home: "/h".into(),
                cluster: "dev".into(),
                down: true,
            },
        ];
        for role in roles {
            let line = role.command_line(program);
            assert_eq!(line[0], "/opt/my tool");
            let parsed = Role::parse(&words(&line)).expect("a role").expect("parses");
            assert_eq!(parsed, role, "{line:?}");
        }
    }

    #[test]
    fn other_command_lines_are_the_programs_own() {
        for line in [&["launch", "task.yaml"][..], &["stop", "-y", "dev"], &[]] {
            let args: Vec<String> = line.iter().map(|s| s.to_string()).collect();
            assert!(Role::parse(&args).is_none(), "{line:?}");
        }
    }

    #[test]
    fn malformed_role_lines_are_errors_that_say_why() {
        let cases: &[(&[&str], &str)] = &[
            (&["aloft-role"], "name a role"),
            (&["aloft-role", "fly"], "unknown role `fly`"),
            (
                &["aloft-role", "autostop", "--home", "/h", "--cluster", "c"],
                "one of --stop",
            ),
            (&["aloft-role", "jobs-controller"], "--home is required"),
            (
                &[
                    "aloft-role",
                    "jobs-controller",
                    "--home",
                    "/h",
                    "--poll-ms",
                    "x",
                ],
                "milliseconds",
            ),
            (
                &[
                    "aloft-role",
                    "jobs-controller",
                    "--home",
                    "/h",
                    "--color",
                    "red",
                ],
                "unknown flag --color",
            ),
        ];
        for (line, expected) in cases {
            let args: Vec<String> = line.iter().map(|s| s.to_string()).collect();
            let err = Role::parse(&args)
                .expect("a role line")
                .expect_err("malformed");
            assert!(err.to_string().contains(expected), "{line:?}: {err}");
        }
    }

    #[test]
    fn the_old_kube_proxy_line_still_works() {
        let args: Vec<String> = [
            "kube-proxy",
            "--context",
            "c",
            "--namespace",
            "n",
            "--pod",
            "p",
            "--port",
            "22",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let role = Role::parse(&args).expect("a role").expect("parses");
        assert!(matches!(
            role,
            Role::KubeProxy(KubeProxyTarget { port: Some(22), .. })
        ));
    }
}
