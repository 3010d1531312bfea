//! `aloft status`: the clusters in local state (no provider call), or with `-r`
//! the truth from their providers.

use serde::Serialize;

use crate::cmd::cluster_access;
use crate::exit::{CliError, CliResult};
use crate::render::{self, Output};

/// Flags of `aloft status`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only these clusters.
    clusters: Vec<String>,
    /// Ask the providers what really exists and update local state first.
    #[arg(short, long)]
    refresh: bool,
    /// Print only the head node's IP of the one named cluster.
    #[arg(long)]
    ip: bool,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    output: Output,
}

#[derive(Serialize)]
struct Row<'a> {
    #[serde(flatten)]
    record: &'a aloft::state::ClusterRecord,
    head_ip: Option<String>,
}

/// Runs the command.
pub fn run(args: Args) -> CliResult {
    let db = cluster_access::state()?;
    if args.ip {
        let [name] = args.clusters.as_slice() else {
            return Err(CliError::failure("--ip needs exactly one cluster name"));
        };
        let record = cluster_access::cluster(&db, name)?;
        let handle = cluster_access::handle(&record)?;
        let ip = handle
            .ips
            .first()
            .ok_or_else(|| CliError::failure(format!("cluster `{name}` has no nodes")))?;
        println!("{ip}");
        return Ok(());
    }
    if args.refresh {
        let mut targets = db
            .clusters()
            .map_err(|e| CliError::failure(e.to_string()))?;
        if !args.clusters.is_empty() {
            targets.retain(|r| args.clusters.contains(&r.name));
        }
        for note in crate::cmd::refresh::refresh(&db, &targets)? {
            eprintln!("{note}");
        }
    }
    let mut records = db
        .clusters()
        .map_err(|e| CliError::failure(e.to_string()))?;
    if !args.clusters.is_empty() {
        for name in &args.clusters {
            cluster_access::cluster(&db, name)?;
        }
        records.retain(|r| args.clusters.contains(&r.name));
    }
    let rows: Vec<Row> = records
        .iter()
        .map(|record| Row {
            record,
            head_ip: cluster_access::handle(record)
                .ok()
                .and_then(|h| h.ips.first().cloned()),
        })
        .collect();
    if args.output == Output::Json {
        return render::print_json(&rows);
    }
    if rows.is_empty() {
        println!("No clusters.");
        return Ok(());
    }
    let mut table = render::table([
        "NAME",
        "INFRA",
        "RESOURCES",
        "NODES",
        "STATUS",
        "$/hr",
        "AUTOSTOP",
        "HEAD IP",
    ]);
    for row in &rows {
        let r = row.record;
        let infra = match &r.zone {
            Some(zone) => format!("{} ({}, {zone})", r.provider, r.region),
            None => format!("{} ({})", r.provider, r.region),
        };
        let autostop = match (r.autostop_minutes, r.autostop_down) {
            (Some(m), true) => format!("{m}m (down)"),
            (Some(m), false) => format!("{m}m"),
            (None, _) => "-".into(),
        };
        table.add_row(vec![
            r.name.clone(),
            infra,
            format!(
                "{}{}",
                r.instance_type,
                if r.use_spot { "[Spot]" } else { "" }
            ),
            r.num_nodes.to_string(),
            r.status.to_string(),
            render::price(r.hourly_price),
            autostop,
            row.head_ip.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    println!("{table}");
    Ok(())
}
