//! Clusters: `status`, `cost-report`, and the outcomes of `autostop`, `stop`, `start` and `down`.

use super::{Detail, Table, View, infra, price};
use crate::client::{
    AutostopSetting, ClientResult, ClusterView, CostEntry, HeadAccess, IncludeOutcome, RefreshNote,
    SshSetup,
};

/// What a command did to each cluster it was given, in order.
pub type Outcomes = [(String, ClientResult<()>)];

/// `status`: the clusters as a table (`-v` adds region, zone and times, UTC),
/// then a line per cluster whose autostop keeps failing; "No clusters." when
/// there are none.
pub fn clusters(rows: &[ClusterView], detail: Detail) -> View {
    if rows.is_empty() {
        return View::new().line("No clusters.");
    }
    let mut header = vec![
        "NAME",
        "INFRA",
        "RESOURCES",
        "NODES",
        "STATUS",
        "$/hr",
        "AUTOSTOP",
        "HEAD IP",
    ];
    if detail.is_full() {
        header.extend(["REGION", "ZONE", "LAUNCHED (UTC)", "STATUS SINCE (UTC)"]);
    }
    let mut table = Table::boxed(header);
    for row in rows {
        let r = &row.record;
        let failing = match row.autostop_failure {
            Some(_) => ", FAILING",
            None => "",
        };
        let autostop = match (r.autostop_minutes, r.autostop_down) {
            (Some(m), true) => format!("{m}m (down{failing})"),
            (Some(m), false) => format!("{m}m{failing}"),
            (None, _) => "-".into(),
        };
        let spot = if r.use_spot { "[Spot]" } else { "" };
        let mut cells = vec![
            r.name.clone(),
            infra(&r.provider, &r.region, r.zone.as_deref()),
            format!("{}{spot}", r.instance_type),
            r.num_nodes.to_string(),
            r.status.to_string(),
            price(r.hourly_price),
            autostop,
            row.head_ip.clone().unwrap_or_else(|| "-".into()),
        ];
        if detail.is_full() {
            cells.extend([
                r.region.clone(),
                r.zone.clone().unwrap_or_else(|| "-".into()),
                crate::clock::utc(r.launched_at),
                crate::clock::utc(r.status_updated_at),
            ]);
        }
        table.row(cells);
    }
    let mut view = View::new().table(table);
    for row in rows {
        if let Some(failure) = &row.autostop_failure {
            view = view.line(format!("`{}`: {failure}", row.record.name));
        }
    }
    view
}

/// `status --ip` and `status --endpoint PORT`: the address alone, for scripts.
pub fn address(address: String) -> View {
    View::new().line(address)
}

/// `status -r`: what the refresh found changed or could not check, as notes.
pub fn refresh_notes(notes: &[RefreshNote]) -> View {
    (notes.iter()).fold(View::new(), |view, note| view.note(note.to_string()))
}

/// `status --endpoints CLUSTER`: a line `PORT: ADDRESS` per open port, or a note
/// that the cluster opens none.
pub fn endpoints(cluster: &str, endpoints: &[(u16, String)]) -> View {
    let mut view = View::new();
    if endpoints.is_empty() {
        view = view.note(format!(
            "`{cluster}` opens no ports (the task has no `ports`)."
        ));
    }
    (endpoints.iter()).fold(view, |view, (port, address)| {
        view.line(format!("{port}: {address}"))
    })
}

/// `cost-report`: what each cluster cost over the last `days` days, and the total.
pub fn cost_report(rows: &[CostEntry], days: u32) -> View {
    if rows.is_empty() {
        return View::new().line(format!("No usage in the last {days} days."));
    }
    let header = [
        "NAME",
        "PROVIDER",
        "RESOURCES",
        "DURATION",
        "COST",
        "ACTIVE",
    ];
    let table = Table::boxed(header).with_rows(rows.iter().map(|row| {
        [
            row.cluster.clone(),
            row.provider.clone(),
            format!("{}x {}", row.num_nodes, row.instance_type),
            format!("{:.1}h", row.hours),
            price(row.cost),
            if row.active { "yes" } else { "no" }.to_string(),
        ]
    }));
    let total: f64 = rows.iter().map(|row| row.cost).sum();
    View::new()
        .table(table)
        .line(format!("Total over the last {days} days: {}", price(total)))
}

/// `stop`: the question asked before stopping `names`.
pub fn stop_question(names: &[String]) -> String {
    question("Stopping", names)
}

/// `down`: the question asked before tearing `names` down.
pub fn down_question(names: &[String]) -> String {
    question("Terminating", names)
}

/// `Terminating 2 clusters: a, b`, as SkyPilot asks.
fn question(verb: &str, names: &[String]) -> String {
    let plural = if names.len() == 1 { "" } else { "s" };
    format!(
        "{verb} {} cluster{plural}: {}",
        names.len(),
        names.join(", ")
    )
}

/// `stop`: a note per cluster, stopped or why not.
pub fn stopped(outcomes: &Outcomes) -> View {
    done(outcomes, "stopped")
}

/// `start`: a note per cluster, up again or why not.
pub fn started(outcomes: &Outcomes) -> View {
    done(outcomes, "is UP again")
}

