//! `aloft launch`: a real launch through the core's client (provision, set up, run,
//! stream the job's output), or the dry run — which cloud, region and instance type
//! aloft would pick for each task, and what it costs.

use std::collections::BTreeMap;

use aloft::catalog::Catalog;
use aloft::optimizer::{self, Candidate, Dag, Objective, OptTask, OptimizeOptions};
use serde::Serialize;

use aloft::client::LaunchOptions;
use aloft::runtime::queue::JobStatus;
use aloft::task::Task;

use crate::cmd::task_args::{self, Entry, Entrypoint, TaskFlags};
use crate::config::{Config, aloft_home};
use crate::exit::{CliError, CliResult, NO_RESOURCES};
use crate::render::{self, Output};

/// Flags of `aloft launch`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    flags: TaskFlags,
    #[command(flatten)]
    entrypoint: Entrypoint,
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
    /// Stop the cluster after this many idle minutes.
    #[arg(short = 'i', long = "idle-minutes-to-autostop")]
    idle_minutes: Option<u64>,
    /// Tear down instead of stopping when idle (with -i; alone: 0 idle minutes).
    #[arg(long)]
    down: bool,
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
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    output: Output,
}

/// One offer as printed and as written in `-o json`.
#[derive(Debug, Serialize)]
struct OfferJson {
    cloud: String,
    region: String,
    zone: Option<String>,
    instance_type: String,
    accelerators: BTreeMap<String, f64>,
    use_spot: bool,
    vcpus: f64,
    memory_gib: f64,
    /// Per node, accelerators included.
    hourly_price: f64,
}

impl From<&Candidate> for OfferJson {
    fn from(c: &Candidate) -> Self {
        OfferJson {
            cloud: c.cloud.clone(),
            region: c.region.clone(),
            zone: c.zone.clone(),
            instance_type: c.instance_type.clone(),
            accelerators: c.accelerators.clone(),
            use_spot: c.use_spot,
            vcpus: c.vcpus,
            memory_gib: c.memory_gib,
            hourly_price: c.hourly_price,
        }
    }
}

#[derive(Debug, Serialize)]
struct TaskJson {
    name: Option<String>,
    num_nodes: u32,
    chosen: OfferJson,
    candidates: Vec<OfferJson>,
    /// Clouds with matching offers that cannot run this task, and why.
    excluded: Vec<ExcludedJson>,
}

#[derive(Debug, Serialize)]
struct ExcludedJson {
    cloud: String,
    reason: String,
}

#[derive(Debug, Serialize)]
struct PlanJson {
    tasks: Vec<TaskJson>,
    total_hourly_cost: f64,
}

