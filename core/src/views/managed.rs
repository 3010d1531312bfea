//! Managed jobs: `jobs queue`, and what `jobs launch` and `jobs cancel` report.

use super::{Detail, Table, View, ago, duration};
use crate::client::{CONTROLLER_CLUSTER, ControllerGrant};
use crate::jobs::{JobId, JobSummary, ManagedJobStatus, NewJob};
use crate::task::TaskChain;

/// The question `aloft jobs launch` asks first: `Launching a managed job
/// `NAME`` (the name the job will get, when one is chosen).
pub fn launch_question(chain: &TaskChain, name: Option<&str>) -> String {
    let job = NewJob::chosen_name(chain, name).map_or_else(String::new, |n| format!(" `{n}`"));
    format!("Launching a managed job{job}")
}

/// `aloft jobs launch` without `-d`: the job was submitted and its output
/// follows.
pub fn submitted(id: JobId) -> View {
    View::new().note(format!(
        "Managed job {id} submitted; following its output (Ctrl-C detaches)."
    ))
}

/// `aloft jobs launch` and `jobs logs`, once the followed job ended.
pub fn ended(id: JobId, status: ManagedJobStatus) -> View {
    View::new().note(format!("Managed job {id} ended {}.", status.as_str()))
}

/// `aloft jobs logs` without an id: which job's output follows.
pub fn newest_unfinished(id: JobId) -> View {
    View::new().note(format!("Managed job {id} (the newest unfinished one):"))
}

/// `aloft jobs queue`: the managed jobs, one row each, in plain columns (a
/// queue can run to thousands of jobs). [`Detail::Full`] (`-v`) adds when each
/// started (UTC), its cluster and why it failed, and shows its place in full.
pub fn queue(jobs: &[JobSummary], detail: Detail, now: i64) -> View {
    let mut header = vec![
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
    ];
    if detail.is_full() {
        header.extend(["STARTED (UTC)", "CLUSTER", "DETAILS"]);
    }
    let mut table = Table::columns(header);
    for j in jobs {
        let end = j.ended_at.unwrap_or(now);
        let place = j.location.as_ref().map_or("-".into(), |l| {
            if detail.is_full() {
                l.to_string()
            } else {
                format!("{} ({})", l.cloud, l.region)
            }
        });
        let mut row = vec![
            j.id.to_string(),
            format!("{}/{}", j.task_index + 1, j.task_count),
            j.name.clone(),
            j.resources.clone(),
            ago(now, j.submitted_at),
            duration(end - j.submitted_at),
            j.started_at.map_or("-".into(), |s| duration(end - s)),
            j.recovery_count.to_string(),
            j.status.as_str().to_string(),
            place,
        ];
        if detail.is_full() {
            row.extend([
                j.started_at.map_or("-".into(), crate::clock::utc),
                j.cluster_name.clone().unwrap_or_else(|| "-".into()),
                j.failure_reason.clone().unwrap_or_else(|| "-".into()),
            ]);
        }
        table.row(row);
    }
    View::new().table(table)
}

/// The question `aloft jobs cancel` asks first: `Cancelling 2 managed job(s)
/// (3, 4)`, for the unfinished jobs it matches. None when none matches: then
/// nothing is asked, and the cancel itself refuses, saying why.
pub fn cancel_question(ids: &[JobId]) -> Option<String> {
    if ids.is_empty() {
        return None;
    }
    let shown: Vec<String> = ids.iter().map(JobId::to_string).collect();
    Some(format!(
        "Cancelling {} managed job(s) ({})",
        shown.len(),
        shown.join(", ")
    ))
}

/// `aloft jobs cancel`: the jobs now cancelling.
pub fn cancelled(ids: &[JobId]) -> View {
    ids.iter().fold(View::new(), |view, id| {
        view.note(format!("Managed job {id}: cancellation requested."))
    })
}