/// `down`: a note per cluster, terminated or why not.
pub fn terminated(outcomes: &Outcomes) -> View {
    done(outcomes, "terminated")
}

fn done(outcomes: &Outcomes, what: &str) -> View {
    notes(
        outcomes,
        |name| format!("Cluster `{name}` {what}."),
        |name| format!("Cluster `{name}`"),
    )
}

/// `autostop`: a note per cluster, what its autostop now does (`setting`; `None`
/// cancels it) or why it could not be set.
pub fn autostop_set(setting: Option<AutostopSetting>, outcomes: &Outcomes) -> View {
    let ok = |name: &str| match setting {
        None => format!("Autostop of `{name}` cancelled."),
        Some(s) => format!(
            "`{name}` will {} after {} idle minute(s).",
            if s.down { "be torn down" } else { "stop" },
            s.idle_minutes
        ),
    };
    notes(outcomes, ok, |name| format!("`{name}`"))
}

/// A note per outcome: `ok(name)`, or `failed(name): ERROR`.
fn notes(
    outcomes: &Outcomes,
    ok: impl Fn(&str) -> String,
    failed: impl Fn(&str) -> String,
) -> View {
    (outcomes.iter()).fold(View::new(), |view, (name, outcome)| match outcome {
        Ok(()) => view.note(ok(name)),
        Err(err) => view.note(format!("{}: {err}", failed(name))),
    })
}

