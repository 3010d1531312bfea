//! The head node's side of aloft, as a command line: `agent [--root DIR] VERB ...`.
//! The launcher copies its own program to a cluster's head node and drives it with
//! these verbs (over SSH on clouds, directly for `local` clusters); users do not call
//! them. A program that embeds aloft answers them, with aloft's other roles, by
//! calling [`crate::roles::run_if_role`] first in `main`.
//!
//! | verb | what it does |
//! | --- | --- |
//! | `run [--poll-ms N]` | run the agent until killed |
//! | `submit` | queue a job (`{"spec": JobSpec, "secrets": [[k, v], ...]}` on stdin); prints its id |
//! | `queue [-s]` | print the queue as JSON (`-s`: leave out finished jobs) |
//! | `cancel ID...` | request cancellation |
//! | `init` | install the cluster description (`{"spec": ..., "autostop": ...}` on stdin), start the agent |
//! | `spec` | print the cluster description as JSON |
//! | `stop` | cancel every unfinished job and stop the agent |
//! | `logs ID [--tail N] [--follow]` | print a job's log |
//! | `autostop` | set (`{"autostop": AutostopSpec, "kit": StopKit}`, or `"power_off": true` instead of a kit, on stdin; the kit goes to the running agent's memory) or, with `null`, cancel autostop |
//! | `self-stop` | stop or tear down this cluster through its provider with the stop kit on stdin (see `stop_kit`) |
//! | `power-off` | shut every node of this cluster down, this one last (see `power_off`) |
//! | `drop-kit` | have the agent drop the stop kit, keeping the autostop setting (the cluster is being stopped) |
//! | `self-stopped` | `"down"`/`"stop"` once `self-stop` has run, else `null` |
//! | `autostop-failure` | the autostop command's last failure (`AutostopFailure`), else `null` |

use std::io::{Read, Write};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use serde::Deserialize;

use super::agent::{self, Agent, AgentPaths, AutostopSpec, ClusterSpec, unix_now};
use super::daemon;
use super::queue::{JobQueue, JobSpec};
use crate::config::expand_home;

#[derive(Deserialize)]
struct InitRequest {
    spec: ClusterSpec,
    #[serde(default)]
    autostop: Option<AutostopSpec>,
}

#[derive(Deserialize)]
struct SubmitRequest {
    spec: JobSpec,
    #[serde(default)]
    secrets: Vec<(String, String)>,
}

fn read_stdin() -> Result<String, String> {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .map_err(|e| format!("reading stdin: {e}"))?;
    Ok(input)
}

fn print_json(value: &impl serde::Serialize) -> Result<(), String> {
    let text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    println!("{text}");
    Ok(())
}

fn number<T: std::str::FromStr>(flag: &str, value: Option<&String>) -> Result<T, String> {
    value
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("{flag} needs a number"))
}

