//! `aloft launch`: today the dry run — which cloud, region and instance type aloft
//! would pick for each task, and what it costs.

use std::collections::BTreeMap;

use aloft::catalog::Catalog;
use aloft::optimizer::{self, Candidate, Dag, Objective, OptTask, OptimizeError, OptimizeOptions};
use serde::Serialize;

use crate::cmd::task_args::{self, TaskFile, TaskFlags};
use crate::config::{Config, aloft_home};
use crate::exit::{CliError, CliResult, NO_RESOURCES};
use crate::render::{self, Output};

/// Flags of `aloft launch`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    file: TaskFile,
    #[command(flatten)]
    flags: TaskFlags,
    /// Show the plan and stop: nothing is launched.
    #[arg(long)]
    dryrun: bool,
    /// Consider every cloud aloft ships a catalog for, enabled or not.
    #[arg(long)]
    all_clouds: bool,
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
}

#[derive(Debug, Serialize)]
struct PlanJson {
    tasks: Vec<TaskJson>,
    total_hourly_cost: f64,
}

/// Runs the command.
pub fn run(args: Args) -> CliResult {
    if !args.dryrun {
        return Err(CliError::failure(
            "launching for real needs the provisioning runtime, which this build does not \
             have yet; use `aloft launch --dryrun` to see the plan",
        ));
    }
    let chain = task_args::load(&args.file.path, &args.flags.overrides()?)?;
    let home = aloft_home();
    let catalog = Catalog::load(Some(&home.join("catalogs")))
        .map_err(|err| CliError::failure(err.to_string()))?;
    let enabled_clouds = if args.all_clouds {
        catalog.clouds()
    } else {
        enabled_clouds(&Config::load(&home)?)?
    };
    let options = OptimizeOptions {
        enabled_clouds,
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
    let plan = optimizer::optimize_dag(&catalog, &dag, &options).map_err(no_resources)?;

    let tasks: Vec<TaskJson> = dag
        .tasks
        .iter()
        .zip(&plan.tasks)
        .map(|(task, task_plan)| TaskJson {
            name: task.name.clone(),
            num_nodes: task.num_nodes,
            chosen: OfferJson::from(&task_plan.chosen),
            candidates: task_plan.candidates.iter().map(OfferJson::from).collect(),
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

fn no_resources(err: OptimizeError) -> CliError {
    CliError::new(NO_RESOURCES, err.to_string())
}

/// The clouds enabled in the user's config; none is an error with a hint.
fn enabled_clouds(config: &Config) -> Result<Vec<String>, CliError> {
    match &config.clouds {
        Some(clouds) if !clouds.is_empty() => Ok(clouds.clone()),
        _ => Err(CliError::new(
            NO_RESOURCES,
            format!(
                "no cloud is enabled: list the clouds to use under `clouds:` in {} \
                 (e.g. `clouds: [aws, gcp]`), or pass --all-clouds to consider every \
                 shipped catalog",
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
