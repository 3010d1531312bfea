//! Live offers from Nebius's API: the platforms and presets of each region's
//! project (`nebius.compute.v1.PlatformService/List`: vCPUs, memory and GPUs per
//! preset; whether the platform takes preemptible instances) priced by Nebius's
//! calculator (`nebius.billing.v1.CalculatorService/EstimateBatch`, the stable
//! version: one create request of an instance with the platform and preset per
//! price, its hourly cost in USD; preemptible ones for the spot price).
//!
//! Every answer is checked before use: names of platforms and presets within
//! the catalog's rules (lowercase letters, digits and dashes), counts in range,
//! prices finite and from 0 to [`MAX_PRICE`]; a row that fails is left out (and
//! logged), a calculator answer that does not fit the request fails the call.

use std::collections::{BTreeMap, HashMap};

use aloft_provider_sdk::errors;
use aloft_provider_sdk::log::{Level, log};
use aloft_provider_sdk::types::{Offer, ProviderError};
use prost::Message;

use crate::lifecycle::{COMPUTE_HOST, REGIONS, call, project};
use crate::proto::{
    Any, BillingResourceSpec, CreateInstanceRequest, EstimateBatchRequest, EstimateBatchResponse,
    FilterAggregationUnit, InstanceSpec, ListPlatformsRequest, ListPlatformsResponse, Platform,
    PreemptibleSpec, ResourceCost, ResourceMetadata, ResourcesSpec,
};

/// The calculator's host (the SDK's `api.calculator.billing-data-plane` under
/// `api.nebius.cloud`).
pub const BILLING_HOST: &str = "api.calculator.billing-data-plane.api.nebius.cloud";
/// The highest hourly price believed.
pub const MAX_PRICE: f64 = 10_000.0;
/// Prices asked of the calculator per call.
const PER_BATCH: usize = 50;
/// `FilterAggregationUnitValue` `FILTER_AGGREGATION_UNIT_HOUR`.
const HOUR: i32 = 2;

/// One preset of a platform, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    /// The platform (`gpu-h100-sxm`).
    pub platform: String,
    /// The preset (`8gpu-128vcpu-1600gb`).
    pub preset: String,
    /// The GPU model (`H100`), for GPU presets.
    pub gpu: Option<String>,
    /// GPUs.
    pub gpus: u32,
    /// vCPUs.
    pub vcpus: u32,
    /// Memory, GiB.
    pub memory_gib: u32,
    /// Memory of all its GPUs, MiB.
    pub gpu_memory_mib: Option<u64>,
    /// Whether preemptible instances of it can be made.
    pub preemptible: bool,
}

/// A platform or preset name within the catalog's rules.
fn good_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
}

