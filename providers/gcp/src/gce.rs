//! Compute Engine resources as aloft uses them: instance names and labels (which
//! Google restricts to lower-case letters, digits, `-` and `_`), the insert body,
//! and instances as `instances.list` describes them.

use std::collections::BTreeMap;

use aloft_provider_sdk::signing::sha256_hex;
use aloft_provider_sdk::types::PortRange;
use serde_json::{Value, json};

use crate::api::last;

/// Label naming an instance's cluster (sanitized, see [`label_value`]).
pub const CLUSTER_LABEL: &str = "aloft-cluster";
/// Label naming an instance's role (`head` or `worker`).
pub const ROLE_LABEL: &str = "aloft-role";

/// The default boot image: Canonical's Ubuntu 22.04 family.
pub const UBUNTU: &str = "projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts";
/// The default boot image for machines with GPUs: Google's Deep Learning VM
/// (CUDA drivers installed) family.
pub const DEEP_LEARNING: &str =
    "projects/deeplearning-platform-release/global/images/family/common-cu124-ubuntu-2204-py310";

/// A label value: lower case, only `[a-z0-9_-]`, at most 63 characters.
pub fn label_value(text: &str) -> String {
    text.chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(63)
        .collect()
}

/// A label key: a label value that starts with a letter (`None` if nothing is left).
pub fn label_key(text: &str) -> Option<String> {
    let v = label_value(text);
    v.starts_with(|c: char| c.is_ascii_lowercase()).then_some(v)
}

/// The name stem of a cluster's resources: `aloft-<cluster, sanitized>-<hash>`,
/// a valid RFC 1035 name; the hash keeps `My.Cluster` and `my-cluster` apart.
pub fn stem(cluster: &str) -> String {
    let clean: String = label_value(cluster)
        .replace('_', "-")
        .chars()
        .take(36)
        .collect();
    let clean = clean.trim_matches('-');
    let hash = &sha256_hex(cluster.as_bytes())[..6];
    if clean.is_empty() {
        format!("aloft-{hash}")
    } else {
        format!("aloft-{clean}-{hash}")
    }
}

/// A requested instance type: a machine type, optionally with attached
/// accelerators as `n1-standard-8+nvidia-tesla-t4:2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineSpec {
    /// The machine type.
    pub machine_type: String,
    /// Accelerator type and count, when attached explicitly.
    pub accelerator: Option<(String, u32)>,
}

impl MachineSpec {
    /// Parses `machine[+accelerator[:count]]`.
    pub fn parse(instance_type: &str) -> MachineSpec {
        match instance_type.split_once('+') {
            Some((machine, acc)) => {
                let (name, count) = match acc.split_once(':') {
                    Some((name, n)) => (name, n.parse().unwrap_or(1)),
                    None => (acc, 1),
                };
                MachineSpec {
                    machine_type: machine.to_string(),
                    accelerator: Some((name.to_string(), count)),
                }
            }
            None => MachineSpec {
                machine_type: instance_type.to_string(),
                accelerator: None,
            },
        }
    }

    /// Whether the machine has GPUs (attached, or built into A2/A3/G2 shapes).
    pub fn has_gpu(&self) -> bool {
        self.accelerator.is_some()
            || ["a2-", "a3-", "a4-", "g2-"]
                .iter()
                .any(|f| self.machine_type.starts_with(f))
    }

    /// As an instance type string again.
    pub fn name(&self) -> String {
        match &self.accelerator {
            Some((acc, n)) => format!("{}+{acc}:{n}", self.machine_type),
            None => self.machine_type.clone(),
        }
    }
}

