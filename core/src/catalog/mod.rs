//! Cloud offers — instance types, accelerators and hourly prices per region and zone
//! — read from SkyPilot's catalog CSV format.
//!
//! A snapshot of the public catalogs ships inside the binary, so aloft plans offline.
//! Files under `~/.aloft/catalogs/<cloud>/vms.csv` (and `common/*.csv`) replace the
//! embedded ones file by file, and a folder for a cloud the snapshot lacks adds it:
//! the user's own files, or those `refresh` fetched from SkyPilot's hosted
//! catalogs (whole and current, where the snapshot keeps only some families).
//! Each cloud's file is parsed on first use only: a plan restricted to one cloud
//! never pays for the others.

mod accelerators;
mod gcp;
mod gpu_info;
#[cfg(feature = "plugin")]
pub mod refresh;
mod vms;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use serde::Serialize;
use thiserror::Error;

pub use accelerators::{AcceleratorListing, CloudPrice, GpuMeta, GpuQuery};

/// The snapshot embedded in the binary: (cloud, `vms.csv` contents).
const EMBEDDED_CLOUDS: [(&str, &str); 5] = [
    ("aws", include_str!("../../catalogs/aws/vms.csv")),
    ("gcp", include_str!("../../catalogs/gcp/vms.csv")),
    ("lambda", include_str!("../../catalogs/lambda/vms.csv")),
    ("nebius", include_str!("../../catalogs/nebius/vms.csv")),
    ("runpod", include_str!("../../catalogs/runpod/vms.csv")),
];
const EMBEDDED_ACCELERATORS: &str = include_str!("../../catalogs/common/accelerators.csv");
const EMBEDDED_METADATA: &str = include_str!("../../catalogs/common/metadata.csv");

/// An error reading a catalog.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum CatalogError {
    /// A file could not be read.
    #[error("{file}: {detail}")]
    Unreadable {
        /// The file.
        file: String,
        /// Why.
        detail: String,
    },
    /// A row or header is malformed.
    #[error("{file}:{line}: {detail}")]
    Malformed {
        /// The file.
        file: String,
        /// 1-based line.
        line: u64,
        /// What is wrong.
        detail: String,
    },
    /// No catalog for this cloud.
    #[error("no catalog for cloud `{0}`")]
    UnknownCloud(String),
    /// An accelerator name that no catalog knows.
    #[error("unknown accelerator `{name}`{}", suggestion_text(.suggestions))]
    UnknownAccelerator {
        /// The name as given.
        name: String,
        /// Close names that exist.
        suggestions: Vec<String>,
    },
}

fn suggestion_text(suggestions: &[String]) -> String {
    if suggestions.is_empty() {
        String::new()
    } else {
        format!(" (did you mean {}?)", suggestions.join(", "))
    }
}

/// One purchasable configuration: an instance type with its accelerators in one
/// region (and zone), at an hourly price per node.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Offer {
    /// Cloud (`aws`, `gcp`, ...).
    pub cloud: String,
    /// Instance type (`p4d.24xlarge`; `TPU-VM` for GCP TPUs).
    pub instance_type: String,
    /// Accelerator name and count per node.
    pub accelerator: Option<(String, f64)>,
    /// vCPUs per node.
    pub vcpus: f64,
    /// Memory per node, GiB.
    pub memory_gib: f64,
    /// Memory of one accelerator, MiB, when the catalog states it.
    pub gpu_memory_mib: Option<u64>,
    /// On-demand price per hour, USD, accelerators included.
    pub price: Option<f64>,
    /// Spot price per hour, USD; `None` when there is no spot offering.
    pub spot_price: Option<f64>,
    /// Region.
    pub region: String,
    /// Zone (AWS writes zone ids such as `use1-az1`); `None` for region-level clouds.
    pub zone: Option<String>,
}

impl Offer {
    /// The hourly price for on-demand or spot use.
    pub fn price_for(&self, spot: bool) -> Option<f64> {
        if spot { self.spot_price } else { self.price }
    }
}

/// Where a cloud's `vms.csv` comes from.
#[derive(Debug)]
struct Source {
    /// Shown in errors.
    file: String,
    text: std::borrow::Cow<'static, str>,
    offers: OnceLock<Result<Vec<Offer>, CatalogError>>,
}

/// The catalogs of every cloud aloft knows prices for.
#[derive(Debug)]
pub struct Catalog {
    clouds: BTreeMap<String, Source>,
    /// Canonical accelerator names (from `common/accelerators.csv` and the offers).
    accelerator_names: Vec<String>,
    gpus: Vec<GpuMeta>,
}

impl Catalog {
    /// The embedded snapshot only.
    pub fn embedded() -> Result<Catalog, CatalogError> {
        Catalog::load(None)
    }

