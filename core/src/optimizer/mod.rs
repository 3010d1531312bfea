//! Picks where each task runs: the cheapest (or fastest) catalog offer that satisfies
//! its resources, on the enabled clouds, outside the failover blocklist.
//!
//! Pure functions of (catalog, tasks, options). A single task ranks its offers; a
//! chain of tasks is solved by dynamic programming; a general DAG by an integer
//! program ([`ilp`]). Between tasks on different clouds, the data an edge carries
//! is priced with the source cloud's egress tiers ([`egress`]).

mod blocklist;
pub mod capabilities;
pub mod egress;
mod enumerate;
pub mod ilp;

use std::collections::BTreeMap;

use serde::Serialize;
use thiserror::Error;

pub use blocklist::{BlockedSpec, Blocklist};
pub use capabilities::CloudCapabilities;

use crate::catalog::{Catalog, CatalogError};
use crate::task::{ResourceSet, Resources};
use enumerate::{Check, Enumerated, enumerate};

/// What to minimise.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Objective {
    /// Dollars: hourly price × nodes × estimated hours.
    #[default]
    Cost,
    /// Hours (runtime estimate, then egress time); cost breaks ties.
    Time,
}

/// What the optimizer may use.
#[derive(Debug, Clone, Default)]
pub struct OptimizeOptions {
    /// Clouds the user has enabled (an `infra:` naming another cloud finds nothing).
    pub enabled_clouds: Vec<String>,
    /// Offers ruled out by failover.
    pub blocklist: Blocklist,
    /// What to minimise.
    pub objective: Objective,
    /// What each cloud can do (from installed providers' manifests); clouds not
    /// listed use [`CloudCapabilities::of_catalog_cloud`].
    pub capabilities: BTreeMap<String, CloudCapabilities>,
}

/// A task as the optimizer sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct OptTask {
    /// Name, for messages.
    pub name: Option<String>,
    /// Nodes.
    pub num_nodes: u32,
    /// Acceptable resources.
    pub resources: ResourceSet,
    /// Estimated runtime in hours (1 when unknown).
    pub estimated_hours: Option<f64>,
}

/// Data flowing from one task to another.
#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    /// Producing task (index).
    pub from: usize,
    /// Consuming task (index).
    pub to: usize,
    /// Gigabytes moved.
    pub gigabytes: f64,
}

/// Tasks and the data between them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dag {
    /// Tasks.
    pub tasks: Vec<OptTask>,
    /// Edges.
    pub edges: Vec<Edge>,
}

impl Dag {
    /// A pipeline: each task feeds the next, moving no data.
    pub fn chain(tasks: Vec<OptTask>) -> Dag {
        let edges = (1..tasks.len())
            .map(|i| Edge {
                from: i - 1,
                to: i,
                gigabytes: 0.0,
            })
            .collect();
        Dag { tasks, edges }
    }

    /// Whether the edges form a simple path 0 → 1 → … → n-1.
    fn is_chain(&self) -> bool {
        self.edges.len() + 1 == self.tasks.len().max(1)
            && self
                .edges
                .iter()
                .enumerate()
                .all(|(i, e)| e.from == i && e.to == i + 1)
    }
}

/// One offer chosen or considered for a task.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    /// Cloud.
    pub cloud: String,
    /// Region.
    pub region: String,
    /// Zone, when the offer is per zone.
    pub zone: Option<String>,
    /// Instance type.
    pub instance_type: String,
    /// Accelerators per node.
    pub accelerators: BTreeMap<String, f64>,
    /// Spot.
    pub use_spot: bool,
    /// vCPUs per node.
    pub vcpus: f64,
    /// Memory per node, GiB.
    pub memory_gib: f64,
    /// Price per node per hour, accelerators included.
    pub hourly_price: f64,
}

/// The plan for one task.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskPlan {
    /// The chosen offer.
    pub chosen: Candidate,
    /// The best offer of each (cloud, accelerators, spot) group, cheapest first (in
    /// the user's order for `ordered` resources): SkyPilot's "Considered resources".
    pub candidates: Vec<Candidate>,
    /// Every feasible offer of the resources the plan comes from, cheapest first:
    /// what failover walks.
    #[serde(skip)]
    pub ranked: Vec<Candidate>,
    /// `(cloud, why)` for clouds whose offers matched but which cannot run this
    /// task (a 2-node task on a cloud without multi-node).
    pub excluded: Vec<(String, String)>,
}

