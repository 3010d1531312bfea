//! `aloft autostop CLUSTER -i MINUTES [--down] | --cancel`: set or cancel a cluster's
//! autostop; its head node's agent carries it out.

use crate::exit::CliResult;

/// Flags of `aloft autostop`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The cluster.
    cluster: String,
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
    if args.cancel {
        client.autostop(&args.cluster, None)?;
        eprintln!("Autostop of `{}` cancelled.", args.cluster);
        return Ok(());
    }
    client.autostop(&args.cluster, Some((args.idle_minutes, args.down)))?;
    let verb = if args.down { "down" } else { "stop" };
    eprintln!(
        "`{}` will {verb} after {} idle minute(s).",
        args.cluster, args.idle_minutes
    );
    Ok(())
}
