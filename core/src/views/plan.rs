//! Plans and launches: the dry run's considered resources and choice, and what a launch reports.

use std::path::Path;

use super::{Table, View, infra, number, price};
use crate::client::{Launched, Plan, PlanSummary};
use crate::optimizer::Candidate;
use crate::state::ClusterRecord;

/// `launch --dryrun` (and a launch asking before it creates a cluster): per task
/// the resources considered, the clouds left out and the choice, then the total
/// of a chain of tasks.
pub fn plan(plan: &PlanSummary) -> View {
    let mut view = View::new();
    for task in &plan.tasks {
        let nodes = if task.num_nodes == 1 { "node" } else { "nodes" };
        view = view.line(match &task.name {
            Some(name) => format!(
                "Considered resources for `{name}` ({} {nodes}):",
                task.num_nodes
            ),
            None => format!("Considered resources ({} {nodes}):", task.num_nodes),
        });
        let header = [
            "INFRA", "INSTANCE", "vCPUs", "Mem(GB)", "GPUS", "$/hr", "CHOSEN",
        ];
        let rows = task.candidates.iter().map(|offer| {
            [
                offer_infra(offer),
                instance(offer),
                number(offer.vcpus),
                number(offer.memory_gib),
                gpus(offer),
                price(offer.hourly_price * f64::from(task.num_nodes)),
                if task.is_chosen(offer) { "✔" } else { "" }.to_string(),
            ]
        });
        view = view.table(Table::boxed(header).with_rows(rows));
        for left_out in &task.excluded {
            view = view.line(format!("Left out: {} {}.", left_out.cloud, left_out.reason));
        }
        let chosen = &task.chosen;
        let accelerators = if chosen.accelerators.is_empty() {
            "no accelerators".to_string()
        } else {
            gpus(chosen)
        };
        view = view
            .line(format!(
                "Chosen: {} {} ({accelerators}), {} per hour for {} {nodes}.",
                offer_infra(chosen),
                instance(chosen),
                price(chosen.hourly_price * f64::from(task.num_nodes)),
                task.num_nodes,
            ))
            .line("");
    }
    if plan.tasks.len() > 1 {
        view = view.line(format!(
            "Total: {} per hour.",
            price(plan.total_hourly_cost)
        ));
    }
    view
}

/// `launch --dryrun`: where the plan's live offers came from, as notes (providers
/// asked just now, answers taken from the cache and how old they are).
pub fn offer_sources(plan: &Plan) -> View {
    let mut view = View::new();
    if !plan.asked.is_empty() {
        let noun = match plan.asked.len() {
            1 => "provider",
            _ => "providers",
        };
        view = view.note(format!(
            "(asked {noun} for live offers: {})",
            plan.asked.join(", ")
        ));
    }
    if !plan.cached.is_empty() {
        let ages: Vec<String> = (plan.cached.iter())
            .map(|(name, age)| format!("{name} {} s old", age.as_secs()))
            .collect();
        view = view.note(format!(
            "(live offers from the cache, no provider asked: {}; --refresh-offers asks again)",
            ages.join(", ")
        ));
    }
    view
}

/// `launch --dryrun`: the hint under "no resources" when only usable clouds
/// were planned.
pub const ALL_CLOUDS_HINT: &str = "(only clouds whose credentials check out are planned, as a \
    launch would; --all-clouds plans every cloud aloft ships prices for)";

/// `launch`: the question asked before a launch creates cluster `cluster` (and
/// starts billing).
pub fn new_cluster_question(cluster: &str) -> String {
    format!("Launching a new cluster `{cluster}`")
}

/// `launch -c NAME` of an existing cluster with no task: nothing to do, as a note.
pub fn nothing_to_launch(record: &ClusterRecord) -> View {
    View::new().note(format!(
        "Cluster `{}` exists ({}); no task given, so nothing new is provisioned or run.",
        record.name, record.status
    ))
}

/// `launch`: the progress line once the cluster is up, with its job (or how to
/// run one when the launch queued none).
pub fn launched(launched: &Launched) -> String {
    let r = &launched.record;
    let zone = r
        .zone
        .as_ref()
        .map(|z| format!(", {z}"))
        .unwrap_or_default();
    let next = match launched.job_id {
        Some(job) => format!("Job {job} queued."),
        None => format!("No task, so no job: `aloft exec {} CMD` runs one.", r.name),
    };
    format!(
        "Cluster `{}` is UP on {} ({}{zone}), {} node(s) of {}. {next}",
        r.name, r.provider, r.region, r.num_nodes, r.instance_type,
    )
}

/// `launch -d` and `exec -d`: the queued job's id alone, for scripts.
pub fn job_id(job: u64) -> View {
    View::new().line(job.to_string())
}

/// `validate`: the task file is valid, and how many tasks it holds.
pub fn valid(file: &Path, tasks: usize) -> View {
    let noun = if tasks == 1 { "task" } else { "tasks" };
    View::new().line(format!("{}: valid ({tasks} {noun})", file.display()))
}

