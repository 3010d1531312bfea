//! The catalogs a plan reads, refreshed first where due (see
//! [`crate::catalog::refresh`]): from `catalog.url` (SkyPilot's hosted catalogs by
//! default) into `HOME/catalogs`, with the snapshot in the binary as the fallback.

use crate::catalog::Catalog;
use crate::catalog::refresh::{self, COMMON_FILES, Wanted};

use super::{Client, ClientError, ClientResult, Event};

impl Client {
    /// The catalog for planning on `clouds` (every cloud with a catalog when
    /// `None`): the files of those clouds and the `common` ones are fetched first
    /// when missing or older than `catalog.max_age_hours`. A fetch that fails is
    /// one warning, never an error: the plan uses the last fetched file, else the
    /// snapshot in the binary.
    pub fn refreshed_catalog(&self, clouds: Option<&[String]>) -> ClientResult<Catalog> {
        self.refresh_catalogs(clouds);
        self.catalog()
    }

    /// The catalog `gpus list` reads for `cloud` (every cloud when `None`):
    /// [`Client::refreshed_catalog`], and for a cloud without a catalog whose
    /// provider answers live offers (Prime Intellect, Vast.ai, DigitalOcean, ...)
    /// or one priced live (Nebius) those offers merged in, as a plan reads them
    /// (from the offers cache when fresh). A provider that cannot answer is an
    /// error with its own reason, except for a cloud priced live: its catalog is
    /// listed, with a warning.
    pub fn gpu_listing_catalog(&self, cloud: Option<&str>) -> ClientResult<Catalog> {
        let only = cloud.map(|c| vec![c.to_string()]);
        let catalog = self.refreshed_catalog(only.as_deref())?;
        let Some(cloud) = cloud else {
            return Ok(catalog);
        };
        let manifests = self.providers()?.host.manifests();
        let has_provider = manifests.iter().any(|m| m.name == cloud);
        let priced_live = super::offers::priced_live(&manifests, cloud);
        if (catalog.clouds().iter().any(|c| c == cloud) && !priced_live) || !has_provider {
            return Ok(catalog);
        }
        let live = self.live_catalog_from(catalog, only.as_deref(), true)?;
        if let Some((_, why)) = live.unusable.iter().find(|(name, _)| name == cloud) {
            if priced_live && live.catalog.clouds().iter().any(|c| c == cloud) {
                self.emit(Event::Warning(format!(
                    "{cloud} is not usable ({why}): its prices come from aloft's catalog"
                )));
                return Ok(live.catalog);
            }
            return Err(ClientError::other(format!("{cloud} is not usable: {why}")));
        }
        Ok(live.catalog)
    }

    /// Fetches the catalog files of `clouds` (all when `None`) that are due, and
    /// says in one warning which could not be fetched.
    pub fn refresh_catalogs(&self, clouds: Option<&[String]>) {
        let settings = &self.config.catalog;
        let mut names: Vec<String> = Catalog::shipped_clouds();
        names.extend(
            settings
                .clouds
                .keys()
                .filter(|c| c.as_str() != "common")
                .cloned(),
        );
        if let Some(only) = clouds {
            names.retain(|c| only.contains(c));
            // A plan only on clouds without a catalog (`local`, SSH pools, a
            // provider's live offers) reads no catalog file: nothing to fetch.
            if names.is_empty() {
                return;
            }
        }
        names.sort();
        names.dedup();
        let mut wanted: Vec<Wanted> = Vec::new();
        for file in COMMON_FILES {
            if let Some(base) = refresh::normalize_base(settings.url_for("common")) {
                wanted.push(Wanted {
                    file: file.to_string(),
                    base,
                });
            }
        }
        for cloud in &names {
            if let Some(base) = refresh::normalize_base(settings.url_for(cloud)) {
                wanted.push(Wanted {
                    file: format!("{cloud}/vms.csv"),
                    base,
                });
            }
        }
        if wanted.is_empty() {
            return;
        }
        let dir = self.home.join("catalogs");
        let done = self.block_on(refresh::fetch_due(&dir, &wanted, settings.max_age()));
        for file in &done.fetched {
            tracing::debug!("catalog {file} refreshed");
        }
        if let Some((first, why)) = done.failed.first() {
            let more = match done.failed.len() {
                1 => String::new(),
                n => format!(" (and {} more)", n - 1),
            };
            self.emit(Event::Warning(format!(
                "catalog not refreshed: {first}: {why}{more}; planning with the catalog \
                 already here (the snapshot in aloft where none was fetched)"
            )));
        }
    }
}
