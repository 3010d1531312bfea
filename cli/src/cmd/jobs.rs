//! `aloft queue`, `aloft logs`, `aloft cancel`: a cluster's job queue, through its
//! head node's agent.

use aloft::client::{LogsOptions, PerCluster};
use aloft::clock::unix_now;
use aloft::views;

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

/// `aloft queue`.
pub fn queue(args: QueueArgs) -> CliResult {
    let client = crate::client::open()?;
    let queues = client.queues_for(&args.clusters, args.skip_finished)?;
    print_answer(args.output, queues, |q| views::jobs::queues(q, unix_now()))
}

/// `aloft logs`.
pub fn logs(args: LogsArgs) -> CliResult {
    // `--follow` is the default; the flag stays for SkyPilot's spelling.
    let _ = args.follow;
    let client = crate::client::open()?;
    let job = client.job(&args.cluster, args.job)?;
    if args.status {
        render::print(&views::jobs::job_status(&job))?;
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
    let mut out = std::io::stdout().lock();
    let status = client.job_logs(&args.cluster, job.id, &options, &mut out)?;
    Ok(aloft::client::job_end_result(job.id, status)?)
}

/// `aloft cancel`: asks first, as SkyPilot does (`-y` skips). A glob pattern
/// cancels on every UP cluster it matches.
pub fn cancel(args: CancelArgs) -> CliResult {
    let client = crate::client::open()?;
    let targets = client.cancel_targets(&args.cluster, &args.jobs, args.all)?;
    render::print(&views::jobs::cancel_skipped(&targets.skipped))?;
    if targets.clusters.is_empty() {
        return render::print(&views::jobs::nothing_to_cancel(&args.cluster));
    }
    let question = views::jobs::cancel_question(&targets.clusters, args.all);
    crate::confirm::confirm(&question, true, args.yes)?;
    let outcomes = client.cancel_all(&args.cluster, &targets, args.all);
    print_answer(args.output, outcomes, views::jobs::cancel_outcomes)
}

/// Prints a multi-cluster answer: the clusters passed over, then the answer,
/// whose failure (if any) ends the command. `-o json` prints a whole answer or
/// none; the table shows what was done before the failure.
fn print_answer<T: serde::Serialize + Default>(
    output: OutputArg,
    answer: PerCluster<T>,
    view: impl FnOnce(&PerCluster<T>) -> aloft::views::View,
) -> CliResult {
    render::print(&views::jobs::passed_over(&answer))?;
    if !(output.is_json() && answer.failure.is_some()) {
        output.print(&answer, view)?;
    }
    Ok(answer.into_result().map(drop)?)
}