fn offer_infra(offer: &Candidate) -> String {
    infra(&offer.cloud, &offer.region, offer.zone.as_deref())
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
    (offer.accelerators.iter())
        .map(|(name, count)| format!("{name}:{}", number(*count)))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::client::{LeftOut, TaskSummary};
    use crate::state::ClusterStatus;
    use crate::views::Block;

    fn offer(cloud: &str, instance_type: &str, gpus: &[(&str, f64)], price: f64) -> Candidate {
        Candidate {
            cloud: cloud.into(),
            region: "us-east-1".into(),
            zone: None,
            instance_type: instance_type.into(),
            accelerators: gpus.iter().map(|(n, c)| (n.to_string(), *c)).collect(),
            use_spot: false,
            vcpus: 8.0,
            memory_gib: 30.5,
            hourly_price: price,
        }
    }

    fn summary() -> PlanSummary {
        let cheap = offer("aws", "g5.xlarge", &[("A10G", 1.0)], 1.006);
        let mut spot = offer("gcp", "g2-standard-8", &[("L4", 1.0)], 0.25);
        spot.use_spot = true;
        spot.zone = Some("us-east1-b".into());
        PlanSummary {
            tasks: vec![
                TaskSummary {
                    name: Some("train".into()),
                    num_nodes: 2,
                    chosen: cheap.clone(),
                    candidates: vec![cheap, spot],
                    excluded: vec![LeftOut {
                        cloud: "local".into(),
                        reason: "cannot run 2 nodes".into(),
                    }],
                },
                TaskSummary {
                    name: None,
                    num_nodes: 1,
                    chosen: offer("aws", "m5.large", &[], 0.096),
                    candidates: vec![offer("aws", "m5.large", &[], 0.096)],
                    excluded: vec![],
                },
            ],
            total_hourly_cost: 2.108,
        }
    }

    fn lines(view: &View) -> Vec<&str> {
        (view.blocks.iter())
            .filter_map(|b| match b {
                Block::Line(text) => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_plan_shows_each_tasks_offers_left_out_clouds_choice_and_total() {
        let view = plan(&summary());
        let tables: Vec<&Table> = view.tables().collect();
        assert_eq!(tables.len(), 2);
        assert_eq!(
            tables[0].header,
            [
                "INFRA", "INSTANCE", "vCPUs", "Mem(GB)", "GPUS", "$/hr", "CHOSEN"
            ]
        );
        assert_eq!(
            tables[0].rows[0],
            [
                "aws (us-east-1)",
                "g5.xlarge",
                "8",
                "30.5",
                "A10G:1",
                "$2.01",
                "✔"
            ]
        );
        assert_eq!(
            tables[0].rows[1],
            [
                "gcp (us-east-1, us-east1-b)",
                "g2-standard-8[Spot]",
                "8",
                "30.5",
                "L4:1",
                "$0.50",
                ""
            ]
        );
        assert_eq!(
            lines(&view),
            [
                "Considered resources for `train` (2 nodes):",
                "Left out: local cannot run 2 nodes.",
                "Chosen: aws (us-east-1) g5.xlarge (A10G:1), $2.01 per hour for 2 nodes.",
                "",
                "Considered resources (1 node):",
                "Chosen: aws (us-east-1) m5.large (no accelerators), $0.0960 per hour for 1 node.",
                "",
                "Total: $2.11 per hour.",
            ]
        );
        assert_eq!(tables[1].rows[0][4], "-");
    }

    #[test]
    fn one_task_has_no_total() {
        let mut one = summary();
        one.tasks.truncate(1);
        assert!(!lines(&plan(&one)).iter().any(|l| l.starts_with("Total")));
    }

    #[test]
    fn offer_sources_are_notes() {
        let mut plan = Plan {
            tasks: vec![],
            unusable: vec![],
            asked: vec!["runpod".into()],
            cached: vec![],
        };
        assert_eq!(
            offer_sources(&plan).blocks,
            [Block::Note(
                "(asked provider for live offers: runpod)".into()
            )]
        );
        plan.asked.push("vastai".into());
        plan.cached = vec![("lambda".into(), Duration::from_secs(42))];
        assert_eq!(
            offer_sources(&plan).blocks,
            [
                Block::Note("(asked providers for live offers: runpod, vastai)".into()),
                Block::Note(
                    "(live offers from the cache, no provider asked: lambda 42 s old; \
                     --refresh-offers asks again)"
                        .into()
                ),
            ]
        );
        assert!(
            offer_sources(&Plan {
                asked: vec![],
                ..plan
            })
            .blocks
            .len()
                == 1
        );
    }

    #[test]
    fn a_launch_reports_its_cluster_and_job() {
        let mut record = ClusterRecord::sample("dev", ClusterStatus::Up);
        let mut up = Launched {
            cluster: "dev".into(),
            record: record.clone(),
            job_id: Some(3),
        };
        assert_eq!(
            launched(&up),
            "Cluster `dev` is UP on local (local), 1 node(s) of local-2cpu. Job 3 queued."
        );
        record.zone = Some("z1".into());
        up.record = record;
        up.job_id = None;
        assert_eq!(
            launched(&up),
            "Cluster `dev` is UP on local (local, z1), 1 node(s) of local-2cpu. \
             No task, so no job: `aloft exec dev CMD` runs one."
        );
        assert_eq!(new_cluster_question("dev"), "Launching a new cluster `dev`");
        assert_eq!(
            nothing_to_launch(&up.record).blocks,
            [Block::Note(
                "Cluster `dev` exists (UP); no task given, so nothing new is provisioned or run."
                    .into()
            )]
        );
    }

    #[test]
    fn a_detached_job_is_its_id() {
        assert_eq!(job_id(42).blocks, [Block::Line("42".into())]);
    }

    #[test]
    fn validate_counts_tasks() {
        assert_eq!(
            valid(Path::new("t.yaml"), 1).to_string(),
            "t.yaml: valid (1 task)\n"
        );
        assert_eq!(
            valid(Path::new("t.yaml"), 2).to_string(),
            "t.yaml: valid (2 tasks)\n"
        );
    }
}
