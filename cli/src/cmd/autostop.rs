//! `aloft autostop CLUSTER... | -a  -i MINUTES [--down] | --cancel`: set or cancel
//! clusters' autostop; their head node's agent carries it out.

use crate::exit::CliResult;

/// Flags of `aloft autostop`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    clusters: crate::flags::Clusters,
    /// Idle minutes before stopping.
    #[arg(short = 'i', long = "idle-minutes", default_value_t = 5)]
    idle_minutes: u64,
    /// Tear down instead of stopping.
    #[arg(long)]
    down: bool,
    /// Cancel autostop.
    #[arg(long, conflicts_with = "down")]
    cancel: bool,
    /// Do not ask for confirmation (autostop never prompts; accepted for scripts).
    #[arg(short, long)]
    yes: bool,
}

/// Runs the command.
pub fn run(args: Args) -> CliResult {
    let _ = args.yes;
    let client = crate::client::open()?;
    let setting = aloft::client::AutostopSetting::from_flags(Some(args.idle_minutes), args.down);
    let setting = setting.filter(|_| !args.cancel);
    let names = args.clusters.targets(&client)?;
    let outcomes = names
        .iter()
        .map(|n| (n.clone(), client.autostop(n, setting)));
    crate::cmd::down::report(outcomes.collect(), |outcomes| {
        aloft::views::clusters::autostop_set(setting, outcomes)
    })
}
