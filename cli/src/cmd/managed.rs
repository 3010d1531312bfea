//! `aloft jobs launch|queue|logs|cancel`: managed jobs (SkyPilot's `sky jobs`). A
//! controller process (`aloft jobs controller`, started on demand, exiting when
//! idle) keeps every job alive through preemptions and failures, as the core's
//! `aloft::jobs` rules say; this module submits to its database and reads it back.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use aloft::client::ClientBackend;
use aloft::jobs::{
    CancelTarget, Controller, ControllerSettings, JobFilter, JobsDb, LaunchRetry, ManagedJob,
    ManagedJobStatus, NewJob,
};
use aloft::runtime::agent::unix_now;

use crate::cmd::task_args::{self, Entry, Entrypoint, TaskFlags};
use crate::config::aloft_home;
use crate::exit::{CliError, CliResult, JOB_FAILED, NO_RESOURCES};
use crate::render::{self, Output};

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
        flags: Box<TaskFlags>,
        /// Do not follow the job's output; print its id.
        #[arg(short = 'd', long = "detach-run")]
        detach: bool,
        /// Do not ask for confirmation (jobs launch never prompts).
        #[arg(short, long)]
        yes: bool,
        #[command(flatten)]
        entrypoint: Entrypoint,
    },
    /// Managed jobs (unfinished ones; `-a` for all).
    Queue {
        /// Every job, finished ones too.
        #[arg(short, long)]
        all: bool,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
    /// A managed job's output, followed across recoveries.
    Logs {
        /// The job.
        id: i64,
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
        /// Do not ask for confirmation (cancel never prompts).
        #[arg(short, long)]
        yes: bool,
    },
    /// Run the controller until it has been idle a while (started by `jobs launch`).
    #[command(hide = true)]
    Controller,
}

fn failure(err: impl std::fmt::Display) -> CliError {
    CliError::failure(err.to_string())
}

fn db(home: &Path) -> Result<JobsDb, CliError> {
    JobsDb::open(&home.join("jobs.db")).map_err(failure)
}

fn lock_path(home: &Path) -> PathBuf {
    home.join("jobs-controller.lock")
}

/// Runs `aloft jobs`.
pub fn run(args: Args) -> CliResult {
    let home = aloft_home();
    match args.command {
        Command::Launch {
            flags,
            detach,
            yes,
            entrypoint,
        } => {
            let _ = yes;
            let overrides = flags.overrides()?;
            let chain = match entrypoint.entry()? {
                Entry::File(path) => task_args::load(&path, &overrides)?,
                Entry::Command(command) => {
                    let yaml = serde_yaml::to_string(&serde_json::json!({ "run": command }))
                        .map_err(failure)?;
                    task_args::parse(&yaml, "<command line>", &overrides)?
                }
                Entry::Nothing => {
                    return Err(CliError::new(
                        crate::exit::INVALID_TASK,
                        "jobs launch needs a task file or a command",
                    ));
                }
            };
            for task in chain.tasks() {
                aloft::task::support::check_launchable(task)
                    .map_err(|e| CliError::new(crate::exit::INVALID_TASK, e))?;
            }
            let new = NewJob::from_chain(&chain, flags.name.as_deref())
                .map_err(|e| CliError::new(crate::exit::INVALID_TASK, e.to_string()))?;
            std::fs::create_dir_all(&home).map_err(failure)?;
            let job = db(&home)?.submit(&new).map_err(failure)?;
            ensure_controller(&home)?;
            if detach {
                println!("{}", job.id);
                return Ok(());
            }
            eprintln!(
                "Managed job {} submitted; following its output (Ctrl-C detaches).",
                job.id
            );
            follow(&home, job.id)
        }
        Command::Queue { all, output } => {
            let filter = if all {
                JobFilter::All
            } else {
                JobFilter::Unfinished
            };
            let jobs = db(&home)?.list(filter).map_err(failure)?;
            if output == Output::Json {
                return render::print_json(&jobs);
            }
            let mut table = render::table([
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
            ]);
            let now = unix_now();
            for j in &jobs {
                table.add_row(vec![
                    j.id.to_string(),
                    format!("{}/{}", j.task_index + 1, j.tasks.len()),
                    j.name.clone(),
                    j.resources.clone(),
                    ago(now, j.submitted_at),
                    duration(j.ended_at.unwrap_or(now) - j.submitted_at),
                    j.started_at
                        .map_or("-".into(), |s| duration(j.ended_at.unwrap_or(now) - s)),
                    j.recovery_count.to_string(),
                    j.status.as_str().to_string(),
                    j.location
                        .as_ref()
                        .map_or("-".into(), |l| format!("{} ({})", l.cloud, l.region)),
                ]);
            }
            println!("{table}");
            Ok(())
        }
        Command::Logs {
            id,
            no_follow,
            controller,
        } => {
            if controller {
                let text = std::fs::read_to_string(home.join("jobs-controller.log"))
                    .map_err(|e| CliError::failure(format!("no controller log: {e}")))?;
                print!("{text}");
                return Ok(());
            }
            let job = get(&home, id)?;
            if no_follow {
                let (Some(cluster), Some(cluster_job)) = (&job.cluster_name, job.cluster_job_id)
                else {
                    eprintln!("Job {id} is {} and has no output yet.", job.status.as_str());
                    return Ok(());
                };
                let client = crate::client::open()?;
                client.logs(
                    cluster,
                    u64::try_from(cluster_job).unwrap_or_default(),
                    None,
                    false,
                    &mut std::io::stdout().lock(),
                )?;
                return Ok(());
            }
            follow(&home, id)
        }
        Command::Cancel {
            ids,
            name,
            all,
            yes,
        } => {
            let _ = yes;
            let target = match (ids.is_empty(), name, all) {
                (_, _, true) => CancelTarget::All,
                (_, Some(name), false) => CancelTarget::Name(name),
                (false, None, false) => CancelTarget::Ids(ids.clone()),
                (true, None, false) => {
                    return Err(CliError::failure("name the jobs, -n NAME, or -a"));
                }
            };
            let db = db(&home)?;
            if let CancelTarget::Ids(ids) = &target {
                for id in ids {
                    if db.get(*id).map_err(failure)?.is_none() {
                        return Err(CliError::failure(format!("no managed job {id}")));
                    }
                }
            }
            let cancelled = db.request_cancel(&target).map_err(failure)?;
            if cancelled.is_empty() {
                return Err(CliError::failure("no unfinished job to cancel"));
            }
            ensure_controller(&home)?;
            for id in cancelled {
                eprintln!("Managed job {id}: cancellation requested.");
            }
            Ok(())
        }
        Command::Controller => run_controller(&home),
    }
}

