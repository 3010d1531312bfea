//! Pure helpers: quantities, GPU names from node labels, instance type names.

/// Node labels that name a node's GPU type, in the order they are trusted
/// (GPU feature discovery, GKE, SkyPilot's own, Karpenter, CoreWeave, Nebius).
pub const GPU_LABELS: &[&str] = &[
    "nvidia.com/gpu.product",
    "cloud.google.com/gke-accelerator",
    "skypilot.co/accelerator",
    "karpenter.k8s.aws/instance-gpu-name",
    "gpu.nvidia.com/class",
    "nebius.com/gpu-name",
];

/// The extended resource of NVIDIA GPUs.
pub const GPU_RESOURCE: &str = "nvidia.com/gpu";

/// A Kubernetes quantity (`4`, `3500m`, `16Gi`, `1e3`, `500M`) as a number.
pub fn quantity(text: &str) -> Option<f64> {
    let t = text.trim();
    let suffixes: [(&str, f64); 13] = [
        ("Ki", 1024.0),
        ("Mi", 1024f64.powi(2)),
        ("Gi", 1024f64.powi(3)),
        ("Ti", 1024f64.powi(4)),
        ("Pi", 1024f64.powi(5)),
        ("Ei", 1024f64.powi(6)),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
    ];
    for (s, f) in suffixes {
        if let Some(n) = t.strip_suffix(s) {
            return n
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .map(|v| v * f);
        }
    }
    t.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// GPU names aloft knows, longest first where one is a prefix of another.
const KNOWN: &[&str] = &[
    "GH200", "H200", "H100", "B200", "B100", "A100", "A10G", "A10", "A40", "L40S", "L40", "L4",
    "T4", "V100", "P100", "P4", "K80", "A6000", "A5000", "A4000",
];

/// A node label's GPU name as SkyPilot names it: `NVIDIA-A100-SXM4-80GB` and
/// `nvidia-a100-80gb` are `A100-80GB`, `nvidia-tesla-a100` and
/// `NVIDIA-A100-SXM4-40GB` are `A100`, `NVIDIA-H100-80GB-HBM3` is `H100`,
/// `NVIDIA-GeForce-RTX-4090` is `RTX4090`; an unknown name is kept, upper-cased.
pub fn gpu_name(label: &str) -> String {
    let upper = label.trim().to_ascii_uppercase().replace(['_', ' '], "-");
    let tokens: Vec<&str> = upper
        .split('-')
        .filter(|t| !t.is_empty() && !matches!(*t, "NVIDIA" | "TESLA" | "GEFORCE"))
        .collect();
    for (i, token) in tokens.iter().enumerate() {
        if *token == "RTX"
            && let Some(next) = tokens.get(i + 1)
        {
            return format!("RTX{next}");
        }
        if let Some(rest) = token.strip_prefix("RTX")
            && !rest.is_empty()
        {
            return format!("RTX{rest}");
        }
        if KNOWN.contains(token) {
            if *token == "A100" && tokens.contains(&"80GB") {
                return "A100-80GB".into();
            }
            return token.to_string();
        }
    }
    tokens.join("-")
}

/// The GPU label of a node: `(label key, raw value)` of the first known label.
pub fn gpu_label(
    labels: &serde_json::Map<String, serde_json::Value>,
) -> Option<(&'static str, &str)> {
    GPU_LABELS
        .iter()
        .find_map(|k| labels.get(*k).and_then(|v| v.as_str()).map(|v| (*k, v)))
}

/// What a pod of one instance type asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    /// CPUs.
    pub cpus: u32,
    /// Memory, GB (GiB on the wire).
    pub memory_gb: u32,
    /// GPU type and count.
    pub gpu: Option<(String, u32)>,
}

impl Shape {
    /// The instance type name, in SkyPilot's form: `4CPU--16GB` or
    /// `4CPU--16GB--A100:1`.
    pub fn name(&self) -> String {
        match &self.gpu {
            Some((g, n)) => format!("{}CPU--{}GB--{g}:{n}", self.cpus, self.memory_gb),
            None => format!("{}CPU--{}GB", self.cpus, self.memory_gb),
        }
    }

    /// Parses [`Shape::name`]'s form.
    pub fn parse(name: &str) -> Option<Shape> {
        let mut parts = name.split("--");
        let cpus = parts.next()?.strip_suffix("CPU")?.parse().ok()?;
        let memory_gb = parts.next()?.strip_suffix("GB")?.parse().ok()?;
        let gpu = match parts.next() {
            Some(g) => {
                let (n, c) = g.rsplit_once(':')?;
                Some((n.to_string(), c.parse().ok().filter(|c| *c > 0)?))
            }
            None => None,
        };
        if parts.next().is_some() || cpus == 0 || memory_gb == 0 {
            return None;
        }
        Some(Shape {
            cpus,
            memory_gb,
            gpu,
        })
    }
}

