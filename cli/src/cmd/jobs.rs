//! `aloft queue`, `aloft logs`, `aloft cancel`: a cluster's job queue, through its
//! head node's agent.

use aloft::JobRecord;
use aloft::client::{Cancellation, ClusterCancel, LogsOptions};
use aloft::clock::unix_now;

use crate::exit::CliResult;
use crate::render::{self, OutputArg};

/// Flags of `aloft queue`.
#[derive(Debug, clap::Args)]
pub struct QueueArgs {
    /// Clusters (glob patterns work); every UP cluster when none is named. With
    /// one plain name, `-o json` prints that cluster's job list; otherwise an
    /// object of job lists by cluster.
    clusters: Vec<String>,
    /// Leave out finished jobs.
    #[arg(short, long)]
    skip_finished: bool,
    #[command(flatten)]
    output: OutputArg,
}

/// Flags of `aloft logs`.
#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// The cluster.
    cluster: String,
    /// The job (default: the latest).
    job: Option<u64>,
    /// Keep printing until the job ends (the default, as in SkyPilot).
    #[arg(long, overrides_with = "no_follow")]
    follow: bool,
    /// Print what is there and stop.
    #[arg(long)]
    no_follow: bool,
    /// Only the last N lines.
    #[arg(long)]
    tail: Option<usize>,
    /// Print only the job's status; the exit code is 0 only when it succeeded.
    #[arg(long)]
    status: bool,
    /// Copy the job's log here: `$ALOFT_HOME/logs/CLUSTER/job-ID.log` (printed).
    #[arg(short, long)]
    sync_down: bool,
    /// Only the output of node N (0 is the head).
    #[arg(short, long, value_name = "N")]
    worker: Option<u32>,
}

/// Flags of `aloft cancel`.
#[derive(Debug, clap::Args)]
pub struct CancelArgs {
    /// The cluster, or a glob pattern (`'dev-*'`) for every cluster it matches (then
    /// `-a` or the latest job of each; with one plain name, `-o json` prints a
    /// list, otherwise an object of lists by cluster).
    cluster: String,
    /// Jobs to cancel (default: the latest job, as in SkyPilot).
    jobs: Vec<u64>,
    /// Cancel every unfinished job.
    #[arg(short, long)]
    all: bool,
    /// Do not ask for confirmation.
    #[arg(short, long)]
    yes: bool,
    #[command(flatten)]
    output: OutputArg,
}