fn get(home: &Path, id: i64) -> Result<ManagedJob, CliError> {
    db(home)?
        .get(id)
        .map_err(failure)?
        .ok_or_else(|| CliError::failure(format!("no managed job {id}")))
}

/// Streams the job's output from whatever cluster it runs on now, across
/// recoveries, until it ends; the exit code says how it ended.
fn follow(home: &Path, id: i64) -> CliResult {
    let client = crate::client::open()?;
    let mut followed: Option<(String, i64)> = None;
    loop {
        let job = get(home, id)?;
        if job.status.is_terminal() {
            eprintln!("Managed job {id} ended {}.", job.status.as_str());
            return match job.status {
                ManagedJobStatus::Succeeded => Ok(()),
                ManagedJobStatus::FailedNoResource => Err(CliError::new(
                    NO_RESOURCES,
                    job.failure_reason.unwrap_or_default(),
                )),
                other => Err(CliError::new(
                    JOB_FAILED,
                    format!("managed job {id} ended {}", other.as_str()),
                )),
            };
        }
        if job.status == ManagedJobStatus::Running
            && let (Some(cluster), Some(cluster_job)) = (&job.cluster_name, job.cluster_job_id)
            && followed.as_ref() != Some(&(cluster.clone(), cluster_job))
        {
            followed = Some((cluster.clone(), cluster_job));
            // Ends when that job ends, or when its cluster goes (preemption).
            let _ = client.logs(
                cluster,
                u64::try_from(cluster_job).unwrap_or_default(),
                None,
                true,
                &mut std::io::stdout().lock(),
            );
            continue;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Starts the controller unless one runs (it holds `jobs-controller.lock`).
fn ensure_controller(home: &Path) -> CliResult {
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_path(home))
        .map_err(failure)?;
    if lock.try_lock().is_err() {
        return Ok(()); // one runs
    }
    drop(lock);
    let log = File::options()
        .create(true)
        .append(true)
        .open(home.join("jobs-controller.log"))
        .map_err(failure)?;
    let err = log.try_clone().map_err(failure)?;
    let me = std::env::current_exe().map_err(failure)?;
    use std::os::unix::process::CommandExt;
    std::process::Command::new(me)
        .args(["jobs", "controller"])
        .stdin(std::process::Stdio::null())
        .stdout(log)
        .stderr(err)
        .process_group(0)
        .spawn()
        .map_err(|e| CliError::failure(format!("cannot start the jobs controller: {e}")))?;
    Ok(())
}

fn env_ms(name: &str) -> Option<Duration> {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_millis)
}

/// The controller: one process for every job, holding the lock for its life so no
/// second controller manages the same database.
fn run_controller(home: &Path) -> CliResult {
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_path(home))
        .map_err(failure)?;
    if lock.try_lock().is_err() {
        eprintln!("another jobs controller runs; exiting");
        return Ok(());
    }
    let mut settings = ControllerSettings::default();
    if let Some(poll) = env_ms("ALOFT_JOBS_POLL_MS") {
        settings.poll_interval = poll;
        settings.scan_interval = poll;
    }
    if let Some(idle) = env_ms("ALOFT_JOBS_IDLE_MS") {
        settings.idle_exit_after = idle;
    }
    if let Some(backoff) = env_ms("ALOFT_JOBS_RETRY_MS") {
        settings.launch_retry = LaunchRetry {
            initial_backoff: backoff,
            max_backoff: backoff * 8,
            ..settings.launch_retry
        };
    }
    let backend = ClientBackend::new(
        home,
        crate::bundled::providers(),
        std::env::current_exe().ok(),
    );
    let controller =
        Controller::open(&home.join("jobs.db"), Arc::new(backend), settings).map_err(failure)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(failure)?;
    eprintln!(
        "jobs controller {} started at {}",
        std::process::id(),
        unix_now()
    );
    let result = rt.block_on(controller.run()).map_err(failure);
    eprintln!("jobs controller {} idle, exiting", std::process::id());
    drop(lock);
    result
}

fn ago(now: i64, at: i64) -> String {
    format!("{} ago", duration(now - at))
}

fn duration(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        _ => format!("{}h {}m", s / 3600, (s % 3600) / 60),
    }
}
