//! `aloft show-gpus`: accelerators, counts, and the cheapest on-demand and spot
//! prices per cloud, from the catalogs (offline).

use aloft::catalog::{Catalog, GpuQuery};

use crate::config::aloft_home;
use crate::exit::{CliError, CliResult};
use crate::render::{self, Output};

/// Flags of `aloft show-gpus`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only accelerators whose name contains this (e.g. `A100`); `A100:8` also
    /// keeps only offers with 8 per node.
    name: Option<String>,
    /// Only this cloud (`aws`, `gcp`, ...).
    #[arg(long)]
    infra: Option<String>,
    /// One row per region instead of the cheapest region.
    #[arg(long)]
    all_regions: bool,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    output: Output,
}

/// Runs the command.
pub fn run(args: Args) -> CliResult {
    if let Some(infra) = &args.infra {
        let mut parts = infra.splitn(2, '/');
        let cloud = parts.next().unwrap_or_default().to_lowercase();
        if cloud == "k8s" || cloud == "kubernetes" {
            return kubernetes(&args, parts.next().filter(|c| !c.is_empty() && *c != "*"));
        }
    }
    let catalog = Catalog::load(Some(&aloft_home().join("catalogs")))
        .map_err(|e| CliError::failure(e.to_string()))?;
    let clouds = match &args.infra {
        Some(infra) => {
            let cloud = infra.split('/').next().unwrap_or(infra).to_lowercase();
            if !catalog.clouds().contains(&cloud) {
                return Err(CliError::failure(format!(
                    "no catalog for `{cloud}`; clouds with catalogs: {}",
                    catalog.clouds().join(", ")
                )));
            }
            vec![cloud]
        }
        None => Vec::new(),
    };
    let (name, count) = match args.name.as_deref().map(|n| n.split_once(':')) {
        Some(Some((name, count))) => {
            let count: f64 = count.parse().map_err(|_| {
                CliError::failure(format!(
                    "`{}`: the count after `:` must be a number",
                    args.name.as_deref().unwrap_or_default()
                ))
            })?;
            (Some(name.to_string()), Some(count))
        }
        _ => (args.name.clone(), None),
    };
    let query = GpuQuery {
        name: name.clone(),
        clouds,
        all_regions: args.all_regions,
    };
    let mut listings = catalog
        .list_accelerators(&query)
        .map_err(|e| CliError::failure(e.to_string()))?;
    if let Some(count) = count {
        for listing in &mut listings {
            listing.offers.retain(|o| (o.count - count).abs() < 1e-9);
        }
        listings.retain(|l| !l.offers.is_empty());
    }
    if listings.is_empty() {
        let hint = match &name {
            Some(name) => match catalog.canonical_accelerator(name) {
                Err(err) => err.to_string(),
                Ok(_) => format!("no offers for `{name}` on the selected clouds"),
            },
            None => "no accelerator offers on the selected clouds".to_string(),
        };
        return Err(CliError::failure(hint));
    }
    if args.output == Output::Json {
        return render::print_json(&listings);
    }
    let mut header = vec!["GPU", "QTY", "CLOUD", "INSTANCE_TYPE", "vCPUs", "Mem(GB)"];
    header.push(if args.all_regions {
        "REGION"
    } else {
        "CHEAPEST REGION"
    });
    header.extend(["$/hr", "SPOT $/hr"]);
    let mut table = render::table(header);
    for listing in &listings {
        for offer in &listing.offers {
            table.add_row(vec![
                listing.accelerator.clone(),
                render::number(offer.count),
                offer.cloud.clone(),
                offer.instance_type.clone(),
                render::number(offer.vcpus),
                render::number(offer.memory_gib),
                offer.region.clone(),
                offer.price.map_or("-".into(), render::price),
                offer.spot_price.map_or("-".into(), render::price),
            ]);
        }
    }
    println!("{table}");
    Ok(())
}

/// `show-gpus --infra k8s[/CONTEXT]`: per allowed context, each GPU type with its
/// total and free counts, read from the cluster now (as `sky show-gpus --infra k8s`).
fn kubernetes(args: &Args, context: Option<&str>) -> CliResult {
    let client = crate::client::open()?;
    let mut rows = client.kubernetes_gpus(context)?;
    if let Some(name) = &args.name {
        let name = name.split(':').next().unwrap_or(name).to_ascii_uppercase();
        rows.retain(|r| r.gpu.to_ascii_uppercase().contains(&name));
    }
    if args.output == Output::Json {
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
