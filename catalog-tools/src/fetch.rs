//! `aloft-catalog fetch`: a cloud's catalog refreshed through its provider
//! component (the same sandboxed component aloft launches with), written as
//! SkyPilot's `vms.csv`.
//!
//! The provider's `offers` give shapes, zones and spot prices; a price the
//! provider cannot know (AWS's on-demand prices live outside EC2) is carried over
//! from the current catalog for the same instance type and region.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aloft::catalog::Catalog;
use aloft::plugin::{HostConfig, PluginHost, ProviderOffer};

/// What to fetch.
pub struct FetchArgs {
    /// The provider component (`.wasm`).
    pub provider: PathBuf,
    /// Regions to ask about.
    pub regions: Vec<String>,
    /// Endpoint override (an emulator).
    pub endpoint: Option<String>,
    /// Catalog folder whose prices fill the gaps (default: the shipped catalog).
    pub base: Option<PathBuf>,
    /// Output folder; the file goes to `<out>/<provider>/vms.csv`.
    pub out: PathBuf,
}

const HEADER: [&str; 10] = [
    "InstanceType",
    "AcceleratorName",
    "AcceleratorCount",
    "vCPUs",
    "MemoryGiB",
    "GpuInfo",
    "Price",
    "SpotPrice",
    "Region",
    "AvailabilityZone",
];

fn gpu_info(o: &ProviderOffer) -> String {
    match (&o.accelerator_name, o.gpu_memory_mib) {
        (Some(name), Some(mib)) => format!(
            "{{'Gpus': [{{'Name': '{name}', 'Count': {}, 'MemoryInfo': {{'SizeInMiB': {mib}}}}}], 'TotalGpuMemoryInMiB': {}}}",
            o.accelerator_count,
            (o.accelerator_count * mib as f64) as u64
        ),
        _ => String::new(),
    }
}

fn number(value: Option<f64>) -> String {
    value.map(|v| format!("{v}")).unwrap_or_default()
}

/// Fetches and writes the catalog; returns the file and its row count.
pub fn fetch(args: &FetchArgs) -> Result<(PathBuf, usize), String> {
    let bytes =
        std::fs::read(&args.provider).map_err(|e| format!("{}: {e}", args.provider.display()))?;
    let home = std::env::temp_dir().join(format!("aloft-catalog-{}", std::process::id()));
    let base = Catalog::load(args.base.as_deref()).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let result = runtime.block_on(async {
        let config = |endpoint: Option<(&str, &str)>| {
            let mut config = HostConfig::new(&home);
            config.call_timeout = std::time::Duration::from_secs(300);
            if let Some((name, url)) = endpoint {
                config.endpoints.insert(name.to_string(), url.to_string());
            }
            config
        };
        let origin = args.provider.display().to_string();
        let mut host = PluginHost::new(config(None)).map_err(|e| e.to_string())?;
        let manifest = host
            .load_bytes(&origin, &bytes)
            .await
            .map_err(|e| e.to_string())?;
        if let Some(endpoint) = &args.endpoint {
            // Endpoints are per provider name, known only once loaded; the second
            // load comes from the compiled-component cache.
            host = PluginHost::new(config(Some((&manifest.name, endpoint))))
                .map_err(|e| e.to_string())?;
            host.load_bytes(&origin, &bytes)
                .await
                .map_err(|e| e.to_string())?;
        }
        let mut instance = host
            .instance(&manifest.name)
            .await
            .map_err(|e| e.to_string())?;
        let mut offers = Vec::new();
        for region in &args.regions {
            let found = instance
                .offers(Some(region.as_str()))
                .await
                .map_err(|e| format!("{region}: {e}"))?;
            offers.extend(found);
        }
        Ok::<_, String>((manifest.name, offers))
    });
    let _ = std::fs::remove_dir_all(&home);
    let (cloud, offers) = result?;
    let known: BTreeMap<(String, String), f64> = base
        .offers(&cloud)
        .map(|rows| {
            rows.iter()
                .filter_map(|o| Some(((o.instance_type.clone(), o.region.clone()), o.price?)))
                .collect()
        })
        .unwrap_or_default();
    let dir = args.out.join(&cloud);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join("vms.csv");
    write_csv(&path, &offers, &known)?;
    Ok((path, offers.len()))
}

fn write_csv(
    path: &Path,
    offers: &[ProviderOffer],
    known: &BTreeMap<(String, String), f64>,
) -> Result<(), String> {
    let fail = |e: csv::Error| format!("{}: {e}", path.display());
    let mut writer = csv::Writer::from_path(path).map_err(fail)?;
    writer.write_record(HEADER).map_err(fail)?;
    for o in offers {
        let price = o.price.or_else(|| {
            known
                .get(&(o.instance_type.clone(), o.region.clone()))
                .copied()
        });
        let (name, count) = match &o.accelerator_name {
            Some(name) if o.accelerator_count > 0.0 => {
                (name.clone(), format!("{}", o.accelerator_count))
            }
            _ => (String::new(), String::new()),
        };
        writer
            .write_record([
                o.instance_type.clone(),
                name,
                count,
                format!("{}", o.vcpus),
                format!("{}", o.memory_gib),
                gpu_info(o),
                number(price),
                number(o.spot_price),
                o.region.clone(),
                o.zone.clone().unwrap_or_default(),
            ])
            .map_err(fail)?;
    }
    writer
        .flush()
        .map_err(|e| format!("{}: {e}", path.display()))
}
