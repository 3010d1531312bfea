//! Volumes through the client: `apply`, list and delete them, and what a launch of
//! a task with `volumes:` does with them (see [`crate::volumes`]).

use std::collections::BTreeSet;

use serde::Serialize;

use super::{Client, ClientError, ClientResult};
use crate::state::{VolumeRecord, VolumeUse};
use crate::task::{Infra, Task, VolumeMount};
use crate::volumes::kube::ClaimRef;
use crate::volumes::{Attachment, Volume, VolumeError, VolumeKind, kv_key};

/// A volume and the clusters mounting it (`aloft volumes ls`).
#[derive(Debug, Clone, Serialize)]
pub struct VolumeView {
    /// The record.
    #[serde(flatten)]
    pub record: VolumeRecord,
    /// Clusters that mount it, with where.
    pub used_by: Vec<VolumeUse>,
}

/// What a launch with `volumes:` does: the task pinned where its volumes are, and
/// what the provider mounts.
pub(crate) struct PreparedVolumes {
    /// The task, each candidate's `infra` narrowed to the volumes' provider/region.
    pub task: Task,
    /// The provider.
    pub provider: String,
    /// The mounts.
    pub attachments: Vec<Attachment>,
}

impl From<VolumeError> for ClientError {
    fn from(e: VolumeError) -> ClientError {
        match e {
            VolumeError::Invalid(_)
            | VolumeError::File { .. }
            | VolumeError::Unknown { .. }
            | VolumeError::InUse { .. }
            | VolumeError::Unsupported(_) => ClientError::InvalidInput(e.to_string()),
            VolumeError::Provider { provider, message } => {
                ClientError::Provider { provider, message }
            }
        }
    }
}

impl Client {
    /// The Kubernetes contexts aloft may use (nothing is run yet).
    fn volume_kube_access(&self) -> crate::kube::access::KubeAccess {
        let kube = &self.config.kubernetes;
        let path = kube.kubeconfig.as_deref().map(crate::config::expand_home);
        crate::kube::access::KubeAccess::load(
            path.as_deref(),
            kube.allowed_contexts.as_deref(),
            std::time::Duration::from_secs(30),
        )
    }

    /// RunPod's REST base (`providers.runpod.endpoint` replaces it) and the API
    /// key the host lends the `runpod` component.
    fn runpod_api(&self) -> ClientResult<(String, String)> {
        use crate::plugin::CredentialSource;
        let key = super::providers::ConfiguredCredentials::from_config(&self.config)?
            .get("RUNPOD_API_KEY")
            .ok_or_else(|| {
                VolumeError::Invalid(
                    "no RunPod API key: set RUNPOD_API_KEY (or `apikey = ...` in ~/.runpod/config.toml)"
                        .into(),
                )
            })?;
        let base = self
            .config
            .providers
            .get("runpod")
            .and_then(|v| v.get("endpoint"))
            .and_then(|v| v.as_str())
            .unwrap_or(crate::volumes::runpod::REST_BASE)
            .to_string();
        Ok((base, key))
    }

    /// Where a `k8s-pvc` volume's claim goes: its context (`infra: k8s/CONTEXT`,
    /// else the one allowed context) and namespace (the context's: pods go there).
    fn claim_ref(
        &self,
        access: &crate::kube::access::KubeAccess,
        volume: &Volume,
    ) -> ClientResult<ClaimRef> {
        let names: Vec<&str> = access.contexts().map(|c| c.name.as_str()).collect();
        let context = match (&volume.infra.region, names.as_slice()) {
            (Some(c), _) => c.clone(),
            (None, [one]) => one.to_string(),
            (None, []) => {
                return Err(VolumeError::Invalid(
                    "infra: no Kubernetes context is allowed; set `kubernetes.allowed_contexts` in aloft's config.yaml"
                        .into(),
                )
                .into());
            }
            (None, many) => {
                return Err(VolumeError::Invalid(format!(
                    "infra: name the context (`infra: k8s/CONTEXT`), one of {}",
                    many.join(", ")
                ))
                .into());
            }
        };
        let info = access.context(&context).ok_or_else(|| {
            VolumeError::Invalid(format!(
                "infra: Kubernetes context `{context}` is not allowed (allowed: {}); name it in `kubernetes.allowed_contexts` of aloft's config.yaml",
                if names.is_empty() { "none".to_string() } else { names.join(", ") }
            ))
        })?;
        if let Some(ns) = &volume.spec.config.namespace
            && *ns != info.namespace
        {
            return Err(VolumeError::Invalid(format!(
                "config.namespace: aloft's pods in context {context} run in namespace {}, where a claim in {ns} cannot be mounted",
                info.namespace
            ))
            .into());
        }
        Ok(ClaimRef {
            context,
            namespace: info.namespace.clone(),
            name: volume.spec.name.clone(),
        })
    }

