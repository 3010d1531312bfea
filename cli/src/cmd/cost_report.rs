//! `aloft cost-report`: what each cluster cost, from the hourly price recorded when
//! it was launched (never from today's catalog).

use aloft::views::clusters as views;

use crate::exit::CliResult;
use crate::render::OutputArg;

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
    args.output
        .print(&rows, |rows| views::cost_report(rows, args.days))
}
