//! `aloft storage ls|delete`: the buckets aloft created; `aloft volumes
//! apply|ls|delete`: volumes (Kubernetes PVCs, RunPod network volumes) that outlive
//! clusters, which tasks mount with `volumes: {PATH: NAME}` (the core's client does
//! the work; see `aloft::client` and `aloft::volumes`).

use aloft::client::ClientError;
use aloft::views::{Detail, storage as views};
use aloft::volumes::Volume;

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

/// Flags of `aloft volumes`.
#[derive(Debug, clap::Args)]
pub struct VolumesArgs {
    #[command(subcommand)]
    command: VolumesCommand,
}

#[derive(Debug, clap::Subcommand)]
enum VolumesCommand {
    /// Create a volume from a volume file (SkyPilot's schema) or from flags.
    #[command(group = clap::ArgGroup::new("source").args(["file", "name"]).required(true))]
    Apply {
        /// The volume file (`name`, `type`, `infra`, `size`, `config`, `labels`).
        #[arg(conflicts_with_all = ["name", "kind", "infra", "size"])]
        file: Option<std::path::PathBuf>,
        /// The volume's name (instead of a file).
        #[arg(long, requires = "kind")]
        name: Option<String>,
        /// `k8s-pvc` or `runpod-network-volume` (instead of a file).
        #[arg(long = "type", requires = "name")]
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
pub fn volumes(args: VolumesArgs) -> CliResult {
    match args.command {
        VolumesCommand::Apply {
            file,
            name,
            kind,
            infra,
            size,
            ..
        } => {
            // clap holds a file, or a name and a type, never both.
            let volume = match (file, name, kind) {
                (Some(file), ..) => Volume::from_yaml_file(&file).map_err(ClientError::from)?,
                (_, name, kind) => aloft::client::volume_from_fields(
                    name.unwrap_or_default(),
                    kind.unwrap_or_default(),
                    infra,
                    size,
                )?,
            };
            let record = crate::client::open()?.apply_volume(&volume)?;
            render::print(&views::volume_created(&record))
        }
        VolumesCommand::Ls { output } => {
            output.print(&crate::client::open()?.volumes()?, |v| views::volumes(v))
        }
        VolumesCommand::Delete(deletion) => {
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
