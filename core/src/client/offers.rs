//! What the loaded providers offer right now, merged into the catalog, and which of
//! them can be used (credentials that check out).

use crate::catalog::{Catalog, Offer};
use crate::plugin::PluginError;

use super::{Client, ClientError, ClientResult};

/// The catalog with the providers' live offers, and which providers can be used.
pub struct LiveCatalog {
    /// The catalog with the providers' live offers merged in.
    pub catalog: Catalog,
    /// Providers whose credentials check out.
    pub usable: Vec<String>,
    /// `(provider, why)` for those that cannot be used.
    pub unusable: Vec<(String, String)>,
}

impl LiveCatalog {
    /// Why each unusable provider is out, one line each, each starting with a newline
    /// (for "no resources" messages).
    pub fn explain(&self) -> String {
        self.unusable
            .iter()
            .map(|(name, why)| format!("\nprovider {name} is not usable: {why}"))
            .collect()
    }
}

impl Client {
    /// The catalog (shipped snapshot, or the user's files under `HOME/catalogs`).
    pub fn catalog(&self) -> ClientResult<Catalog> {
        Catalog::load(Some(&self.home.join("catalogs"))).map_err(ClientError::other)
    }

    /// The catalog with every loaded provider's live offers merged in (only those
    /// named in `only`, when given), and which providers can be used. Providers are
    /// asked concurrently.
    pub fn live_catalog(&self, only: Option<&[String]>) -> ClientResult<LiveCatalog> {
        let mut catalog = self.catalog()?;
        let providers = self.providers()?;
        let shipped = catalog.clouds();
        let names: Vec<String> = providers
            .host
            .manifests()
            .iter()
            .map(|m| m.name.clone())
            .filter(|name| only.is_none_or(|names| names.contains(name)))
            .collect();
        let answers = self.block_on(futures::future::join_all(names.iter().map(|name| {
            let shipped = shipped.contains(name);
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
                // providers).
                if shipped {
                    return Ok(None);
                }
                Ok(instance.offers(None).await.ok())
            }
        })));
        let mut usable = Vec::new();
        let mut unusable = Vec::new();
        for (name, answer) in names.into_iter().zip(answers) {
            match answer {
                Err(why) => unusable.push((name, why)),
                Ok(offers) => {
                    if let Some(offers) = offers {
                        let offers = offers
                            .into_iter()
                            .map(|o| Offer {
                                cloud: name.clone(),
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
                            })
                            .collect();
                        catalog.insert_offers(&name, offers);
                    }
                    usable.push(name);
                }
            }
        }
        Ok(LiveCatalog {
            catalog,
            usable,
            unusable,
        })
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
            let entry = out
                .entry((row.region.clone(), gpu.clone()))
                .or_insert_with(|| KubeGpus {
                    context: row.region.clone(),
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