    /// Creates `volume` on its provider (a PVC; with `use_existing`, adopts the
    /// claim that exists) and records it. A name aloft already knows is refused.
    pub fn apply_volume(&self, volume: &Volume) -> ClientResult<VolumeRecord> {
        let name = &volume.spec.name;
        if let Some(existing) = self.state.volume(name)? {
            return Err(VolumeError::Invalid(format!(
                "volume `{name}` exists already ({} on {}/{}); `aloft volumes delete {name}` first",
                existing.kind, existing.provider, existing.region
            ))
            .into());
        }
        let (region, cloud_id) = match volume.kind {
            VolumeKind::K8sPvc => {
                let access = self.volume_kube_access();
                let at = self.claim_ref(&access, volume)?;
                self.rt
                    .block_on(crate::volumes::kube::apply(&access, volume, &at))?;
                (at.context.clone(), format!("{}/{}", at.namespace, at.name))
            }
            VolumeKind::RunpodNetworkVolume => {
                let (Some(country), Some(data_center)) = (&volume.infra.region, &volume.infra.zone)
                else {
                    return Err(
                        VolumeError::Invalid("infra: runpod/COUNTRY/DATA_CENTER".into()).into(),
                    );
                };
                let (base, key) = self.runpod_api()?;
                let id = self.rt.block_on(crate::volumes::runpod::create(
                    &base,
                    &key,
                    name,
                    volume.size_gib.unwrap_or(1),
                    data_center,
                ))?;
                (format!("{country}/{data_center}"), id)
            }
        };
        let record = VolumeRecord {
            name: name.clone(),
            kind: volume.kind.as_str().into(),
            provider: volume.kind.provider().into(),
            region,
            size_gib: volume.size_gib,
            cloud_id,
            spec_json: serde_json::to_string(&volume.spec).map_err(ClientError::other)?,
            created_at: crate::runtime::agent::unix_now(),
        };
        self.state.put_volume(&record)?;
        Ok(record)
    }

    /// Every volume aloft knows, with the clusters that mount it.
    pub fn volumes(&self) -> ClientResult<Vec<VolumeView>> {
        let uses = self.state.volume_uses()?;
        Ok(self
            .state
            .volumes()?
            .into_iter()
            .map(|record| VolumeView {
                used_by: uses
                    .iter()
                    .filter(|u| u.volume == record.name)
                    .cloned()
                    .collect(),
                record,
            })
            .collect())
    }

    /// Deletes volume `name` on its provider and forgets it. Refused, naming the
    /// clusters, while a cluster mounts it.
    pub fn delete_volume(&self, name: &str) -> ClientResult<()> {
        let views = self.volumes()?;
        let Some(view) = views.iter().find(|v| v.record.name == name) else {
            return Err(unknown(name, &views).into());
        };
        if !view.used_by.is_empty() {
            let clusters: BTreeSet<&str> =
                view.used_by.iter().map(|u| u.cluster.as_str()).collect();
            return Err(VolumeError::InUse {
                name: name.to_string(),
                clusters: clusters.into_iter().collect::<Vec<_>>().join(", "),
            }
            .into());
        }
        let record = &view.record;
        match VolumeKind::parse(&record.kind)? {
            VolumeKind::K8sPvc => {
                let (namespace, claim) = record
                    .cloud_id
                    .split_once('/')
                    .ok_or_else(|| ClientError::Other(format!("volume `{name}`: bad claim id")))?;
                let at = ClaimRef {
                    context: record.region.clone(),
                    namespace: namespace.to_string(),
                    name: claim.to_string(),
                };
                let access = self.volume_kube_access();
                self.rt
                    .block_on(crate::volumes::kube::delete(&access, &at))?;
            }
            VolumeKind::RunpodNetworkVolume => {
                let (base, key) = self.runpod_api()?;
                self.rt.block_on(crate::volumes::runpod::delete(
                    &base,
                    &key,
                    &record.cloud_id,
                ))?;
            }
        }
        self.state.remove_volume(name)?;
        Ok(())
    }