/// A DNS-1123 label made of `name` (lower-case, `-` for anything else, at most
/// `max` characters, starting and ending alphanumeric).
pub fn dns_label(name: &str, max: usize) -> String {
    let mut s: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    s.truncate(max);
    let s = s.trim_matches('-').to_string();
    if s.is_empty() { "x".into() } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(quantity("4"), Some(4.0));
        assert_eq!(quantity("3500m"), Some(3.5));
        assert_eq!(quantity("16Gi"), Some(16.0 * 1024f64.powi(3)));
        assert_eq!(quantity("1k"), Some(1000.0));
        assert_eq!(quantity("x"), None);
    }

    #[test]
    fn gpu_names_as_skypilot() {
        for (label, name) in [
            ("NVIDIA-A100-SXM4-80GB", "A100-80GB"),
            ("nvidia-a100-80gb", "A100-80GB"),
            ("nvidia-tesla-a100", "A100"),
            ("NVIDIA-A100-SXM4-40GB", "A100"),
            ("NVIDIA-H100-80GB-HBM3", "H100"),
            ("nvidia-h100-80gb", "H100"),
            ("nvidia-tesla-t4", "T4"),
            ("Tesla-T4", "T4"),
            ("nvidia-l4", "L4"),
            ("NVIDIA-L40S", "L40S"),
            ("NVIDIA-A10G", "A10G"),
            ("NVIDIA-GeForce-RTX-4090", "RTX4090"),
            ("H200", "H200"),
        ] {
            assert_eq!(gpu_name(label), name, "{label}");
        }
    }

    #[test]
    fn instance_types_round_trip() {
        let s = Shape {
            cpus: 4,
            memory_gb: 16,
            gpu: Some(("A100".into(), 2)),
        };
        assert_eq!(s.name(), "4CPU--16GB--A100:2");
        assert_eq!(Shape::parse(&s.name()), Some(s));
        assert_eq!(Shape::parse("2CPU--8GB").unwrap().gpu, None);
        assert!(Shape::parse("m5.large").is_none());
        assert!(Shape::parse("0CPU--8GB").is_none());
    }

    #[test]
    fn dns_labels() {
        assert_eq!(dns_label("My_Cluster", 63), "my-cluster");
        assert_eq!(dns_label("--", 63), "x");
    }
}

/// One volume the host asks a cluster's pods to mount: a PersistentVolumeClaim in
/// the pods' namespace (the host's `aloft::volumes::Attachment`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Mount {
    /// The volume's name in aloft.
    pub name: String,
    /// The claim's name.
    pub id: String,
    /// Where the container sees it.
    pub mount_path: String,
}

/// The kv key under which the host leaves a cluster's mounts (the host's
/// `aloft::volumes::kv_key`).
pub fn volumes_key(cluster: &str) -> String {
    format!("aloft-volumes/{cluster}")
}

/// The mounts the host left under [`volumes_key`] (none when the key is absent).
pub fn mounts(value: Option<&str>) -> Result<Vec<Mount>, String> {
    match value {
        None => Ok(Vec::new()),
        Some(text) => serde_json::from_str(text).map_err(|e| format!("volume mounts: {e}")),
    }
}

/// Adds the claims to a pod: one `volumes` entry per claim, mounted into every
/// container at its path.
pub fn add_mounts(pod: &mut serde_json::Value, mounts: &[Mount]) {
    if mounts.is_empty() {
        return;
    }
    let volumes: Vec<serde_json::Value> = mounts
        .iter()
        .enumerate()
        .map(|(i, m)| {
            serde_json::json!({"name": format!("aloft-vol-{i}"), "persistentVolumeClaim": {"claimName": m.id}})
        })
        .collect();
    let volume_mounts: Vec<serde_json::Value> = mounts
        .iter()
        .enumerate()
        .map(|(i, m)| serde_json::json!({"name": format!("aloft-vol-{i}"), "mountPath": m.mount_path}))
        .collect();
    pod["spec"]["volumes"] = serde_json::Value::Array(volumes);
    if let Some(containers) = pod["spec"]["containers"].as_array_mut() {
        for c in containers {
            c["volumeMounts"] = serde_json::Value::Array(volume_mounts.clone());
        }
    }
}

#[cfg(test)]
mod mount_tests {
    use super::*;

    #[test]
    fn claims_are_mounted_into_every_container() {
        let mounts = mounts(Some(
            r#"[{"name":"data","id":"data","mount_path":"/data","size_gib":10}]"#,
        ))
        .unwrap();
        let mut pod = serde_json::json!({"spec": {"containers": [{"name": "a"}]}});
        add_mounts(&mut pod, &mounts);
        assert_eq!(
            pod["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"],
            "data"
        );
        assert_eq!(
            pod["spec"]["containers"][0]["volumeMounts"][0]["mountPath"],
            "/data"
        );
        assert_eq!(
            pod["spec"]["containers"][0]["volumeMounts"][0]["name"],
            "aloft-vol-0"
        );
        assert!(super::mounts(None).unwrap().is_empty());
        assert!(super::mounts(Some("{")).is_err());
    }
}
