//! `aloft storage ls|delete`: the buckets aloft created (the core's client does the
//! work; see `aloft::client`).

use aloft::views::{Detail, storage as views};

use crate::exit::CliResult;
use crate::render;

/// Flags of `aloft storage`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Buckets aloft created.
    Ls {
        /// Every field: the source in full (SkyPilot's `-v`).
        #[arg(short, long)]
        verbose: bool,
        #[command(flatten)]
        output: render::OutputArg,
    },
    /// Delete buckets (every object in them) and forget them.
    Delete(crate::flags::Deletion),
}

/// Runs `aloft storage`.
pub fn run(args: Args) -> CliResult {
    let client = crate::client::open()?;
    match args.command {
        Command::Ls { verbose, output } => {
            let detail = Detail::from_verbose(verbose);
            output.print(&client.buckets()?, |b| views::buckets(b, detail))
        }
        Command::Delete(deletion) => {
            let every = || Ok(client.buckets()?.into_iter().map(|b| b.name).collect());
            for name in deletion.names("bucket", "and everything in them", every)? {
                let outcome = client.delete_bucket(&name)?;
                render::print(&views::bucket_deleted(&name, &outcome))?;
            }
            Ok(())
        }
    }
}
