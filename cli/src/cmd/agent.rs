//! `aloft agent ...`: the head node's side. The launcher copies the `aloft` binary to
//! a cluster's head node and drives it with these subcommands (over SSH on clouds,
//! directly for `local` clusters); users do not call them.

use std::io::Read;

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use aloft::runtime::agent::{self, Agent, AgentPaths, AutostopSpec, ClusterSpec, unix_now};
use aloft::runtime::daemon;
use aloft::runtime::queue::{JobQueue, JobSpec};
use serde::Deserialize;

use crate::config::expand_home;
use crate::exit::{CliError, CliResult};
use crate::render;

/// Flags of `aloft agent`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The agent's folder on this node.
    #[arg(long, default_value = "~/.aloft/agent")]
    root: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Run the agent until killed.
    Run {
        /// Poll interval in milliseconds.
        #[arg(long, default_value_t = 100)]
        poll_ms: u64,
    },
    /// Queue a job: `{"spec": JobSpec, "secrets": [[k, v], ...]}` on stdin; prints its id.
    Submit,
    /// Print the queue as JSON.
    Queue {
        /// Leave out finished jobs.
        #[arg(short, long)]
        skip_finished: bool,
    },
    /// Request cancellation of jobs.
    Cancel {
        /// Job ids.
        ids: Vec<u64>,
    },
    /// Install the cluster description (`{"spec": ClusterSpec, "autostop": ...}` on
    /// stdin) and start the agent unless it runs.
    Init,
    /// Print the cluster description as JSON.
    Spec,
    /// Cancel every unfinished job and stop the agent.
    Stop,
    /// Print a job's log.
    Logs {
        /// Job id.
        id: u64,
        /// Only the last N lines.
        #[arg(long)]
        tail: Option<usize>,
        /// Keep printing until the job ends.
        #[arg(long)]
        follow: bool,
    },
}

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

fn failure(err: impl std::fmt::Display) -> CliError {
    CliError::failure(err.to_string())
}

fn read_stdin() -> Result<String, CliError> {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .map_err(failure)?;
    Ok(input)
}

/// Runs the command.
pub fn run(args: Args) -> CliResult {
    let paths = AgentPaths::new(expand_home(&args.root));
    match args.command {
        Command::Run { poll_ms } => {
            // The agent records its own pid, so that a launcher killed right after
            // spawning it cannot leave an agent nobody can find and stop.
            let pid_file = paths.root().join("agent.pid");
            std::fs::write(&pid_file, std::process::id().to_string())
                .map_err(|e| CliError::failure(format!("{}: {e}", pid_file.display())))?;
            let stop = AtomicBool::new(false);
            let mut agent = Agent::open(paths).map_err(failure)?;
            agent
                .run(Duration::from_millis(poll_ms), &stop)
                .map_err(failure)
        }
        Command::Init => {
            let request: InitRequest = serde_json::from_str(&read_stdin()?)
                .map_err(|e| CliError::failure(format!("bad init request: {e}")))?;
            let binary = std::env::current_exe().map_err(failure)?;
            daemon::install(&binary, &paths, &request.spec, request.autostop.as_ref())
                .map_err(failure)
        }
        Command::Spec => render::print_json(&agent::read_cluster_spec(&paths).map_err(failure)?),
        Command::Stop => daemon::shutdown(&paths).map_err(failure),
        Command::Submit => {
            let input = read_stdin()?;
            let request: SubmitRequest = serde_json::from_str(&input)
                .map_err(|e| CliError::failure(format!("bad submit request: {e}")))?;
            let id = agent::submit(&paths, &request.spec, &request.secrets, unix_now())
                .map_err(failure)?;
            println!("{id}");
            Ok(())
        }
        Command::Queue { skip_finished } => {
            let queue = JobQueue::open(&paths.queue_db()).map_err(failure)?;
            render::print_json(&queue.jobs(skip_finished).map_err(failure)?)
        }
        Command::Cancel { ids } => {
            let queue = JobQueue::open(&paths.queue_db()).map_err(failure)?;
            let jobs = ids
                .into_iter()
                .map(|id| queue.request_cancel(id, unix_now()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(failure)?;
            render::print_json(&jobs)
        }
        Command::Logs { id, tail, follow } => {
            let mut out = std::io::stdout().lock();
            agent::write_log(&paths, id, tail, follow, &mut out).map_err(failure)?;
            Ok(())
        }
    }
}
