//! `aloft storage ls|delete`: the buckets aloft created (the core's client does the
//! work; see `aloft::client`).

use aloft::client::BucketDeletion;

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
            let buckets = client.buckets()?;
            if output.is_json() {
                return render::print_json(&buckets);
            }
            if buckets.is_empty() {
                eprintln!("No buckets created by aloft.");
                return Ok(());
            }
            let mut table = render::table(["NAME", "STORE", "REGION", "SOURCE", "CREATED (UTC)"]);
            for b in &buckets {
                let source = b.source.clone().unwrap_or_else(|| "-".into());
                table.add_row(vec![
                    b.name.clone(),
                    b.store.clone(),
                    b.region.clone(),
                    if verbose {
                        source
                    } else {
                        shortened(&source, SOURCE_WIDTH)
                    },
                    aloft::clock::utc(b.created_at),
                ]);
            }
            println!("{table}");
            Ok(())
        }
        Command::Delete(deletion) => {
            let every = || Ok(client.buckets()?.into_iter().map(|b| b.name).collect());
            for name in deletion.names("bucket", "and everything in them", every)? {
                match client.delete_bucket(&name)? {
                    BucketDeletion::Deleted(n) => {
                        eprintln!("Deleted bucket `{name}` ({n} object(s)).")
                    }
                    BucketDeletion::AlreadyGone => eprintln!("Bucket `{name}` was already gone."),
                }
            }
            Ok(())
        }
    }
}

/// Characters of a bucket's source `storage ls` shows without `-v` (SkyPilot
/// truncates long fields the same way).
const SOURCE_WIDTH: usize = 40;

/// `text` cut to `width` characters, `...` marking the cut.
fn shortened(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let kept: String = text.chars().take(width.saturating_sub(3)).collect();
    format!("{kept}...")
}
