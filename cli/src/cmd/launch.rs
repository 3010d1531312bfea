//! `aloft launch`: a real launch through the core's client (provision, set up, run,
//! stream the job's output), or the dry run — which cloud, region and instance type
//! aloft would pick for each task, and what it costs.

use aloft::Candidate;
use aloft::client::{Client, LaunchOptions, LoadedTask, PlanOptions, PlanSummary, TaskUse};
use aloft::task::Task;

use crate::cmd::task_args::TaskInput;
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
    let source = args.task.source()?;
    if !args.dryrun {
        let progress = std::sync::Arc::new(crate::progress::Progress::new());
        let client = crate::client::open_with(progress.clone())?;
        // `-c` of an existing cluster and no task: nothing to do, and say so.
        if let Some(record) = client.nothing_to_launch(&source, args.cluster.as_deref()) {
            progress.finish();
            eprintln!(
                "Cluster `{}` exists ({}); no task given, so nothing new is provisioned or run.",
                record.name, record.status
            );
            return Ok(());
        }
        let LoadedTask { task, task_dir, .. } = args.task.load_one(TaskUse::Launch)?;
        let cluster = args
            .cluster
            .clone()
            .unwrap_or_else(aloft::client::default_cluster_name);
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
        if !args.yes {
            confirm_new_cluster(&client, &task, &options)?;
        }
        // A launch with no task queues no job: there is nothing to follow.
        return launch_for_real(&client, &progress, &task, &task_dir, &options, args.detach);
    }
    let chain = args.task.load(TaskUse::Plan)?.chain;
    let client = crate::client::open()?;
    let options = PlanOptions {
        all_clouds: args.all_clouds,
        refresh_offers: args.refresh_offers,
        ..PlanOptions::default()
    };
    let plan = client.plan(chain.tasks(), &options).map_err(|err| {
        let err = CliError::from(err);
        if err.code() == crate::exit::NO_RESOURCES && !args.all_clouds {
            err.with_hint(
                "(only clouds whose credentials check out are planned, as a launch would; \
                 --all-clouds plans every cloud aloft ships prices for)",
            )
        } else {
            err
        }
    })?;
    if !plan.asked.is_empty() {
        eprintln!(
            "(asked {} for live offers: {})",
            if plan.asked.len() == 1 {
                "provider"
            } else {
                "providers"
            },
            plan.asked.join(", ")
        );
    }
    if !plan.cached.is_empty() {
        eprintln!(
            "(live offers from the cache, no provider asked: {}; --refresh-offers asks again)",
            plan.cached
                .iter()
                .map(|(n, age)| format!("{n} {} s old", age.as_secs()))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let plan = plan.summary();
    args.output.show(&plan, |plan| {
        print_plan(plan);
        Ok(())
    })
}

/// A launch that creates a cluster starts billing: show what it would provision
/// and ask, as SkyPilot does (`Proceed? [Y/n]`). Reusing an existing cluster asks
/// nothing; without a terminal, the launch refuses (see [`crate::confirm`]).
fn confirm_new_cluster(client: &Client, task: &Task, options: &LaunchOptions) -> CliResult {
    if client.cluster(&options.cluster).is_ok() {
        return Ok(());
    }
    let question = format!("Launching a new cluster `{}`", options.cluster);
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return crate::confirm::confirm(&question, true, false);
    }
    let plan_options = PlanOptions {
        blocked: options.blocked.clone(),
        ..PlanOptions::default()
    };
    print_plan(
        &client
            .plan(std::slice::from_ref(task), &plan_options)?
            .summary(),
    );
    crate::confirm::confirm(&question, true, false)
}

fn print_plan(plan: &PlanSummary) {
    for task in &plan.tasks {
        let nodes = if task.num_nodes == 1 { "node" } else { "nodes" };
        match &task.name {
            Some(name) => println!(
                "Considered resources for `{name}` ({} {nodes}):",
                task.num_nodes
            ),
            None => println!("Considered resources ({} {nodes}):", task.num_nodes),
        }
        let mut table = render::table([
            "INFRA", "INSTANCE", "vCPUs", "Mem(GB)", "GPUS", "$/hr", "CHOSEN",
        ]);
        for offer in &task.candidates {
            let chosen = task.is_chosen(offer);
            table.add_row(vec![
                infra(offer),
                instance(offer),
                render::number(offer.vcpus),
                render::number(offer.memory_gib),
                gpus(offer),
                render::price(offer.hourly_price * f64::from(task.num_nodes)),
                if chosen {
                    "✔".to_string()
                } else {
                    String::new()
                },
            ]);
        }
        println!("{table}");
        for e in &task.excluded {
            println!("Left out: {} {}.", e.cloud, e.reason);
        }
        let chosen = &task.chosen;
        println!(
            "Chosen: {} {} ({}), {} per hour for {} {nodes}.\n",
            infra(chosen),
            instance(chosen),
            if chosen.accelerators.is_empty() {
                "no accelerators".to_string()
            } else {
                gpus(chosen)
            },
            render::price(chosen.hourly_price * f64::from(task.num_nodes)),
            task.num_nodes,
        );
    }
    if plan.tasks.len() > 1 {
        println!("Total: {} per hour.", render::price(plan.total_hourly_cost));
    }
}

fn infra(offer: &Candidate) -> String {
    render::infra(&offer.cloud, &offer.region, offer.zone.as_deref())
}

fn instance(offer: &Candidate) -> String {
    if offer.use_spot {
        format!("{}[Spot]", offer.instance_type)
    } else {
        offer.instance_type.clone()
    }
}

fn gpus(offer: &Candidate) -> String {
    if offer.accelerators.is_empty() {
        return "-".to_string();
    }
    offer
        .accelerators
        .iter()
        .map(|(name, count)| format!("{name}:{}", render::number(*count)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Launches `task` through the client, shows progress, then (unless `detach`)
/// streams the job's output; fails unless the job succeeded.
fn launch_for_real(
    client: &Client,
    progress: &crate::progress::Progress,
    task: &Task,
    task_dir: &std::path::Path,
    options: &LaunchOptions,
    detach: bool,
) -> CliResult {
    crate::interrupt::launching();
    let launched = client.launch(task, task_dir, options)?;
    let r = &launched.record;
    progress.line(&format!(
        "Cluster `{}` is UP on {} ({}{}), {} node(s) of {}. {}",
        r.name,
        r.provider,
        r.region,
        r.zone
            .as_ref()
            .map(|z| format!(", {z}"))
            .unwrap_or_default(),
        r.num_nodes,
        r.instance_type,
        match launched.job_id {
            Some(job) => format!("Job {job} queued."),
            None => format!("No task, so no job: `aloft exec {} CMD` runs one.", r.name),
        }
    ));
    progress.finish();
    let Some(job) = launched.job_id else {
        return Ok(());
    };
    if detach {
        println!("{job}");
        return Ok(());
    }
    follow(client, &launched.cluster, job)
}

/// Streams a job's output to stdout (Ctrl-C detaches); fails unless it succeeded.
pub fn follow(client: &aloft::client::Client, cluster: &str, job: u64) -> CliResult {
    crate::interrupt::following(format!("`aloft logs {cluster} {job}` follows it again."));
    Ok(client.follow_to_end(cluster, job, &mut std::io::stdout().lock())?)
}
