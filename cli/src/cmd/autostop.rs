//! `aloft autostop CLUSTER -i MINUTES [--down] | --cancel`: set or cancel a cluster's
//! autostop; its head node's agent carries it out.

use aloft::runtime::agent::AutostopSpec;

use crate::cmd::cluster_access;
use crate::exit::{CliError, CliResult};

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
    let db = cluster_access::state()?;
    let record = cluster_access::cluster(&db, &args.cluster)?;
    let head = cluster_access::head(&record)?;
    let fail = |e: &dyn std::fmt::Display| CliError::failure(e.to_string());
    if args.cancel {
        head.set_autostop(None).map_err(|e| fail(&e))?;
        db.set_autostop(&record.name, None, false)
            .map_err(|e| fail(&e))?;
        eprintln!("Autostop of `{}` cancelled.", record.name);
        return Ok(());
    }
    let binary = std::env::current_exe().map_err(|e| fail(&e))?;
    let verb = if args.down { "down" } else { "stop" };
    head.set_autostop(Some(&AutostopSpec {
        idle_minutes: args.idle_minutes,
        down: args.down,
        command: vec![
            binary.display().to_string(),
            verb.into(),
            "-y".into(),
            record.name.clone(),
        ],
    }))
    .map_err(|e| fail(&e))?;
    db.set_autostop(&record.name, Some(args.idle_minutes as u32), args.down)
        .map_err(|e| fail(&e))?;
    eprintln!(
        "`{}` will {verb} after {} idle minute(s).",
        record.name, args.idle_minutes
    );
    Ok(())
}
