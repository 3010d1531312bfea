//! What the loaded providers offer right now, merged into the catalog, and which of
//! them can be used (credentials that check out).
//!
//! A provider's answer (its credentials checked out, and its live offers) is kept
//! under `HOME/cache/offers/NAME.json` for `offers_cache_secs` (config.yaml, default
//! [`DEFAULT_OFFERS_CACHE_SECS`]), so repeated plans do not ask it again and dry
//! runs stay offline while the cache is fresh. An answer is reused only while the
//! provider's version, its settings and which of its credentials are set are the
//! same as when it was asked (no secret value is written or hashed). Failures are
//! never cached: a provider that could not answer is asked again next time.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::catalog::{Catalog, Offer};
use crate::config::DEFAULT_OFFERS_CACHE_SECS;
use crate::plugin::{CredentialSource, Manifest, PluginError, ProviderOffer, display_safe};

use super::{Client, ClientError, ClientResult, Event};

/// Whether `cloud`'s provider prices live (its manifest leaves out 0.2.0's
/// `catalog-prices`, as Nebius's does: its calculator prices every platform and
/// preset of the user's project): when it is asked and answers its live offers,
/// they replace the shipped catalog's rows of the cloud; the catalog is the
/// fallback when it is not asked (a plan with `--all-clouds` and the cloud
/// neither named nor in `clouds:`), cannot be used, or answers none (said in a
/// warning).
pub(crate) fn priced_live(manifests: &[&Manifest], cloud: &str) -> bool {
    manifests
        .iter()
        .find(|m| m.name == cloud)
        .is_some_and(|m| !m.capabilities.catalog_prices)
}

/// Bounds of a provider's offer: larger numbers are a broken or hostile answer.
const MAX_PRICE: f64 = 100_000.0;
const MAX_VCPUS: f64 = 65_536.0;
const MAX_MEMORY_GIB: f64 = 1_048_576.0;
const MAX_ACCELERATORS: f64 = 1_024.0;
const MAX_GPU_MEMORY_MIB: u64 = 16 << 20;
const MAX_NAME_BYTES: usize = 256;

/// Why an offer from a provider cannot be planned with, or `None`: prices finite
/// and from 0 to [`MAX_PRICE`], counts finite, non-negative and bounded, names
/// (instance type, region, zone, accelerator) non-empty, short and printable.
fn offer_problem(o: &ProviderOffer) -> Option<String> {
    let name = |what: &str, v: &str| {
        if v.is_empty() {
            Some(format!("an empty {what}"))
        } else if v.len() > MAX_NAME_BYTES {
            Some(format!("a {what} longer than {MAX_NAME_BYTES} bytes"))
        } else if display_safe(v) != v {
            Some(format!(
                "{what} `{}` has control characters",
                display_safe(v)
            ))
        } else {
            None
        }
    };
    let number = |what: &str, v: f64, max: f64| {
        (!(v.is_finite() && (0.0..=max).contains(&v)))
            .then(|| format!("{what} {v} is not a number from 0 to {max}"))
    };
    let problem = name("instance type", &o.instance_type)
        .or_else(|| name("region", &o.region))
        .or_else(|| o.zone.as_deref().and_then(|z| name("zone", z)))
        .or_else(|| {
            o.accelerator_name
                .as_deref()
                .and_then(|a| name("accelerator", a))
        })
        .or_else(|| number("accelerator count", o.accelerator_count, MAX_ACCELERATORS))
        .or_else(|| number("vcpus", o.vcpus, MAX_VCPUS))
        .or_else(|| number("memory_gib", o.memory_gib, MAX_MEMORY_GIB))
        .or_else(|| o.price.and_then(|p| number("price", p, MAX_PRICE)))
        .or_else(|| {
            o.spot_price
                .and_then(|p| number("spot price", p, MAX_PRICE))
        })
        .or_else(|| {
            o.gpu_memory_mib
                .filter(|m| *m > MAX_GPU_MEMORY_MIB)
                .map(|m| format!("gpu_memory_mib {m} is over {MAX_GPU_MEMORY_MIB}"))
        })?;
    Some(format!(
        "`{}` in {}: {problem}",
        display_safe(&o.instance_type),
        display_safe(&o.region)
    ))
}

