//! A cluster's jobs: `queue` and the outcomes of `cancel`.

use super::{Table, View, ago, number};
use crate::client::{CancelOutcomes, Cancellation, ClientError, ClusterPart, PerCluster, Queues};
use crate::runtime::queue::JobRecord;

/// `aloft queue CLUSTER`: the cluster's jobs, one row each (its id, name, how
/// long ago it was submitted, status, resources per node and exit codes).
pub fn queue(jobs: &[JobRecord], now: i64) -> View {
    let mut table = Table::boxed(["ID", "NAME", "SUBMITTED", "STATUS", "RESOURCES", "EXIT"]);
    for job in jobs {
        let d = &job.spec.demand;
        let gpus = match (&job.spec.accelerator, d.gpus > 0.0) {
            (Some(name), true) => format!(", {name}:{}", number(d.gpus)),
            (None, true) => format!(", {} GPU", number(d.gpus)),
            _ => String::new(),
        };
        let exit = if job.exit_codes.is_empty() {
            "-".to_string()
        } else {
            let codes: Vec<String> = job.exit_codes.iter().map(i32::to_string).collect();
            codes.join(",")
        };
        table.row([
            job.id.to_string(),
            job.spec.name.clone().unwrap_or_else(|| "-".into()),
            ago(now, job.submitted_at),
            job.status.to_string(),
            format!("{}x[CPU:{}{gpus}]", d.num_nodes, number(d.cpus)),
            exit,
        ]);
    }
    View::new().table(table)
}

/// `aloft queue` of several clusters (a glob pattern, or none named): one
/// cluster's part, its name above its [`queue`].
pub fn cluster_queue(cluster: &str, jobs: &[JobRecord], now: i64) -> View {
    View::new()
        .line(format!("Job queue of cluster {cluster}"))
        .append(queue(jobs, now))
}

/// `aloft queue` and `aloft cancel` over a glob pattern: a matched cluster
/// passed over (one not UP), and why.
pub fn skipped(err: &ClientError) -> View {
    View::new().note(format!("Skipped: {err}"))
}

/// The notes of `queue`'s or `cancel`'s answer: each cluster it passed over
/// ([`skipped`]), in order.
pub fn passed_over<T>(answer: &PerCluster<T>) -> View {
    (answer.skipped()).fold(View::new(), |view, err| view.append(skipped(err)))
}

/// `aloft queue`: the one cluster's [`queue`] when [`Queues::single`], else a
/// [`cluster_queue`] for each cluster with a queue, in order.
pub fn queues(queues: &Queues, now: i64) -> View {
    queues
        .clusters
        .iter()
        .fold(View::new(), |view, (name, part)| match part {
            ClusterPart::Done(jobs) if queues.single => view.append(queue(jobs, now)),
            ClusterPart::Done(jobs) => view.append(cluster_queue(name, jobs, now)),
            ClusterPart::Skipped(_) => view,
        })
}

/// `aloft logs --status`: the job's status.
pub fn job_status(job: &JobRecord) -> View {
    View::new().line(format!("Job {}: {}", job.id, job.status))
}

/// `aloft cancel PATTERN`: the clusters the pattern matched that have nothing
/// to cancel, and why.
pub fn cancel_skipped(skipped: &[(String, ClientError)]) -> View {
    skipped.iter().fold(View::new(), |view, (name, err)| {
        view.note(format!("Skipped `{name}`: {err}"))
    })
}

/// `aloft cancel` when no cluster matching `cluster` has a job to cancel.
pub fn nothing_to_cancel(cluster: &str) -> View {
    View::new().line(format!(
        "No job cancelled: no cluster matching `{cluster}` has a job."
    ))
}

/// The question `aloft cancel` asks first: `Cancelling job 3 on cluster
/// `dev``, one part per cluster of `targets` (each with the job ids named
/// there; `all` for every unfinished job).
pub fn cancel_question(targets: &[(String, Vec<u64>)], all: bool) -> String {
    let which = |ids: &[u64]| match ids {
        _ if all => "every unfinished job".to_string(),
        [one] => format!("job {one}"),
        many => {
            let ids: Vec<String> = many.iter().map(u64::to_string).collect();
            format!("jobs {}", ids.join(", "))
        }
    };
    let parts: Vec<String> = targets
        .iter()
        .map(|(name, ids)| format!("{} on cluster `{name}`", which(ids)))
        .collect();
    format!("Cancelling {}", parts.join("; "))
}