/// The GPU model a platform's name carries (`gpu-h100-sxm` → `H100`,
/// `gpu-l40s-a` → `L40S`).
pub fn gpu_model(platform: &str) -> Option<String> {
    let model = platform.strip_prefix("gpu-")?.split('-').next()?;
    (!model.is_empty() && model.len() <= 16 && model.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then(|| model.to_ascii_uppercase())
}

/// The presets of `platforms` that pass the checks, and why each other one is
/// left out.
pub fn shapes(platforms: &[Platform]) -> (Vec<Shape>, Vec<String>) {
    let mut out = Vec::new();
    let mut refused = Vec::new();
    for p in platforms {
        let name = p
            .metadata
            .as_ref()
            .map(|m| m.name.as_str())
            .unwrap_or_default();
        let Some(spec) = p.spec.as_ref() else {
            continue;
        };
        if !good_name(name) {
            refused.push(format!(
                "platform {:?}: its name is not a catalog name",
                name.escape_debug().to_string()
            ));
            continue;
        }
        let preemptible = p
            .status
            .as_ref()
            .is_some_and(|s| s.allowed_for_preemptibles);
        for preset in &spec.presets {
            let r = preset.resources.clone().unwrap_or_default();
            let checked = (|| {
                if !good_name(&preset.name) {
                    return Err("its name is not a catalog name".to_string());
                }
                let count = |what: &str, v: i32, min: i32, max: i32| {
                    u32::try_from(v)
                        .ok()
                        .filter(|_| (min..=max).contains(&v))
                        .ok_or_else(|| format!("{what} {v} is not from {min} to {max}"))
                };
                let vcpus = count("vcpu_count", r.vcpu_count, 1, 4096)?;
                let memory_gib = count("memory_gibibytes", r.memory_gibibytes, 1, 65_536)?;
                let gpus = count("gpu_count", r.gpu_count, 0, 64)?;
                let gpu = if gpus > 0 {
                    Some(gpu_model(name).ok_or("its platform names no GPU model")?)
                } else {
                    None
                };
                let per_gpu_mib = if spec.gpu_memory_gigabytes > 0 {
                    Some(
                        (u64::from(spec.gpu_memory_gigabytes.unsigned_abs()) * 1_000_000_000) >> 20,
                    )
                } else if spec.gpu_memory_gibibytes > 0 {
                    Some(u64::from(spec.gpu_memory_gibibytes.unsigned_abs()) * 1024)
                } else {
                    None
                };
                let per_gpu_mib = per_gpu_mib.filter(|m| *m <= 4 << 20);
                Ok(Shape {
                    platform: name.to_string(),
                    preset: preset.name.clone(),
                    gpu,
                    gpus,
                    vcpus,
                    memory_gib,
                    gpu_memory_mib: per_gpu_mib
                        .filter(|_| gpus > 0)
                        .map(|m| m * u64::from(gpus)),
                    preemptible,
                })
            })();
            match checked {
                Ok(shape) => out.push(shape),
                Err(why) => refused.push(format!(
                    "preset {:?} of platform {name}: {why}",
                    preset.name.escape_debug().to_string()
                )),
            }
        }
    }
    (out, refused)
}

/// Every platform of `project`.
fn platforms(project: &str) -> Result<Vec<Platform>, ProviderError> {
    let mut all = Vec::new();
    let mut token = String::new();
    loop {
        let page: ListPlatformsResponse = call(
            COMPUTE_HOST,
            "nebius.compute.v1.PlatformService/List",
            &ListPlatformsRequest {
                page_size: 100,
                page_token: token.clone(),
                parent_id: project.to_string(),
            },
        )
        .map_err(|e| e.into_error("list platforms"))?;
        all.extend(page.items);
        if page.next_page_token.is_empty() || page.next_page_token == token {
            return Ok(all);
        }
        token = page.next_page_token;
    }
}

/// What the calculator is asked for one price: creating an instance of the
/// shape in `project` (preemptible for the spot price).
pub fn estimate_spec(project: &str, shape: &Shape, spot: bool) -> BillingResourceSpec {
    let request = CreateInstanceRequest {
        metadata: Some(ResourceMetadata {
            parent_id: project.to_string(),
            ..Default::default()
        }),
        spec: Some(InstanceSpec {
            resources: Some(ResourcesSpec {
                platform: shape.platform.clone(),
                preset: Some(shape.preset.clone()),
            }),
            preemptible: spot.then_some(PreemptibleSpec {
                on_preemption: 1,
                priority: 3,
            }),
            ..Default::default()
        }),
    };
    BillingResourceSpec {
        spec: Some(Any {
            type_url: "type.googleapis.com/nebius.compute.v1.CreateInstanceRequest".into(),
            value: request.encode_to_vec(),
        }),
    }
}

/// An hourly cost from the calculator's decimal string, checked.
pub fn price(cost: &ResourceCost) -> Result<f64, String> {
    let unit = cost
        .aggregation_unit
        .as_ref()
        .map(|u| u.unit.as_str())
        .unwrap_or_default();
    if !unit.eq_ignore_ascii_case("hour") {
        return Err(format!("a cost per {unit:?}, not per hour"));
    }
    let text = cost
        .general
        .as_ref()
        .and_then(|g| g.total.as_ref())
        .or_else(|| {
            cost.fixed_instance
                .as_ref()
                .and_then(|f| f.per_instance.as_ref())
        })
        .map(|c| c.cost.trim())
        .unwrap_or_default();
    let value: f64 = text
        .parse()
        .map_err(|_| format!("cost {:?} is not a number", text.escape_debug().to_string()))?;
    if !(value.is_finite() && (0.0..=MAX_PRICE).contains(&value)) {
        return Err(format!("cost {value} is not from 0 to {MAX_PRICE}"));
    }
    Ok(value)
}

/// The hourly prices of `specs`, in order (`None` where the answer's cost is
/// unusable); an answer with another number of costs, or in another currency,
/// fails.
fn estimate(specs: Vec<BillingResourceSpec>) -> Result<Vec<Option<f64>>, ProviderError> {
    let asked = specs.len();
    let answer: EstimateBatchResponse = call(
        BILLING_HOST,
        "nebius.billing.v1.CalculatorService/EstimateBatch",
        &EstimateBatchRequest {
            resource_specs: specs,
            currency: "usd".into(),
            filter_aggregation_unit: Some(FilterAggregationUnit {
                filter_aggregation_unit_values: vec![HOUR],
            }),
        },
    )
    .map_err(|e| e.into_error("estimate prices"))?;
    if !answer.currency.is_empty() && !answer.currency.eq_ignore_ascii_case("usd") {
        return Err(errors::invalid(
            "BadEstimate",
            &format!(
                "the calculator answered prices in {:?}, not usd",
                answer.currency.escape_debug().to_string()
            ),
        ));
    }
    if answer.resource_costs.len() != asked {
        return Err(errors::invalid(
            "BadEstimate",
            &format!(
                "the calculator answered {} costs for {asked} resources",
                answer.resource_costs.len()
            ),
        ));
    }
    Ok(answer
        .resource_costs
        .iter()
        .map(|c| {
            price(c)
                .map_err(|why| log(Level::Warn, &format!("a Nebius price left out: {why}")))
                .ok()
        })
        .collect())
}

/// The offers of `shapes` in `regions` priced in `project`: on-demand and,
/// where the platform takes preemptible instances, spot. A shape without an
/// on-demand price is left out.
fn priced(project: &str, shapes: &[Shape], regions: &[&str]) -> Result<Vec<Offer>, ProviderError> {
    let mut asks: Vec<(usize, bool)> = Vec::new();
    for (i, s) in shapes.iter().enumerate() {
        asks.push((i, false));
        if s.preemptible {
            asks.push((i, true));
        }
    }
    let mut prices: HashMap<(usize, bool), f64> = HashMap::new();
    for batch in asks.chunks(PER_BATCH) {
        let specs = batch
            .iter()
            .map(|(i, spot)| estimate_spec(project, &shapes[*i], *spot))
            .collect();
        for (key, value) in batch.iter().zip(estimate(specs)?) {
            if let Some(v) = value {
                prices.insert(*key, v);
            }
        }
    }
    let mut out = Vec::new();
    for (i, s) in shapes.iter().enumerate() {
        let Some(price) = prices.get(&(i, false)).copied() else {
            continue;
        };
        for region in regions {
            out.push(Offer {
                instance_type: format!("{}_{}", s.platform, s.preset),
                accelerator_name: s.gpu.clone(),
                accelerator_count: f64::from(s.gpus),
                vcpus: f64::from(s.vcpus),
                memory_gib: f64::from(s.memory_gib),
                gpu_memory_mib: s.gpu_memory_mib,
                price: Some(price),
                spot_price: prices.get(&(i, true)).copied(),
                region: region.to_string(),
                zone: None,
            });
        }
    }
    Ok(out)
}

/// The live offers of `region` (every region when `None`): the platforms of the
/// region's project (`project_id.<region>`, else `project_id`), priced by the
/// calculator. A project serving several regions is asked once.
pub fn offers(
    region: Option<&str>,
    settings: &BTreeMap<String, String>,
) -> Result<Vec<Offer>, ProviderError> {
    let regions: Vec<&str> = REGIONS
        .iter()
        .copied()
        .filter(|r| region.is_none_or(|want| want == *r))
        .collect();
    let mut by_project: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for r in &regions {
        by_project.entry(project(settings, r)?).or_default().push(r);
    }
    let mut out = Vec::new();
    for (project, regions) in by_project {
        let (shapes, refused) = shapes(&platforms(&project)?);
        for why in refused {
            log(Level::Warn, &format!("a Nebius offer left out: {why}"));
        }
        out.extend(priced(&project, &shapes, &regions)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{
        AggregationUnit, CostBreakdown, GeneralResourceCost, PlatformSpec, PlatformStatus, Preset,
        PresetResources,
    };

    fn platform(name: &str, presets: &[(&str, i32, i32, i32)]) -> Platform {
        Platform {
            metadata: Some(ResourceMetadata {
                name: name.into(),
                ..Default::default()
            }),
            spec: Some(PlatformSpec {
                presets: presets
                    .iter()
                    .map(|(n, gpus, vcpus, mem)| Preset {
                        name: n.to_string(),
                        resources: Some(PresetResources {
                            vcpu_count: *vcpus,
                            memory_gibibytes: *mem,
                            gpu_count: *gpus,
                        }),
                    })
                    .collect(),
                gpu_memory_gibibytes: 0,
                gpu_memory_gigabytes: 80,
            }),
            status: Some(PlatformStatus {
                allowed_for_preemptibles: true,
            }),
        }
    }

    #[test]
    fn presets_become_checked_shapes_and_bad_ones_are_left_out() {
        let (found, refused) = shapes(&[
            platform(
                "gpu-h100-sxm",
                &[
                    ("8gpu-128vcpu-1600gb", 8, 128, 1600),
                    ("1gpu-16vcpu-200gb", 1, 16, 200),
                    ("Bad Name", 1, 16, 200),
                    ("0vcpu", 1, 0, 200),
                    ("many-gpus", 65, 16, 200),
                ],
            ),
            platform("cpu-d3", &[("4vcpu-16gb", 0, 4, 16)]),
            // GPUs on a platform whose name names no model.
            platform("mystery", &[("1gpu", 1, 4, 16)]),
            platform("evil\nname", &[("4vcpu-16gb", 0, 4, 16)]),
        ]);
        let names: Vec<String> = found
            .iter()
            .map(|s| format!("{}_{}", s.platform, s.preset))
            .collect();
        assert_eq!(
            names,
            [
                "gpu-h100-sxm_8gpu-128vcpu-1600gb",
                "gpu-h100-sxm_1gpu-16vcpu-200gb",
                "cpu-d3_4vcpu-16gb"
            ]
        );
        assert_eq!(refused.len(), 5, "{refused:?}");
        assert_eq!(found[0].gpu.as_deref(), Some("H100"));
        assert_eq!(found[0].gpus, 8);
        // 80 GB a GPU, eight of them.
        assert_eq!(found[0].gpu_memory_mib, Some(8 * (80_000_000_000u64 >> 20)));
        assert_eq!(found[2].gpu, None);
        assert_eq!(found[2].gpu_memory_mib, None);
        assert_eq!(gpu_model("gpu-l40s-a").as_deref(), Some("L40S"));
        assert_eq!(gpu_model("cpu-e2"), None);
    }

    #[test]
    fn only_finite_hourly_prices_in_range_are_believed() {
        let cost = |unit: &str, value: &str| ResourceCost {
            metadata: None,
            aggregation_unit: Some(AggregationUnit { unit: unit.into() }),
            general: Some(GeneralResourceCost {
                total: Some(CostBreakdown { cost: value.into() }),
            }),
            fixed_instance: None,
        };
        assert_eq!(price(&cost("hour", "21.37")), Ok(21.37));
        assert_eq!(price(&cost("HOUR", " 0 ")), Ok(0.0));
        for bad in ["-1", "NaN", "inf", "1e9", "", "twelve"] {
            assert!(price(&cost("hour", bad)).is_err(), "{bad}");
        }
        assert!(price(&cost("month", "1.0")).is_err());
    }

    #[test]
    fn a_price_is_asked_as_the_create_request_of_its_instance() {
        let shape = &shapes(&[platform(
            "gpu-h100-sxm",
            &[("1gpu-16vcpu-200gb", 1, 16, 200)],
        )])
        .0[0];
        let spec = estimate_spec("project-1", shape, true).spec.unwrap();
        assert_eq!(
            spec.type_url,
            "type.googleapis.com/nebius.compute.v1.CreateInstanceRequest"
        );
        let request = CreateInstanceRequest::decode(spec.value.as_slice()).unwrap();
        assert_eq!(request.metadata.unwrap().parent_id, "project-1");
        let spec = request.spec.unwrap();
        assert_eq!(
            spec.resources.unwrap().preset.as_deref(),
            Some("1gpu-16vcpu-200gb")
        );
        assert!(spec.preemptible.is_some());
    }
}