/// One provider's cached answer.
#[derive(Debug, Serialize, Deserialize)]
struct CachedAnswer {
    /// What the answer depends on (see [`fingerprint`]).
    fingerprint: String,
    /// When the provider was asked, seconds since the Unix epoch.
    fetched_unix: u64,
    /// Its live offers; `None` when it has none (or a shipped catalog is used).
    offers: Option<Vec<Offer>>,
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn cache_path(home: &Path, name: &str) -> PathBuf {
    home.join("cache")
        .join("offers")
        .join(format!("{name}.json"))
}

/// A digest of what a provider's answer depends on: its name and version, its
/// settings from config.yaml (endpoint included) and, for `ssh`, the pools file
/// the host passes it as a setting, whether a shipped catalog is used for it, and
/// which of its declared credentials are set (presence only).
fn fingerprint(
    home: &Path,
    manifest: &Manifest,
    settings: Option<&serde_yaml::Value>,
    shipped: bool,
    source: &dyn CredentialSource,
) -> String {
    let mut hash = Sha256::new();
    if manifest.name == "ssh" {
        hash.update(std::fs::read(home.join("ssh_node_pools.yaml")).unwrap_or_default());
        hash.update([0]);
    }
    hash.update(manifest.name.as_bytes());
    hash.update([0]);
    hash.update(manifest.version.as_bytes());
    hash.update([0]);
    hash.update(
        serde_yaml::to_string(&settings)
            .unwrap_or_default()
            .as_bytes(),
    );
    hash.update([0, u8::from(shipped)]);
    for name in &manifest.credentials {
        hash.update(name.as_bytes());
        hash.update([u8::from(source.get(name).is_some())]);
    }
    hex::encode(hash.finalize())
}

/// The cached answer for `name` when it is younger than `ttl` and its fingerprint
/// matches, with its age.
fn read_cache(
    home: &Path,
    name: &str,
    fingerprint: &str,
    ttl: Duration,
) -> Option<(Option<Vec<Offer>>, Duration)> {
    if ttl.is_zero() {
        return None;
    }
    let text = std::fs::read_to_string(cache_path(home, name)).ok()?;
    let cached: CachedAnswer = serde_json::from_str(&text).ok()?;
    let age = Duration::from_secs(now_unix().checked_sub(cached.fetched_unix)?);
    (cached.fingerprint == fingerprint && age < ttl).then_some((cached.offers, age))
}

fn write_cache(home: &Path, name: &str, fingerprint: String, offers: &Option<Vec<Offer>>) {
    if let Err(err) = try_write_cache(home, name, fingerprint, offers) {
        tracing::warn!(provider = name, "cannot cache live offers: {err}");
    }
}

fn try_write_cache(
    home: &Path,
    name: &str,
    fingerprint: String,
    offers: &Option<Vec<Offer>>,
) -> std::io::Result<()> {
    // Unique per write: threads of one process (a jobs controller's clients)
    // write the same cache at once, and each renames only its own file.
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let path = cache_path(home, name);
    let answer = CachedAnswer {
        fingerprint,
        fetched_unix: now_unix(),
        offers: offers.clone(),
    };
    let dir = path.parent().unwrap_or(home);
    std::fs::create_dir_all(dir)?;
    let text = serde_json::to_string(&answer).map_err(std::io::Error::other)?;
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.json.{}.{n}", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, &path)
}

/// What a usable provider answered for the catalog.
enum Answer {
    /// Its live offers, or none (a cloud with a catalog, or no `offers`).
    Offers(Option<Vec<ProviderOffer>>),
    /// A cloud priced live whose offers failed (why): its catalog prices it.
    Fallback(String),
}

/// The catalog with the providers' live offers, and which providers can be used.
pub struct LiveCatalog {
    /// The catalog with the providers' live offers merged in.
    pub catalog: Catalog,
    /// Providers whose credentials check out.
    pub usable: Vec<String>,
    /// `(provider, why)` for those that cannot be used.
    pub unusable: Vec<(String, String)>,
    /// Providers answered from the cache instead of being asked, with the answer's
    /// age (the others in `usable` and `unusable` were asked now).
    pub cached: Vec<(String, Duration)>,
    /// Clouds priced by a shipped (or the user's) catalog rather than by their
    /// provider's live offers.
    pub shipped: Vec<String>,
}

impl LiveCatalog {
    /// The error for a plan that found nothing, leading with the real reason when
    /// providers were left out: each unusable provider's own answer (a refused
    /// key) comes first, the optimizer's `cloud X: not enabled` for such a
    /// provider says it is not usable instead, and its hint to enable more clouds
    /// becomes one to fix the provider when no other constraint removed anything.
    pub fn no_resources(&self, err: &dyn std::fmt::Display) -> ClientError {
        let message = err.to_string();
        if self.unusable.is_empty() {
            return ClientError::NoResources {
                message,
                reasons: String::new(),
            };
        }
        let mut reasons = String::new();
        for (name, why) in &self.unusable {
            reasons.push_str(&format!("provider {name} is not usable: {why}\n"));
        }
        let mut only_unusable = true;
        let lines: Vec<String> = message
            .lines()
            .map(|line| {
                let trimmed = line.trim_start();
                if let Some(rest) = trimmed.strip_prefix("cloud ") {
                    let unusable = self.unusable.iter().any(|(name, _)| {
                        rest.strip_prefix(name.as_str())
                            .is_some_and(|r| r.starts_with(": not enabled"))
                    });
                    if unusable {
                        let indent = &line[..line.len() - trimmed.len()];
                        let name = rest.split(':').next().unwrap_or(rest);
                        return format!("{indent}cloud {name}: its provider is not usable (above)");
                    }
                    only_unusable = false;
                } else if line.starts_with("  ")
                    && !trimmed.is_empty()
                    && trimmed != "no enabled cloud has any offer"
                {
                    only_unusable = false;
                }
                line.to_string()
            })
            .collect();
        let lines: Vec<String> = lines
            .into_iter()
            .map(|line| {
                if only_unusable && line.starts_with("hint:") {
                    "hint: fix the provider above (`aloft check` asks each provider for its \
                     credentials), or enable other clouds"
                        .to_string()
                } else {
                    line
                }
            })
            .collect();
        ClientError::NoResources {
            message: lines.join("\n"),
            reasons,
        }
    }
}

impl Client {
    /// The catalog (shipped snapshot, or the user's files under `HOME/catalogs`).
    pub fn catalog(&self) -> ClientResult<Catalog> {
        Catalog::load(Some(&self.home.join("catalogs"))).map_err(ClientError::other)
    }