    /// The embedded snapshot, with files under `override_dir` (laid out as
    /// `<cloud>/vms.csv`, `common/accelerators.csv`, `common/metadata.csv`) in place
    /// of the embedded ones. A missing folder means no overrides.
    pub fn load(override_dir: Option<&Path>) -> Result<Catalog, CatalogError> {
        let mut clouds: BTreeMap<String, Source> = EMBEDDED_CLOUDS
            .iter()
            .map(|(cloud, text)| {
                (
                    cloud.to_string(),
                    Source {
                        file: format!("<embedded>/{cloud}/vms.csv"),
                        text: std::borrow::Cow::Borrowed(text),
                        offers: OnceLock::new(),
                    },
                )
            })
            .collect();
        let mut accelerators_csv = (
            "<embedded>/common/accelerators.csv".to_string(),
            std::borrow::Cow::Borrowed(EMBEDDED_ACCELERATORS),
        );
        let mut metadata_csv = (
            "<embedded>/common/metadata.csv".to_string(),
            std::borrow::Cow::Borrowed(EMBEDDED_METADATA),
        );
        if let Some(dir) = override_dir.filter(|d| d.is_dir()) {
            let entries = std::fs::read_dir(dir).map_err(|e| unreadable(dir, e))?;
            for entry in entries {
                let entry = entry.map_err(|e| unreadable(dir, e))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if name == "common" {
                    for (file, slot) in [
                        ("accelerators.csv", &mut accelerators_csv),
                        ("metadata.csv", &mut metadata_csv),
                    ] {
                        let path = entry.path().join(file);
                        if path.is_file() {
                            let text =
                                std::fs::read_to_string(&path).map_err(|e| unreadable(&path, e))?;
                            *slot = (path.display().to_string(), std::borrow::Cow::Owned(text));
                        }
                    }
                    continue;
                }
                let path = entry.path().join("vms.csv");
                if path.is_file() {
                    let text = std::fs::read_to_string(&path).map_err(|e| unreadable(&path, e))?;
                    clouds.insert(
                        name.to_lowercase(),
                        Source {
                            file: path.display().to_string(),
                            text: std::borrow::Cow::Owned(text),
                            offers: OnceLock::new(),
                        },
                    );
                }
            }
        }
        let gpus = accelerators::parse_metadata(&metadata_csv.1, &metadata_csv.0)?;
        let mut accelerator_names =
            accelerators::parse_accelerator_names(&accelerators_csv.1, &accelerators_csv.0)?;
        accelerator_names.extend(gpus.iter().map(|g| g.name.clone()));
        accelerator_names.sort_by_key(|n| n.to_lowercase());
        accelerator_names.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
        Ok(Catalog {
            clouds,
            accelerator_names,
            gpus,
        })
    }

    /// The clouds whose catalog the binary ships (its offline snapshot), sorted.
    pub fn shipped_clouds() -> Vec<String> {
        EMBEDDED_CLOUDS.iter().map(|(c, _)| c.to_string()).collect()
    }

    /// The clouds with a catalog, sorted.
    pub fn clouds(&self) -> Vec<String> {
        self.clouds.keys().cloned().collect()
    }

    /// Every offer of `cloud` (parsed on first use, then cached).
    pub fn offers(&self, cloud: &str) -> Result<&[Offer], CatalogError> {
        let source = self
            .clouds
            .get(cloud)
            .ok_or_else(|| CatalogError::UnknownCloud(cloud.to_string()))?;
        let parsed = source.offers.get_or_init(|| {
            let rows = vms::parse_rows(&source.text, &source.file, cloud)?;
            Ok(if cloud == "gcp" {
                gcp::offers(rows)
            } else {
                rows.into_iter()
                    .filter(|o| !o.instance_type.is_empty())
                    .collect()
            })
        });
        parsed.as_deref().map_err(Clone::clone)
    }

    /// Adds (or replaces) a cloud whose offers come from elsewhere, e.g. a provider's
    /// live `offers`.
    pub fn insert_offers(&mut self, cloud: &str, offers: Vec<Offer>) {
        let source = Source {
            file: format!("<offers of provider {cloud}>"),
            text: std::borrow::Cow::Borrowed(""),
            offers: OnceLock::new(),
        };
        // A fresh OnceLock cannot be full, so this set always succeeds.
        let _ = source.offers.set(Ok(offers));
        self.clouds.insert(cloud.to_string(), source);
    }

    /// GPU models with their memory (`common/metadata.csv`).
    pub fn gpus(&self) -> &[GpuMeta] {
        &self.gpus
    }

    /// The catalog's spelling of an accelerator name, matched case-insensitively
    /// (`a100-80gb` → `A100-80GB`); an unknown name gets close suggestions.
    ///
    /// The names known are those of `common/accelerators.csv` and `metadata.csv`,
    /// then every name an offer carries (AWS's `Inferentia`, `Inferentia2` and
    /// `Trainium`; a provider's live GPUs, such as a Kubernetes node's): the names
    /// `gpus list` shows. The offers are only read when the short lists lack the name.
    pub fn canonical_accelerator(&self, name: &str) -> Result<String, CatalogError> {
        match accelerators::canonicalize(&self.accelerator_names, name) {
            Err(CatalogError::UnknownAccelerator { .. }) => {}
            known => return known,
        }
        let mut names = self.accelerator_names.clone();
        names.extend(self.offered_accelerator_names());
        names.sort_by_key(|n| n.to_lowercase());
        names.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
        accelerators::canonicalize(&names, name)
    }

    /// Every accelerator name the offers of every cloud carry, without duplicates.
    /// A cloud whose file cannot be read is passed over here (planning on it says
    /// why).
    pub fn offered_accelerator_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .clouds
            .keys()
            .filter_map(|cloud| self.offers(cloud).ok())
            .flatten()
            .filter_map(|o| o.accelerator.as_ref().map(|(name, _)| name.clone()))
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// Accelerators with their counts and cheapest prices per cloud, for `show-gpus`.
    pub fn list_accelerators(
        &self,
        query: &GpuQuery,
    ) -> Result<Vec<AcceleratorListing>, CatalogError> {
        accelerators::list(self, query)
    }
}

fn unreadable(path: &Path, err: std::io::Error) -> CatalogError {
    CatalogError::Unreadable {
        file: path.display().to_string(),
        detail: err.to_string(),
    }
}
