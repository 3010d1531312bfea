//! `gpus list` as a call: what the user typed ([`GpuRequest::parse`]: a name
//! with an optional `:COUNT`, an `--infra` text, one row per region or not), and
//! the accelerators that answer it, from the catalogs (refreshed as for a plan,
//! with the live offers of a cloud without a catalog) or, for Kubernetes, from the
//! cluster now.

use crate::catalog::{AcceleratorListing, GpuQuery};
use crate::task::Infra;

use super::{Client, ClientError, ClientResult, KubeGpus};

/// A checked `gpus list` request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GpuRequest {
    /// Where to look: every cloud, a cloud, a cloud and region, or Kubernetes
    /// (`kubernetes`, with a context as the region).
    pub infra: Infra,
    /// Only accelerators whose name contains this, ignoring case.
    pub name: Option<String>,
    /// Only offers with this many devices per node.
    pub count: Option<f64>,
    /// One row per region instead of the cheapest region.
    pub all_regions: bool,
}

impl GpuRequest {
    /// Checks a request as typed: `name` as `A100` or `A100:8`, `infra` as
    /// `aws`, `aws/us-east-1` or `k8s/CONTEXT`. Prices are listed by cloud and
    /// region, so a zone is refused, and so is a region with `all_regions`
    /// (Kubernetes lists its GPUs by context and takes neither check).
    pub fn parse(name: Option<&str>, infra: Option<&str>, all_regions: bool) -> ClientResult<Self> {
        let infra = match infra {
            Some(text) => Infra::parse(text)
                .map_err(|e| ClientError::Other(format!("--infra `{text}`: {e}")))?,
            None => Infra::default(),
        };
        let mut request = GpuRequest {
            infra,
            name: name.map(str::to_string),
            count: None,
            all_regions,
        };
        if request.is_kubernetes() {
            request.name = name.and_then(|n| n.split(':').next()).map(str::to_string);
            return Ok(request);
        }
        if request.infra.zone.is_some() {
            return Err(ClientError::Other(
                "--infra: prices are listed by cloud and region, not by zone".into(),
            ));
        }
        if request.infra.region.is_some() && all_regions {
            return Err(ClientError::Other(
                "--all-regions and a region in --infra cannot be used together".into(),
            ));
        }
        if let Some((gpu, count)) = name.and_then(|n| n.split_once(':')) {
            let count: f64 = count.parse().map_err(|_| {
                ClientError::Other(format!(
                    "`{}`: the count after `:` must be a number",
                    name.unwrap_or_default()
                ))
            })?;
            request.name = Some(gpu.to_string());
            request.count = Some(count);
        }
        Ok(request)
    }

    /// Whether the request is for Kubernetes ([`Client::kubernetes_gpu_listings`]).
    pub fn is_kubernetes(&self) -> bool {
        self.infra.cloud.as_deref() == Some("kubernetes")
    }

    /// Whether each row is a region of its own (one was named, or every one asked
    /// for) rather than the cheapest region of its cloud.
    pub fn by_region(&self) -> bool {
        self.all_regions || self.infra.region.is_some()
    }

    fn query(&self, clouds: Vec<String>) -> GpuQuery {
        GpuQuery {
            name: self.name.clone(),
            count: self.count,
            clouds,
            region: self.infra.region.clone(),
            all_regions: self.all_regions,
        }
    }
}

impl Client {
    /// The accelerators that answer `request`, with their offers, from the
    /// catalogs as a plan reads them ([`Client::gpu_listing_catalog`]). No
    /// catalog for the cloud asked for, or no offer at all, is an error saying why
    /// (an accelerator name nobody knows is named as such).
    pub fn gpu_listings(&self, request: &GpuRequest) -> ClientResult<Vec<AcceleratorListing>> {
        let cloud = request.infra.cloud.as_deref();
        let catalog = self.gpu_listing_catalog(cloud)?;
        let clouds = match cloud {
            Some(cloud) => {
                if !catalog.clouds().iter().any(|c| c == cloud) {
                    return Err(ClientError::Other(format!(
                        "no catalog for `{cloud}`; clouds with catalogs: {}",
                        catalog.clouds().join(", ")
                    )));
                }
                vec![cloud.to_string()]
            }
            None => Vec::new(),
        };
        let listings = catalog
            .list_accelerators(&request.query(clouds))
            .map_err(ClientError::other)?;
        if !listings.is_empty() {
            return Ok(listings);
        }
        let place = match (&request.infra.cloud, &request.infra.region) {
            (Some(cloud), Some(region)) => format!("in {cloud}/{region}"),
            _ => "on the selected clouds".to_string(),
        };
        Err(ClientError::Other(match &request.name {
            Some(name) => match catalog.canonical_accelerator(name) {
                Err(err) => err.to_string(),
                Ok(_) => format!("no offers for `{name}` {place}"),
            },
            None => format!("no accelerator offers {place}"),
        }))
    }

    /// Per allowed Kubernetes context (the request's region, when given), each GPU
    /// type whose name matches the request, with its total and free counts, read
    /// from the cluster now. Empty when none matches.
    pub fn kubernetes_gpu_listings(&self, request: &GpuRequest) -> ClientResult<Vec<KubeGpus>> {
        let mut rows = self.kubernetes_gpus(request.infra.region.as_deref())?;
        let query = request.query(Vec::new());
        rows.retain(|r| query.name_matches(&r.gpu));
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_with_a_count_is_split_and_a_bad_count_refused() {
        let r = GpuRequest::parse(Some("A100:8"), Some("aws/us-east-1"), false).unwrap();
        assert_eq!(r.name.as_deref(), Some("A100"));
        assert_eq!(r.count, Some(8.0));
        assert!(r.by_region());
        let err = GpuRequest::parse(Some("A100:x"), None, false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`A100:x`: the count after `:` must be a number"
        );
    }

    #[test]
    fn zones_and_a_region_with_every_region_are_refused_but_not_for_kubernetes() {
        let zone = GpuRequest::parse(None, Some("aws/us-east-1/us-east-1a"), false).unwrap_err();
        assert!(zone.to_string().contains("not by zone"), "{zone}");
        let both = GpuRequest::parse(None, Some("aws/us-east-1"), true).unwrap_err();
        assert!(both.to_string().contains("--all-regions"), "{both}");
        let kube = GpuRequest::parse(Some("H100:x"), Some("k8s/ctx"), true).unwrap();
        assert!(kube.is_kubernetes());
        assert_eq!(kube.name.as_deref(), Some("H100"));
        assert_eq!(kube.infra.region.as_deref(), Some("ctx"));
        let bad = GpuRequest::parse(None, Some("a/b/c/d"), false).unwrap_err();
        assert!(bad.to_string().starts_with("--infra `a/b/c/d`: "), "{bad}");
    }
}