    /// The catalog with every loaded provider's live offers merged in (only those
    /// named in `only`, when given), and which providers can be used. Providers are
    /// asked concurrently, every time (a launch wants today's answer); their answers
    /// renew the cache that [`Client::live_catalog_with`] reads for plans.
    pub fn live_catalog(&self, only: Option<&[String]>) -> ClientResult<LiveCatalog> {
        self.live_catalog_with(only, false)
    }

    /// [`Client::live_catalog`] for plans: with `use_cache`, a provider whose answer
    /// was cached less than `offers_cache_secs` ago is not asked (see the module
    /// documentation); the others are asked and their answers cached.
    pub fn live_catalog_with(
        &self,
        only: Option<&[String]>,
        use_cache: bool,
    ) -> ClientResult<LiveCatalog> {
        self.live_catalog_from(self.catalog()?, only, use_cache)
    }

    /// [`Client::live_catalog_with`] over `catalog`, already loaded by the caller.
    pub(crate) fn live_catalog_from(
        &self,
        mut catalog: Catalog,
        only: Option<&[String]>,
        use_cache: bool,
    ) -> ClientResult<LiveCatalog> {
        let providers = self.providers()?;
        let shipped = catalog.clouds();
        let ttl = Duration::from_secs(
            self.config
                .offers_cache_secs
                .unwrap_or(DEFAULT_OFFERS_CACHE_SECS),
        );
        let mut cached = Vec::new();
        let mut from_cache = Vec::new();
        let mut names = Vec::new();
        let mut fingerprints = Vec::new();
        let source = super::providers::ConfiguredCredentials::from_config(&self.config)?;
        for manifest in providers.host.manifests() {
            let name = &manifest.name;
            if !only.is_none_or(|names| names.contains(name)) {
                continue;
            }
            let print = fingerprint(
                &self.home,
                manifest,
                self.config.providers.get(name),
                shipped.contains(name),
                &source,
            );
            match use_cache
                .then(|| read_cache(&self.home, name, &print, ttl))
                .flatten()
            {
                Some((offers, age)) => {
                    cached.push((name.clone(), age));
                    from_cache.push((name.clone(), offers));
                }
                None => {
                    names.push(name.clone());
                    fingerprints.push(print);
                }
            }
        }
        let manifests = providers.host.manifests();
        let answers = self.block_on(futures::future::join_all(names.iter().map(|name| {
            let shipped = shipped.contains(name);
            let priced_live = priced_live(&manifests, name);
            async move {
                let mut instance = providers
                    .host
                    .instance(name)
                    .await
                    .map_err(|e| e.to_string())?;
                instance
                    .check_credentials()
                    .await
                    .map_err(|err| match err {
                        PluginError::Provider { error, .. } => error.message,
                        other => other.to_string(),
                    })?;
                // A shipped (or user) catalog is the source of prices; live offers
                // only describe clouds without one (node pools, `local`, third-party
                // providers), and those priced live, whose catalog is the fallback.
                if shipped && !priced_live {
                    return Ok(Answer::Offers(None));
                }
                Ok(match instance.offers(None).await {
                    Ok(offers) => Answer::Offers(Some(offers)),
                    Err(err) if shipped => Answer::Fallback(match err {
                        PluginError::Provider { error, .. } => {
                            format!("{}: {}", error.code, error.message)
                        }
                        other => other.to_string(),
                    }),
                    Err(_) => Answer::Offers(None),
                })
            }
        })));
        let mut usable = Vec::new();
        let mut unusable = Vec::new();
        let mut answered = Vec::new();
        let mut shipped = shipped;
        for ((name, answer), print) in names.into_iter().zip(answers).zip(fingerprints) {
            match answer {
                Err(why) => unusable.push((name, why)),
                // Not cached: the next plan asks again.
                Ok(Answer::Fallback(why)) => {
                    self.emit(Event::Warning(format!(
                        "{name}: no live offers ({why}); its prices come from aloft's catalog"
                    )));
                    usable.push(name);
                }
                Ok(Answer::Offers(offers)) => {
                    let offers = offers.map(|offers| self.sane_offers(&name, offers));
                    write_cache(&self.home, &name, print, &offers);
                    answered.push((name, offers));
                }
            }
        }
        for (name, offers) in from_cache.into_iter().chain(answered) {
            if let Some(offers) = offers {
                // Offers are the provider's answer: only rows in its own name count.
                let offers = offers.into_iter().filter(|o| o.cloud == name).collect();
                catalog.insert_offers(&name, offers);
                // A cloud priced live is no longer priced by its catalog.
                shipped.retain(|c| *c != name);
            }
            usable.push(name);
        }
        usable.sort();
        Ok(LiveCatalog {
            catalog,
            usable,
            unusable,
            cached,
            shipped,
        })
    }
}

impl Client {
    /// The offers of provider `name` that can be planned with, as catalog rows;
    /// the others (see [`offer_problem`]) are left out with one warning naming
    /// the provider.
    fn sane_offers(&self, name: &str, offers: Vec<ProviderOffer>) -> Vec<Offer> {
        let total = offers.len();
        let mut refused = Vec::new();
        let kept = offers
            .into_iter()
            .filter_map(|o| match offer_problem(&o) {
                Some(why) => {
                    refused.push(why);
                    None
                }
                None => Some(Offer {
                    cloud: name.to_string(),
                    instance_type: o.instance_type,
                    accelerator: o
                        .accelerator_name
                        .map(|n| (n, o.accelerator_count))
                        .filter(|(_, c)| *c > 0.0),
                    vcpus: o.vcpus,
                    memory_gib: o.memory_gib,
                    gpu_memory_mib: o.gpu_memory_mib,
                    price: o.price,
                    spot_price: o.spot_price,
                    region: o.region,
                    zone: o.zone,
                }),
            })
            .collect();
        if let Some(first) = refused.first() {
            let more = match refused.len() {
                1 => String::new(),
                n => format!(" (and {} more)", n - 1),
            };
            self.emit(Event::Warning(format!(
                "provider {name}: refused {} of its {total} offers, not planned with: {first}{more}",
                refused.len()
            )));
        }
        kept
    }
}

/// The region name that asks the `kubernetes` provider's `offers` for one row per
/// GPU node (zone = node name, accelerator count = allocatable GPUs, price = free
/// GPUs) instead of offers: the WIT offer record has no field for "free", and a
/// separate export would need a new WIT version.
pub const KUBE_NODES_QUERY: &str = "*nodes*";

/// One GPU type of one Kubernetes context (`aloft show-gpus --infra k8s`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct KubeGpus {
    /// The kubeconfig context.
    pub context: String,
    /// The GPU type, as SkyPilot names it (`A100`, `H100`).
    pub gpu: String,
    /// GPUs of this type on the context's nodes.
    pub total: u64,
    /// Of those, not requested by a pod now.
    pub free: u64,
    /// Nodes with this GPU type.
    pub nodes: usize,
}

