//! `aloft stop`, `aloft start` and `aloft down`.

use aloft::client::ClientResult;

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

/// Prints each cluster's outcome; the first failure (after all were tried) ends
/// the command.
fn report(outcomes: Vec<(String, ClientResult<()>)>, done: &str) -> CliResult {
    crate::render::outcomes(
        outcomes,
        |name| format!("Cluster `{name}` {done}."),
        |name| format!("Cluster `{name}`"),
    )
}

/// Asks `{verb} N cluster(s): a, b. Proceed? [Y/n]`, as SkyPilot's `stop` and
/// `down` do, unless `yes` (see [`crate::confirm`]); nothing named, nothing asked.
fn confirm(verb: &str, names: &[String], yes: bool) -> CliResult {
    if names.is_empty() {
        return Ok(());
    }
    crate::confirm::confirm(
        &format!(
            "{verb} {} cluster{}: {}",
            names.len(),
            if names.len() == 1 { "" } else { "s" },
            names.join(", ")
        ),
        true,
        yes,
    )
}

/// `aloft down`.
pub fn down(args: Args) -> CliResult {
    let client = crate::client::open_waiting(!args.no_wait)?;
    let names = args.clusters.targets(&client)?;
    confirm("Terminating", &names, args.yes)?;
    report(client.down_many(&names, args.purge), "terminated")
}

/// `aloft stop`.
pub fn stop(args: Args) -> CliResult {
    let client = crate::client::open_waiting(!args.no_wait)?;
    let names = args.clusters.targets(&client)?;
    confirm("Stopping", &names, args.yes)?;
    report(client.stop_many(&names), "stopped")
}

/// `aloft start`.
pub fn start(args: StartArgs) -> CliResult {
    let common = &args.common;
    let client = crate::client::open_waiting(!common.no_wait)?;
    let options = aloft::client::StartOptions {
        retry_until_up: args.retry_until_up,
        autostop: args.autostop.setting(),
        force: args.force,
    };
    let outcomes = common
        .clusters
        .targets(&client)?
        .into_iter()
        .map(|name| {
            let outcome = client.start_with(&name, &options);
            (name, outcome)
        })
        .collect();
    report(outcomes, "is UP again")
}
