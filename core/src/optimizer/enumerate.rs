//! From one resource request to the catalog offers that satisfy it, remembering why
//! the others were turned down (for the "no resources" explanation).

use std::collections::BTreeMap;

use crate::catalog::{Catalog, Offer};
use crate::task::{AcceleratorSpec, Quantity, Resources};

use super::{Candidate, OptimizeError, OptimizeOptions};

/// vCPUs asked for when a task names no CPUs, memory, accelerator or instance type.
const DEFAULT_CPUS: f64 = 8.0;
/// Default memory: at least this many GiB per vCPU when memory is not given.
const DEFAULT_MEMORY_PER_CPU: f64 = 4.0;

/// General-purpose families a default CPU instance is picked from; clouds not
/// listed use any CPU-only instance type they offer, with no default minimums.
fn default_families(cloud: &str) -> Option<&'static [&'static str]> {
    match cloud {
        // SkyPilot's `aws_catalog` default families; the `d` ones (local NVMe) and
        // the 7th generation appear once the catalog is whole (refreshed).
        "aws" => Some(&[
            "m6i.", "m6id.", "m7i.", "r6i.", "r6id.", "r7i.", "c6i.", "c6id.", "c7i.",
        ]),
        "gcp" => Some(&["n2-standard-", "e2-standard-"]),
        _ => None,
    }
}

/// Why an offer was turned down, in the order the checks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Check {
    Region,
    Zone,
    InstanceType,
    Accelerator,
    Cpus,
    Memory,
    DefaultFamily,
    Spot,
    MaxHourlyCost,
    Blocked,
}

impl Check {
    pub(crate) fn describe(self, r: &Resources) -> String {
        match self {
            Check::Region => format!("region {}", r.infra.region.as_deref().unwrap_or("(any)")),
            Check::Zone => format!("zone {}", r.infra.zone.as_deref().unwrap_or("(any)")),
            Check::InstanceType => format!(
                "instance_type {}",
                r.instance_type.as_deref().unwrap_or("(any)")
            ),
            Check::Accelerator => match &r.accelerators {
                Some(a) => format!("accelerators {a}"),
                None => "no accelerators".to_string(),
            },
            Check::Cpus => "cpus".to_string(),
            Check::Memory => "memory".to_string(),
            Check::DefaultFamily => "default general-purpose families".to_string(),
            Check::Spot if r.use_spot => "use_spot (no spot price listed)".to_string(),
            Check::Spot => "on-demand (no on-demand price listed)".to_string(),
            Check::MaxHourlyCost => format!(
                "max_hourly_cost ${:.2}",
                r.max_hourly_cost.unwrap_or_default()
            ),
            Check::Blocked => "the failover blocklist".to_string(),
        }
    }
}

/// Offers turned down by one check: how many, and the cheapest of them.
#[derive(Debug, Clone)]
pub(crate) struct Rejected {
    pub count: usize,
    pub cheapest: Option<Candidate>,
}

/// The result of matching one request against the catalog.
#[derive(Debug, Clone, Default)]
pub(crate) struct Enumerated {
    pub feasible: Vec<Candidate>,
    pub rejected: BTreeMap<Check, Rejected>,
    /// Clouds skipped entirely, with the reason.
    pub skipped_clouds: Vec<(String, String)>,
    /// The accelerator asked for, in the counts the offers that failed only on
    /// the count have (`Inferentia:1`, `Inferentia:4`, ...), for SkyPilot's "try
    /// one of these offered accelerators".
    pub offered_counts: Vec<(String, f64)>,
}

/// Accelerator names (canonical) and the count a request accepts.
struct AcceleratorMatch {
    names: Vec<String>,
    count: f64,
}

/// Clouds whose accelerators are named by their nodes' labels rather than by a
/// catalog (the `kubernetes` provider's offers carry each node's GPU label, named
/// as SkyPilot names it): a name no catalog knows is still matched against them.
const LABELLED_CLOUDS: &[&str] = &["kubernetes"];