/// `ssh-setup`: what it changed in the SSH config and how `ssh` reaches each
/// cluster, as notes.
pub fn ssh_setup(setup: &SshSetup) -> View {
    let (outcome, entries, heads) = (&setup.outcome, &setup.entries, &setup.heads);
    let changed = match outcome {
        IncludeOutcome::Added(path) => format!(
            "Added `Include \"{}\"` at the top of {}.",
            entries.display(),
            path.display()
        ),
        IncludeOutcome::AlreadyThere(path) => format!(
            "{} already includes aloft's host entries ({}); nothing changed.",
            path.display(),
            entries.display()
        ),
    };
    let view = View::new().note(changed).note(
        "`ssh CLUSTER` works for clusters whose nodes are machines (clouds, Kubernetes, \
         ssh node pools); a `local` cluster's nodes are folders on this machine, with no \
         SSH entry.",
    );
    (heads.iter()).fold(view, |view, (name, access)| {
        view.note(match access {
            HeadAccess::Ssh => format!("  {name}: `ssh {name}`"),
            HeadAccess::Folder(dir) => {
                format!("  {name}: local, no SSH entry: `cd {}`", dir.display())
            }
            HeadAccess::Unknown => format!("  {name}: no head recorded yet, no SSH entry"),
        })
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::client::ClientError;
    use crate::state::{ClusterRecord, ClusterStatus};
    use crate::views::Block;

    fn row(name: &str) -> ClusterView {
        let mut record = ClusterRecord::sample(name, ClusterStatus::Up);
        record.hourly_price = 1.5;
        ClusterView {
            record,
            head_ip: None,
            autostop_failure: None,
        }
    }

    #[test]
    fn status_shows_a_row_per_cluster_and_failing_autostops() {
        let mut failing = row("gpu");
        failing.record.provider = "aws".into();
        failing.record.region = "us-east-1".into();
        failing.record.zone = Some("us-east-1a".into());
        failing.record.use_spot = true;
        failing.record.autostop_minutes = Some(10);
        failing.record.autostop_down = true;
        failing.record.launched_at = 86_400;
        failing.head_ip = Some("10.0.0.1".into());
        failing.autostop_failure = Some("cannot stop".into());
        let rows = [row("dev"), failing];
        let view = clusters(&rows, Detail::Brief);
        let t = view.tables().next().unwrap();
        assert_eq!(
            t.header,
            [
                "NAME",
                "INFRA",
                "RESOURCES",
                "NODES",
                "STATUS",
                "$/hr",
                "AUTOSTOP",
                "HEAD IP"
            ]
        );
        assert_eq!(
            t.rows[0],
            [
                "dev",
                "local (local)",
                "local-2cpu",
                "1",
                "UP",
                "$1.50",
                "-",
                "-"
            ]
        );
        assert_eq!(
            t.rows[1],
            [
                "gpu",
                "aws (us-east-1, us-east-1a)",
                "local-2cpu[Spot]",
                "1",
                "UP",
                "$1.50",
                "10m (down, FAILING)",
                "10.0.0.1"
            ]
        );
        assert_eq!(view.blocks[1], Block::Line("`gpu`: cannot stop".into()));
        assert_eq!(view.blocks.len(), 2);

        let full = clusters(&rows, Detail::Full);
        let t = full.tables().next().unwrap();
        assert_eq!(t.header.len(), 12);
        assert_eq!(
            t.rows[1][8..],
            [
                "us-east-1",
                "us-east-1a",
                "1970-01-02 00:00:00",
                "1970-01-01 00:00:00"
            ]
        );
        assert_eq!(t.rows[0][9], "-");
    }

    #[test]
    fn no_clusters_says_so() {
        assert_eq!(clusters(&[], Detail::Brief).to_string(), "No clusters.\n");
    }

    #[test]
    fn endpoints_are_lines_or_a_note() {
        assert_eq!(
            address("10.0.0.1".into()).blocks,
            [Block::Line("10.0.0.1".into())]
        );
        let open = [(8080, "http://1.2.3.4:8080".to_string())];
        assert_eq!(
            endpoints("web", &open).blocks,
            [Block::Line("8080: http://1.2.3.4:8080".into())]
        );
        assert_eq!(
            endpoints("web", &[]).blocks,
            [Block::Note(
                "`web` opens no ports (the task has no `ports`).".into()
            )]
        );
        let note = RefreshNote {
            subject: "dev".into(),
            message: "is STOPPED".into(),
        };
        assert_eq!(
            refresh_notes(&[note]).blocks,
            [Block::Note("dev: is STOPPED".into())]
        );
    }

    #[test]
    fn cost_report_totals_the_rows() {
        let entry = |cluster: &str, cost: f64, active: bool| CostEntry {
            cluster: cluster.into(),
            provider: "aws".into(),
            instance_type: "m5.large".into(),
            num_nodes: 2,
            hours: 1.25,
            cost,
            active,
        };
        let view = cost_report(&[entry("a", 0.24, true), entry("b", 1.0, false)], 7);
        let t = view.tables().next().unwrap();
        assert_eq!(
            t.header,
            [
                "NAME",
                "PROVIDER",
                "RESOURCES",
                "DURATION",
                "COST",
                "ACTIVE"
            ]
        );
        assert_eq!(
            t.rows[0],
            ["a", "aws", "2x m5.large", "1.2h", "$0.24", "yes"]
        );
        assert_eq!(t.rows[1][5], "no");
        assert_eq!(
            view.blocks[1],
            Block::Line("Total over the last 7 days: $1.24".into())
        );
        assert_eq!(
            cost_report(&[], 30).to_string(),
            "No usage in the last 30 days.\n"
        );
    }

    #[test]
    fn outcomes_and_questions_name_each_cluster() {
        let outcomes = vec![
            ("a".to_string(), Ok(())),
            ("b".to_string(), Err(ClientError::Other("it failed".into()))),
        ];
        let view = terminated(&outcomes);
        assert_eq!(
            view.blocks[0],
            Block::Note("Cluster `a` terminated.".into())
        );
        assert_eq!(view.blocks[1], Block::Note("Cluster `b`: it failed".into()));
        assert_eq!(
            started(&outcomes[..1]).to_string(),
            "Cluster `a` is UP again.\n"
        );
        assert_eq!(
            stopped(&outcomes[..1]).to_string(),
            "Cluster `a` stopped.\n"
        );
        let names = ["a".to_string(), "b".to_string()];
        assert_eq!(down_question(&names), "Terminating 2 clusters: a, b");
        assert_eq!(stop_question(&names[..1]), "Stopping 1 cluster: a");
    }

    #[test]
    fn autostop_outcomes_say_what_happens_next() {
        let ok = [("a".to_string(), Ok(()))];
        let down = AutostopSetting {
            idle_minutes: 30,
            down: true,
        };
        assert_eq!(
            autostop_set(Some(down), &ok).to_string(),
            "`a` will be torn down after 30 idle minute(s).\n"
        );
        let stop = AutostopSetting {
            down: false,
            ..down
        };
        assert_eq!(
            autostop_set(Some(stop), &ok).to_string(),
            "`a` will stop after 30 idle minute(s).\n"
        );
        assert_eq!(
            autostop_set(None, &ok).to_string(),
            "Autostop of `a` cancelled.\n"
        );
    }

    #[test]
    fn ssh_setup_says_what_changed_and_how_each_cluster_is_reached() {
        let heads = [
            ("gpu".to_string(), HeadAccess::Ssh),
            (
                "dev".to_string(),
                HeadAccess::Folder(PathBuf::from("/h/dev")),
            ),
            ("new".to_string(), HeadAccess::Unknown),
        ];
        let setup = |outcome, heads: &[(String, HeadAccess)]| SshSetup {
            outcome,
            entries: PathBuf::from("/a/ssh/config"),
            heads: heads.to_vec(),
        };
        let added = IncludeOutcome::Added(PathBuf::from("/u/.ssh/config"));
        let view = ssh_setup(&setup(added, &heads));
        assert!(view.blocks.iter().all(|b| matches!(b, Block::Note(_))));
        let text = view.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "Added `Include \"/a/ssh/config\"` at the top of /u/.ssh/config."
        );
        assert_eq!(
            lines[2..],
            [
                "  gpu: `ssh gpu`",
                "  dev: local, no SSH entry: `cd /h/dev`",
                "  new: no head recorded yet, no SSH entry",
            ]
        );
        let there = IncludeOutcome::AlreadyThere(PathBuf::from("/u/.ssh/config"));
        assert_eq!(
            ssh_setup(&setup(there, &[])).blocks[0],
            Block::Note(
                "/u/.ssh/config already includes aloft's host entries (/a/ssh/config); \
                 nothing changed."
                    .into()
            )
        );
    }
}