/// Runs the command.
pub fn run(args: Args) -> CliResult {
    let overrides = args.flags.overrides()?;
    let entry = args.entrypoint.entry()?;
    let (chain, task_dir) = match &entry {
        Entry::File(path) => (
            task_args::load(path, &overrides)?,
            task_args::task_dir(path).to_path_buf(),
        ),
        Entry::Command(command) => {
            let yaml = serde_yaml::to_string(&serde_json::json!({ "run": command }))
                .map_err(|e| CliError::failure(e.to_string()))?;
            (
                task_args::parse(&yaml, "<command line>", &overrides)?,
                std::path::PathBuf::from("."),
            )
        }
        Entry::Nothing => {
            // `-c` of an existing cluster and no task: nothing to do, and say so.
            if let Some(name) = &args.cluster
                && !args.dryrun
            {
                let client = crate::client::open()?;
                if let Ok(record) = client.cluster(name) {
                    eprintln!(
                        "Cluster `{name}` exists ({}); no task given, so nothing new is provisioned or run.",
                        record.status
                    );
                    return Ok(());
                }
            }
            (
                task_args::parse("{}", "<command line>", &overrides)?,
                std::path::PathBuf::from("."),
            )
        }
    };
    if !args.dryrun {
        let [task] = chain.tasks() else {
            return Err(CliError::failure(
                "a pipeline (several tasks) runs as a managed job, which this build does not \
                 have yet; launch its tasks one by one",
            ));
        };
        let cluster = args
            .cluster
            .clone()
            .unwrap_or_else(aloft::client::default_cluster_name);
        let autostop = match (args.idle_minutes, args.down) {
            (Some(minutes), down) => Some((minutes, down)),
            (None, true) => Some((0, true)),
            (None, false) => None,
        };
        let mut options = LaunchOptions::named(cluster);
        options.no_setup = args.no_setup;
        options.autostop = autostop;
        options.retry_until_up = args.retry_until_up;
        if let Some(ms) = std::env::var("ALOFT_RETRY_BACKOFF_MS")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            options.retry_backoff = std::time::Duration::from_millis(ms);
        }
        if !args.yes {
            confirm_new_cluster(task, &options)?;
        }
        let detach = args.detach || matches!(entry, Entry::Nothing);
        return launch_for_real(task, &task_dir, &options, detach);
    }
    let home = aloft_home();
    let config = Config::load(&home)?;
    let mut catalog = Catalog::load(Some(&home.join("catalogs")))
        .map_err(|err| CliError::failure(err.to_string()))?;
    // Clouds the task names that have no catalog (node pools, `local`, third-party
    // providers) are asked for their offers; shipped catalogs need no provider, so
    // the plan stays offline for them.
    let shipped = catalog.clouds();
    let mut named: Vec<String> = chain
        .tasks()
        .iter()
        .flat_map(|t| t.resources.candidates().iter())
        .filter_map(|r| r.infra.cloud.clone())
        .chain(config.clouds.iter().flatten().cloned())
        .filter(|c| !shipped.contains(c))
        .collect();
    // Installed (third-party) providers plan like built-in clouds: listed under
    // `clouds:`, or with --all-clouds.
    let installed = std::fs::read_dir(home.join("providers"))
        .map(|d| {
            d.flatten()
                .any(|e| e.path().extension().is_some_and(|x| x == "wasm"))
        })
        .unwrap_or(false);
    let client = if named.is_empty() && !(args.all_clouds && installed) {
        // Shipped catalogs only: the plan stays offline and touches no state.
        None
    } else {
        Some(crate::client::open()?)
    };
    if let Some(client) = client.as_ref().filter(|_| args.all_clouds && installed) {
        let providers = client.providers()?;
        named.extend(
            providers
                .host
                .manifests()
                .iter()
                .map(|m| m.name.clone())
                .filter(|n| !providers.bundled.contains(n) && !shipped.contains(n)),
        );
    }
    named.sort();
    named.dedup();
    let mut live = Vec::new();
    let mut reasons = String::new();
    let mut unusable = Vec::new();
    let mut capabilities = Default::default();
    if let Some(client) = client.as_ref().filter(|_| !named.is_empty()) {
        let found = client.live_catalog_with(Some(&named), !args.refresh_offers)?;
        reasons = found.explain();
        unusable = found.unusable.clone();
        let asked: Vec<&String> = named
            .iter()
            .filter(|n| !found.cached.iter().any(|(c, _)| c == *n))
            .collect();
        if !asked.is_empty() {
            eprintln!(
                "(asked {} for live offers: {})",
                if asked.len() == 1 {
                    "provider"
                } else {
                    "providers"
                },
                asked
                    .iter()
                    .map(|n| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        if !found.cached.is_empty() {
            eprintln!(
                "(live offers from the cache, no provider asked: {}; --refresh-offers asks again)",
                found
                    .cached
                    .iter()
                    .map(|(n, age)| format!("{n} {} s old", age.as_secs()))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        catalog = found.catalog;
        live = found.usable;
        capabilities = aloft::client::manifest_capabilities(client.providers()?);
    }
    let enabled_clouds = if args.all_clouds {
        catalog.clouds()
    } else if !live.is_empty() && config.clouds.is_none() {
        live
    } else {
        let mut clouds = enabled_clouds(&config, &reasons)?;
        clouds.extend(live);
        clouds
    };
    // A provider that cannot answer is left out even when `clouds:` lists it (a
    // catalog file of its own must not bring it back).
    let mut enabled_clouds = enabled_clouds;
    enabled_clouds.retain(|c| !unusable.iter().any(|(name, _)| name == c));
    let options = OptimizeOptions {
        enabled_clouds,
        capabilities,
        ..OptimizeOptions::default()
    };
    let _ = Objective::Cost;

    let dag = Dag::chain(
        chain
            .tasks()
            .iter()
            .map(|task| OptTask {
                name: task.name.clone(),
                num_nodes: task.num_nodes,
                resources: task.resources.clone(),
                estimated_hours: None,
            })
            .collect(),
    );
    let plan = optimizer::optimize_dag(&catalog, &dag, &options)
        .map_err(|err| CliError::new(NO_RESOURCES, format!("{err}{reasons}")))?;

    let tasks: Vec<TaskJson> = dag
        .tasks
        .iter()
        .zip(&plan.tasks)
        .map(|(task, task_plan)| TaskJson {
            name: task.name.clone(),
            num_nodes: task.num_nodes,
            chosen: OfferJson::from(&task_plan.chosen),
            candidates: task_plan.candidates.iter().map(OfferJson::from).collect(),
            excluded: task_plan
                .excluded
                .iter()
                .map(|(cloud, reason)| ExcludedJson {
                    cloud: cloud.clone(),
                    reason: reason.clone(),
                })
                .chain(unusable.iter().map(|(cloud, why)| ExcludedJson {
                    cloud: cloud.clone(),
                    reason: format!("is not usable: {why}"),
                }))
                .collect(),
        })
        .collect();
    let total_hourly_cost = tasks
        .iter()
        .map(|t| t.chosen.hourly_price * f64::from(t.num_nodes))
        .sum();
    let plan = PlanJson {
        tasks,
        total_hourly_cost,
    };
    match args.output {
        Output::Json => render::print_json(&plan),
        Output::Table => {
            print_plan(&plan);
            Ok(())
        }
    }
}

/// A launch that creates a cluster starts billing: show what it would provision
/// and ask, as SkyPilot does (`Proceed? [Y/n]`). Reusing an existing cluster asks
/// nothing; without a terminal, the launch refuses (see [`crate::confirm`]).
fn confirm_new_cluster(task: &Task, options: &LaunchOptions) -> CliResult {
    let client = crate::client::open()?;
    if client.cluster(&options.cluster).is_ok() {
        return Ok(());
    }
    let question = format!("Launching a new cluster `{}`", options.cluster);
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return crate::confirm::confirm(&question, true, false);
    }
    let plan = client.plan(task, options)?;
    let chosen = OfferJson::from(&plan.chosen);
    print_plan(&PlanJson {
        total_hourly_cost: chosen.hourly_price * f64::from(task.num_nodes),
        tasks: vec![TaskJson {
            name: task.name.clone(),
            num_nodes: task.num_nodes,
            chosen,
            candidates: plan.candidates.iter().map(OfferJson::from).collect(),
            excluded: plan
                .excluded
                .iter()
                .map(|(cloud, reason)| ExcludedJson {
                    cloud: cloud.clone(),
                    reason: reason.clone(),
                })
                .collect(),
        }],
    });
    crate::confirm::confirm(&question, true, false)
}

/// The clouds enabled in the user's config; none is an error with a hint, and with
/// `reasons` (why each provider the task asked for is out).
fn enabled_clouds(config: &Config, reasons: &str) -> Result<Vec<String>, CliError> {
    match &config.clouds {
        Some(clouds) if !clouds.is_empty() => Ok(clouds.clone()),
        _ => Err(CliError::new(
            NO_RESOURCES,
            format!(
                "no cloud is enabled: list the clouds to use under `clouds:` in {} \
                 (e.g. `clouds: [aws, gcp]`), or pass --all-clouds to consider every \
                 shipped catalog{reasons}",
                aloft_home().join("config.yaml").display()
            ),
        )),
    }
}

fn print_plan(plan: &PlanJson) {
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
            let chosen = same_offer(offer, &task.chosen);
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

fn same_offer(a: &OfferJson, b: &OfferJson) -> bool {
    a.cloud == b.cloud
        && a.region == b.region
        && a.zone == b.zone
        && a.instance_type == b.instance_type
        && a.use_spot == b.use_spot
}

fn infra(offer: &OfferJson) -> String {
    match &offer.zone {
        Some(zone) => format!("{} ({}, {zone})", offer.cloud, offer.region),
        None => format!("{} ({})", offer.cloud, offer.region),
    }
}

fn instance(offer: &OfferJson) -> String {
    if offer.use_spot {
        format!("{}[Spot]", offer.instance_type)
    } else {
        offer.instance_type.clone()
    }
}

fn gpus(offer: &OfferJson) -> String {
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
    task: &Task,
    task_dir: &std::path::Path,
    options: &LaunchOptions,
    detach: bool,
) -> CliResult {
    let progress = std::sync::Arc::new(crate::progress::Progress::new());
    let client = crate::client::open_with(progress.clone())?;
    crate::interrupt::launching();
    let launched = client.launch(task, task_dir, options)?;
    let r = &launched.record;
    progress.line(&format!(
        "Cluster `{}` is UP on {} ({}{}), {} node(s) of {}. Job {} queued.",
        r.name,
        r.provider,
        r.region,
        r.zone
            .as_ref()
            .map(|z| format!(", {z}"))
            .unwrap_or_default(),
        r.num_nodes,
        r.instance_type,
        launched.job_id
    ));
    progress.finish();
    if detach {
        println!("{}", launched.job_id);
        return Ok(());
    }
    follow(&client, &launched.cluster, launched.job_id)
}

/// Streams a job's output to stdout (Ctrl-C detaches); fails unless it succeeded.
pub fn follow(client: &aloft::client::Client, cluster: &str, job: u64) -> CliResult {
    crate::interrupt::following(format!("`aloft logs {cluster} {job}` follows it again."));
    let status = client.follow(cluster, job, &mut std::io::stdout().lock())?;
    match status {
        JobStatus::Succeeded => Ok(()),
        other => Err(CliError::new(
            crate::exit::JOB_FAILED,
            format!("job {job} ended {other}"),
        )),
    }
}
