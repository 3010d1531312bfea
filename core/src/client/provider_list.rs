//! The providers a client has, as a caller lists them: each manifest with where
//! it came from and how many of its credentials are set, the components that
//! failed to load, and a manifest's capabilities by name.

use serde::Serialize;

use crate::plugin::Manifest;

use super::{Client, ClientError, ClientResult};

/// One loaded provider.
#[derive(Debug, Clone, Serialize)]
pub struct ProviderListing {
    /// Its manifest.
    #[serde(flatten)]
    pub manifest: Manifest,
    /// Where it came from: `bundled`, `installed`, or the component's origin.
    pub source: String,
    /// How many of the credentials its manifest declares are set on this machine.
    #[serde(skip)]
    pub credentials_set: usize,
}

/// Every provider a client has.
#[derive(Debug, Clone, Default)]
pub struct ProviderList {
    /// The loaded providers, in name order.
    pub providers: Vec<ProviderListing>,
    /// `(origin, error)` for each component that failed to load.
    pub broken: Vec<(String, String)>,
}

impl Client {
    /// Every loaded provider and every component that failed to load.
    pub fn provider_list(&self) -> ClientResult<ProviderList> {
        let p = self.providers()?;
        let providers = p
            .host
            .manifests()
            .into_iter()
            .map(|m| self.listing(m, p.source(&m.name)))
            .collect();
        Ok(ProviderList {
            providers,
            broken: p.broken.clone(),
        })
    }

    /// The loaded provider named `name`.
    pub fn provider_info(&self, name: &str) -> ClientResult<ProviderListing> {
        let p = self.providers()?;
        p.host
            .manifests()
            .into_iter()
            .find(|m| m.name == name)
            .map(|m| self.listing(m, p.source(name)))
            .ok_or_else(|| ClientError::Other(format!("no provider named `{name}`")))
    }

    fn listing(&self, manifest: &Manifest, source: String) -> ProviderListing {
        let credentials_set = manifest
            .credentials
            .iter()
            .filter(|c| self.credential_is_set(c))
            .count();
        ProviderListing {
            manifest: manifest.clone(),
            source,
            credentials_set,
        }
    }
}

/// What a manifest says its provider can do, by the names `providers list`
/// shows: `spot`, `stop/start`, `multi-node`, `ports`, `images`, `volumes`,
/// `containers` (runs a task's container image).
pub fn capability_names(manifest: &Manifest) -> Vec<&'static str> {
    let c = &manifest.capabilities;
    [
        (c.spot, "spot"),
        (c.stop_start, "stop/start"),
        (c.multi_node, "multi-node"),
        (c.open_ports, "ports"),
        (c.custom_images, "images"),
        (c.volumes, "volumes"),
        (c.container_images, "containers"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_provider_is_named_and_a_bare_client_has_none() {
        let home = tempfile::tempdir().unwrap();
        let client = Client::builder().home(home.path()).open().unwrap();
        let list = client.provider_list().unwrap();
        assert!(list.providers.is_empty() && list.broken.is_empty());
        let err = client.provider_info("nimbus").unwrap_err();
        assert_eq!(err.to_string(), "no provider named `nimbus`");
    }
}