/// `aloft jobs launch` and `serve up` before the controller cluster is given
/// credentials not granted before: which providers and credential names (never
/// values) it would get. The question after it is [`GRANT_QUESTION`].
pub fn grant(grant: &ControllerGrant) -> View {
    let view = View::new().note(format!(
        "The controller (cluster `{CONTROLLER_CLUSTER}`) gets, as this machine \
         holds them, the credentials of the providers its jobs and services may use \
         (`jobs.controller.providers` in config.yaml):"
    ));
    grant
        .providers
        .iter()
        .fold(view, |view, (provider, names)| {
            let names = if names.is_empty() {
                "(none)".to_string()
            } else {
                names.join(", ")
            };
            view.note(format!("  {provider}: {names}"))
        })
}

/// The question asked after [`grant`].
pub const GRANT_QUESTION: &str = "Sending them to the controller";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::Location;
    use crate::views::Block;

    fn job() -> JobSummary {
        JobSummary {
            id: 7,
            name: "train".into(),
            resources: "1x[A100:1]".into(),
            status: ManagedJobStatus::Failed,
            submitted_at: 1_000,
            started_at: Some(1_060),
            ended_at: Some(1_185),
            task_index: 1,
            task_count: 2,
            recovery_count: 3,
            restarts_on_errors: 0,
            cluster_name: Some("train-7".into()),
            location: Some(Location {
                cloud: "aws".into(),
                region: "us-east-1".into(),
                zone: Some("us-east-1a".into()),
            }),
            failure_reason: Some("exit 1".into()),
        }
    }

    #[test]
    fn the_queue_is_plain_columns_with_more_of_them_for_full_detail() {
        let view = queue(&[job()], Detail::Brief, 5_000);
        let Block::Table(table) = &view.blocks[0] else {
            panic!("{view:?}")
        };
        assert_eq!(table.style, crate::views::TableStyle::Columns);
        assert_eq!(table.header.len(), 10);
        assert_eq!(
            table.rows[0],
            [
                "7",
                "2/2",
                "train",
                "1x[A100:1]",
                "1h 6m ago",
                "3m 5s",
                "2m 5s",
                "3",
                "FAILED",
                "aws (us-east-1)"
            ]
        );
        let view = queue(&[job()], Detail::Full, 5_000);
        let Block::Table(table) = &view.blocks[0] else {
            panic!("{view:?}")
        };
        assert_eq!(table.header[10..], ["STARTED (UTC)", "CLUSTER", "DETAILS"]);
        assert_eq!(
            table.rows[0][9..],
            [
                "aws/us-east-1/us-east-1a",
                "1970-01-01 00:17:40",
                "train-7",
                "exit 1"
            ]
        );
    }

    #[test]
    fn questions_and_outcomes_read_as_the_cli_shows_them() {
        assert_eq!(
            cancel_question(&[3, 4]).as_deref(),
            Some("Cancelling 2 managed job(s) (3, 4)")
        );
        assert_eq!(cancel_question(&[]), None);
        assert_eq!(
            cancelled(&[3]).blocks,
            [Block::Note("Managed job 3: cancellation requested.".into())]
        );
        assert_eq!(
            ended(3, ManagedJobStatus::Succeeded).to_string(),
            "Managed job 3 ended SUCCEEDED.\n"
        );
    }

    #[test]
    fn the_grant_lists_credential_names_per_provider() {
        let grant = grant(&ControllerGrant {
            providers: [
                ("aws".to_string(), vec!["AWS_ACCESS_KEY_ID".to_string()]),
                ("gcp".to_string(), Vec::new()),
            ]
            .into(),
        });
        assert_eq!(grant.blocks.len(), 3);
        assert_eq!(
            grant.blocks[1..],
            [
                Block::Note("  aws: AWS_ACCESS_KEY_ID".into()),
                Block::Note("  gcp: (none)".into())
            ]
        );
    }
}
