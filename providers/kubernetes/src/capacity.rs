//! What a cluster can hold now: nodes' allocatable minus the requests of the pods
//! already placed on them, per GPU type; and the offers that follow from it.

use serde_json::Value;

use aloft_provider_sdk::types::{Offer, ProviderError};

use crate::api::Context;
use crate::model::{GPU_RESOURCE, Shape, gpu_label, gpu_name, quantity};

/// One node's capacity.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeCapacity {
    /// The node's name.
    pub name: String,
    /// GPU type (normalized), label key and raw label value.
    pub gpu: Option<(String, String, String)>,
    /// Allocatable CPUs, memory (GiB) and GPUs.
    pub cpus: f64,
    /// Allocatable memory, GiB.
    pub memory_gib: f64,
    /// Allocatable GPUs.
    pub gpus: f64,
    /// Free CPUs now.
    pub free_cpus: f64,
    /// Free memory now, GiB.
    pub free_memory_gib: f64,
    /// Free GPUs now.
    pub free_gpus: f64,
}

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// The nodes of the context's cluster with what is free on each (pods of every
/// namespace when readable, else of the context's namespace).
pub fn nodes(ctx: &Context) -> Result<Vec<NodeCapacity>, ProviderError> {
    let nodes = ctx.list("/api/v1/nodes")?;
    let pods = match ctx.list("/api/v1/pods") {
        Ok(p) => p,
        Err(_) => ctx.list(&format!("/api/v1/namespaces/{}/pods", ctx.namespace))?,
    };
    Ok(free_on_nodes(
        &serde_json::json!({ "items": nodes }),
        &serde_json::json!({ "items": pods }),
    ))
}

/// [`nodes`] from a `NodeList` and a `PodList`.
pub fn free_on_nodes(nodes: &Value, pods: &Value) -> Vec<NodeCapacity> {
    let empty = Vec::new();
    let mut out = Vec::new();
    for node in nodes["items"].as_array().unwrap_or(&empty) {
        let name = node["metadata"]["name"].as_str().unwrap_or_default();
        if name.is_empty() || node["spec"]["unschedulable"].as_bool() == Some(true) {
            continue;
        }
        let alloc = &node["status"]["allocatable"];
        let q = |v: &Value| v.as_str().and_then(quantity).unwrap_or(0.0);
        let cpus = q(&alloc["cpu"]);
        let memory_gib = q(&alloc["memory"]) / GIB;
        let gpus = q(&alloc[GPU_RESOURCE]);
        let gpu = node["metadata"]["labels"]
            .as_object()
            .and_then(gpu_label)
            .filter(|_| gpus > 0.0)
            .map(|(k, v)| (gpu_name(v), k.to_string(), v.to_string()));
        let (mut used_cpu, mut used_mem, mut used_gpu) = (0.0, 0.0, 0.0);
        for pod in pods["items"].as_array().unwrap_or(&empty) {
            if pod["spec"]["nodeName"].as_str() != Some(name)
                || matches!(
                    pod["status"]["phase"].as_str(),
                    Some("Succeeded" | "Failed")
                )
            {
                continue;
            }
            for c in pod["spec"]["containers"].as_array().unwrap_or(&empty) {
                // A request left out defaults to the limit, as the API server does.
                let req = |k: &str| {
                    let r = &c["resources"]["requests"][k];
                    q(if r.is_null() {
                        &c["resources"]["limits"][k]
                    } else {
                        r
                    })
                };
                used_cpu += req("cpu");
                used_mem += req("memory") / GIB;
                used_gpu += req(GPU_RESOURCE);
            }
        }
        out.push(NodeCapacity {
            name: name.to_string(),
            gpu,
            cpus,
            memory_gib,
            gpus,
            free_cpus: (cpus - used_cpu).max(0.0),
            free_memory_gib: (memory_gib - used_mem).max(0.0),
            free_gpus: (gpus - used_gpu).max(0.0),
        });
    }
    out
}

