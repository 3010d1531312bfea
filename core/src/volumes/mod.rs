//! Volumes, as SkyPilot 0.14 has them (`sky volumes apply/ls/delete`): storage that
//! outlives clusters, created once from a volume file and mounted by tasks that
//! name it in `volumes: {MOUNT_PATH: NAME}`.
//!
//! Two kinds: `k8s-pvc` (a PersistentVolumeClaim in a kubeconfig context's
//! namespace, mounted into every pod of the cluster) and `runpod-network-volume`
//! (a RunPod network volume in one data center, attached to the pods at deploy).
//! Providers whose manifest does not declare the `volumes` capability refuse a
//! task with `volumes:` by name before anything is provisioned.
//!
//! How the provider component learns a cluster's volumes without a WIT change:
//! before `run-instances` the host writes the cluster's mounts, as JSON
//! ([`Attachment`]s), under the key [`kv_key`]`(cluster)` of that provider's own
//! key-value store; the component deletes it when it terminates the cluster. The
//! PVC itself is created and deleted by the host ([`kube`]) through the same
//! per-context access the component's requests use (`kube::access`), so no
//! credential reaches the component; a RunPod network volume by the host through
//! RunPod's REST API ([`runpod`]) with the key it lends the `runpod` component.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::task::Infra;

#[cfg(feature = "plugin")]
pub mod kube;
#[cfg(feature = "plugin")]
pub mod runpod;

/// The kind of a volume (`type:` in the volume file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum VolumeKind {
    /// A Kubernetes PersistentVolumeClaim (`k8s-pvc`).
    #[serde(rename = "k8s-pvc")]
    K8sPvc,
    /// A RunPod network volume (`runpod-network-volume`).
    #[serde(rename = "runpod-network-volume")]
    RunpodNetworkVolume,
}

impl VolumeKind {
    /// SkyPilot's name of the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            VolumeKind::K8sPvc => "k8s-pvc",
            VolumeKind::RunpodNetworkVolume => "runpod-network-volume",
        }
    }

    /// The provider the kind lives on.
    pub fn provider(self) -> &'static str {
        match self {
            VolumeKind::K8sPvc => "kubernetes",
            VolumeKind::RunpodNetworkVolume => "runpod",
        }
    }

    /// The kind named `s`.
    pub fn parse(s: &str) -> Result<VolumeKind, VolumeError> {
        match s {
            "k8s-pvc" => Ok(VolumeKind::K8sPvc),
            "runpod-network-volume" => Ok(VolumeKind::RunpodNetworkVolume),
            "k8s-hostpath" => Err(VolumeError::Invalid(
                "type: k8s-hostpath volumes are not supported yet; use k8s-pvc".into(),
            )),
            other => Err(VolumeError::Invalid(format!(
                "type: unknown volume type `{other}` (known: k8s-pvc, runpod-network-volume)"
            ))),
        }
    }
}

/// PVC access modes Kubernetes knows.
pub const ACCESS_MODES: &[&str] = &[
    "ReadWriteOnce",
    "ReadWriteOncePod",
    "ReadWriteMany",
    "ReadOnlyMany",
];

/// `config:` of a volume file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeConfig {
    /// The PVC's storage class (the cluster's default when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
    /// The PVC's access mode (default `ReadWriteOnce`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_mode: Option<String>,
    /// The namespace (default: the context's); pods of the cluster must run there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// A volume file, as `aloft volumes apply` reads it (SkyPilot's volume schema).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeSpec {
    /// The volume's name (lower-case letters, digits and `-`).
    pub name: String,
    /// `k8s-pvc` or `runpod-network-volume`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Where: `k8s[/CONTEXT]`, `runpod/COUNTRY/DATA_CENTER`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infra: Option<String>,
    /// Size (`10Gi`, `100`; a bare number is GiB). Required unless `use_existing`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<serde_yaml::Value>,
    /// Adopt a volume that already exists instead of creating one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_existing: Option<bool>,
    /// Kind-specific settings.
    #[serde(default)]
    pub config: VolumeConfig,
    /// Labels put on the volume.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// A checked volume file.