    /// For a task with `volumes:`: the volumes checked (known, on one provider and
    /// region, a provider whose manifest declares `volumes`), the task pinned there,
    /// and what is mounted where; with `cluster`, an existing cluster of that name
    /// must mount the same. `None` without volumes.
    pub(crate) fn prepare_volumes(
        &self,
        task: &Task,
        cluster: Option<&str>,
    ) -> ClientResult<Option<PreparedVolumes>> {
        if task.volumes.is_empty() {
            return Ok(None);
        }
        let known = self.volumes()?;
        let mut attachments = Vec::new();
        let mut place: Option<(String, String, String)> = None;
        for (path, mount) in &task.volumes {
            let name = match mount {
                VolumeMount::Name(n) => n,
                VolumeMount::Spec(_) => {
                    return Err(VolumeError::Invalid(format!(
                        "volumes.{path}: an inline volume spec is not supported; create it with `aloft volumes apply FILE` and name it here"
                    ))
                    .into());
                }
            };
            if !path.starts_with('/') && !path.starts_with("~/") {
                return Err(VolumeError::Invalid(format!(
                    "volumes.{path}: the mount path must be absolute"
                ))
                .into());
            }
            let Some(view) = known.iter().find(|v| &v.record.name == name) else {
                return Err(unknown(name, &known).into());
            };
            let r = &view.record;
            match &place {
                None => place = Some((r.provider.clone(), r.region.clone(), r.name.clone())),
                Some((p, region, other)) if *p != r.provider || *region != r.region => {
                    return Err(VolumeError::Unsupported(format!(
                        "volumes: `{other}` is on {p}/{region} and `{name}` on {}/{}; one cluster mounts volumes of one place",
                        r.provider, r.region
                    ))
                    .into());
                }
                Some(_) => {}
            }
            let id = match r.cloud_id.split_once('/') {
                Some((_, claim)) if r.provider == "kubernetes" => claim.to_string(),
                _ => r.cloud_id.clone(),
            };
            attachments.push(Attachment {
                name: name.clone(),
                id,
                mount_path: path.clone(),
                size_gib: r.size_gib,
            });
        }
        let Some((provider, place_name, first)) = place else {
            return Ok(None);
        };
        // RunPod's place is `COUNTRY/DATA_CENTER`: a region and a zone.
        let (region, zone) = match place_name.split_once('/') {
            Some((r, z)) if provider == "runpod" => (r.to_string(), Some(z.to_string())),
            _ => (place_name.clone(), None),
        };
        if provider == "runpod" && attachments.len() > 1 {
            return Err(VolumeError::Unsupported(format!(
                "volumes: a RunPod pod attaches one network volume; the task mounts {}",
                attachments.len()
            ))
            .into());
        }
        let mounts = || {
            attachments
                .iter()
                .map(|a| format!("{} → {}", a.mount_path, a.name))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let capable: Vec<String> = self
            .providers()?
            .host
            .manifests()
            .iter()
            .filter(|m| m.capabilities.volumes)
            .map(|m| m.name.clone())
            .collect();
        let mut narrowed = task.clone();
        for r in narrowed.resources.candidates_mut() {
            if let Some(cloud) = &r.infra.cloud
                && *cloud != provider
            {
                return Err(VolumeError::Unsupported(if capable.contains(cloud) {
                    format!(
                        "volumes ({}): volume `{first}` is on {provider}/{place_name}, the task asks for {cloud}",
                        mounts()
                    )
                } else {
                    format!(
                        "volumes ({}): provider {cloud} cannot mount volumes (providers that can: {}); volume `{first}` is on {provider}/{place_name}",
                        mounts(),
                        if capable.is_empty() { "none".to_string() } else { capable.join(", ") }
                    )
                })
                .into());
            }
            if let Some(r_region) = &r.infra.region
                && *r_region != region
            {
                return Err(VolumeError::Unsupported(format!(
                    "volumes ({}): volume `{first}` is in {provider}/{place_name}, the task asks for {provider}/{r_region}",
                    mounts()
                ))
                .into());
            }
            if let (Some(z), Some(r_zone)) = (&zone, &r.infra.zone)
                && z != r_zone
            {
                return Err(VolumeError::Unsupported(format!(
                    "volumes ({}): volume `{first}` is in {provider}/{place_name}, the task asks for zone {r_zone}",
                    mounts()
                ))
                .into());
            }
            r.infra = Infra {
                cloud: Some(provider.clone()),
                region: Some(region.clone()),
                zone: zone.clone().or_else(|| r.infra.zone.clone()),
            };
        }
        if !capable.contains(&provider) {
            return Err(VolumeError::Unsupported(format!(
                "volumes ({}): provider {provider} cannot mount volumes",
                mounts()
            ))
            .into());
        }
        // An existing cluster keeps the volumes it was made with.
        if let Some(cluster) = cluster
            && self.state.cluster(cluster)?.is_some()
        {
            self.check_cluster_mounts(cluster, &attachments)?;
        }
        Ok(Some(PreparedVolumes {
            task: narrowed,
            provider,
            attachments,
        }))
    }

    /// Refuses a task whose volumes are not what `cluster` was made with.
    pub(crate) fn check_cluster_mounts(
        &self,
        cluster: &str,
        attachments: &[Attachment],
    ) -> ClientResult<()> {
        let mut have: Vec<(String, String)> = self
            .state
            .volume_uses()?
            .into_iter()
            .filter(|u| u.cluster == cluster)
            .map(|u| (u.mount_path, u.volume))
            .collect();
        let mut want: Vec<(String, String)> = attachments
            .iter()
            .map(|a| (a.mount_path.clone(), a.name.clone()))
            .collect();
        have.sort();
        want.sort();
        if have != want {
            let show = |v: &[(String, String)]| {
                if v.is_empty() {
                    "none".to_string()
                } else {
                    v.iter()
                        .map(|(p, n)| format!("{p} → {n}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            };
            return Err(VolumeError::Unsupported(format!(
                "cluster `{cluster}` mounts {} but the task asks for {}: volumes are mounted when a cluster is made; launch a new cluster",
                show(&have),
                show(&want)
            ))
            .into());
        }
        Ok(())
    }

    /// Hands the provider the cluster's mounts and records the uses, before
    /// provisioning.
    pub(crate) fn attach_volumes(
        &self,
        cluster: &str,
        prepared: &PreparedVolumes,
    ) -> ClientResult<()> {
        let json = serde_json::to_string(&prepared.attachments).map_err(ClientError::other)?;
        self.state
            .kv_set(&prepared.provider, &kv_key(cluster), &json)?;
        let uses: Vec<VolumeUse> = prepared
            .attachments
            .iter()
            .map(|a| VolumeUse {
                volume: a.name.clone(),
                cluster: cluster.to_string(),
                mount_path: a.mount_path.clone(),
            })
            .collect();
        self.state.set_volume_uses(cluster, &uses)?;
        Ok(())
    }

    /// Before a launch without volumes: a new cluster mounts nothing, whatever a
    /// crashed launch of that name left in a provider's kv.
    pub(crate) fn forget_stale_mounts(&self, cluster: &str) -> ClientResult<()> {
        if self.state.cluster(cluster)?.is_some() {
            return Ok(());
        }
        self.state.set_volume_uses(cluster, &[])?;
        for m in self.providers()?.host.manifests() {
            if m.capabilities.volumes {
                self.state.kv_delete(&m.name, &kv_key(cluster))?;
            }
        }
        Ok(())
    }

    /// After a launch that left no cluster: nothing is mounted.
    pub(crate) fn forget_volume_uses(&self, cluster: &str, provider: &str) -> ClientResult<()> {
        self.state.set_volume_uses(cluster, &[])?;
        self.state.kv_delete(provider, &kv_key(cluster))?;
        Ok(())
    }
}

fn unknown(name: &str, known: &[VolumeView]) -> VolumeError {
    let names: Vec<&str> = known.iter().map(|v| v.record.name.as_str()).collect();
    VolumeError::Unknown {
        name: name.to_string(),
        known: if names.is_empty() {
            "aloft has none; create one with `aloft volumes apply FILE`".into()
        } else {
            format!("aloft's volumes: {}", names.join(", "))
        },
    }
}

/// Refuses `volumes:` where they are not supported yet (`what`: managed jobs,
/// services), by name.
pub(crate) fn refuse_volumes(task: &Task, what: &str) -> ClientResult<()> {
    if task.volumes.is_empty() {
        return Ok(());
    }
    let paths: Vec<&str> = task.volumes.keys().map(String::as_str).collect();
    Err(VolumeError::Unsupported(format!(
        "volumes ({}): {what} cannot mount volumes yet; launch the task on a cluster with `aloft launch`",
        paths.join(", ")
    ))
    .into())
}
