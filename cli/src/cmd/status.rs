//! `aloft status`: the clusters in local state (no provider call), or with `-r`
//! the truth from their providers; `aloft cost-report`: what each cluster cost, from
//! the hourly price recorded when it was launched (never from today's catalog).

use aloft::views::clusters as views;

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
    let one = |flag: &str| match clusters.as_slice() {
        [name] => Ok(name),
        _ => Err(CliError::failure(format!(
            "{flag} needs exactly one cluster name"
        ))),
    };
    if let Some(port) = args.endpoint {
        let address = client.port_endpoint(one("--endpoint")?, port)?;
        return render::print(&views::address(address));
    }
    if args.endpoints {
        let name = one("--endpoints")?;
        return render::print(&views::endpoints(name, &client.endpoints(name)?));
    }
    if args.ip {
        return render::print(&views::address(client.head_ip(one("--ip")?)?));
    }
    if args.refresh {
        render::print(&views::refresh_notes(&client.refresh(&clusters)?))?;
    }
    let detail = aloft::views::Detail::from_verbose(args.verbose);
    let rows = client.status(&clusters)?;
    args.output
        .print(&rows, |rows| views::clusters(rows, detail))
}

/// Flags of `aloft cost-report`.
#[derive(Debug, clap::Args)]
pub struct CostReportArgs {
    /// Look back this many days.
    #[arg(long, default_value_t = 30)]
    days: u32,
    #[command(flatten)]
    output: OutputArg,
}

/// `aloft cost-report`.
pub fn cost_report(args: CostReportArgs) -> CliResult {
    let rows = crate::client::open()?.cost_report(args.days)?;
    args.output
        .print(&rows, |rows| views::cost_report(rows, args.days))
}