/// The plan for a DAG.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DagPlan {
    /// One plan per task, in task order.
    pub tasks: Vec<TaskPlan>,
    /// Dollars per estimated run: tasks plus egress.
    pub total_cost: f64,
    /// Of which egress between tasks.
    pub egress_cost: f64,
}

/// Why no plan could be made.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum OptimizeError {
    /// Nothing satisfies a task; the explanation says which constraint removed what.
    #[error("no resources satisfy {task}:\n{explanation}")]
    NoResources {
        /// The task (`task \`name\`` or `the task`).
        task: String,
        /// The closest offers and the constraints that removed them.
        explanation: String,
    },
    /// A catalog could not be read, or names an unknown accelerator.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// The integer program failed.
    #[error("the placement solver failed: {0}")]
    Solver(String),
    /// The DAG is malformed.
    #[error("invalid DAG: {0}")]
    InvalidDag(String),
}

/// Plans one task alone.
pub fn optimize_task(
    catalog: &Catalog,
    task: &OptTask,
    options: &OptimizeOptions,
) -> Result<TaskPlan, OptimizeError> {
    let (_, plan) = plan_task(catalog, task, options)?;
    Ok(plan)
}

/// Plans every task of `dag` jointly (egress between tasks counts).
pub fn optimize_dag(
    catalog: &Catalog,
    dag: &Dag,
    options: &OptimizeOptions,
) -> Result<DagPlan, OptimizeError> {
    for e in &dag.edges {
        if e.from >= dag.tasks.len() || e.to >= dag.tasks.len() || e.from == e.to {
            return Err(OptimizeError::InvalidDag(format!(
                "edge {} -> {} does not join two tasks",
                e.from, e.to
            )));
        }
    }
    let mut plans = Vec::new();
    for task in &dag.tasks {
        plans.push(plan_task(catalog, task, options)?.1);
    }
    // Only the cheapest offer per cloud can be part of an optimal joint plan: egress
    // depends on clouds alone.
    let clouds: Vec<String> = {
        let mut c: Vec<String> = plans
            .iter()
            .flat_map(|p| p.ranked.iter().map(|c| c.cloud.clone()))
            .collect();
        c.sort();
        c.dedup();
        c
    };
    let options_per_task: Vec<Vec<Candidate>> = plans
        .iter()
        .map(|p| {
            let mut best: BTreeMap<&str, &Candidate> = BTreeMap::new();
            for c in &p.ranked {
                best.entry(c.cloud.as_str()).or_insert(c);
            }
            best.into_values().cloned().collect()
        })
        .collect();
    let problem = ilp::PlacementProblem {
        cost: options_per_task
            .iter()
            .zip(&dag.tasks)
            .map(|(opts, task)| {
                opts.iter()
                    .map(|c| task_value(task, c, options.objective))
                    .collect()
            })
            .collect(),
        cloud: options_per_task
            .iter()
            .map(|opts| {
                opts.iter()
                    .map(|c| clouds.iter().position(|x| x == &c.cloud).unwrap_or(0))
                    .collect()
            })
            .collect(),
        clouds: clouds.len(),
        edges: dag
            .edges
            .iter()
            .map(|e| {
                let matrix = clouds
                    .iter()
                    .map(|src| {
                        clouds
                            .iter()
                            .map(|dst| edge_value(src, dst, e.gigabytes, options.objective))
                            .collect()
                    })
                    .collect();
                (e.from, e.to, matrix)
            })
            .collect(),
    };
    let choice = if dag.tasks.len() <= 1 || dag.is_chain() {
        solve_chain(&problem)
    } else {
        ilp::solve(&problem)?
    };
    let mut egress_cost = 0.0;
    for e in &dag.edges {
        let src = &options_per_task[e.from][choice[e.from]].cloud;
        let dst = &options_per_task[e.to][choice[e.to]].cloud;
        if src != dst {
            egress_cost += egress::egress_cost(src, e.gigabytes);
        }
    }
    let mut total_cost = egress_cost;
    for (t, plan) in plans.iter_mut().enumerate() {
        let chosen = options_per_task[t][choice[t]].clone();
        total_cost += task_cost(&dag.tasks[t], &chosen);
        plan.chosen = chosen;
    }
    Ok(DagPlan {
        tasks: plans,
        total_cost,
        egress_cost,
    })
}

