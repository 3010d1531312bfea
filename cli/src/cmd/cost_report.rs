//! `aloft cost-report`: what each cluster cost, from the hourly price recorded when
//! it was launched (never from today's catalog).

use crate::exit::CliResult;
use crate::render::{self, Output};

/// Flags of `aloft cost-report`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Look back this many days.
    #[arg(long, default_value_t = 30)]
    days: u32,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    output: Output,
}

/// Runs the command.
pub fn run(args: Args) -> CliResult {
    let rows = crate::client::open()?.cost_report(args.days)?;
    if args.output == Output::Json {
        return render::print_json(&rows);
    }
    if rows.is_empty() {
        println!("No usage in the last {} days.", args.days);
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
    for row in &rows {
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
    println!(
        "Total over the last {} days: {}",
        args.days,
        render::price(total)
    );
    Ok(())
}
