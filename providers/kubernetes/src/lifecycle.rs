//! The provider's calls: contexts as regions, pods as nodes.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use aloft_provider_sdk::errors;
use aloft_provider_sdk::types::{
    ClusterInstances, ClusterRef, ErrorKind, Identity, Instance, InstanceStatus, Offer, PortRange,
    ProviderError, Region, RunRequest, RunResult,
};

use crate::api::{self, Context};
use crate::capacity::{self, NodeCapacity};
use crate::model::{GPU_RESOURCE, Shape, dns_label};

/// The label naming a pod's cluster.
pub const CLUSTER_LABEL: &str = "aloft-cluster";
/// The label naming a pod's role (`head` or `worker`).
pub const ROLE_LABEL: &str = "aloft-role";
/// The annotation keeping the instance type of a pod.
pub const TYPE_ANNOTATION: &str = "aloft.dev/instance-type";
/// The annotation that, when set on a pod (by a mutating webhook, or the test API
/// server), names the port its sshd listens on; else 22.
pub const SSH_PORT_ANNOTATION: &str = "aloft.dev/ssh-port";
/// The annotation naming the public SSH host key a pod was given.
pub const HOST_KEY_ANNOTATION: &str = "aloft.dev/host-key";
/// The key of a cluster's host-key Secret holding the private key.
const HOST_KEY_ITEM: &str = "ssh_host_ed25519_key";
/// The longest one `run-instances` call waits for its pods (within the host's
/// call deadline); `provision_timeout` is capped by it.
pub const MAX_WAIT: Duration = Duration::from_secs(45);
/// The default image: Ubuntu, with sshd installed at start when missing.
pub const DEFAULT_IMAGE: &str = "docker.io/library/ubuntu:22.04";

/// The provider's settings.
pub struct Settings {
    /// Allowed contexts, from the host.
    pub contexts: Vec<Context>,
    /// `(context, why)` for contexts the host could not use.
    pub problems: Vec<(String, String)>,
    /// How long a pod may stay unschedulable.
    pub provision_timeout: Duration,
    /// The SSH user (default `root`).
    pub ssh_user: String,
    /// The image when the task names none.
    pub image: String,
    /// Set when this component runs from a head's stop kit (settings `stop_pods`,
    /// `stop_services`: JSON lists of names): `terminate` deletes exactly these
    /// objects by name and reads nothing, which is all the kit's narrow service
    /// account may do.
    pub kit_objects: Option<KitObjects>,
}

/// The pods (head first) and Services a stop kit's token may delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KitObjects {
    /// Pod names, head first.
    pub pods: Vec<String>,
    /// Service names.
    pub services: Vec<String>,
}

impl Settings {
    /// From `configure`'s pairs.
    pub fn from(all: &BTreeMap<String, String>) -> Settings {
        Settings {
            contexts: all
                .get("contexts")
                .and_then(|c| serde_json::from_str(c).ok())
                .unwrap_or_default(),
            problems: all
                .get("problems")
                .and_then(|c| serde_json::from_str(c).ok())
                .unwrap_or_default(),
            provision_timeout: Duration::from_secs_f64(
                all.get("provision_timeout")
                    .and_then(|t| t.parse::<f64>().ok())
                    .filter(|t| t.is_finite() && *t >= 0.0)
                    .unwrap_or(10.0),
            ),
            ssh_user: all
                .get("ssh_user")
                .cloned()
                .unwrap_or_else(|| "root".into()),
            image: all
                .get("image")
                .cloned()
                .unwrap_or_else(|| DEFAULT_IMAGE.into()),
            kit_objects: all
                .get("stop_pods")
                .and_then(|p| serde_json::from_str(p).ok())
                .map(|pods| KitObjects {
                    pods,
                    services: all
                        .get("stop_services")
                        .and_then(|s| serde_json::from_str(s).ok())
                        .unwrap_or_default(),
                }),
        }
    }