#[derive(Debug, Clone, PartialEq)]
pub struct Volume {
    /// The file as read.
    pub spec: VolumeSpec,
    /// Its kind.
    pub kind: VolumeKind,
    /// `infra` parsed (the provider is the kind's).
    pub infra: Infra,
    /// Size in GiB (whole, rounded up).
    pub size_gib: Option<u64>,
}

/// One mount of a volume on a cluster's nodes, as the provider component reads it
/// from its key-value store ([`kv_key`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// The volume's name in aloft.
    pub name: String,
    /// The provider's id: the PVC's name, RunPod's volume id (empty: create it).
    pub id: String,
    /// Where the nodes see it.
    pub mount_path: String,
    /// Size in GiB (RunPod creates the volume with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_gib: Option<u64>,
}

/// The provider kv key holding cluster `cluster`'s [`Attachment`]s.
pub fn kv_key(cluster: &str) -> String {
    format!("aloft-volumes/{cluster}")
}

/// What is wrong with a volume file or a volume request.
#[derive(Debug, Error)]
pub enum VolumeError {
    /// The file or the request is wrong.
    #[error("{0}")]
    Invalid(String),
    /// The volume file cannot be read.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// No volume of that name.
    #[error("no volume named `{name}` ({known})")]
    Unknown {
        /// The name asked for.
        name: String,
        /// What aloft knows, for the message.
        known: String,
    },
    /// A cluster mounts it.
    #[error("volume `{name}` is in use by cluster(s) {clusters}; `aloft down` them first")]
    InUse {
        /// The volume.
        name: String,
        /// The clusters mounting it, comma separated.
        clusters: String,
    },
    /// The task asks for volumes where they cannot be.
    #[error("{0}")]
    Unsupported(String),
    /// The provider's API refused or failed.
    #[error("{provider}: {message}")]
    Provider {
        /// The provider.
        provider: String,
        /// What it said.
        message: String,
    },
}

impl Volume {
    /// Reads and checks a volume file.
    pub fn from_yaml_file(path: &std::path::Path) -> Result<Volume, VolumeError> {
        let file = |message: String| VolumeError::File {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| file(e.to_string()))?;
        Volume::from_yaml_str(&text).map_err(|e| match e {
            VolumeError::Invalid(message) => file(message),
            other => other,
        })
    }

    /// Parses and checks a volume file's text.
    pub fn from_yaml_str(text: &str) -> Result<Volume, VolumeError> {
        let spec: VolumeSpec =
            serde_yaml::from_str(text).map_err(|e| VolumeError::Invalid(e.to_string()))?;
        Volume::from_spec(spec)
    }

