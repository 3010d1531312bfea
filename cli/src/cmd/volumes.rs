//! `aloft volumes apply|ls|delete`: volumes (Kubernetes PVCs) that outlive
//! clusters; tasks mount them with `volumes: {PATH: NAME}` (the core's client does
//! the work; see `aloft::client` and `aloft::volumes`).

use aloft::client::ClientError;
use aloft::views::storage as views;
use aloft::volumes::Volume;

use crate::exit::{CliError, CliResult};
use crate::render;

/// Flags of `aloft volumes`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Create a volume from a volume file (SkyPilot's schema) or from flags.
    Apply {
        /// The volume file (`name`, `type`, `infra`, `size`, `config`, `labels`).
        file: Option<std::path::PathBuf>,
        /// The volume's name (instead of a file).
        #[arg(long)]
        name: Option<String>,
        /// `k8s-pvc` or `runpod-network-volume` (instead of a file).
        #[arg(long = "type")]
        kind: Option<String>,
        /// Where: `k8s/CONTEXT` (instead of a file).
        #[arg(long)]
        infra: Option<String>,
        /// Size, e.g. `10Gi` (instead of a file).
        #[arg(long)]
        size: Option<String>,
        /// Do not ask (this command never prompts; accepted for scripts).
        #[arg(short, long)]
        yes: bool,
    },
    /// Volumes aloft knows, and the clusters that mount them.
    Ls {
        #[command(flatten)]
        output: render::OutputArg,
    },
    /// Delete volumes on their provider and forget them (refused while mounted).
    Delete(crate::flags::Deletion),
}

/// Runs `aloft volumes`.
pub fn run(args: Args) -> CliResult {
    match args.command {
        Command::Apply {
            file,
            name,
            kind,
            infra,
            size,
            ..
        } => {
            let volume = match (file, name, kind) {
                (Some(file), None, None) if infra.is_none() && size.is_none() => {
                    Volume::from_yaml_file(&file).map_err(ClientError::from)?
                }
                (None, Some(name), Some(kind)) => {
                    aloft::client::volume_from_fields(name, kind, infra, size)?
                }
                _ => {
                    return Err(CliError::failure(
                        "give a volume file, or --name and --type (with --infra, --size), not both",
                    ));
                }
            };
            let record = crate::client::open()?.apply_volume(&volume)?;
            render::print(&views::volume_created(&record))
        }
        Command::Ls { output } => {
            output.print(&crate::client::open()?.volumes()?, |v| views::volumes(v))
        }
        Command::Delete(deletion) => {
            let client = crate::client::open()?;
            let every = || {
                let volumes = client.volumes()?;
                Ok(volumes.into_iter().map(|v| v.record.name).collect())
            };
            for name in deletion.names("volume", "and their data", every)? {
                client.delete_volume(&name)?;
                render::print(&views::volume_deleted(&name))?;
            }
            Ok(())
        }
    }
}