/// Runs one agent command line (the words after `agent`). Errors are messages for
/// the launcher, which shows them to the user.
pub fn run(args: &[String]) -> Result<(), String> {
    let mut root = "~/.aloft/agent".to_string();
    let mut rest = args;
    while let [flag, value, tail @ ..] = rest {
        if flag != "--root" {
            break;
        }
        root = value.clone();
        rest = tail;
    }
    let [verb, words @ ..] = rest else {
        return Err(
            "agent: a verb is needed (run, submit, queue, cancel, init, spec, stop, logs)".into(),
        );
    };
    let paths = AgentPaths::new(expand_home(&root));
    let fail = |e: &dyn std::fmt::Display| e.to_string();
    match verb.as_str() {
        "run" => {
            let poll_ms: u64 = match words {
                [] => 100,
                [flag, value] if flag == "--poll-ms" => number(flag, Some(value))?,
                _ => return Err("agent run [--poll-ms N]".into()),
            };
            // The agent records its own pid, so that a launcher killed right after
            // spawning it cannot leave an agent nobody can find and stop.
            let pid_file = paths.root().join("agent.pid");
            std::fs::write(&pid_file, std::process::id().to_string())
                .map_err(|e| format!("{}: {e}", pid_file.display()))?;
            // The agent may hold a stop kit (credentials): before anything else,
            // no process of this user may read its memory.
            super::stop_kit::make_undumpable()?;
            let stop = AtomicBool::new(false);
            let mut agent = Agent::open(paths).map_err(|e| fail(&e))?;
            // Without the socket the agent still runs its jobs; setting a kit
            // autostop then fails saying the agent does not take it.
            if let Err(err) = agent.hold_stop_kits() {
                eprintln!("no stop kit socket: {err}");
            }
            agent
                .run(Duration::from_millis(poll_ms), &stop)
                .map_err(|e| fail(&e))
        }
        "init" => {
            let request: InitRequest = serde_json::from_str(&read_stdin()?)
                .map_err(|e| format!("bad init request: {e}"))?;
            let binary = std::env::current_exe().map_err(|e| fail(&e))?;
            daemon::install(&binary, &paths, &request.spec, request.autostop.as_ref())
                .map_err(|e| fail(&e))
        }
        "spec" => print_json(&agent::read_cluster_spec(&paths).map_err(|e| fail(&e))?),
        "stop" => daemon::shutdown(&paths).map_err(|e| fail(&e)),
        "submit" => {
            let request: SubmitRequest = serde_json::from_str(&read_stdin()?)
                .map_err(|e| format!("bad submit request: {e}"))?;
            let id = agent::submit(&paths, &request.spec, &request.secrets, unix_now())
                .map_err(|e| fail(&e))?;
            println!("{id}");
            Ok(())
        }
        "queue" => {
            let skip_finished = words.iter().any(|w| w == "-s" || w == "--skip-finished");
            let queue = JobQueue::open(&paths.queue_db()).map_err(|e| fail(&e))?;
            print_json(&queue.jobs(skip_finished).map_err(|e| fail(&e))?)
        }
        "cancel" => {
            let queue = JobQueue::open(&paths.queue_db()).map_err(|e| fail(&e))?;
            let jobs = words
                .iter()
                .map(|id| {
                    let id: u64 = id.parse().map_err(|_| format!("bad job id `{id}`"))?;
                    queue.request_cancel(id, unix_now()).map_err(|e| fail(&e))
                })
                .collect::<Result<Vec<_>, _>>()?;
            print_json(&jobs)
        }
        "logs" => {
            let [id, flags @ ..] = words else {
                return Err("agent logs ID [--tail N] [--follow]".into());
            };
            let id: u64 = id.parse().map_err(|_| format!("bad job id `{id}`"))?;
            let (mut tail, mut follow) = (None, false);
            let mut flags = flags.iter();
            while let Some(flag) = flags.next() {
                match flag.as_str() {
                    "--tail" => tail = Some(number("--tail", flags.next())?),
                    "--follow" => follow = true,
                    other => return Err(format!("agent logs: unknown flag `{other}`")),
                }
            }
            let mut out = std::io::stdout().lock();
            agent::write_log(&paths, id, tail, follow, &mut out).map_err(|e| fail(&e))?;
            out.flush().map_err(|e| fail(&e))
        }
        "autostop" => {
            #[derive(Deserialize)]
            struct Request {
                autostop: Option<AutostopSpec>,
                #[serde(default)]
                kit: Option<serde_json::Value>,
                /// aloft itself on this node, which runs the kit (`self-stop`).
                #[serde(default)]
                stopper: Option<String>,
                /// No kit: the cloud stops (or terminates) a node that shuts
                /// itself down, so autostop powers the nodes off (`power-off`).
                #[serde(default)]
                power_off: bool,
            }
            let request: Request = serde_json::from_str(&read_stdin()?)
                .map_err(|e| format!("bad autostop request: {e}"))?;
            let mut autostop = request.autostop;
            match (&request.kit, autostop.as_mut()) {
                (Some(kit), Some(spec)) => {
                    let stopper = match request.stopper {
                        Some(path) => {
                            let path = expand_home(&path);
                            match std::env::var_os("HOME") {
                                Some(home) if path.is_relative() => {
                                    std::path::PathBuf::from(home).join(path)
                                }
                                _ => path,
                            }
                            .display()
                            .to_string()
                        }
                        None if cfg!(feature = "plugin") => std::env::current_exe()
                            .map_err(|e| fail(&e))?
                            .display()
                            .to_string(),
                        None => {
                            return Err("a stop kit needs a program to run it (`stopper`): \
                                        this node agent has no provider host"
                                .into());
                        }
                    };
                    // Into the daemon's memory, never onto the disk.
                    super::stop_kit::remove_kit(paths.root());
                    // An agent that died (or a head that rebooted) is started
                    // again: the kit lives in the agent's memory.
                    if daemon::running_pid(&paths).is_none() {
                        let binary = std::env::current_exe().map_err(|e| fail(&e))?;
                        daemon::start_local_agent(&binary, &paths).map_err(|e| fail(&e))?;
                    }
                    let kit = kit.to_string();
                    let deadline = std::time::Instant::now() + Duration::from_secs(10);
                    while let Err(err) = super::stop_kit::hand_over(paths.root(), kit.as_bytes()) {
                        if std::time::Instant::now() > deadline {
                            return Err(err);
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    spec.stop_kit = true;
                    spec.command = vec![
                        stopper,
                        "agent".into(),
                        "--root".into(),
                        paths.root().display().to_string(),
                        "self-stop".into(),
                    ];
                }
                (None, Some(spec)) if request.power_off => {
                    super::stop_kit::remove(paths.root());
                    let agent = std::env::current_exe().map_err(|e| fail(&e))?;
                    spec.command = vec![
                        agent.display().to_string(),
                        "agent".into(),
                        "--root".into(),
                        paths.root().display().to_string(),
                        "power-off".into(),
                    ];
                }
                _ => super::stop_kit::remove(paths.root()),
            }
            agent::set_autostop(&paths, autostop.as_ref()).map_err(|e| fail(&e))
        }
        #[cfg(feature = "plugin")]
        "self-stop" => {
            // The kit comes on stdin from the agent: unreadable by this user's
            // other processes before it is read.
            super::stop_kit::make_undumpable()?;
            super::stop_kit::run(paths.root(), &read_stdin()?)
        }
        #[cfg(not(feature = "plugin"))]
        "self-stop" => Err("self-stop runs with aloft itself, not the node agent".into()),
        "self-stopped" => print_json(&super::stop_kit::done(paths.root())),
        "power-off" => super::power_off::power_off(&paths),
        "drop-kit" => {
            super::stop_kit::drop_kit(paths.root());
            Ok(())
        }
        "autostop-failure" => {
            // A kit autostop whose agent holds no kit (it restarted) cannot
            // stop the cluster: said now, not once the idle time is up.
            let failure = agent::autostop_failure(&paths).or_else(|| {
                agent::autostop(&paths)
                    .ok()
                    .flatten()
                    .filter(|spec| spec.stop_kit && !super::stop_kit::held(paths.root()))
                    .map(|_| agent::AutostopFailure {
                        at: unix_now(),
                        attempts: 0,
                        reason: super::stop_kit::LOST_KIT.to_string(),
                        retry_at: unix_now(),
                    })
            });
            print_json(&failure)
        }
        other => Err(format!("agent: unknown verb `{other}`")),
    }
}