/// CPUs and memory (GB) of a pod with `n` GPUs: 4 CPUs and 16 GB per GPU, as
/// much as the node has free if less.
fn gpu_pod(node: &NodeCapacity, n: u32) -> Option<Shape> {
    let cpus = (4 * n).min(node.free_cpus.floor() as u32);
    let memory_gb = (16 * n).min(node.free_memory_gib.floor() as u32);
    let (name, _, _) = node.gpu.as_ref()?;
    (cpus > 0 && memory_gb > 0).then(|| Shape {
        cpus,
        memory_gb,
        gpu: Some((name.clone(), n)),
    })
}

/// Offers of one context: every shape some node can hold now (GPU pods of 1, 2,
/// 4, 8... GPUs up to a node's free count; CPU pods of 1, 2, 4... CPUs with 4 GB
/// each), price $0, one row per shape.
pub fn offers(context: &str, nodes: &[NodeCapacity]) -> Vec<Offer> {
    let mut shapes: Vec<Shape> = Vec::new();
    for node in nodes {
        let mut n = 1u32;
        while node.gpu.is_some() && f64::from(n) <= node.free_gpus {
            shapes.extend(gpu_pod(node, n));
            n *= 2;
        }
        let mut c = 1u32;
        while f64::from(c) <= node.free_cpus && f64::from(4 * c) <= node.free_memory_gib {
            shapes.push(Shape {
                cpus: c,
                memory_gb: 4 * c,
                gpu: None,
            });
            c *= 2;
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    shapes
        .into_iter()
        .filter(|s| seen.insert(s.name()))
        .map(|s| Offer {
            instance_type: s.name(),
            accelerator_name: s.gpu.as_ref().map(|(g, _)| g.clone()),
            accelerator_count: s.gpu.as_ref().map(|(_, n)| f64::from(*n)).unwrap_or(0.0),
            vcpus: f64::from(s.cpus),
            memory_gib: f64::from(s.memory_gb),
            gpu_memory_mib: None,
            price: Some(0.0),
            spot_price: None,
            region: context.to_string(),
            zone: None,
        })
        .collect()
}

/// Whether `node` can hold a pod of `shape` now.
pub fn fits(node: &NodeCapacity, shape: &Shape) -> bool {
    let gpu_ok = match &shape.gpu {
        None => true,
        Some((name, n)) => {
            node.gpu.as_ref().is_some_and(|(g, _, _)| g == name) && node.free_gpus >= f64::from(*n)
        }
    };
    gpu_ok
        && node.free_cpus >= f64::from(shape.cpus)
        && node.free_memory_gib >= f64::from(shape.memory_gb)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn free_gpus_per_node_and_offers() {
        let nodes = json!({"items": [
            {"metadata": {"name": "g1", "labels": {"cloud.google.com/gke-accelerator": "nvidia-tesla-a100"}},
             "status": {"allocatable": {"cpu": "16", "memory": "64Gi", "nvidia.com/gpu": "2"}}},
            {"metadata": {"name": "c1", "labels": {}},
             "status": {"allocatable": {"cpu": "2", "memory": "8Gi"}}}
        ]});
        let pods = json!({"items": [
            {"spec": {"nodeName": "g1", "containers": [{"resources": {"requests": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"}}}]},
             "status": {"phase": "Running"}},
            {"spec": {"nodeName": "g1", "containers": [{"resources": {"requests": {"cpu": "4", "nvidia.com/gpu": "1"}}}]},
             "status": {"phase": "Succeeded"}}
        ]});
        let caps = free_on_nodes(&nodes, &pods);
        assert_eq!(caps[0].free_gpus, 1.0);
        assert_eq!(caps[0].free_cpus, 12.0);
        assert_eq!(caps[0].gpu.as_ref().unwrap().0, "A100");
        let names: Vec<String> = offers("ctx", &caps)
            .into_iter()
            .map(|o| o.instance_type)
            .collect();
        assert!(
            names.contains(&"4CPU--16GB--A100:1".to_string()),
            "{names:?}"
        );
        assert!(!names.iter().any(|n| n.ends_with("A100:2")), "{names:?}");
        assert!(names.contains(&"2CPU--8GB".to_string()));
        let shape = Shape::parse("4CPU--16GB--A100:1").unwrap();
        assert!(fits(&caps[0], &shape));
        assert!(!fits(&caps[1], &shape));
    }
}
