//! A cluster's lifecycle: `aloft stop`, `start`, `down` and `autostop` (set or cancel
//! it; the head node's agent carries it out).

use aloft::client::ClientResult;
use aloft::views::View;
use aloft::views::clusters::{self as views, Outcomes};

use crate::exit::CliResult;
use crate::flags::{AutostopFlags, Clusters};

/// Flags of `aloft down` / `aloft stop` / `aloft start`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    clusters: Clusters,
    /// Do not ask for confirmation (`stop` and `down` ask otherwise).
    #[arg(short, long)]
    yes: bool,
    /// Forget the cluster even if its provider fails (down only).
    #[arg(short, long)]
    purge: bool,
    /// Fail at once when another aloft command holds a cluster, instead of waiting.
    #[arg(long)]
    no_wait: bool,
}

/// Flags of `aloft start`.
#[derive(Debug, clap::Args)]
pub struct StartArgs {
    #[command(flatten)]
    common: Args,
    #[command(flatten)]
    autostop: AutostopFlags,
    /// Keep trying, with backoff, until the cluster starts (Ctrl-C stops).
    #[arg(short = 'r', long)]
    retry_until_up: bool,
    /// Start even a cluster that is UP: its nodes are asked for again and its
    /// agent started if it does not run (SkyPilot's `-f`).
    #[arg(short, long)]
    force: bool,
}

/// Prints what became of each cluster (`view`); the first failure, after every
/// cluster was tried, ends the command.
pub(crate) fn report(
    outcomes: Vec<(String, ClientResult<()>)>,
    view: impl FnOnce(&Outcomes) -> View,
) -> CliResult {
    crate::render::print(&view(&outcomes))?;
    let first_error = outcomes.into_iter().find_map(|(_, outcome)| outcome.err());
    first_error.map_or(Ok(()), |err| Err(err.into()))
}

/// `aloft down`.
pub fn down(args: Args) -> CliResult {
    let client = crate::client::open_waiting(!args.no_wait)?;
    let names = args.clusters.targets(&client)?;
    if !names.is_empty() {
        crate::confirm::confirm(&views::down_question(&names), true, args.yes)?;
    }
    report(client.down_many(&names, args.purge), views::terminated)
}

/// `aloft stop`.
pub fn stop(args: Args) -> CliResult {
    let client = crate::client::open_waiting(!args.no_wait)?;
    let names = args.clusters.targets(&client)?;
    if !names.is_empty() {
        crate::confirm::confirm(&views::stop_question(&names), true, args.yes)?;
    }
    report(client.stop_many(&names), views::stopped)
}

/// `aloft start`.
pub fn start(args: StartArgs) -> CliResult {
    let client = crate::client::open_waiting(!args.common.no_wait)?;
    let options = aloft::client::StartOptions {
        retry_until_up: args.retry_until_up,
        autostop: args.autostop.setting(),
        force: args.force,
    };
    let names = args.common.clusters.targets(&client)?;
    report(client.start_many(&names, &options), views::started)
}

/// Flags of `aloft autostop`.
#[derive(Debug, clap::Args)]
pub struct AutostopArgs {
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

/// `aloft autostop`.
pub fn autostop(args: AutostopArgs) -> CliResult {
    let _ = args.yes;
    let client = crate::client::open()?;
    let setting = aloft::client::AutostopSetting::from_flags(Some(args.idle_minutes), args.down);
    let setting = setting.filter(|_| !args.cancel);
    let names = args.clusters.targets(&client)?;
    let outcomes = client.autostop_many(&names, setting);
    report(outcomes, |outcomes| views::autostop_set(setting, outcomes))
}