fn accelerator_match(
    catalog: &Catalog,
    spec: &AcceleratorSpec,
    clouds: &[String],
) -> Result<AcceleratorMatch, OptimizeError> {
    match spec {
        AcceleratorSpec::Named { name, count } => {
            let name = match catalog.canonical_accelerator(name) {
                Ok(canonical) => canonical,
                // SkyPilot passes a name its catalogs lack on to Kubernetes, which
                // compares it (case-insensitively) with the GPU names of the nodes'
                // labels; offers of the other clouds never match it.
                Err(crate::catalog::CatalogError::UnknownAccelerator { .. })
                    if clouds.iter().any(|c| LABELLED_CLOUDS.contains(&c.as_str())) =>
                {
                    name.clone()
                }
                Err(err) => return Err(err.into()),
            };
            Ok(AcceleratorMatch {
                names: vec![name],
                count: *count,
            })
        }
        AcceleratorSpec::ByMemory {
            memory_gb,
            at_least,
            manufacturer,
            count,
        } => {
            let names: Vec<String> = catalog
                .gpus()
                .iter()
                .filter(|g| {
                    let size = if *at_least {
                        g.memory_gb + 1e-9 >= *memory_gb
                    } else {
                        (g.memory_gb - memory_gb).abs() < 1e-9
                    };
                    size && manufacturer
                        .as_ref()
                        .is_none_or(|m| g.manufacturer.eq_ignore_ascii_case(m))
                })
                .map(|g| g.name.clone())
                .collect();
            Ok(AcceleratorMatch {
                names,
                count: *count,
            })
        }
    }
}

/// Every offer satisfying `r` on the enabled clouds, and why the rest did not.
pub(crate) fn enumerate(
    catalog: &Catalog,
    r: &Resources,
    options: &OptimizeOptions,
) -> Result<Enumerated, OptimizeError> {
    let clouds: Vec<String> = match &r.infra.cloud {
        Some(cloud) => vec![cloud.clone()],
        None => options.enabled_clouds.clone(),
    };
    let planned: Vec<String> = clouds
        .iter()
        .filter(|c| options.enabled_clouds.contains(c))
        .cloned()
        .collect();
    let accel = r
        .accelerators
        .as_ref()
        .map(|a| accelerator_match(catalog, a, &planned))
        .transpose()?;
    let mut out = Enumerated::default();
    for cloud in clouds {
        if !options.enabled_clouds.iter().any(|c| c == &cloud) {
            out.skipped_clouds
                .push((cloud.clone(), "not enabled".to_string()));
            continue;
        }
        let offers = match catalog.offers(&cloud) {
            Ok(offers) => offers,
            Err(crate::catalog::CatalogError::UnknownCloud(_)) => {
                out.skipped_clouds
                    .push((cloud.clone(), "no catalog for this cloud".to_string()));
                continue;
            }
            Err(err) => return Err(err.into()),
        };
        for offer in offers {
            // A price that is not a finite, non-negative number is no price at all
            // (it would otherwise be the cheapest).
            let price = offer
                .price_for(r.use_spot)
                .filter(|p| p.is_finite() && *p >= 0.0);
            let candidate = || to_candidate(offer, r.use_spot, price.unwrap_or(f64::INFINITY));
            match check(offer, r, accel.as_ref(), price, options) {
                None => out.feasible.push(candidate()),
                Some(failed) => {
                    if failed == Check::Accelerator
                        && let (Some(want), Some((name, count))) = (&accel, &offer.accelerator)
                        && want.names.iter().any(|n| n.eq_ignore_ascii_case(name))
                    {
                        let offered = (name.clone(), *count);
                        if !out.offered_counts.contains(&offered) {
                            out.offered_counts.push(offered);
                        }
                    }
                    let entry = out.rejected.entry(failed).or_insert(Rejected {
                        count: 0,
                        cheapest: None,
                    });
                    entry.count += 1;
                    let c = candidate();
                    if c.hourly_price.is_finite()
                        && entry.cheapest.as_ref().is_none_or(|best| cheaper(&c, best))
                    {
                        entry.cheapest = Some(c);
                    }
                }
            }
        }
    }
    Ok(out)
}