    /// The context of `region`.
    pub fn context(&self, region: &str) -> Result<&Context, ProviderError> {
        self.contexts
            .iter()
            .find(|c| c.name == region)
            .ok_or_else(|| {
                let why = self
                    .problems
                    .iter()
                    .find(|(c, _)| c == region)
                    .map(|(_, w)| w.clone())
                    .unwrap_or_else(|| {
                        format!(
                            "kubernetes context {region:?} is not allowed (allowed: {}); see `kubernetes.allowed_contexts` in aloft's config.yaml",
                            self.contexts
                                .iter()
                                .map(|c| c.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    });
                errors::unsupported("UnknownContext", &why)
            })
    }

    fn problems_text(&self) -> String {
        self.problems
            .iter()
            .map(|(c, w)| {
                if c.is_empty() || w.contains(c.as_str()) {
                    w.clone()
                } else {
                    format!("context {c}: {w}")
                }
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// One region per allowed context.
pub fn regions(s: &Settings) -> Vec<Region> {
    s.contexts
        .iter()
        .map(|c| Region {
            name: c.name.clone(),
            zones: Vec::new(),
        })
        .collect()
}

/// Credentials work when at least one context answers; the others are listed.
pub fn check_credentials(s: &Settings) -> Result<Identity, ProviderError> {
    let mut ok = Vec::new();
    let mut details = Vec::new();
    let mut failures = Vec::new();
    for ctx in &s.contexts {
        match ctx.get(&format!(
            "/api/v1/namespaces/{}/pods?limit=1",
            ctx.namespace
        )) {
            Ok(_) => {
                ok.push(ctx.name.clone());
                details.push((ctx.name.clone(), format!("namespace {}", ctx.namespace)));
            }
            Err(e) => {
                details.push((ctx.name.clone(), e.message.clone()));
                failures.push(e.message);
            }
        }
    }
    if ok.is_empty() {
        let mut why: Vec<String> = failures;
        let problems = s.problems_text();
        if !problems.is_empty() {
            why.push(problems);
        }
        if why.is_empty() {
            why.push("no kubeconfig context is allowed".into());
        }
        return Err(errors::auth("NoUsableContext", &why.join("; ")));
    }
    Ok(Identity {
        account: ok.join(","),
        details,
    })
}

/// Offers of the allowed contexts (or of `region`): what a node can hold now. A
/// context that cannot be read is skipped, with a warning saying why.
pub fn offers(s: &Settings, region: Option<&str>) -> Result<Vec<Offer>, ProviderError> {
    let mut out = Vec::new();
    for (context, why) in &s.problems {
        if region.is_none_or(|r| r == context) {
            aloft_provider_sdk::log::log(
                aloft_provider_sdk::log::Level::Warn,
                &if context.is_empty() {
                    format!("kubernetes: {why}")
                } else {
                    format!("kubernetes context {context} skipped: {why}")
                },
            );
        }
    }
    for ctx in s
        .contexts
        .iter()
        .filter(|c| region.is_none_or(|r| r == c.name))
    {
        match capacity::nodes(ctx) {
            Ok(nodes) => out.extend(capacity::offers(&ctx.name, &nodes)),
            Err(e) => aloft_provider_sdk::log::log(
                aloft_provider_sdk::log::Level::Warn,
                &format!("kubernetes context {} skipped: {}", ctx.name, e.message),
            ),
        }
    }
    Ok(out)
}

/// Per-node capacity of every allowed context (for `show-gpus`), as offers: one row
/// per node with a GPU, `zone` = the node's name, `accelerator-count` = its
/// allocatable GPUs and `price` = its free GPUs (no price applies on Kubernetes).
pub fn node_rows(s: &Settings) -> Vec<Offer> {
    let mut out = Vec::new();
    for ctx in &s.contexts {
        let Ok(nodes) = capacity::nodes(ctx) else {
            continue;
        };
        for n in nodes {
            let Some((gpu, _, _)) = &n.gpu else { continue };
            out.push(Offer {
                instance_type: format!("node:{}", n.name),
                accelerator_name: Some(gpu.clone()),
                accelerator_count: n.gpus,
                vcpus: n.cpus,
                memory_gib: n.memory_gib,
                gpu_memory_mib: None,
                price: Some(n.free_gpus),
                spot_price: None,
                region: ctx.name.clone(),
                zone: Some(n.name.clone()),
            });
        }
    }
    out
}

fn selector(cluster: &str) -> String {
    api::query(&format!("{CLUSTER_LABEL}={}", dns_label(cluster, 63)))
}

fn pods_of(ctx: &Context, cluster: &str) -> Result<Vec<Value>, ProviderError> {
    ctx.list(&format!(
        "/api/v1/namespaces/{}/pods?labelSelector={}",
        ctx.namespace,
        selector(cluster)
    ))
}

fn name_of(v: &Value) -> String {
    v["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The affinity that puts a pod on nodes with GPU `name` (any of the labels and
/// raw values the cluster's nodes use for it).
fn gpu_affinity(nodes: &[NodeCapacity], name: &str) -> Option<Value> {
    let mut by_key: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (g, key, value) in nodes.iter().filter_map(|n| n.gpu.as_ref()) {
        if g == name {
            let values = by_key.entry(key).or_default();
            if !values.contains(&value.as_str()) {
                values.push(value);
            }
        }
    }
    if by_key.is_empty() {
        return None;
    }
    let terms: Vec<Value> = by_key
        .into_iter()
        .map(|(k, v)| json!({"matchExpressions": [{"key": k, "operator": "In", "values": v}]}))
        .collect();
    Some(
        json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}),
    )
}

const START_SSHD: &str = "set -e\n\
if ! command -v sshd >/dev/null 2>&1 && [ ! -x /usr/sbin/sshd ]; then\n\
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server rsync) >/dev/null\n\
fi\n\
mkdir -p \"$HOME/.ssh\" /run/sshd\n\
if [ -n \"${ALOFT_SSH_HOST_KEY:-}\" ]; then\n\
  (umask 077; printf '%s\\n' \"$ALOFT_SSH_HOST_KEY\" > /etc/ssh/ssh_host_ed25519_key)\n\
  rm -f /etc/ssh/ssh_host_ed25519_key.pub\n\
fi\n\
unset ALOFT_SSH_HOST_KEY\n\
printf '%s\\n' \"$ALOFT_SSH_PUBLIC_KEY\" >> \"$HOME/.ssh/authorized_keys\"\n\
chmod 700 \"$HOME/.ssh\"; chmod 600 \"$HOME/.ssh/authorized_keys\"\n\
exec /usr/sbin/sshd -D -e\n";

/// The cluster's host key as its pods get it: the Secret holding the private key,
/// and the public key (type and data) they are annotated with.
struct PodHostKey {
    secret: String,
    public: String,
}

/// The Secret holding `cluster`'s SSH host key.
fn host_key_secret(cluster: &str) -> String {
    format!("{}-host-key", dns_label(cluster, 50))
}

#[allow(clippy::too_many_arguments)]
fn pod_body(
    s: &Settings,
    ctx: &Context,
    req: &RunRequest,
    shape: &Shape,
    name: &str,
    head: bool,
    affinity: Option<&Value>,
    host_key: Option<&PodHostKey>,
) -> Value {
    let image = req
        .image_id
        .as_deref()
        .and_then(|i| i.strip_prefix("docker:"))
        .unwrap_or(&s.image);
    let mut requests =
        json!({"cpu": shape.cpus.to_string(), "memory": format!("{}Gi", shape.memory_gb)});
    let mut limits = json!({"memory": format!("{}Gi", shape.memory_gb)});
    if let Some((_, n)) = &shape.gpu {
        requests[GPU_RESOURCE] = json!(n.to_string());
        limits[GPU_RESOURCE] = json!(n.to_string());
    }
    let mut labels = json!({
        CLUSTER_LABEL: dns_label(&req.cluster.cluster, 63),
        ROLE_LABEL: if head { "head" } else { "worker" },
    });
    for (k, v) in &req.labels {
        let ok = |t: &str| {
            t.len() <= 63
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        if ok(k) && ok(v) && !k.starts_with("aloft-") {
            labels[k] = json!(v);
        }
    }
    let mut env = vec![
        json!({"name": "ALOFT_SSH_PUBLIC_KEY", "value": req.ssh_public_key.clone().unwrap_or_default()}),
    ];
    let mut annotations = json!({TYPE_ANNOTATION: shape.name()});
    if let Some(key) = host_key {
        // From the Secret, never inline in the pod's spec.
        env.push(
            json!({"name": "ALOFT_SSH_HOST_KEY", "valueFrom": {"secretKeyRef": {
            "name": key.secret, "key": HOST_KEY_ITEM}}}),
        );
        annotations[HOST_KEY_ANNOTATION] = json!(key.public);
    }
    let mut spec = json!({
        "restartPolicy": "Never",
        "containers": [{
            "name": "aloft",
            "image": image,
            "command": ["/bin/sh", "-c", START_SSHD],
            "env": env,
            "ports": [{"name": "ssh", "containerPort": 22}],
            "resources": {"requests": requests, "limits": limits},
        }],
    });
    if let Some(a) = affinity {
        spec["affinity"] = a.clone();
    }
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": ctx.namespace,
            "labels": labels,
            "annotations": annotations,
        },
        "spec": spec,
    })
}

/// Creates the missing pods of a cluster (one per node, `CLUSTER-head`,
/// `CLUSTER-worker-N`), then waits until all run. A pod that stays unschedulable
/// past the provision timeout is a `capacity` error, and the pods this call created
/// are deleted.
/// `mounts`: the volumes every pod mounts (from the host, see `model::Mount`).
pub fn run(
    s: &Settings,
    req: &RunRequest,
    mounts: &[crate::model::Mount],
) -> Result<RunResult, ProviderError> {
    let ctx = s.context(&req.cluster.region)?;
    let shape = Shape::parse(&req.instance_type).ok_or_else(|| {
        errors::unsupported(
            "UnknownInstanceType",
            &format!(
                "{:?} is not a Kubernetes instance type (CPU--MEMORY[--GPU:N], e.g. 4CPU--16GB--A100:1)",
                req.instance_type
            ),
        )
    })?;
    let affinity = match &shape.gpu {
        Some((gpu, _)) => {
            let nodes = capacity::nodes(ctx)?;
            Some(gpu_affinity(&nodes, gpu).ok_or_else(|| {
                errors::in_zone(
                    errors::capacity(
                        "NoMatchingNode",
                        &format!("context {}: no node has {gpu} GPUs", ctx.name),
                    ),
                    &ctx.name,
                    None,
                )
            })?)
        }
        None => None,
    };
    let base = dns_label(&req.cluster.cluster, 50);
    // The cluster's host key goes in a Secret the pods read it from.
    let host_key =
        match aloft_provider_sdk::settings::host_key(&aloft_provider_sdk::settings::all())? {
            Some((private, public)) => {
                let secret = host_key_secret(&req.cluster.cluster);
                let body = json!({
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": {"name": secret, "namespace": ctx.namespace,
                                 "labels": {CLUSTER_LABEL: dns_label(&req.cluster.cluster, 63)}},
                    "type": "Opaque",
                    "stringData": {HOST_KEY_ITEM: format!("{}\n", private.trim())},
                });
                ctx.create(
                    &format!("/api/v1/namespaces/{}/secrets", ctx.namespace),
                    &body,
                )?;
                let public: Vec<&str> = public.split_whitespace().take(2).collect();
                Some(PodHostKey {
                    secret,
                    public: public.join(" "),
                })
            }
            None => None,
        };
    let existing: Vec<String> = pods_of(ctx, &req.cluster.cluster)?
        .iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .map(name_of)
        .collect();
    let mut created = Vec::new();
    for i in 0..req.count.max(1) {
        let name = if i == 0 {
            format!("{base}-head")
        } else {
            format!("{base}-worker-{i}")
        };
        if existing.contains(&name) {
            continue;
        }
        let mut body = pod_body(
            s,
            ctx,
            req,
            &shape,
            &name,
            i == 0,
            affinity.as_ref(),
            host_key.as_ref(),
        );
        crate::model::add_mounts(&mut body, mounts);
        let path = format!("/api/v1/namespaces/{}/pods", ctx.namespace);
        match ctx.create(&path, &body) {
            Ok(Some(pod)) => {
                // The Secret goes with the head pod (Kubernetes' garbage collector),
                // however the cluster ends: `down`, or an autodown from its head.
                if let (Some(key), 0, Some(uid)) = (&host_key, i, pod["metadata"]["uid"].as_str()) {
                    let owner = json!({"metadata": {"ownerReferences": [{
                        "apiVersion": "v1", "kind": "Pod", "name": name, "uid": uid}]}});
                    ctx.merge_patch(
                        &format!(
                            "/api/v1/namespaces/{}/secrets/{}",
                            ctx.namespace, key.secret
                        ),
                        &owner,
                    )?;
                }
                created.push(name)
            }
            Ok(None) => {}
            Err(e) => {
                // A cluster that cannot be whole here (quota, no room) leaves nothing.
                if matches!(e.kind, ErrorKind::Quota | ErrorKind::Capacity) {
                    delete_pods(ctx, &created);
                }
                return Err(e);
            }
        }
    }
    if !req.ports.is_empty() {
        open_ports(s, &req.cluster, &req.ports)?;
    }
    match wait_running(s, ctx, &req.cluster.cluster, req.count.max(1) as usize) {
        Ok(pods) => Ok(RunResult {
            instances: pods.iter().map(|p| instance(ctx, s, p)).collect(),
            created,
            resumed: Vec::new(),
        }),
        Err(e) => {
            if e.kind == ErrorKind::Capacity {
                delete_pods(ctx, &created);
            }
            Err(e)
        }
    }
}

/// Deletes pods by name, best effort (the caller reports the error that led here).
fn delete_pods(ctx: &Context, names: &[String]) {
    for name in names {
        let _ = ctx.delete(&format!("/api/v1/namespaces/{}/pods/{name}", ctx.namespace));
    }
}

fn condition<'a>(pod: &'a Value, kind: &str) -> Option<&'a Value> {
    pod["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

fn wait_running(
    s: &Settings,
    ctx: &Context,
    cluster: &str,
    count: usize,
) -> Result<Vec<Value>, ProviderError> {
    let start = Instant::now();
    // The host's call deadline (60 s by default) bounds the whole call: wait at
    // most `MAX_WAIT` here; pods still starting are then a `transient` error, and
    // the retry (idempotent) reuses them.
    let overall = MAX_WAIT;
    let unschedulable_after = s.provision_timeout.min(MAX_WAIT);
    loop {
        let pods = pods_of(ctx, cluster)?;
        let running = pods
            .iter()
            .filter(|p| status_of(p) == InstanceStatus::Running)
            .count();
        if running >= count {
            return Ok(pods);
        }
        if let Some(p) = pods
            .iter()
            .find(|p| matches!(p["status"]["phase"].as_str(), Some("Failed" | "Succeeded")))
        {
            return Err(errors::in_zone(
                errors::transient(
                    "PodEnded",
                    &format!("pod {} ended before it ran", name_of(p)),
                ),
                &ctx.name,
                None,
            ));
        }
        let unschedulable = pods.iter().find_map(|p| {
            condition(p, "PodScheduled")
                .filter(|c| c["status"] == "False" && c["reason"] == "Unschedulable")
                .map(|c| (name_of(p), c["message"].as_str().unwrap_or("").to_string()))
        });
        if let Some((pod, message)) = &unschedulable
            && start.elapsed() >= unschedulable_after
        {
            return Err(errors::in_zone(
                errors::capacity(
                    "Unschedulable",
                    &format!(
                        "context {}: pod {pod} could not be scheduled within {:.0?}: {message}",
                        ctx.name, unschedulable_after
                    ),
                ),
                &ctx.name,
                None,
            ));
        }
        if start.elapsed() >= overall {
            return Err(errors::in_zone(
                errors::transient(
                    "PodsNotReady",
                    &format!("context {}: pods are not running yet", ctx.name),
                ),
                &ctx.name,
                None,
            ));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The status of a pod.
pub fn status_of(pod: &Value) -> InstanceStatus {
    if !pod["metadata"]["deletionTimestamp"].is_null() {
        return InstanceStatus::Terminating;
    }
    match pod["status"]["phase"].as_str() {
        Some("Pending") => InstanceStatus::Pending,
        Some("Running") => {
            let ready = condition(pod, "Ready").is_some_and(|c| c["status"] == "True");
            if ready && pod["status"]["podIP"].as_str().is_some() {
                InstanceStatus::Running
            } else {
                InstanceStatus::Pending
            }
        }
        Some("Succeeded" | "Failed") => InstanceStatus::Terminated,
        _ => InstanceStatus::Unknown,
    }
}

fn instance(ctx: &Context, s: &Settings, pod: &Value) -> Instance {
    let name = name_of(pod);
    let ip = pod["status"]["podIP"].as_str().map(str::to_string);
    let ssh_port = pod["metadata"]["annotations"][SSH_PORT_ANNOTATION]
        .as_str()
        .and_then(|p| p.parse().ok())
        .unwrap_or(22);
    Instance {
        id: name.clone(),
        is_head: pod["metadata"]["labels"][ROLE_LABEL] == "head",
        status: status_of(pod),
        instance_type: pod["metadata"]["annotations"][TYPE_ANNOTATION]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        zone: None,
        spot: false,
        public_ip: ip.clone(),
        private_ip: ip,
        ssh_port,
        ssh_user: Some(s.ssh_user.clone()),
        extra: [
            ("kube-context".to_string(), ctx.name.clone()),
            ("kube-namespace".to_string(), ctx.namespace.clone()),
            ("kube-pod".to_string(), name),
        ]
        .into_iter()
        .chain(
            pod["metadata"]["annotations"][HOST_KEY_ANNOTATION]
                .as_str()
                .map(|k| {
                    (
                        aloft_provider_sdk::settings::HOST_KEY.to_string(),
                        k.to_string(),
                    )
                }),
        )
        .collect(),
    }
}

/// The pods of each cluster.
pub fn query(
    s: &Settings,
    clusters: &[ClusterRef],
) -> Result<Vec<ClusterInstances>, ProviderError> {
    clusters
        .iter()
        .map(|c| {
            let ctx = s.context(&c.region)?;
            let pods = pods_of(ctx, &c.cluster)?;
            let mut instances: Vec<Instance> = pods.iter().map(|p| instance(ctx, s, p)).collect();
            instances.sort_by(|a, b| b.is_head.cmp(&a.is_head).then(a.id.cmp(&b.id)));
            Ok(ClusterInstances {
                cluster: c.clone(),
                instances,
            })
        })
        .collect()
}

/// Deletes the cluster's pods and its ports Service (what is gone already is fine).
/// From a stop kit, exactly the objects it names, by name: the Services, the
/// workers, then the head (whose deletion ends the pod this may run in).
pub fn terminate(s: &Settings, c: &ClusterRef) -> Result<(), ProviderError> {
    let ctx = s.context(&c.region)?;
    if let Some(kit) = &s.kit_objects {
        for service in &kit.services {
            ctx.delete(&format!(
                "/api/v1/namespaces/{}/services/{service}",
                ctx.namespace
            ))?;
        }
        for pod in kit.pods.iter().rev() {
            ctx.delete(&format!("/api/v1/namespaces/{}/pods/{pod}", ctx.namespace))?;
        }
        return Ok(());
    }
    for pod in pods_of(ctx, &c.cluster)? {
        ctx.delete(&format!(
            "/api/v1/namespaces/{}/pods/{}",
            ctx.namespace,
            name_of(&pod)
        ))?;
    }
    ctx.delete(&format!(
        "/api/v1/namespaces/{}/secrets/{}",
        ctx.namespace,
        host_key_secret(&c.cluster)
    ))?;
    cleanup_ports(s, c)
}

fn service_name(cluster: &str) -> String {
    format!("{}-ports", dns_label(cluster, 50))
}

/// A `LoadBalancer` Service `CLUSTER-ports` to the head pod's ports (replaced when
/// it exists with other ports).
pub fn open_ports(s: &Settings, c: &ClusterRef, ports: &[PortRange]) -> Result<(), ProviderError> {
    let ctx = s.context(&c.region)?;
    let mut list: Vec<u16> = Vec::new();
    for r in ports {
        for p in r.start..=r.end.max(r.start) {
            if list.len() >= 100 {
                return Err(errors::invalid(
                    "TooManyPorts",
                    "at most 100 ports per Kubernetes cluster",
                ));
            }
            if !list.contains(&p) {
                list.push(p);
            }
        }
    }
    let name = service_name(&c.cluster);
    let body = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ctx.namespace,
                     "labels": {CLUSTER_LABEL: dns_label(&c.cluster, 63)}},
        "spec": {
            "type": "LoadBalancer",
            "selector": {CLUSTER_LABEL: dns_label(&c.cluster, 63), ROLE_LABEL: "head"},
            "ports": list.iter().map(|p| json!({"name": format!("port-{p}"), "port": p, "targetPort": p, "protocol": "TCP"})).collect::<Vec<_>>(),
        },
    });
    let path = format!("/api/v1/namespaces/{}/services", ctx.namespace);
    if ctx.create(&path, &body)?.is_none() {
        let current = ctx.get(&format!("{path}/{name}"))?;
        let have: Vec<u64> = current["spec"]["ports"]
            .as_array()
            .map(|a| a.iter().filter_map(|p| p["port"].as_u64()).collect())
            .unwrap_or_default();
        if have != list.iter().map(|p| u64::from(*p)).collect::<Vec<_>>() {
            ctx.delete(&format!("{path}/{name}"))?;
            ctx.create(&path, &body)?;
        }
    }
    Ok(())
}

/// Deletes the ports Service.
pub fn cleanup_ports(s: &Settings, c: &ClusterRef) -> Result<(), ProviderError> {
    let ctx = s.context(&c.region)?;
    ctx.delete(&format!(
        "/api/v1/namespaces/{}/services/{}",
        ctx.namespace,
        service_name(&c.cluster)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(gpu: &str, key: &str, raw: &str) -> NodeCapacity {
        NodeCapacity {
            name: raw.into(),
            gpu: Some((gpu.into(), key.into(), raw.into())),
            cpus: 8.0,
            memory_gib: 32.0,
            gpus: 1.0,
            free_cpus: 8.0,
            free_memory_gib: 32.0,
            free_gpus: 1.0,
        }
    }

    #[test]
    fn pod_phases_and_conditions_map_to_statuses() {
        let ready = json!({"metadata": {}, "status": {"phase": "Running", "podIP": "10.0.0.1",
            "conditions": [{"type": "Ready", "status": "True"}]}});
        assert_eq!(status_of(&ready), InstanceStatus::Running);
        let not_ready = json!({"metadata": {}, "status": {"phase": "Running", "podIP": "10.0.0.1",
            "conditions": [{"type": "Ready", "status": "False"}]}});
        assert_eq!(status_of(&not_ready), InstanceStatus::Pending);
        let deleting = json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"},
            "status": {"phase": "Running"}});
        assert_eq!(status_of(&deleting), InstanceStatus::Terminating);
        assert_eq!(
            status_of(&json!({"metadata": {}, "status": {"phase": "Failed"}})),
            InstanceStatus::Terminated
        );
        assert_eq!(status_of(&json!({})), InstanceStatus::Unknown);
    }

    #[test]
    fn gpu_affinity_names_every_label_of_the_gpu() {
        let nodes = [
            node(
                "A100",
                "cloud.google.com/gke-accelerator",
                "nvidia-tesla-a100",
            ),
            node("A100", "nvidia.com/gpu.product", "NVIDIA-A100-SXM4-40GB"),
            node("H100", "nvidia.com/gpu.product", "NVIDIA-H100-80GB-HBM3"),
        ];
        let a = gpu_affinity(&nodes, "A100").unwrap();
        let terms = &a["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"];
        assert_eq!(terms.as_array().map(Vec::len), Some(2));
        assert!(a.to_string().contains("NVIDIA-A100-SXM4-40GB"));
        assert!(!a.to_string().contains("H100"));
        assert!(gpu_affinity(&nodes, "T4").is_none());
    }

    #[test]
    fn settings_parse_and_unknown_regions_explain() {
        let mut all = BTreeMap::new();
        all.insert(
            "contexts".to_string(),
            r#"[{"name":"a","server":"https://h","namespace":"ns"}]"#.to_string(),
        );
        all.insert(
            "problems".to_string(),
            r#"[["b","no kubeconfig context named \"b\"; known contexts: a"]]"#.to_string(),
        );
        all.insert("provision_timeout".to_string(), "2.5".to_string());
        let s = Settings::from(&all);
        assert_eq!(s.kit_objects, None);
        assert_eq!(s.provision_timeout, Duration::from_millis(2500));
        assert_eq!(s.ssh_user, "root");
        assert_eq!(s.context("a").unwrap().namespace, "ns");
        let err = s.context("b").unwrap_err();
        assert!(err.message.contains("known contexts: a"), "{}", err.message);
        let err = s.context("c").unwrap_err();
        assert!(err.message.contains("allowed: a"), "{}", err.message);
        all.insert("stop_pods".into(), r#"["x-head","x-worker-1"]"#.into());
        all.insert("stop_services".into(), r#"["x-ports"]"#.into());
        assert_eq!(
            Settings::from(&all).kit_objects,
            Some(KitObjects {
                pods: vec!["x-head".into(), "x-worker-1".into()],
                services: vec!["x-ports".into()],
            })
        );
    }
}
