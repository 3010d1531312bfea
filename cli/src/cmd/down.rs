//! `aloft stop`, `aloft start` and `aloft down`.

use aloft::client::{Client, ClientResult};

use crate::exit::{CliError, CliResult};

/// Flags of `aloft down` / `aloft stop` / `aloft start`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Clusters (glob patterns such as `'exp-*'` work).
    clusters: Vec<String>,
    /// Every cluster.
    #[arg(short, long)]
    all: bool,
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
    /// Stop the cluster after this many idle minutes.
    #[arg(short = 'i', long = "idle-minutes-to-autostop")]
    idle_minutes: Option<u64>,
    /// Tear down instead of stopping when idle (with -i; alone: 0 idle minutes).
    #[arg(long)]
    down: bool,
    /// Keep trying, with backoff, until the cluster starts (Ctrl-C stops).
    #[arg(short = 'r', long)]
    retry_until_up: bool,
    /// Start even a cluster that is UP: its nodes are asked for again and its
    /// agent started if it does not run (SkyPilot's `-f`).
    #[arg(short, long)]
    force: bool,
}

fn names(client: &Client, args: &Args) -> Result<Vec<String>, CliError> {
    Ok(client.cluster_targets(&args.clusters, args.all)?)
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
    let names = names(&client, &args)?;
    confirm("Terminating", &names, args.yes)?;
    report(client.down_many(&names, args.purge), "terminated")
}

/// `aloft stop`.
pub fn stop(args: Args) -> CliResult {
    let client = crate::client::open_waiting(!args.no_wait)?;
    let names = names(&client, &args)?;
    confirm("Stopping", &names, args.yes)?;
    report(client.stop_many(&names), "stopped")
}

/// `aloft start`.
pub fn start(args: StartArgs) -> CliResult {
    let common = &args.common;
    let client = crate::client::open_waiting(!common.no_wait)?;
    let autostop = aloft::client::AutostopSetting::from_flags(args.idle_minutes, args.down);
    let options = aloft::client::StartOptions {
        retry_until_up: args.retry_until_up,
        autostop,
        force: args.force,
    };
    let outcomes = names(&client, common)?
        .into_iter()
        .map(|name| {
            let outcome = client.start_with(&name, &options);
            (name, outcome)
        })
        .collect();
    report(outcomes, "is UP again")
}