fn check(
    offer: &Offer,
    r: &Resources,
    accel: Option<&AcceleratorMatch>,
    price: Option<f64>,
    options: &OptimizeOptions,
) -> Option<Check> {
    if r.infra
        .region
        .as_ref()
        .is_some_and(|want| want != &offer.region)
    {
        return Some(Check::Region);
    }
    if r.infra
        .zone
        .as_ref()
        .is_some_and(|want| Some(want) != offer.zone.as_ref())
    {
        return Some(Check::Zone);
    }
    if r.instance_type
        .as_ref()
        .is_some_and(|want| want != &offer.instance_type)
    {
        return Some(Check::InstanceType);
    }
    match (accel, &offer.accelerator) {
        (Some(want), Some((name, count))) => {
            let named = want.names.iter().any(|n| n.eq_ignore_ascii_case(name));
            if !named || (count - want.count).abs() > 0.01 {
                return Some(Check::Accelerator);
            }
        }
        (Some(_), None) => return Some(Check::Accelerator),
        // A CPU task gets a CPU instance, unless it names an instance type.
        (None, Some(_)) if r.instance_type.is_none() => return Some(Check::Accelerator),
        (None, _) => {}
    }
    // SkyPilot's default CPU instance (8+ vCPUs, 4 GiB per vCPU, general-purpose
    // families) applies on the clouds that define such families; elsewhere a plain
    // CPU task takes the cheapest CPU offer that meets its own constraints.
    let plain_cpu_request =
        accel.is_none() && r.instance_type.is_none() && default_families(&offer.cloud).is_some();
    let cpus = match (&r.cpus, &r.memory, plain_cpu_request) {
        (None, None, true) => Some(Quantity::AtLeast(DEFAULT_CPUS)),
        (cpus, _, _) => *cpus,
    };
    if cpus.is_some_and(|q| !q.accepts(offer.vcpus)) {
        return Some(Check::Cpus);
    }
    match &r.memory {
        Some(q) if !q.accepts(offer.memory_gib) => return Some(Check::Memory),
        None if plain_cpu_request
            && offer.memory_gib + 1e-6 < DEFAULT_MEMORY_PER_CPU * offer.vcpus =>
        {
            return Some(Check::Memory);
        }
        _ => {}
    }
    if plain_cpu_request
        && let Some(families) = default_families(&offer.cloud)
        && !families.iter().any(|f| offer.instance_type.starts_with(f))
    {
        return Some(Check::DefaultFamily);
    }
    let Some(price) = price else {
        return Some(Check::Spot);
    };
    if r.max_hourly_cost.is_some_and(|max| price > max + 1e-9) {
        return Some(Check::MaxHourlyCost);
    }
    if options
        .blocklist
        .is_blocked(&to_candidate(offer, r.use_spot, price))
    {
        return Some(Check::Blocked);
    }
    None
}

/// Price order, with a stable tie-break (cloud, region, zone, instance type).
fn cheaper(a: &Candidate, b: &Candidate) -> bool {
    a.hourly_price
        .total_cmp(&b.hourly_price)
        .then_with(|| a.cloud.cmp(&b.cloud))
        .then_with(|| a.region.cmp(&b.region))
        .then_with(|| a.zone.cmp(&b.zone))
        .then_with(|| a.instance_type.cmp(&b.instance_type))
        .is_lt()
}

fn to_candidate(offer: &Offer, use_spot: bool, hourly_price: f64) -> Candidate {
    Candidate {
        cloud: offer.cloud.clone(),
        region: offer.region.clone(),
        zone: offer.zone.clone(),
        instance_type: offer.instance_type.clone(),
        accelerators: offer
            .accelerator
            .iter()
            .map(|(name, count)| (name.clone(), *count))
            .collect(),
        use_spot,
        vcpus: offer.vcpus,
        memory_gib: offer.memory_gib,
        hourly_price,
    }
}
