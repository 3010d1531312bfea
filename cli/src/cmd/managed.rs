//! `aloft jobs launch|queue|logs|cancel`: managed jobs (SkyPilot's `sky jobs`),
//! rendered from the client's managed-job calls. The controller runs as a process
//! of its own (aloft's jobs-controller role, started on demand by the client, exiting
//! when idle), so it outlives the command that submitted the job; with
//! `jobs: controller:` in `config.yaml` it runs on a cluster of its own.

use aloft::client::{
    CONTROLLER_CLUSTER, Client, ManagedQueueFilter, TaskUse, managed_job_end_result, with_consent,
};
use aloft::clock::unix_now;
use aloft::jobs::{CancelTarget, JobId};

use crate::cmd::task_args::TaskInput;
use crate::exit::{CliError, CliResult};
use crate::render::{self, Output, OutputArg};

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
    /// Cancel managed jobs.
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
        /// Output format (`json`: the ids now cancelling).
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
}

/// Asks `Launching a managed job `NAME`. Proceed? [Y/n]`, as SkyPilot does,
/// unless `yes` (see [`crate::confirm`]).
fn confirm_launch(chain: &aloft::task::TaskChain, name: Option<&str>, yes: bool) -> CliResult {
    let name = aloft::jobs::NewJob::chosen_name(chain, name);
    let job = name.map_or_else(String::new, |n| format!(" `{n}`"));
    crate::confirm::confirm(&format!("Launching a managed job{job}"), true, yes)
}

/// Asks `Cancelling N managed job(s) (IDS). Proceed? [Y/n]`, as SkyPilot does,
/// unless `yes`. When nothing unfinished matches, or a named id does not exist,
/// nothing is asked: the cancel itself then refuses, saying why.
fn confirm_cancel(client: &Client, target: &CancelTarget, yes: bool) -> CliResult {
    if yes {
        return Ok(());
    }
    let matching = client.managed_jobs_to_cancel(target)?;
    if matching.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = matching.iter().map(JobId::to_string).collect();
    crate::confirm::confirm(
        &format!(
            "Cancelling {} managed job(s) ({})",
            ids.len(),
            ids.join(", ")
        ),
        true,
        false,
    )
}

/// Runs `aloft jobs`.
pub fn run(args: Args) -> CliResult {
    let client = crate::client::open()?;
    match args.command {
        Command::Launch { task, detach, yes } => {
            let chain = task.load(TaskUse::ManagedJob)?.chain;
            let name = task.flags.name.as_deref();
            confirm_launch(&chain, name, yes)?;
            let id = with_consent(
                |consent| client.submit_job_with_consent(&chain, name, consent),
                |grant| ask_grant(grant, yes),
            )?;
            if detach {
                println!("{id}");
                return Ok(());
            }
            eprintln!("Managed job {id} submitted; following its output (Ctrl-C detaches).");
            follow(&client, id)
        }
        Command::Queue {
            all: _,
            skip_finished,
            name,
            verbose,
            output,
        } => {
            let jobs = client.managed_queue(&ManagedQueueFilter {
                skip_finished,
                name,
            })?;
            if output.is_json() {
                return render::print_json(&jobs);
            }
            let now = unix_now();
            let rows: Vec<Vec<String>> = jobs
                .iter()
                .map(|j| {
                    let mut row = vec![
                        j.id.to_string(),
                        format!("{}/{}", j.task_index + 1, j.task_count),
                        j.name.clone(),
                        j.resources.clone(),
                        render::ago(now, j.submitted_at),
                        render::duration(j.ended_at.unwrap_or(now) - j.submitted_at),
                        j.started_at.map_or("-".into(), |s| {
                            render::duration(j.ended_at.unwrap_or(now) - s)
                        }),
                        j.recovery_count.to_string(),
                        j.status.as_str().to_string(),
                        j.location.as_ref().map_or("-".into(), |l| {
                            if verbose {
                                l.to_string()
                            } else {
                                format!("{} ({})", l.cloud, l.region)
                            }
                        }),
                    ];
                    if verbose {
                        row.extend([
                            j.started_at.map_or("-".into(), aloft::clock::utc),
                            j.cluster_name.clone().unwrap_or_else(|| "-".into()),
                            j.failure_reason.clone().unwrap_or_else(|| "-".into()),
                        ]);
                    }
                    row
                })
                .collect();
            let mut header = vec![
                "ID",
                "TASK",
                "NAME",
                "RESOURCES",
                "SUBMITTED",
                "TOT. DURATION",
                "JOB DURATION",
                "#RECOVERIES",
                "STATUS",
                "WHERE",
            ];
            if verbose {
                header.extend(["STARTED (UTC)", "CLUSTER", "DETAILS"]);
            }
            // A long queue is written in one piece: stdout is line-buffered.
            use std::io::Write;
            match std::io::stdout()
                .lock()
                .write_all(render::columns(&header, &rows).as_bytes())
            {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    return Err(CliError::failure(format!("cannot write the queue: {e}")));
                }
                _ => {}
            }
            Ok(())
        }
        Command::Logs {
            id,
            no_follow,
            controller,
        } => {
            if controller {
                return Ok(client.managed_job_output(None, &mut std::io::stdout().lock())?);
            }
            let id = match id {
                Some(id) => id,
                None => {
                    let id = client.newest_unfinished_managed_job()?;
                    eprintln!("Managed job {id} (the newest unfinished one):");
                    id
                }
            };
            if no_follow {
                Ok(client.managed_job_output(Some(id), &mut std::io::stdout().lock())?)
            } else {
                follow(&client, id)
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
            confirm_cancel(&client, &target, yes)?;
            let cancelled = client.cancel_jobs(&target)?;
            if output.is_json() {
                return render::print_json(&cancelled);
            }
            for id in cancelled {
                eprintln!("Managed job {id}: cancellation requested.");
            }
            Ok(())
        }
    }
}

/// Asks before the controller cluster is given credentials not granted before,
/// showing which providers and credential names (never values) it would get;
/// `yes` grants them without asking, and with no terminal to ask it refuses (see
/// [`aloft::client::with_consent`]).
pub fn ask_grant(grant: &aloft::client::ControllerGrant, yes: bool) -> CliResult {
    eprintln!(
        "The controller (cluster `{CONTROLLER_CLUSTER}`) gets, as this machine \
             holds them, the credentials of the providers its jobs and services may use \
             (`jobs.controller.providers` in config.yaml):"
    );
    for (provider, names) in &grant.providers {
        let names = if names.is_empty() {
            "(none)".to_string()
        } else {
            names.join(", ")
        };
        eprintln!("  {provider}: {names}");
    }
    crate::confirm::confirm("Sending them to the controller", false, yes)
}

/// Follows the job across recoveries; the exit code says how it ended.
fn follow(client: &Client, id: i64) -> CliResult {
    let job = client.follow_managed_job(id, &mut std::io::stdout().lock())?;
    eprintln!("Managed job {id} ended {}.", job.status.as_str());
    Ok(managed_job_end_result(&job)?)
}
