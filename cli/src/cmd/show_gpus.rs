//! `aloft show-gpus`: accelerators, counts, and the cheapest on-demand and spot
//! prices per cloud, from the catalogs (refreshed as for a plan; the snapshot in
//! aloft offline), or for `--infra CLOUD` without a catalog, its provider's live
//! offers; for `--infra k8s[/CONTEXT]`, each context's GPU types with their total
//! and free counts, read from the cluster now.

use aloft::client::GpuRequest;
use aloft::views::{Detail, gpus as views};

use crate::exit::{CliError, CliResult};
use crate::render::OutputArg;

/// Flags of `aloft show-gpus`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only accelerators whose name contains this, ignoring case, as SkyPilot
    /// filters (`A100` also lists `A100-80GB`, each in a table of its own, the name
    /// asked for first); `A100:8` keeps only offers with 8 per node.
    name: Option<String>,
    /// Only this cloud, or cloud and region (`aws`, `aws/us-east-1`, `k8s/CONTEXT`).
    #[arg(long)]
    infra: Option<String>,
    /// One row per region instead of the cheapest region.
    #[arg(long)]
    all_regions: bool,
    /// Every field: the memory of one device too (SkyPilot's `-v`).
    #[arg(short, long)]
    verbose: bool,
    #[command(flatten)]
    output: OutputArg,
}

/// Runs the command.
pub fn run(args: Args) -> CliResult {
    let request = GpuRequest::parse(
        args.name.as_deref(),
        args.infra.as_deref(),
        args.all_regions,
    )?;
    let client = crate::client::open()?;
    if request.is_kubernetes() {
        let rows = client.kubernetes_gpu_listings(&request)?;
        if rows.is_empty() && !args.output.is_json() {
            return Err(CliError::failure(
                "no GPU nodes in the allowed Kubernetes contexts",
            ));
        }
        return args.output.print(&rows, |r| views::kubernetes(r));
    }
    // The catalogs as a plan reads them: refreshed first where due; a provider's
    // live offers for a cloud without one.
    let listings = client.gpu_listings(&request)?;
    let detail = Detail::from_verbose(args.verbose);
    args.output.print(&listings, |l| {
        views::accelerators(l, request.by_region(), detail)
    })
}
