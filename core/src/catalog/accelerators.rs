//! Accelerator names (canonical spelling, suggestions), GPU memory metadata, and the
//! per-accelerator price listing behind `aloft show-gpus`.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Catalog, CatalogError};

/// A GPU model from `common/metadata.csv`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GpuMeta {
    /// Canonical name (`A100-80GB`).
    pub name: String,
    /// Memory in GB.
    pub memory_gb: f64,
    /// Manufacturer, lower case (`nvidia`, `amd`).
    pub manufacturer: String,
}

/// What `show-gpus` asks for.
#[derive(Debug, Clone, Default)]
pub struct GpuQuery {
    /// Only accelerators whose name matches this (see [`GpuQuery::name_matches`]).
    pub name: Option<String>,
    /// Only offers with this many devices per node (`A100:8`).
    pub count: Option<f64>,
    /// Only these clouds (all when empty).
    pub clouds: Vec<String>,
    /// Only offers in this region (case-insensitive), as `--infra aws/us-east-1` asks.
    pub region: Option<String>,
    /// One row per region instead of the cheapest region per cloud.
    pub all_regions: bool,
}

impl GpuQuery {
    /// Whether accelerator `name` is listed for this query's name filter, as
    /// SkyPilot's `sky gpus list` filters (`list_accelerators` with
    /// `case_sensitive=False`): the filter found anywhere in the name, ignoring case,
    /// so `A100` lists `A100`, `A100-80GB` and `A100-80GB-SXM`. The listing puts the
    /// exact name first ([`Catalog::list_accelerators`] sorts it so), and the CLI
    /// shows each name in a table of its own, as SkyPilot does. No filter: all match.
    pub fn name_matches(&self, name: &str) -> bool {
        self.name
            .as_ref()
            .is_none_or(|filter| name.to_lowercase().contains(&filter.trim().to_lowercase()))
    }
}

/// The cheapest way to get `count` of an accelerator on one cloud (or region).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CloudPrice {
    /// Cloud.
    pub cloud: String,
    /// Devices per node.
    pub count: f64,
    /// Instance type of the cheapest on-demand offer (or spot, if only spot exists).
    pub instance_type: String,
    /// vCPUs of that instance type.
    pub vcpus: f64,
    /// Memory of that instance type, GiB.
    pub memory_gib: f64,
    /// Region of the cheapest on-demand offer (the region itself with `all_regions`).
    pub region: String,
    /// Cheapest on-demand price per hour.
    pub price: Option<f64>,
    /// Cheapest spot price per hour.
    pub spot_price: Option<f64>,
}

/// One accelerator and where to get it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AcceleratorListing {
    /// Name.
    pub accelerator: String,
    /// Memory of one device, GB, when known.
    pub memory_gb: Option<f64>,
    /// Offers by cloud and count, cheapest first within each count.
    pub offers: Vec<CloudPrice>,
}

pub(super) fn parse_metadata(text: &str, file: &str) -> Result<Vec<GpuMeta>, CatalogError> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader.headers().map_err(|e| malformed(file, 1, e))?.clone();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h.trim() == name)
            .ok_or_else(|| malformed(file, 1, format!("missing column `{name}`")))
    };
    let (name, memory, maker) = (col("GPU")?, col("MemoryGB")?, col("Manufacturer")?);
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| malformed(file, 0, e))?;
        let line = record.position().map_or(0, |p| p.line());
        let get = |i: usize| record.get(i).map(str::trim).unwrap_or("");
        let memory_gb = get(memory)
            .parse::<f64>()
            .map_err(|_| malformed(file, line, format!("MemoryGB `{}`", get(memory))))?;
        out.push(GpuMeta {
            name: get(name).to_string(),
            memory_gb,
            manufacturer: get(maker).to_lowercase(),
        });
    }
    Ok(out)
}

pub(super) fn parse_accelerator_names(text: &str, file: &str) -> Result<Vec<String>, CatalogError> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader.headers().map_err(|e| malformed(file, 1, e))?.clone();
    let col = header
        .iter()
        .position(|h| h.trim() == "AcceleratorName")
        .ok_or_else(|| malformed(file, 1, "missing column `AcceleratorName`"))?;
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| malformed(file, 0, e))?;
        if let Some(name) = record.get(col).map(str::trim).filter(|n| !n.is_empty()) {
            out.push(name.to_string());
        }
    }
    Ok(out)
}

fn malformed(file: &str, line: u64, detail: impl std::fmt::Display) -> CatalogError {
    CatalogError::Malformed {
        file: file.to_string(),
        line,
        detail: detail.to_string(),
    }
}

pub(super) fn canonicalize(names: &[String], name: &str) -> Result<String, CatalogError> {
    if let Some(found) = names.iter().find(|n| n.eq_ignore_ascii_case(name)) {
        return Ok(found.clone());
    }
    // TPU names are lower case by convention and numerous; they are matched as given.
    if name.to_lowercase().starts_with("tpu-") {
        return Ok(name.to_lowercase());
    }
    // Close names: a small edit distance (typos, `O` for `0`), or a shared prefix
    // that Jaro-Winkler rewards; the closest first.
    let wanted = name.to_lowercase();
    let mut scored: Vec<(usize, f64, &String)> = names
        .iter()
        .map(|n| {
            let lower = n.to_lowercase();
            (
                strsim::levenshtein(&wanted, &lower),
                strsim::jaro_winkler(&wanted, &lower),
                n,
            )
        })
        .filter(|(distance, similarity, _)| {
            (*distance <= 2 && wanted.len() >= 3) || *similarity >= 0.85
        })
        .collect();
    scored.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)));
    let scored: Vec<(f64, &String)> = scored.into_iter().map(|(_, s, n)| (s, n)).collect();
    Err(CatalogError::UnknownAccelerator {
        name: name.to_string(),
        suggestions: scored.into_iter().take(3).map(|(_, n)| n.clone()).collect(),
    })
}

