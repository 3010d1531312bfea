//! `aloft show-gpus`: accelerators, counts, and the cheapest on-demand and spot
//! prices per cloud, from the catalogs (refreshed as for a plan; the snapshot in
//! aloft offline), or for `--infra CLOUD` without a catalog, its provider's live
//! offers.

use aloft::client::GpuRequest;

use crate::exit::{CliError, CliResult};
use crate::render::{self, OutputArg};

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
    if request.is_kubernetes() {
        return kubernetes(&args, &request);
    }
    // The catalogs as a plan reads them: refreshed first where due; a provider's
    // live offers for a cloud without one.
    let listings = crate::client::open()?.gpu_listings(&request)?;
    if args.output.is_json() {
        return render::print_json(&listings);
    }
    // One table per accelerator, as SkyPilot prints them.
    for (i, listing) in listings.iter().enumerate() {
        let mut header = vec!["GPU", "QTY", "CLOUD", "INSTANCE_TYPE"];
        if args.verbose {
            header.push("DEVICE_MEM");
        }
        header.extend(["vCPUs", "Mem(GB)"]);
        header.push(if request.by_region() {
            "REGION"
        } else {
            "CHEAPEST REGION"
        });
        header.extend(["$/hr", "SPOT $/hr"]);
        let mut table = render::table(header);
        for offer in &listing.offers {
            let mut row = vec![
                listing.accelerator.clone(),
                render::number(offer.count),
                offer.cloud.clone(),
                offer.instance_type.clone(),
            ];
            if args.verbose {
                row.push(
                    listing
                        .memory_gb
                        .map_or("-".into(), |gb| format!("{}GB", render::number(gb))),
                );
            }
            row.extend([
                render::number(offer.vcpus),
                render::number(offer.memory_gib),
                offer.region.clone(),
                offer.price.map_or("-".into(), render::price),
                offer.spot_price.map_or("-".into(), render::price),
            ]);
            table.add_row(row);
        }
        if i > 0 {
            println!();
        }
        println!("{table}");
    }
    Ok(())
}

/// `show-gpus --infra k8s[/CONTEXT]`: per allowed context, each GPU type with its
/// total and free counts, read from the cluster now (as `sky show-gpus --infra k8s`).
fn kubernetes(args: &Args, request: &GpuRequest) -> CliResult {
    let rows = crate::client::open()?.kubernetes_gpu_listings(request)?;
    if args.output.is_json() {
        return render::print_json(&rows);
    }
    if rows.is_empty() {
        return Err(CliError::failure(
            "no GPU nodes in the allowed Kubernetes contexts".to_string(),
        ));
    }
    let mut table = render::table(vec!["CONTEXT", "GPU", "TOTAL", "FREE", "NODES"]);
    for r in &rows {
        table.add_row(vec![
            r.context.clone(),
            r.gpu.clone(),
            r.total.to_string(),
            r.free.to_string(),
            r.nodes.to_string(),
        ]);
    }
    println!("{table}");
    Ok(())
}
