//! `aloft stop`, `aloft start` and `aloft down`.

use crate::cmd::cluster_access;
use crate::cmd::lifecycle::{Action, stop_or_down};
use crate::exit::{CliError, CliResult};

/// Flags of `aloft down` / `aloft stop`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Clusters.
    clusters: Vec<String>,
    /// Every cluster.
    #[arg(short, long)]
    all: bool,
    /// Do not ask for confirmation (these commands never prompt; accepted for scripts).
    #[arg(short, long)]
    yes: bool,
    /// Forget the cluster even if its provider fails (down only).
    #[arg(short, long)]
    purge: bool,
}

fn names(args: &Args) -> Result<Vec<String>, CliError> {
    if args.all {
        let db = cluster_access::state()?;
        return Ok(db
            .clusters()
            .map_err(|e| CliError::failure(e.to_string()))?
            .into_iter()
            .map(|c| c.name)
            .collect());
    }
    if args.clusters.is_empty() {
        return Err(CliError::failure("name the clusters, or pass --all"));
    }
    Ok(args.clusters.clone())
}

/// `aloft down`.
pub fn down(args: Args) -> CliResult {
    let _ = args.yes;
    for name in names(&args)? {
        stop_or_down(&name, Action::Down, args.purge)?;
    }
    Ok(())
}

/// `aloft stop`.
pub fn stop(args: Args) -> CliResult {
    let _ = args.yes;
    for name in names(&args)? {
        stop_or_down(&name, Action::Stop, false)?;
    }
    Ok(())
}

/// `aloft start`.
pub fn start(args: Args) -> CliResult {
    let _ = args.yes;
    for name in names(&args)? {
        crate::cmd::lifecycle::start(&name)?;
    }
    Ok(())
}
