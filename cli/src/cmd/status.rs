//! `aloft status`: the clusters in local state (no provider call), or with `-r`
//! the truth from their providers.

use crate::exit::{CliError, CliResult};
use crate::render::{self, OutputArg};

/// Flags of `aloft status`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only these clusters (glob patterns such as `'exp-*'` work).
    clusters: Vec<String>,
    /// Ask the providers what really exists and update local state first.
    #[arg(short, long)]
    refresh: bool,
    /// Print only the head node's IP of the one named cluster.
    #[arg(long)]
    ip: bool,
    /// The task's open ports of the one named cluster, with their addresses.
    #[arg(long)]
    endpoints: bool,
    /// The address of one open port of the one named cluster.
    #[arg(long, value_name = "PORT")]
    endpoint: Option<u16>,
    /// Every field: when each cluster was launched and last changed status (UTC),
    /// region and zone apart (SkyPilot's `-v`).
    #[arg(short, long)]
    verbose: bool,
    #[command(flatten)]
    output: OutputArg,
}

/// Runs the command.
pub fn run(args: Args) -> CliResult {
    let client = crate::client::open()?;
    let clusters = client.expand_cluster_names(&args.clusters)?;
    if args.endpoints || args.endpoint.is_some() {
        let [name] = clusters.as_slice() else {
            return Err(CliError::failure(
                "--endpoints needs exactly one cluster name",
            ));
        };
        if let Some(port) = args.endpoint {
            println!("{}", client.port_endpoint(name, port)?);
            return Ok(());
        }
        let endpoints = client.endpoints(name)?;
        if endpoints.is_empty() {
            eprintln!("`{name}` opens no ports (the task has no `ports`).");
        }
        for (port, address) in endpoints {
            println!("{port}: {address}");
        }
        return Ok(());
    }
    if args.ip {
        let [name] = clusters.as_slice() else {
            return Err(CliError::failure("--ip needs exactly one cluster name"));
        };
        println!("{}", client.head_ip(name)?);
        return Ok(());
    }
    if args.refresh {
        for note in client.refresh(&clusters)? {
            eprintln!("{note}");
        }
    }
    let rows = client.status(&clusters)?;
    if args.output.is_json() {
        return render::print_json(&rows);
    }
    if rows.is_empty() {
        println!("No clusters.");
        return Ok(());
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
    if args.verbose {
        header.extend(["REGION", "ZONE", "LAUNCHED (UTC)", "STATUS SINCE (UTC)"]);
    }
    let mut table = render::table(header);
    for row in &rows {
        let r = &row.record;
        let infra = render::infra(&r.provider, &r.region, r.zone.as_deref());
        let failing = if row.autostop_failure.is_some() {
            ", FAILING"
        } else {
            ""
        };
        let autostop = match (r.autostop_minutes, r.autostop_down) {
            (Some(m), true) => format!("{m}m (down{failing})"),
            (Some(m), false) => format!("{m}m{failing}"),
            (None, _) => "-".into(),
        };
        let mut cells = vec![
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
        ];
        if args.verbose {
            cells.extend([
                r.region.clone(),
                r.zone.clone().unwrap_or_else(|| "-".into()),
                aloft::clock::utc(r.launched_at),
                aloft::clock::utc(r.status_updated_at),
            ]);
        }
        table.add_row(cells);
    }
    println!("{table}");
    for row in &rows {
        if let Some(failure) = &row.autostop_failure {
            println!("`{}`: {failure}", row.record.name);
        }
    }
    Ok(())
}