/// What one new instance needs.
pub struct NewInstance<'a> {
    /// Its name.
    pub name: &'a str,
    /// Its zone.
    pub zone: &'a str,
    /// Machine and accelerators.
    pub spec: &'a MachineSpec,
    /// `head` or `worker`.
    pub role: &'a str,
    /// Its cluster (the original name; labelled sanitized).
    pub cluster: &'a str,
    /// The user's extra labels.
    pub labels: &'a [(String, String)],
    /// Boot image.
    pub image: &'a str,
    /// Boot disk size.
    pub disk_size_gib: Option<u32>,
    /// Spot.
    pub spot: bool,
    /// `USER:KEY` for the `ssh-keys` metadata.
    pub ssh_key: Option<String>,
    /// The host key pair (private, public) cloud-init installs at first boot
    /// (`user-data` metadata), named in [`HOST_KEY_ITEM`].
    pub host_key: Option<(&'a str, &'a str)>,
    /// The network tag its cluster's firewall rule targets.
    pub tag: Option<&'a str>,
    /// The VPC network (`global/networks/default`).
    pub network: &'a str,
}

/// The metadata item naming the public host key an instance was created with.
pub const HOST_KEY_ITEM: &str = "aloft-host-key";

/// The body of `instances.insert`.
pub fn insert_body(n: &NewInstance<'_>) -> Value {
    let mut labels = serde_json::Map::new();
    for (k, v) in n.labels {
        if let Some(key) = label_key(k) {
            labels.insert(key, Value::String(label_value(v)));
        }
    }
    labels.insert(CLUSTER_LABEL.into(), label_value(n.cluster).into());
    labels.insert(ROLE_LABEL.into(), n.role.into());
    let mut initialize = json!({
        "sourceImage": n.image,
        "diskType": format!("zones/{}/diskTypes/pd-balanced", n.zone),
    });
    if let Some(size) = n.disk_size_gib {
        initialize["diskSizeGb"] = Value::String(size.to_string());
    }
    let mut scheduling = json!({});
    if n.spec.has_gpu() || n.spot {
        scheduling["onHostMaintenance"] = "TERMINATE".into();
        scheduling["automaticRestart"] = false.into();
    }
    if n.spot {
        scheduling["provisioningModel"] = "SPOT".into();
        // Kept (TERMINATED) when reclaimed, so a query sees the preemption.
        scheduling["instanceTerminationAction"] = "STOP".into();
    }
    let mut metadata = vec![json!({"key": "enable-oslogin", "value": "FALSE"})];
    if let Some(key) = &n.ssh_key {
        metadata.push(json!({"key": "ssh-keys", "value": key}));
    }
    if let Some((private, public)) = n.host_key {
        metadata.push(json!({
            "key": "user-data",
            "value": aloft_provider_sdk::nodes::cloud_init_host_key(private, public),
        }));
        let key: Vec<&str> = public.split_whitespace().take(2).collect();
        metadata.push(json!({"key": HOST_KEY_ITEM, "value": key.join(" ")}));
    }
    let mut body = json!({
        "name": n.name,
        "machineType": format!("zones/{}/machineTypes/{}", n.zone, n.spec.machine_type),
        "labels": labels,
        "disks": [{
            "boot": true,
            "autoDelete": true,
            "type": "PERSISTENT",
            "initializeParams": initialize,
        }],
        "networkInterfaces": [{
            "network": n.network,
            "accessConfigs": [{"name": "External NAT", "type": "ONE_TO_ONE_NAT"}],
        }],
        "metadata": {"items": metadata},
        "scheduling": scheduling,
    });
    if let Some((acc, count)) = &n.spec.accelerator {
        body["guestAccelerators"] = json!([{
            "acceleratorType": format!("zones/{}/acceleratorTypes/{acc}", n.zone),
            "acceleratorCount": count,
        }]);
    }
    if let Some(tag) = n.tag {
        body["tags"] = json!({"items": [tag]});
    }
    body
}

/// The body of `firewalls.insert` opening TCP `ports` to instances tagged `name`.
pub fn firewall_body(name: &str, cluster: &str, network: &str, ports: &[PortRange]) -> Value {
    json!({
        "name": name,
        "description": format!("aloft cluster {}", label_value(cluster)),
        "network": network,
        "direction": "INGRESS",
        "sourceRanges": ["0.0.0.0/0"],
        "targetTags": [name],
        "allowed": [{"IPProtocol": "tcp", "ports": port_strings(ports)}],
    })
}

