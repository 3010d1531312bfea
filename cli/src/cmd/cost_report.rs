//! `aloft cost-report`: what each cluster cost, from the hourly price recorded when
//! it was launched (never from today's catalog).

use crate::exit::CliResult;
use crate::render::{self, OutputArg};

/// Flags of `aloft cost-report`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Look back this many days.
    #[arg(long, default_value_t = 30)]
    days: u32,
    #[command(flatten)]
    output: OutputArg,
}

/// Runs the command.
pub fn run(args: Args) -> CliResult {
    let rows = crate::client::open()?.cost_report(args.days)?;
    args.output.show(&rows, |rows| table(rows, args.days))
}

/// The report as a table, with its total.
fn table(rows: &[aloft::CostEntry], days: u32) -> CliResult {
    if rows.is_empty() {
        println!("No usage in the last {days} days.");
        return Ok(());
    }
    let mut table = render::table([
        "NAME",
        "PROVIDER",
        "RESOURCES",
        "DURATION",
        "COST",
        "ACTIVE",
    ]);
    let mut total = 0.0;
    for row in rows {
        total += row.cost;
        table.add_row(vec![
            row.cluster.clone(),
            row.provider.clone(),
            format!("{}x {}", row.num_nodes, row.instance_type),
            format!("{:.1}h", row.hours),
            render::price(row.cost),
            if row.active { "yes" } else { "no" }.to_string(),
        ]);
    }
    println!("{table}");
    println!("Total over the last {days} days: {}", render::price(total));
    Ok(())
}