/// `aloft cancel`: what was done to each job on cluster `cluster`; `pattern`
/// (the clusters were named by a glob pattern) names the cluster on each line.
pub fn cancelled(cluster: &str, outcomes: &[Cancellation], pattern: bool) -> View {
    let mut view = View::new();
    if outcomes.is_empty() {
        view = view.line(format!(
            "No job cancelled: no unfinished job on `{cluster}`."
        ));
    }
    let on = if pattern {
        format!(" on `{cluster}`")
    } else {
        String::new()
    };
    for outcome in outcomes {
        view = view.line(match outcome {
            Cancellation::Requested(job) => format!(
                "Job {}{on}: cancellation requested (now {}).",
                job.id, job.status
            ),
            Cancellation::AlreadyEnded(job) => format!(
                "Job {}{on}: nothing cancelled, it already ended {}.",
                job.id, job.status
            ),
        });
    }
    view
}

/// `aloft cancel`: what was done on each cluster ([`cancelled`]), in order; the
/// lines name the cluster unless [`CancelOutcomes::single`].
pub fn cancel_outcomes(outcomes: &CancelOutcomes) -> View {
    outcomes
        .clusters
        .iter()
        .fold(View::new(), |view, (name, part)| match part {
            ClusterPart::Done(done) => view.append(cancelled(name, done, !outcomes.single)),
            ClusterPart::Skipped(_) => view,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::queue::{JobSpec, JobStatus};
    use crate::runtime::scheduler::Demand;
    use crate::views::Block;

    fn job(id: u64, status: JobStatus) -> JobRecord {
        JobRecord {
            id,
            spec: JobSpec {
                name: Some("train".into()),
                demand: Demand {
                    cpus: 4.0,
                    gpus: 0.5,
                    num_nodes: 2,
                },
                accelerator: Some("A100".into()),
                setup: None,
                run: "python train.py".into(),
                env: Vec::new(),
            },
            status,
            submitted_at: 1_000,
            started_at: None,
            ended_at: None,
            placement: Vec::new(),
            exit_codes: vec![0, 1],
        }
    }

    #[test]
    fn the_queue_shows_each_jobs_resources_and_exit_codes() {
        let view = cluster_queue("dev", &[job(3, JobStatus::Failed)], 1_065);
        assert_eq!(
            view.blocks[0],
            Block::Line("Job queue of cluster dev".into())
        );
        let Block::Table(table) = &view.blocks[1] else {
            panic!("{view:?}")
        };
        assert_eq!(
            table.header,
            ["ID", "NAME", "SUBMITTED", "STATUS", "RESOURCES", "EXIT"]
        );
        assert_eq!(
            table.rows[0],
            [
                "3",
                "train",
                "1m 5s ago",
                "FAILED",
                "2x[CPU:4, A100:0.5]",
                "0,1"
            ]
        );
    }

    #[test]
    fn the_cancel_question_names_each_clusters_jobs() {
        let targets = vec![("a".to_string(), vec![1]), ("b".to_string(), vec![2, 3])];
        assert_eq!(
            cancel_question(&targets, false),
            "Cancelling job 1 on cluster `a`; jobs 2, 3 on cluster `b`"
        );
        assert_eq!(
            cancel_question(&targets[..1], true),
            "Cancelling every unfinished job on cluster `a`"
        );
    }

    #[test]
    fn cancel_outcomes_name_the_cluster_only_for_a_pattern() {
        let outcomes = [
            Cancellation::Requested(job(1, JobStatus::Cancelled)),
            Cancellation::AlreadyEnded(job(2, JobStatus::Succeeded)),
        ];
        assert_eq!(
            cancelled("dev", &outcomes, true).to_string(),
            "Job 1 on `dev`: cancellation requested (now CANCELLED).\n\
             Job 2 on `dev`: nothing cancelled, it already ended SUCCEEDED.\n"
        );
        assert_eq!(
            cancelled("dev", &outcomes[..1], false).blocks,
            [Block::Line(
                "Job 1: cancellation requested (now CANCELLED).".into()
            )]
        );
        assert_eq!(
            cancelled("dev", &[], false).blocks,
            [Block::Line(
                "No job cancelled: no unfinished job on `dev`.".into()
            )]
        );
    }

    #[test]
    fn skipped_clusters_are_notes() {
        let err = ClientError::ClusterNotUp {
            name: "dev".into(),
            status: crate::ClusterStatus::Stopped,
            hint: "start it".into(),
        };
        let view = cancel_skipped(&[("dev".into(), err)]);
        let [Block::Note(note)] = view.blocks.as_slice() else {
            panic!("{view:?}")
        };
        assert!(note.starts_with("Skipped `dev`: "), "{note}");
        assert_eq!(
            job_status(&job(4, JobStatus::Running)).to_string(),
            "Job 4: RUNNING\n"
        );
    }

    fn not_up(name: &str) -> ClientError {
        ClientError::ClusterNotUp {
            name: name.into(),
            status: crate::ClusterStatus::Stopped,
            hint: "start it".into(),
        }
    }

    #[test]
    fn several_queues_are_named_tables_and_skipped_clusters_notes() {
        let several = Queues {
            single: false,
            clusters: vec![
                (
                    "b".into(),
                    ClusterPart::Done(vec![job(3, JobStatus::Failed)]),
                ),
                ("c".into(), ClusterPart::Skipped(not_up("c"))),
                ("a".into(), ClusterPart::Done(Vec::new())),
            ],
            failure: None,
        };
        assert_eq!(
            passed_over(&several).to_string(),
            "Skipped: cluster `c` is STOPPED: start it\n"
        );
        let view = queues(&several, 1_065);
        let expected = cluster_queue("b", &[job(3, JobStatus::Failed)], 1_065)
            .append(cluster_queue("a", &[], 1_065));
        assert_eq!(view, expected);
        assert_eq!(view.blocks[0], Block::Line("Job queue of cluster b".into()));
        assert_eq!(view.blocks[2], Block::Line("Job queue of cluster a".into()));

        let single = Queues {
            single: true,
            clusters: vec![(
                "b".into(),
                ClusterPart::Done(vec![job(3, JobStatus::Failed)]),
            )],
            failure: None,
        };
        assert_eq!(
            queues(&single, 1_065).to_string(),
            queue(&[job(3, JobStatus::Failed)], 1_065).to_string()
        );
        assert!(passed_over(&single).blocks.is_empty());
    }

    #[test]
    fn cancel_outcomes_name_clusters_unless_single() {
        let several = CancelOutcomes {
            single: false,
            clusters: vec![
                (
                    "dev-1".into(),
                    ClusterPart::Done(vec![Cancellation::Requested(job(1, JobStatus::Cancelled))]),
                ),
                ("dev-2".into(), ClusterPart::Skipped(not_up("dev-2"))),
                ("dev-3".into(), ClusterPart::Done(Vec::new())),
            ],
            failure: None,
        };
        assert_eq!(
            cancel_outcomes(&several).to_string(),
            "Job 1 on `dev-1`: cancellation requested (now CANCELLED).\n\
             No job cancelled: no unfinished job on `dev-3`.\n"
        );
        assert_eq!(
            passed_over(&several).blocks,
            [Block::Note(
                "Skipped: cluster `dev-2` is STOPPED: start it".into()
            )]
        );
        let single = CancelOutcomes {
            single: true,
            clusters: vec![(
                "dev".into(),
                ClusterPart::Done(vec![Cancellation::AlreadyEnded(job(
                    2,
                    JobStatus::Succeeded,
                ))]),
            )],
            failure: None,
        };
        assert_eq!(
            cancel_outcomes(&single).to_string(),
            "Job 2: nothing cancelled, it already ended SUCCEEDED.\n"
        );
        let failed = CancelOutcomes {
            single: true,
            clusters: Vec::new(),
            failure: Some(not_up("dev")),
        };
        assert!(cancel_outcomes(&failed).blocks.is_empty());
    }
}