/// `22`, `8000-8010`.
pub fn port_strings(ports: &[PortRange]) -> Vec<String> {
    let mut out: Vec<String> = ports
        .iter()
        .map(|r| {
            if r.start == r.end {
                r.start.to_string()
            } else {
                format!("{}-{}", r.start, r.end)
            }
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// One instance as Compute Engine describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct GceInstance {
    /// Its name (aloft's instance id: names are unique per project and zone).
    pub name: String,
    /// `PROVISIONING`, `STAGING`, `RUNNING`, `STOPPING`, `TERMINATED`, ...
    pub status: String,
    /// Machine type and accelerators.
    pub spec: MachineSpec,
    /// Zone.
    pub zone: String,
    /// External IP.
    pub public_ip: Option<String>,
    /// Internal IP.
    pub private_ip: Option<String>,
    /// A spot (or preemptible) instance.
    pub spot: bool,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// The public host key it was created with ([`HOST_KEY_ITEM`]).
    pub host_key: Option<String>,
}

impl GceInstance {
    /// Parses one instance (`None` for one without a name or zone).
    pub fn parse(v: &Value) -> Option<GceInstance> {
        let nic = &v["networkInterfaces"][0];
        let accelerator = v["guestAccelerators"][0]["acceleratorType"]
            .as_str()
            .map(|t| {
                let n = v["guestAccelerators"][0]["acceleratorCount"]
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .unwrap_or(1);
                (last(t).to_string(), n)
            });
        Some(GceInstance {
            name: v["name"].as_str()?.to_string(),
            status: v["status"].as_str().unwrap_or_default().to_string(),
            spec: MachineSpec {
                machine_type: last(v["machineType"].as_str().unwrap_or_default()).to_string(),
                accelerator,
            },
            zone: last(v["zone"].as_str()?).to_string(),
            public_ip: nic["accessConfigs"][0]["natIP"]
                .as_str()
                .map(str::to_string),
            private_ip: nic["networkIP"].as_str().map(str::to_string),
            spot: v["scheduling"]["provisioningModel"].as_str() == Some("SPOT")
                || v["scheduling"]["preemptible"].as_bool() == Some(true),
            labels: v["labels"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                        .collect()
                })
                .unwrap_or_default(),
            host_key: v["metadata"]["items"]
                .as_array()
                .and_then(|items| {
                    items
                        .iter()
                        .find(|item| item["key"].as_str() == Some(HOST_KEY_ITEM))
                })
                .and_then(|item| item["value"].as_str())
                .map(str::to_string),
        })
    }

    /// Its cluster label.
    pub fn cluster_label(&self) -> Option<&str> {
        self.labels.get(CLUSTER_LABEL).map(String::as_str)
    }

    /// Whether it is its cluster's head.
    pub fn is_head(&self) -> bool {
        self.labels.get(ROLE_LABEL).is_some_and(|r| r == "head")
    }

    /// Stopped, or on its way there (a stopped instance is `TERMINATED`).
    pub fn is_stopped(&self) -> bool {
        matches!(
            self.status.as_str(),
            "STOPPING" | "TERMINATED" | "SUSPENDING" | "SUSPENDED"
        )
    }
}

/// Every instance of an `instances.aggregatedList` page
/// (`items: {"zones/Z": {"instances": [...]}}`) or `instances.list` page.
pub fn parse_list(page: &Value) -> Vec<GceInstance> {
    match &page["items"] {
        Value::Object(scopes) => scopes
            .values()
            .filter_map(|s| s["instances"].as_array())
            .flatten()
            .filter_map(GceInstance::parse)
            .collect(),
        Value::Array(items) => items.iter().filter_map(GceInstance::parse).collect(),
        _ => Vec::new(),
    }
}

/// The `filter` selecting the instances of `clusters`.
pub fn cluster_filter(clusters: &[String]) -> String {
    let mut values: Vec<String> = clusters.iter().map(|c| label_value(c)).collect();
    values.sort();
    values.dedup();
    values
        .iter()
        .map(|v| format!("(labels.{CLUSTER_LABEL} = \"{v}\")"))
        .collect::<Vec<_>>()
        .join(" OR ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_labels_are_what_google_accepts() {
        assert_eq!(label_value("My.Cluster_1"), "my-cluster_1");
        assert_eq!(label_value(&"x".repeat(80)).len(), 63);
        assert_eq!(label_key("9lives"), None);
        assert_eq!(label_key("Team").as_deref(), Some("team"));
        let s = stem("My.Cluster_1");
        assert!(s.starts_with("aloft-my-cluster-1-"), "{s}");
        assert_ne!(stem("My.Cluster_1"), stem("my-cluster-1"));
        let long = stem(&"a".repeat(100));
        assert!(long.len() + "-worker-99".len() <= 63, "{long}");
        assert!(stem("...").starts_with("aloft-"));
        assert_eq!(
            cluster_filter(&["b".into(), "A".into(), "a".into()]),
            "(labels.aloft-cluster = \"a\") OR (labels.aloft-cluster = \"b\")"
        );
    }

    #[test]
    fn a_spot_gpu_instance_asks_for_all_it_needs() {
        let spec = MachineSpec::parse("n1-standard-8+nvidia-tesla-t4:2");
        assert_eq!(spec.name(), "n1-standard-8+nvidia-tesla-t4:2");
        let body = insert_body(&NewInstance {
            name: "aloft-c-abcdef-head",
            zone: "us-central1-a",
            spec: &spec,
            role: "head",
            cluster: "C",
            labels: &[("Owner".into(), "Alice@Example".into())],
            image: UBUNTU,
            disk_size_gib: Some(100),
            spot: true,
            ssh_key: Some("aloft:ssh-ed25519 AAAA".into()),
            host_key: None,
            tag: Some("aloft-c-abcdef"),
            network: "global/networks/default",
        });
        assert_eq!(
            body["guestAccelerators"][0]["acceleratorType"],
            "zones/us-central1-a/acceleratorTypes/nvidia-tesla-t4"
        );
        assert_eq!(body["guestAccelerators"][0]["acceleratorCount"], 2);
        assert_eq!(body["scheduling"]["onHostMaintenance"], "TERMINATE");
        assert_eq!(body["scheduling"]["provisioningModel"], "SPOT");
        assert_eq!(body["labels"]["aloft-cluster"], "c");
        assert_eq!(body["labels"]["owner"], "alice-example");
        assert_eq!(body["disks"][0]["initializeParams"]["diskSizeGb"], "100");
        assert_eq!(
            body["metadata"]["items"][1]["value"],
            "aloft:ssh-ed25519 AAAA"
        );
        let parsed = GceInstance::parse(&json!({
            "name": "aloft-c-abcdef-head",
            "zone": "https://x/zones/us-central1-a",
            "machineType": "https://x/zones/us-central1-a/machineTypes/n1-standard-8",
            "status": "RUNNING",
            "guestAccelerators": body["guestAccelerators"],
            "scheduling": body["scheduling"],
            "labels": body["labels"],
            "networkInterfaces": [{"networkIP": "10.0.0.2", "accessConfigs": [{"natIP": "34.1.2.3"}]}],
        }))
        .unwrap();
        assert_eq!(parsed.spec, spec);
        assert!(parsed.spot && parsed.is_head());
        assert_eq!(parsed.public_ip.as_deref(), Some("34.1.2.3"));
        assert!(!MachineSpec::parse("e2-standard-4").has_gpu());
        assert!(MachineSpec::parse("a2-highgpu-1g").has_gpu());
    }
}
