//! `aloft jobs launch|queue|logs|cancel`: managed jobs (SkyPilot's `sky jobs`),
//! rendered from the client's managed-job calls. The controller runs as a process
//! of its own (aloft's jobs-controller role, started on demand by the client, exiting
//! when idle), so it outlives the command that submitted the job; with
//! `jobs: controller:` in `config.yaml` it runs on a cluster of its own.

use aloft::client::{Client, ManagedQueueFilter, TaskUse, managed_job_end_result, with_consent};
use aloft::clock::unix_now;
use aloft::jobs::CancelTarget;
use aloft::views::{self, Detail};

use crate::cmd::task_args::TaskInput;
use crate::exit::{CliError, CliResult};
use crate::render::{self, OutputArg};

/// `aloft jobs ...`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Submit a managed job: TASK.yaml (a pipeline runs its tasks in order) or a command.
    Launch {
        /// (`-n NAME` names the job.)
        #[command(flatten)]
        task: Box<TaskInput>,
        /// Do not follow the job's output; print its id.
        #[arg(short = 'd', long = "detach-run")]
        detach: bool,
        /// Do not ask before the remote jobs controller is given credentials not
        /// granted before (`jobs.controller.providers`); grant them.
        #[arg(short, long)]
        yes: bool,
    },
    /// Managed jobs, newest first: finished ones too unless `-s` (as SkyPilot).
    Queue {
        /// Every job, finished ones too (the default; kept for scripts).
        #[arg(short, long, conflicts_with = "skip_finished")]
        all: bool,
        /// Only unfinished jobs.
        #[arg(short, long)]
        skip_finished: bool,
        /// Only jobs with this name.
        #[arg(short = 'n', long)]
        name: Option<String>,
        /// Every field: when each started (UTC), its cluster, its place in full
        /// and why it failed (SkyPilot's `-v`).
        #[arg(short, long)]
        verbose: bool,
        #[command(flatten)]
        output: OutputArg,
    },
    /// A managed job's output, followed across recoveries.
    Logs {
        /// The job (default: the newest unfinished one).
        id: Option<i64>,
        /// Print what is there and stop.
        #[arg(long)]
        no_follow: bool,
        /// The controller's log instead of the job's.
        #[arg(long)]
        controller: bool,
    },
    /// Cancel managed jobs (`-o json`: the ids now cancelling).
    Cancel {
        /// Job ids.
        ids: Vec<i64>,
        /// Every job with this name.
        #[arg(short = 'n', long)]
        name: Option<String>,
        /// Every unfinished job.
        #[arg(short, long)]
        all: bool,
        /// Do not ask for confirmation.
        #[arg(short, long)]
        yes: bool,
        #[command(flatten)]
        output: OutputArg,
    },
}

/// Runs `aloft jobs`.
pub fn run(args: Args) -> CliResult {
    let client = crate::client::open()?;
    match args.command {
        Command::Launch { task, detach, yes } => {
            let chain = task.load(TaskUse::ManagedJob)?.chain;
            let name = task.flags.name.as_deref();
            crate::confirm::confirm(&views::managed::launch_question(&chain, name), true, yes)?;
            let id = with_consent(
                |consent| client.submit_job_with_consent(&chain, name, consent),
                |grant| ask_grant(grant, yes),
            )?;
            if detach {
                println!("{id}");
                return Ok(());
            }
            render::print(&views::managed::submitted(id))?;
            follow(&client, id)
        }
        Command::Queue {
            all: _,
            skip_finished,
            name,
            verbose,
            output,
        } => {
            let filter = ManagedQueueFilter {
                skip_finished,
                name,
            };
            output.print(&client.managed_queue(&filter)?, |jobs| {
                views::managed::queue(jobs, Detail::from_verbose(verbose), unix_now())
            })
        }
        Command::Logs {
            id,
            no_follow,
            controller,
        } => {
            let id = match id {
                _ if controller => None,
                Some(id) => Some(id),
                None => {
                    let id = client.newest_unfinished_managed_job()?;
                    render::print(&views::managed::newest_unfinished(id))?;
                    Some(id)
                }
            };
            match id {
                Some(id) if !no_follow => follow(&client, id),
                // The controller's log (no id), or what the job printed so far.
                id => Ok(client.managed_job_output(id, &mut std::io::stdout().lock())?),
            }
        }
        Command::Cancel {
            ids,
            name,
            all,
            yes,
            output,
        } => {
            let target = CancelTarget::choose(ids, name, all)
                .ok_or_else(|| CliError::failure("name the jobs, -n NAME, or -a"))?;
            if !yes {
                let matching = client.managed_jobs_to_cancel(&target)?;
                if let Some(question) = views::managed::cancel_question(&matching) {
                    crate::confirm::confirm(&question, true, false)?;
                }
            }
            let cancelled = client.cancel_jobs(&target)?;
            output.print(&cancelled, |ids| views::managed::cancelled(ids))
        }
    }
}

/// Asks before the controller cluster is given credentials not granted before,
/// showing which providers and credential names (never values) it would get;
/// `yes` grants them without asking, and with no terminal to ask it refuses (see
/// [`aloft::client::with_consent`]).
pub fn ask_grant(grant: &aloft::client::ControllerGrant, yes: bool) -> CliResult {
    render::print(&views::managed::grant(grant))?;
    crate::confirm::confirm(views::managed::GRANT_QUESTION, false, yes)
}

/// Follows the job across recoveries; the exit code says how it ended.
fn follow(client: &Client, id: i64) -> CliResult {
    let job = client.follow_managed_job(id, &mut std::io::stdout().lock())?;
    render::print(&views::managed::ended(id, job.status))?;
    Ok(managed_job_end_result(&job)?)
}