/// Dollars for one run of `task` on `c`.
fn task_cost(task: &OptTask, c: &Candidate) -> f64 {
    c.hourly_price * f64::from(task.num_nodes) * task.estimated_hours.unwrap_or(1.0)
}

/// The objective value of running `task` on `c`.
fn task_value(task: &OptTask, c: &Candidate, objective: Objective) -> f64 {
    match objective {
        Objective::Cost => task_cost(task, c),
        // Hours dominate; cost (well below 1e6 $/run) only breaks ties.
        Objective::Time => task.estimated_hours.unwrap_or(1.0) * 1e6 + task_cost(task, c),
    }
}

fn edge_value(src: &str, dst: &str, gigabytes: f64, objective: Objective) -> f64 {
    let same = src == dst;
    match objective {
        Objective::Cost if same => 0.0,
        Objective::Cost => egress::egress_cost(src, gigabytes),
        Objective::Time => egress::egress_seconds(same, gigabytes) / 3600.0 * 1e6,
    }
}

/// Dynamic programming over a chain (edges i → i+1 only).
fn solve_chain(p: &ilp::PlacementProblem) -> Vec<usize> {
    let n = p.cost.len();
    // best[t][i]: cheapest total for tasks 0..=t with task t on option i.
    let mut best: Vec<Vec<f64>> = Vec::with_capacity(n);
    let mut back: Vec<Vec<usize>> = Vec::with_capacity(n);
    for t in 0..n {
        let mut row = Vec::new();
        let mut from = Vec::new();
        for (i, cost) in p.cost[t].iter().enumerate() {
            if t == 0 {
                row.push(*cost);
                from.push(0);
                continue;
            }
            let egress = p
                .edges
                .iter()
                .find(|(u, v, _)| *u == t - 1 && *v == t)
                .map(|(_, _, m)| m);
            let (j, value) = best[t - 1]
                .iter()
                .enumerate()
                .map(|(j, prev)| {
                    let e = egress.map_or(0.0, |m| m[p.cloud[t - 1][j]][p.cloud[t][i]]);
                    (j, prev + e)
                })
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .unwrap_or((0, 0.0));
            row.push(value + cost);
            from.push(j);
        }
        best.push(row);
        back.push(from);
    }
    let mut choice = vec![0; n];
    if n == 0 {
        return choice;
    }
    choice[n - 1] = best[n - 1]
        .iter()
        .enumerate()
        .min_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i);
    for t in (1..n).rev() {
        choice[t - 1] = back[t][choice[t]];
    }
    choice
}

/// Ranks the offers of one task. Returns the index of the resources candidate the
/// plan comes from, and the plan.
fn plan_task(
    catalog: &Catalog,
    task: &OptTask,
    options: &OptimizeOptions,
) -> Result<(usize, TaskPlan), OptimizeError> {
    let sort = |v: &mut Vec<Candidate>| {
        v.sort_by(|a, b| {
            task_value(task, a, options.objective)
                .total_cmp(&task_value(task, b, options.objective))
                .then_with(|| a.cloud.cmp(&b.cloud))
                .then_with(|| a.region.cmp(&b.region))
                .then_with(|| a.zone.cmp(&b.zone))
                .then_with(|| a.instance_type.cmp(&b.instance_type))
        })
    };
    let mut results: Vec<(usize, &Resources, Enumerated)> = Vec::new();
    let mut excluded: Vec<(String, String)> = Vec::new();
    for (i, r) in task.resources.candidates().iter().enumerate() {
        let mut e = enumerate(catalog, r, options)?;
        // Offers on clouds that cannot run this task go, with the reason.
        e.feasible.retain(|c| {
            let caps = capabilities::of(&options.capabilities, &c.cloud);
            let refusal = caps
                .refusal(task.num_nodes, r, c.use_spot)
                .or_else(|| capabilities::tier_refusal(&c.cloud, r));
            match refusal {
                None => true,
                Some(why) => {
                    let entry = (c.cloud.clone(), why);
                    if !e.skipped_clouds.contains(&entry) {
                        e.skipped_clouds.push(entry.clone());
                    }
                    if !excluded.contains(&entry) {
                        excluded.push(entry);
                    }
                    false
                }
            }
        });
        results.push((i, r, e));
    }
    match &task.resources {
        ResourceSet::AnyOf(_) => {
            let mut ranked: Vec<Candidate> = results
                .iter()
                .flat_map(|(_, _, e)| e.feasible.iter().cloned())
                .collect();
            sort(&mut ranked);
            let Some(chosen) = ranked.first().cloned() else {
                return Err(no_resources(task, &results));
            };
            let candidates = groups(&ranked);
            Ok((
                0,
                TaskPlan {
                    chosen,
                    candidates,
                    ranked,
                    excluded,
                },
            ))
        }
        ResourceSet::Ordered(_) => {
            let mut candidates = Vec::new();
            let mut picked: Option<(usize, Vec<Candidate>)> = None;
            for (i, _, e) in &results {
                let mut ranked = e.feasible.clone();
                sort(&mut ranked);
                candidates.extend(groups(&ranked));
                if picked.is_none() && !ranked.is_empty() {
                    picked = Some((*i, ranked));
                }
            }
            let Some((index, ranked)) = picked else {
                return Err(no_resources(task, &results));
            };
            Ok((
                index,
                TaskPlan {
                    chosen: ranked[0].clone(),
                    candidates,
                    ranked,
                    excluded,
                },
            ))
        }
    }
}