fn print_jobs(jobs: &[JobRecord], output: OutputArg) -> CliResult {
    if output.is_json() {
        return render::print_json(&jobs);
    }
    let mut table = render::table(["ID", "NAME", "SUBMITTED", "STATUS", "RESOURCES", "EXIT"]);
    for job in jobs {
        let d = &job.spec.demand;
        let gpus = match (&job.spec.accelerator, d.gpus > 0.0) {
            (Some(name), true) => format!(", {name}:{}", render::number(d.gpus)),
            (None, true) => format!(", {} GPU", render::number(d.gpus)),
            _ => String::new(),
        };
        table.add_row(vec![
            job.id.to_string(),
            job.spec.name.clone().unwrap_or_else(|| "-".into()),
            render::ago(unix_now(), job.submitted_at),
            job.status.to_string(),
            format!("{}x[CPU:{}{gpus}]", d.num_nodes, render::number(d.cpus)),
            if job.exit_codes.is_empty() {
                "-".into()
            } else {
                job.exit_codes
                    .iter()
                    .map(i32::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            },
        ]);
    }
    println!("{table}");
    Ok(())
}

/// `aloft queue`.
pub fn queue(args: QueueArgs) -> CliResult {
    let client = crate::client::open()?;
    if let [name] = args.clusters.as_slice()
        && !aloft::client::is_cluster_pattern(name)
    {
        let jobs = client.queue(name, args.skip_finished)?;
        return print_jobs(&jobs, args.output);
    }
    let mut all = serde_json::Map::new();
    for (name, jobs) in client.queues(&args.clusters, args.skip_finished)? {
        // A pattern may match stopped clusters: they have no queue to show.
        let jobs = match jobs {
            Err(err @ aloft::client::ClientError::ClusterNotUp { .. }) => {
                eprintln!("Skipped: {err}");
                continue;
            }
            other => other?,
        };
        if !args.output.is_json() {
            println!("Job queue of cluster {name}");
            print_jobs(&jobs, args.output)?;
        } else {
            all.insert(name, render::json_value(&jobs)?);
        }
    }
    if args.output.is_json() {
        return render::print_json(&all);
    }
    Ok(())
}

/// `aloft logs`.
pub fn logs(args: LogsArgs) -> CliResult {
    // `--follow` is the default; the flag stays for SkyPilot's spelling.
    let _ = args.follow;
    let client = crate::client::open()?;
    let job = client.job(&args.cluster, args.job)?;
    if args.status {
        println!("Job {}: {}", job.id, job.status);
        return Ok(aloft::client::job_status_result(job.id, job.status)?);
    }
    if args.sync_down {
        let path = client.sync_down_logs(&args.cluster, job.id)?;
        println!("{}", path.display());
        return Ok(());
    }
    let options = LogsOptions {
        tail: args.tail,
        follow: !args.no_follow,
        worker: args.worker,
    };
    let status = client.job_logs(
        &args.cluster,
        job.id,
        &options,
        &mut std::io::stdout().lock(),
    )?;
    Ok(aloft::client::job_end_result(job.id, status)?)
}

/// `aloft cancel`: asks first, as SkyPilot does (`-y` skips). A glob pattern
/// cancels on every UP cluster it matches.
pub fn cancel(args: CancelArgs) -> CliResult {
    let client = crate::client::open()?;
    let pattern = aloft::client::is_cluster_pattern(&args.cluster);
    let targets = client.cancel_targets(&args.cluster, &args.jobs, args.all)?;
    for (name, err) in &targets.skipped {
        eprintln!("Skipped `{name}`: {err}");
    }
    if targets.clusters.is_empty() {
        println!(
            "No job cancelled: no cluster matching `{}` has a job.",
            args.cluster
        );
        return Ok(());
    }
    let which = |ids: &[u64]| match ids {
        _ if args.all => "every unfinished job".to_string(),
        [one] => format!("job {one}"),
        many => format!(
            "jobs {}",
            many.iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let question = targets
        .clusters
        .iter()
        .map(|(name, ids)| format!("{} on cluster `{name}`", which(ids)))
        .collect::<Vec<_>>()
        .join("; ");
    crate::confirm::confirm(&format!("Cancelling {question}"), true, args.yes)?;
    let mut by_cluster = serde_json::Map::new();
    for (name, outcome) in client.cancel_each(&args.cluster, &targets, args.all) {
        let outcomes = match outcome? {
            ClusterCancel::Done(outcomes) => outcomes,
            ClusterCancel::Skipped(err) => {
                eprintln!("Skipped: {err}");
                continue;
            }
        };
        if args.output.is_json() {
            if !pattern {
                return render::print_json(&outcomes);
            }
            by_cluster.insert(name, render::json_value(&outcomes)?);
            continue;
        }
        if outcomes.is_empty() {
            println!("No job cancelled: no unfinished job on `{name}`.");
        }
        let on = if pattern {
            format!(" on `{name}`")
        } else {
            String::new()
        };
        for outcome in &outcomes {
            match outcome {
                Cancellation::Requested(job) => println!(
                    "Job {}{on}: cancellation requested (now {}).",
                    job.id, job.status
                ),
                Cancellation::AlreadyEnded(job) => println!(
                    "Job {}{on}: nothing cancelled, it already ended {}.",
                    job.id, job.status
                ),
            }
        }
    }
    if args.output.is_json() {
        return render::print_json(&by_cluster);
    }
    Ok(())
}