pub(super) fn list(
    catalog: &Catalog,
    query: &GpuQuery,
) -> Result<Vec<AcceleratorListing>, CatalogError> {
    // (accelerator, cloud, count bits, region or "") -> best
    let mut best: BTreeMap<(String, String, u64, String), CloudPrice> = BTreeMap::new();
    let clouds: Vec<String> = if query.clouds.is_empty() {
        catalog.clouds()
    } else {
        query.clouds.clone()
    };
    let mut memory: BTreeMap<String, f64> = catalog
        .gpus()
        .iter()
        .map(|g| (g.name.clone(), g.memory_gb))
        .collect();
    for cloud in &clouds {
        for offer in catalog.offers(cloud)? {
            let Some((name, count)) = &offer.accelerator else {
                continue;
            };
            if !query.name_matches(name)
                || query.count.is_some_and(|c| (c - count).abs() > 1e-9)
                || query
                    .region
                    .as_ref()
                    .is_some_and(|r| !r.eq_ignore_ascii_case(&offer.region))
            {
                continue;
            }
            if let Some(mib) = offer.gpu_memory_mib {
                memory.entry(name.clone()).or_insert(mib as f64 / 1024.0);
            }
            let region = if query.all_regions {
                offer.region.clone()
            } else {
                String::new()
            };
            let key = (name.clone(), cloud.clone(), count.to_bits(), region);
            let entry = best.entry(key).or_insert_with(|| CloudPrice {
                cloud: cloud.clone(),
                count: *count,
                instance_type: offer.instance_type.clone(),
                vcpus: offer.vcpus,
                memory_gib: offer.memory_gib,
                region: offer.region.clone(),
                price: None,
                spot_price: None,
            });
            if let Some(price) = offer.price
                && entry.price.is_none_or(|p| price < p)
            {
                entry.price = Some(price);
                entry.instance_type = offer.instance_type.clone();
                entry.vcpus = offer.vcpus;
                entry.memory_gib = offer.memory_gib;
                entry.region = offer.region.clone();
            }
            if let Some(spot) = offer.spot_price
                && entry.spot_price.is_none_or(|p| spot < p)
            {
                entry.spot_price = Some(spot);
            }
        }
    }
    let mut listings: BTreeMap<String, AcceleratorListing> = BTreeMap::new();
    for ((name, ..), price) in best {
        listings
            .entry(name.clone())
            .or_insert_with(|| AcceleratorListing {
                memory_gb: memory.get(&name).copied(),
                accelerator: name,
                offers: Vec::new(),
            })
            .offers
            .push(price);
    }
    let mut out: Vec<AcceleratorListing> = listings.into_values().collect();
    // The name asked for first, then the others it matched, by name.
    if let Some(filter) = &query.name {
        out.sort_by_key(|l| !l.accelerator.eq_ignore_ascii_case(filter.trim()));
    }
    for listing in &mut out {
        listing.offers.sort_by(|a, b| {
            a.count
                .total_cmp(&b.count)
                .then(cheapest(a).total_cmp(&cheapest(b)))
                .then(a.cloud.cmp(&b.cloud))
                .then(a.region.cmp(&b.region))
        });
    }
    Ok(out)
}

fn cheapest(p: &CloudPrice) -> f64 {
    p.price.or(p.spot_price).unwrap_or(f64::INFINITY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_puts_the_name_asked_for_first_and_keeps_count_and_region() {
        let named = |n: &str| GpuQuery {
            name: Some(n.into()),
            ..GpuQuery::default()
        };
        assert!(named("a100").name_matches("A100-80GB"));
        assert!(!named("A100-80GB").name_matches("A100"));
        let catalog = Catalog::load(None).unwrap();
        let query = GpuQuery {
            name: Some("a100".into()),
            count: Some(8.0),
            clouds: vec!["aws".into()],
            region: Some("EU-WEST-1".into()),
            all_regions: false,
        };
        let listings = catalog.list_accelerators(&query).unwrap();
        let names: Vec<&str> = listings.iter().map(|l| l.accelerator.as_str()).collect();
        assert_eq!(names.first(), Some(&"A100"), "{names:?}");
        for listing in &listings {
            for offer in &listing.offers {
                assert_eq!((offer.count, offer.region.as_str()), (8.0, "eu-west-1"));
            }
        }
    }

    #[test]
    fn names_match_case_insensitively_with_suggestions_otherwise() {
        let names: Vec<String> = ["A100", "A100-80GB", "H100", "T4"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(canonicalize(&names, "a100-80gb").unwrap(), "A100-80GB");
        assert_eq!(canonicalize(&names, "tpu-V4-8").unwrap(), "tpu-v4-8");
        let err = canonicalize(&names, "A1000").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown accelerator `A1000` (did you mean A100, H100, A100-80GB?)"
        );
        let err = canonicalize(&names, "zzz").unwrap_err();
        assert_eq!(err.to_string(), "unknown accelerator `zzz`");
    }
}