    /// Checks a volume spec.
    pub fn from_spec(spec: VolumeSpec) -> Result<Volume, VolumeError> {
        let bad = |m: String| Err(VolumeError::Invalid(m));
        if !is_dns_label(&spec.name) {
            return bad(format!(
                "name: `{}` is not a valid volume name (lower-case letters, digits and `-`, at most 63, starting and ending with a letter or digit)",
                spec.name
            ));
        }
        let kind = VolumeKind::parse(&spec.kind)?;
        let infra = match &spec.infra {
            Some(text) => crate::task::units::parse_infra(text)
                .map_err(|e| VolumeError::Invalid(format!("infra: {e}")))?,
            None => Infra::default(),
        };
        match infra.cloud.as_deref() {
            None => {}
            Some(cloud) if cloud == kind.provider() => {}
            Some(cloud) => {
                return bad(format!(
                    "infra: a {} volume lives on {}, not {cloud}",
                    kind.as_str(),
                    kind.provider()
                ));
            }
        }
        let infra = Infra {
            cloud: Some(kind.provider().into()),
            ..infra
        };
        let size_gib = match &spec.size {
            None => None,
            Some(serde_yaml::Value::Number(n)) => {
                Some(whole_gib(n.as_f64().ok_or_else(|| {
                    VolumeError::Invalid("size: not a number".into())
                })?)?)
            }
            Some(serde_yaml::Value::String(s)) => Some(whole_gib(
                crate::task::units::parse_size_gib(s)
                    .map_err(|e| VolumeError::Invalid(format!("size: {e}")))?,
            )?),
            Some(_) => return bad("size: expected a size such as `10Gi` or `100`".into()),
        };
        let use_existing = spec.use_existing.unwrap_or(false);
        if size_gib.is_none() && !use_existing {
            return bad("size: required to create a volume (e.g. `size: 10Gi`)".into());
        }
        if let Some(mode) = &spec.config.access_mode
            && !ACCESS_MODES.contains(&mode.as_str())
        {
            return bad(format!(
                "config.access_mode: `{mode}` is not one of {}",
                ACCESS_MODES.join(", ")
            ));
        }
        if let Some(ns) = &spec.config.namespace
            && !is_dns_label(ns)
        {
            return bad(format!("config.namespace: `{ns}` is not a valid namespace"));
        }
        if kind == VolumeKind::RunpodNetworkVolume {
            let k8s_only = [
                (
                    "storage_class_name",
                    spec.config.storage_class_name.is_some(),
                ),
                ("access_mode", spec.config.access_mode.is_some()),
                ("namespace", spec.config.namespace.is_some()),
            ];
            if let Some((field, _)) = k8s_only.iter().find(|(_, set)| *set) {
                return bad(format!(
                    "config.{field}: a Kubernetes setting; a runpod-network-volume has none"
                ));
            }
            if infra.region.is_none() || infra.zone.is_none() {
                return bad(
                    "infra: a RunPod network volume lives in one data center: `infra: runpod/COUNTRY/DATA_CENTER` (e.g. runpod/RO/EU-RO-1)"
                        .into(),
                );
            }
            if use_existing {
                return bad(
                    "use_existing: adopting an existing RunPod network volume is not supported yet"
                        .into(),
                );
            }
        }
        Ok(Volume {
            spec,
            kind,
            infra,
            size_gib,
        })
    }
}

fn whole_gib(gib: f64) -> Result<u64, VolumeError> {
    if !(gib > 0.0 && gib < 1e9) {
        return Err(VolumeError::Invalid(format!(
            "size: {gib} GiB is not a usable size"
        )));
    }
    Ok(gib.ceil() as u64)
}

/// A DNS-1123 label (Kubernetes object and namespace names).
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_skypilot_volume_file_reads_and_bad_ones_say_which_field() {
        let v = Volume::from_yaml_str(
            "name: data\ntype: k8s-pvc\ninfra: k8s/ctx-a\nsize: 10Gi\n\
             config: {storage_class_name: standard, access_mode: ReadWriteMany}\n",
        )
        .unwrap();
        assert_eq!(v.kind, VolumeKind::K8sPvc);
        assert_eq!(v.infra.cloud.as_deref(), Some("kubernetes"));
        assert_eq!(v.infra.region.as_deref(), Some("ctx-a"));
        assert_eq!(v.size_gib, Some(10));
        let v = Volume::from_yaml_str(
            "name: ckpt\ntype: runpod-network-volume\ninfra: runpod/RO/EU-RO-1\nsize: 50\n",
        )
        .unwrap();
        assert_eq!(v.infra.cloud.as_deref(), Some("runpod"));
        assert_eq!(v.size_gib, Some(50));
        for (text, says) in [
            ("name: Data\ntype: k8s-pvc\nsize: 1\n", "name:"),
            ("name: d\ntype: k8s-pvc\nsize: 1\nsizee: 2\n", "sizee"),
            ("name: d\ntype: k8s-hostpath\nsize: 1\n", "k8s-hostpath"),
            ("name: d\ntype: k8s-pvc\n", "size: required"),
            ("name: d\ntype: k8s-pvc\nsize: 1\ninfra: aws\n", "not aws"),
            (
                "name: d\ntype: k8s-pvc\nsize: 1\nconfig: {access_mode: RWX}\n",
                "config.access_mode",
            ),
            (
                "name: d\ntype: k8s-pvc\nsize: 1\nconfig: {host_path: /x}\n",
                "host_path",
            ),
            (
                "name: d\ntype: runpod-network-volume\nsize: 1\n",
                "data center",
            ),
        ] {
            let err = Volume::from_yaml_str(text).unwrap_err().to_string();
            assert!(err.contains(says), "{text}: {err}");
        }
    }
}
