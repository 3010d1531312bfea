//! `aloft launch`: a real launch through the core's client (provision, set up, run,
//! stream the job's output), or the dry run — which cloud, region and instance type
//! aloft would pick for each task, and what it costs; `aloft exec`: a job on an
//! existing cluster (no provisioning, no setup); `aloft validate`: a task file
//! checked, nothing launched.

use aloft::client::{
    Client, ErrorClass, LaunchOptions, LoadedTask, PlanOptions, TaskUse, default_cluster_name,
};
use aloft::views::plan as views;

use crate::cmd::task_args::{self, TaskFlags, TaskInput};
use crate::exit::{CliError, CliResult};
use crate::render::{self, OutputArg};

/// Flags of `aloft launch`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    task: TaskInput,
    /// Show the plan and stop: nothing is launched.
    #[arg(long)]
    dryrun: bool,
    /// Cluster name (reused when it exists and fits).
    #[arg(short = 'c', long)]
    cluster: Option<String>,
    /// Do not stream the job's output; print its id.
    #[arg(short = 'd', long = "detach-run")]
    detach: bool,
    /// Do not ask for confirmation.
    #[arg(short, long)]
    yes: bool,
    #[command(flatten)]
    autostop: crate::flags::AutostopFlags,
    /// Keep retrying every candidate until resources are found.
    #[arg(short = 'r', long)]
    retry_until_up: bool,
    /// Skip `setup` (the cluster already ran it).
    #[arg(long)]
    no_setup: bool,
    /// Consider every cloud aloft ships a catalog for, enabled or not.
    #[arg(long)]
    all_clouds: bool,
    /// Ask providers for their live offers again, even when the answers cached
    /// less than `offers_cache_secs` ago are fresh.
    #[arg(long)]
    refresh_offers: bool,
    #[command(flatten)]
    output: OutputArg,
}

/// Runs the command.
pub fn run(args: Args) -> CliResult {
    if args.dryrun {
        return dry_run(args);
    }
    let source = args.task.source()?;
    let progress = std::sync::Arc::new(crate::progress::Progress::new());
    let client = crate::client::open_with(progress.clone())?;
    // `-c` of an existing cluster and no task: nothing to do, and say so.
    if let Some(record) = client.nothing_to_launch(&source, args.cluster.as_deref()) {
        progress.finish();
        return render::print(&views::nothing_to_launch(&record));
    }
    let LoadedTask { task, task_dir, .. } = args.task.load_one(TaskUse::Launch)?;
    let cluster = args.cluster.clone().unwrap_or_else(default_cluster_name);
    let mut options = LaunchOptions::named(cluster);
    options.no_setup = args.no_setup;
    options.autostop = args.autostop.setting();
    options.retry_until_up = args.retry_until_up;
    if let Some(ms) = std::env::var("ALOFT_RETRY_BACKOFF_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        options.retry_backoff = std::time::Duration::from_millis(ms);
    }
    confirm_new_cluster(&client, &task, &options.cluster, args.yes)?;
    crate::interrupt::launching();
    let launched = client.launch(&task, &task_dir, &options)?;
    progress.line(&views::launched(&launched));
    progress.finish();
    // A launch with no task queues no job: there is nothing to follow.
    match launched.job_id {
        Some(job) => follow(&client, &launched.cluster, job, args.detach),
        None => Ok(()),
    }
}

/// `--dryrun`: the plan of every task, nothing launched.
fn dry_run(args: Args) -> CliResult {
    let chain = args.task.load(TaskUse::Plan)?.chain;
    let options = PlanOptions {
        all_clouds: args.all_clouds,
        refresh_offers: args.refresh_offers,
        ..PlanOptions::default()
    };
    let plan = crate::client::open()?.plan(chain.tasks(), &options);
    let plan = plan.map_err(|err| match CliError::from(err) {
        err if err.class() == ErrorClass::NoResources && !args.all_clouds => {
            err.with_hint(views::ALL_CLOUDS_HINT)
        }
        err => err,
    })?;
    render::print(&views::offer_sources(&plan))?;
    args.output.print(&plan.summary(), views::plan)
}

/// A launch that creates a cluster starts billing: show what it would provision
/// and ask, as SkyPilot does (`Proceed? [Y/n]`). Reusing an existing cluster asks
/// nothing, nor does `-y`; without a terminal, the launch refuses (see
/// [`crate::confirm`]).
fn confirm_new_cluster(client: &Client, task: &aloft::Task, cluster: &str, yes: bool) -> CliResult {
    if yes || client.cluster(cluster).is_ok() {
        return Ok(());
    }
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        let plan = client.plan(std::slice::from_ref(task), &PlanOptions::default())?;
        render::print(&views::plan(&plan.summary()))?;
    }
    crate::confirm::confirm(&views::new_cluster_question(cluster), true, false)
}

/// Streams job `job`'s output to stdout (Ctrl-C detaches) and fails unless it
/// succeeded; with `detach`, prints its id instead.
pub fn follow(client: &Client, cluster: &str, job: u64, detach: bool) -> CliResult {
    if detach {
        return render::print(&views::job_id(job));
    }
    crate::interrupt::install(&client.cancel_token());
    crate::interrupt::following(format!("`aloft logs {cluster} {job}` follows it again."));
    Ok(client.follow_to_end(cluster, job, &mut std::io::stdout().lock())?)
}

/// Flags of `aloft exec`.
#[derive(Debug, clap::Args)]
pub struct ExecArgs {
    /// The cluster.
    cluster: String,
    /// A task file, or a command to run: the rest of the line
    /// (`aloft exec dev python train.py --lr 1`).
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    entrypoint: Vec<String>,
    /// Do not stream the output; print the job id.
    #[arg(short = 'd', long = "detach-run")]
    detach: bool,
    #[command(flatten)]
    flags: TaskFlags,
}

/// `aloft exec`.
pub fn exec(args: ExecArgs) -> CliResult {
    let client = crate::client::open()?;
    let source = task_args::source_of(&args.entrypoint)?;
    let loaded = args.flags.load_one(&source, TaskUse::Exec)?;
    let id = client.exec(&args.cluster, &loaded.task, loaded.exec_dir())?;
    follow(&client, &args.cluster, id, args.detach)
}

/// Flags of `aloft validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// The task YAML (SkyPilot format; several documents make a pipeline).
    #[arg(value_name = "TASK.yaml")]
    path: std::path::PathBuf,
    #[command(flatten)]
    flags: TaskFlags,
    #[command(flatten)]
    output: OutputArg,
}

/// `aloft validate`.
pub fn validate(args: ValidateArgs) -> CliResult {
    let path = &args.path;
    let source = aloft::task::TaskSource::File(path.clone());
    let chain = args.flags.load(&source, TaskUse::Plan)?.chain;
    let count = chain.tasks().len();
    let summary = serde_json::json!({
        "valid": true,
        "file": path.display().to_string(),
        "tasks": count,
    });
    args.output.print(&summary, |_| views::valid(path, count))
}