/// The cheapest offer of each (cloud, accelerators, spot) group, in `ranked` order.
fn groups(ranked: &[Candidate]) -> Vec<Candidate> {
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for c in ranked {
        let key = (c.cloud.clone(), format!("{:?}", c.accelerators), c.use_spot);
        if !seen.contains(&key) {
            seen.push(key);
            out.push(c.clone());
        }
    }
    out
}

fn no_resources(task: &OptTask, results: &[(usize, &Resources, Enumerated)]) -> OptimizeError {
    let mut lines = Vec::new();
    for (i, r, e) in results {
        let label = if results.len() > 1 {
            format!("candidate {} ", i + 1)
        } else {
            String::new()
        };
        lines.push(format!("- {label}asks for {}", describe(r)));
        for (cloud, why) in &e.skipped_clouds {
            lines.push(format!("  cloud {cloud}: {why}"));
        }
        for (check, rejected) in &e.rejected {
            // Offers of another accelerator or region are not "close": they only
            // matter when nothing else explains the failure.
            let far = matches!(check, Check::Accelerator | Check::Region | Check::Zone)
                && e.rejected
                    .keys()
                    .any(|k| !matches!(k, Check::Accelerator | Check::Region | Check::Zone));
            if far {
                continue;
            }
            let closest = rejected
                .cheapest
                .as_ref()
                .map(|c| {
                    format!(
                        "; closest: {} {} in {} at ${:.2}/h",
                        c.cloud, c.instance_type, c.region, c.hourly_price
                    )
                })
                .unwrap_or_default();
            lines.push(format!(
                "  {} excluded {} offer{}{closest}",
                check.describe(r),
                rejected.count,
                if rejected.count == 1 { "" } else { "s" }
            ));
        }
        if !e.offered_counts.is_empty() {
            let mut offered = e.offered_counts.clone();
            offered.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
            let offered: Vec<String> = offered
                .iter()
                .map(|(name, count)| {
                    format!("{name}:{}", crate::task::units::format_number(*count))
                })
                .collect();
            lines.push(format!(
                "  try one of these offered accelerators: {}",
                offered.join(", ")
            ));
        }
        if e.rejected.is_empty() && e.skipped_clouds.is_empty() {
            lines.push("  no enabled cloud has any offer".to_string());
        }
    }
    lines.push(
        "hint: relax the constraints above, enable more clouds, or run `aloft show-gpus` \
         to see what is offered"
            .to_string(),
    );
    OptimizeError::NoResources {
        task: task
            .name
            .as_ref()
            .map_or_else(|| "the task".to_string(), |n| format!("task `{n}`")),
        explanation: lines.join("\n"),
    }
}

fn describe(r: &Resources) -> String {
    let mut parts = Vec::new();
    if let Some(cloud) = &r.infra.cloud {
        parts.push(format!("infra {cloud}"));
    }
    if let Some(a) = &r.accelerators {
        parts.push(format!("{a}"));
    }
    if let Some(t) = &r.instance_type {
        parts.push(t.clone());
    }
    if r.use_spot {
        parts.push("spot".into());
    }
    if let Some(max) = r.max_hourly_cost {
        parts.push(format!("at most ${max:.2}/h"));
    }
    if parts.is_empty() {
        "a default CPU instance".to_string()
    } else {
        parts.join(", ")
    }
}