impl Client {
    /// Per allowed Kubernetes context (only `context`, when given), each GPU type
    /// with its total and free counts, read from the cluster now.
    pub fn kubernetes_gpus(&self, context: Option<&str>) -> ClientResult<Vec<KubeGpus>> {
        let providers = self.providers()?;
        let rows = self.block_on(async {
            let mut instance = providers
                .instance(crate::plugin::KUBERNETES_PROVIDER)
                .await?;
            instance
                .check_credentials()
                .await
                .map_err(|e| ClientError::Provider {
                    provider: crate::plugin::KUBERNETES_PROVIDER.into(),
                    message: e.to_string(),
                })?;
            instance
                .offers(Some(KUBE_NODES_QUERY))
                .await
                .map_err(|e| ClientError::Provider {
                    provider: crate::plugin::KUBERNETES_PROVIDER.into(),
                    message: e.to_string(),
                })
        })?;
        // The rows come from a component: keep only sane numbers.
        let count = |v: f64| {
            if v.is_finite() && v > 0.0 {
                v as u64
            } else {
                0
            }
        };
        let mut out: std::collections::BTreeMap<(String, String), KubeGpus> = Default::default();
        for row in rows {
            let Some(gpu) = row.accelerator_name.filter(|g| !g.is_empty()) else {
                continue;
            };
            if context.is_some_and(|c| c != row.region) {
                continue;
            }
            let total = count(row.accelerator_count);
            let free = count(row.price.unwrap_or(0.0)).min(total);
            // Names from the cluster (node labels) are shown: display-safe.
            let (shown_context, gpu) = (display_safe(&row.region), display_safe(&gpu));
            let entry = out
                .entry((shown_context.clone(), gpu.clone()))
                .or_insert_with(|| KubeGpus {
                    context: shown_context,
                    gpu,
                    total: 0,
                    free: 0,
                    nodes: 0,
                });
            entry.total += total;
            entry.free += free;
            entry.nodes += 1;
        }
        Ok(out.into_values().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offers_with_bad_numbers_or_names_are_refused() {
        let good = ProviderOffer {
            instance_type: "x-2cpu".into(),
            accelerator_name: Some("A100".into()),
            accelerator_count: 8.0,
            vcpus: 2.0,
            memory_gib: 8.0,
            gpu_memory_mib: Some(81_920),
            price: Some(0.0),
            spot_price: None,
            region: "r-1".into(),
            zone: Some("r-1a".into()),
        };
        assert_eq!(offer_problem(&good), None);
        type Spoil = fn(&mut ProviderOffer);
        let bad: [(&str, Spoil); 10] = [
            ("price -1", |o| o.price = Some(-1.0)),
            ("price NaN", |o| o.price = Some(f64::NAN)),
            ("spot price inf", |o| o.spot_price = Some(f64::INFINITY)),
            ("vcpus -2", |o| o.vcpus = -2.0),
            ("memory_gib NaN", |o| o.memory_gib = f64::NAN),
            ("accelerator count 1000000", |o| o.accelerator_count = 1e6),
            ("an empty region", |o| o.region.clear()),
            ("an empty zone", |o| o.zone = Some(String::new())),
            ("longer than", |o| o.instance_type = "x".repeat(300)),
            ("`A\\u{1b}[31m` has control", |o| {
                o.accelerator_name = Some("A\u{1b}[31m".into())
            }),
        ];
        for (why, spoil) in bad {
            let mut offer = good.clone();
            spoil(&mut offer);
            let problem = offer_problem(&offer).unwrap_or_default();
            assert!(problem.contains(why), "{why}: {problem:?}");
        }
    }

    #[test]
    fn threads_of_one_process_write_the_cache_at_once_without_failing() {
        let home = tempfile::tempdir().unwrap();
        std::thread::scope(|scope| {
            let writers: Vec<_> = (0..8)
                .map(|i| {
                    let home = home.path();
                    scope.spawn(move || {
                        (0..50)
                            .map(|_| try_write_cache(home, "local", format!("f{i}"), &None))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            for writer in writers {
                for written in writer.join().unwrap() {
                    written.unwrap();
                }
            }
        });
        let text = std::fs::read_to_string(cache_path(home.path(), "local")).unwrap();
        let cached: CachedAnswer = serde_json::from_str(&text).unwrap();
        assert!(cached.fingerprint.starts_with('f'));
    }
}
