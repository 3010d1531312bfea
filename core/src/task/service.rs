//! `service:` (SkyServe) and `pool:` (managed-job worker pools).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::TaskError;
use super::units;
use super::walk::{At, check_known, get_some, to_json};
use super::yaml::Value;

/// A service spec: how replicas are probed, scaled and load-balanced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceSpec {
    /// Readiness probe; `None` means `GET /`.
    pub readiness_probe: Option<ReadinessProbe>,
    /// Autoscaling policy.
    pub replica_policy: Option<ReplicaPolicy>,
    /// Fixed replica count (exclusive with `replica_policy`).
    pub replicas: Option<u32>,
    /// Port the replicas serve on.
    pub ports: Option<u16>,
    /// `round_robin`, `least_load` (default) or `instance_aware_least_load`.
    pub load_balancing_policy: Option<String>,
    /// Load balancer settings.
    pub load_balancer: Option<LoadBalancer>,
    /// TLS key and certificate for the load balancer.
    pub tls: Option<Tls>,
    /// Worker-pool settings (services created from a task's `pool:`).
    pub pool: Option<PoolSpec>,
}

/// How replicas are probed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadinessProbe {
    /// Path, starting with `/`.
    pub path: String,
    /// Whether it was written as a bare string (kept for YAML output).
    pub short_form: bool,
    /// Failures are ignored this long after start (default 1200).
    pub initial_delay_seconds: Option<u64>,
    /// Probe timeout (default 15).
    pub timeout_seconds: Option<u64>,
    /// Probe interval (default 10).
    pub endpoint_probe_interval_seconds: Option<u64>,
    /// Seconds of consecutive failures before a replica is replaced.
    pub consecutive_failure_threshold_timeout: Option<u64>,
    /// JSON body; when set the probe is a POST.
    pub post_data: Option<serde_json::Value>,
    /// Extra request headers.
    pub headers: BTreeMap<String, String>,
}

/// Target queries per second per replica: one number, or per accelerator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TargetQps {
    /// The same target for every replica.
    Uniform(f64),
    /// Per accelerator (`{"H100:1": 10, "A100:1": 5}`): instance-aware autoscaling.
    PerAccelerator(BTreeMap<String, f64>),
}

/// Autoscaling policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplicaPolicy {
    /// Lower bound.
    pub min_replicas: u32,
    /// Upper bound (defaults to `min_replicas`).
    pub max_replicas: Option<u32>,
    /// Extra replicas kept above the target.
    pub num_overprovision: Option<u32>,
    /// Scaling target.
    pub target_qps_per_replica: Option<TargetQps>,
    /// Launch on-demand replicas while spot ones are not ready.
    pub dynamic_ondemand_fallback: Option<bool>,
    /// Always keep this many on-demand replicas.
    pub base_ondemand_fallback_replicas: Option<u32>,
    /// Spot placement (`dynamic_fallback`).
    pub spot_placer: Option<String>,
    /// Scale-up delay (default 300).
    pub upscale_delay_seconds: Option<u64>,
    /// Scale-down delay (default 1200).
    pub downscale_delay_seconds: Option<u64>,
}

/// Load balancer settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadBalancer {
    /// Timeout of a streamed response (default 120).
    pub stream_timeout_seconds: Option<u64>,
}

/// TLS material paths.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tls {
    /// Private key file.
    pub keyfile: String,
    /// Certificate file.
    pub certfile: String,
}

/// Worker pool for managed jobs (`pool:`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolSpec {
    /// Fixed worker count.
    pub workers: Option<u32>,
    /// Autoscaling lower bound.
    pub min_workers: Option<u32>,
    /// Autoscaling upper bound.
    pub max_workers: Option<u32>,
    /// Pending jobs per worker that trigger a scale-up.
    pub queue_length_threshold: Option<u32>,
    /// Scale-up delay.
    pub upscale_delay_seconds: Option<u64>,
    /// Scale-down delay.
    pub downscale_delay_seconds: Option<u64>,
}

/// Load-balancing policies.
pub const LB_POLICIES: &[&str] = &["round_robin", "least_load", "instance_aware_least_load"];

pub(crate) fn parse_service(at: &At<'_>) -> Result<ServiceSpec, TaskError> {
    let fields = at.fields()?;
    check_known(
        &fields,
        &[
            "readiness_probe",
            "replica_policy",
            "replicas",
            "ports",
            "load_balancing_policy",
            "load_balancer",
            "tls",
            "pool",
        ],
    )?;
    let mut s = ServiceSpec {
        readiness_probe: None,
        replica_policy: None,
        replicas: None,
        ports: None,
        load_balancing_policy: None,
        load_balancer: None,
        tls: None,
        pool: None,
    };
    for f in &fields {
        let at = &f.value;
        if at.is_null() {
            continue;
        }
        match f.key.as_str() {
            "readiness_probe" => s.readiness_probe = Some(readiness_probe(at)?),
            "replica_policy" => s.replica_policy = Some(replica_policy(at)?),
            "replicas" => s.replicas = Some(at.u32()?),
            "ports" => s.ports = Some(service_port(at)?),
            "load_balancing_policy" => {
                s.load_balancing_policy = Some(at.choice(LB_POLICIES)?.to_string())
            }
            "load_balancer" => {
                let lb = at.fields()?;
                check_known(&lb, &["stream_timeout_seconds"])?;
                s.load_balancer = Some(LoadBalancer {
                    stream_timeout_seconds: get_some(&lb, "stream_timeout_seconds")
                        .map(At::u64)
                        .transpose()?,
                });
            }
            "tls" => {
                let t = at.fields()?;
                check_known(&t, &["keyfile", "certfile"])?;
                let req = |k: &str| -> Result<String, TaskError> {
                    match get_some(&t, k) {
                        Some(v) => v.string(),
                        None => Err(at.err(format!("`tls` needs `{k}`"))),
                    }
                };
                s.tls = Some(Tls {
                    keyfile: req("keyfile")?,
                    certfile: req("certfile")?,
                });
            }
            "pool" => s.pool = Some(parse_pool(at)?),
            _ => {}
        }
    }
    if let (Some(_), Some(r)) = (&s.replica_policy, get_some(&fields, "replicas")) {
        return Err(r.err("`replicas` cannot be combined with `replica_policy`"));
    }
    if let (Some(p), Some(r)) = (&s.pool, get_some(&fields, "replicas"))
        && p.workers.is_some()
    {
        return Err(r.err("`replicas` cannot be combined with pool `workers`"));
    }
    Ok(s)
}

fn service_port(at: &At<'_>) -> Result<u16, TaskError> {
    let text = match &at.node.value {
        Value::Int(i) => i.to_string(),
        Value::Str(s) => s.clone(),
        other => {
            return Err(at.err(format!(
                "expected a port number, found {}",
                other.type_name()
            )));
        }
    };
    units::parse_port(text.trim(), &text).map_err(|m| at.err(m))
}

fn readiness_probe(at: &At<'_>) -> Result<ReadinessProbe, TaskError> {
    let check_path = |at: &At<'_>| -> Result<String, TaskError> {
        let p = at.string()?;
        if !p.starts_with('/') {
            return Err(at.err(format!("readiness probe path `{p}` must start with `/`")));
        }
        Ok(p)
    };
    let mut probe = ReadinessProbe {
        path: "/".to_string(),
        short_form: false,
        initial_delay_seconds: None,
        timeout_seconds: None,
        endpoint_probe_interval_seconds: None,
        consecutive_failure_threshold_timeout: None,
        post_data: None,
        headers: BTreeMap::new(),
    };
    if let Value::Str(_) = at.node.value {
        probe.path = check_path(at)?;
        probe.short_form = true;
        return Ok(probe);
    }
    let fields = at.fields()?;
    check_known(
        &fields,
        &[
            "path",
            "initial_delay_seconds",
            "timeout_seconds",
            "endpoint_probe_interval_seconds",
            "consecutive_failure_threshold_timeout",
            "post_data",
            "headers",
        ],
    )?;
    match get_some(&fields, "path") {
        Some(p) => probe.path = check_path(p)?,
        None => return Err(at.err("`readiness_probe` needs `path`")),
    }
    let secs = |k: &str| get_some(&fields, k).map(At::u64).transpose();
    probe.initial_delay_seconds = secs("initial_delay_seconds")?;
    probe.timeout_seconds = secs("timeout_seconds")?;
    probe.endpoint_probe_interval_seconds = secs("endpoint_probe_interval_seconds")?;
    probe.consecutive_failure_threshold_timeout = secs("consecutive_failure_threshold_timeout")?;
    if let Some(p) = get_some(&fields, "post_data") {
        probe.post_data = Some(match &p.node.value {
            Value::Str(s) => serde_json::from_str(s)
                .map_err(|e| p.err(format!("`post_data` is not valid JSON: {e}")))?,
            Value::Map(_) => to_json(p.node),
            other => {
                return Err(p.err(format!(
                    "expected a mapping or a JSON string, found {}",
                    other.type_name()
                )));
            }
        });
    }
    if let Some(h) = get_some(&fields, "headers") {
        for f in h.fields()? {
            probe.headers.insert(f.key, f.value.string()?);
        }
    }
    Ok(probe)
}

fn replica_policy(at: &At<'_>) -> Result<ReplicaPolicy, TaskError> {
    let fields = at.fields()?;
    check_known(
        &fields,
        &[
            "min_replicas",
            "max_replicas",
            "num_overprovision",
            "target_qps_per_replica",
            "dynamic_ondemand_fallback",
            "base_ondemand_fallback_replicas",
            "spot_placer",
            "upscale_delay_seconds",
            "downscale_delay_seconds",
        ],
    )?;
    let count = |k: &str| get_some(&fields, k).map(At::u32).transpose();
    let secs = |k: &str| get_some(&fields, k).map(At::u64).transpose();
    let min_replicas = match get_some(&fields, "min_replicas") {
        Some(m) => m.u32()?,
        None => return Err(at.err("`replica_policy` needs `min_replicas`")),
    };
    let target = match get_some(&fields, "target_qps_per_replica") {
        None => None,
        Some(t) if matches!(t.node.value, Value::Map(_)) => {
            let mut map = BTreeMap::new();
            for f in t.fields()? {
                units::parse_accelerator(&f.key).map_err(|m| f.value.err(m))?;
                map.insert(f.key, positive(&f.value)?);
            }
            Some(TargetQps::PerAccelerator(map))
        }
        Some(t) => Some(TargetQps::Uniform(positive(t)?)),
    };
    let p = ReplicaPolicy {
        min_replicas,
        max_replicas: count("max_replicas")?,
        num_overprovision: count("num_overprovision")?,
        target_qps_per_replica: target,
        dynamic_ondemand_fallback: get_some(&fields, "dynamic_ondemand_fallback")
            .map(At::bool)
            .transpose()?,
        base_ondemand_fallback_replicas: count("base_ondemand_fallback_replicas")?,
        spot_placer: get_some(&fields, "spot_placer")
            .map(|s| s.choice(&["dynamic_fallback"]).map(str::to_string))
            .transpose()?,
        upscale_delay_seconds: secs("upscale_delay_seconds")?,
        downscale_delay_seconds: secs("downscale_delay_seconds")?,
    };
    if let (Some(max), Some(m)) = (p.max_replicas, get_some(&fields, "max_replicas")) {
        if max < min_replicas {
            return Err(m.err("`max_replicas` must be at least `min_replicas`"));
        }
        if max != min_replicas && p.target_qps_per_replica.is_none() {
            return Err(at.err(
                "`target_qps_per_replica` is required when `max_replicas` differs from `min_replicas`",
            ));
        }
    }
    Ok(p)
}

fn positive(at: &At<'_>) -> Result<f64, TaskError> {
    let n = at.number()?;
    if n <= 0.0 {
        return Err(at.err("must be greater than 0"));
    }
    Ok(n)
}

pub(crate) fn parse_pool(at: &At<'_>) -> Result<PoolSpec, TaskError> {
    let fields = at.fields()?;
    check_known(
        &fields,
        &[
            "workers",
            "min_workers",
            "max_workers",
            "queue_length_threshold",
            "upscale_delay_seconds",
            "downscale_delay_seconds",
        ],
    )?;
    let count = |k: &str| get_some(&fields, k).map(At::u32).transpose();
    let secs = |k: &str| get_some(&fields, k).map(At::u64).transpose();
    let p = PoolSpec {
        workers: count("workers")?,
        min_workers: count("min_workers")?,
        max_workers: count("max_workers")?,
        queue_length_threshold: count("queue_length_threshold")?,
        upscale_delay_seconds: secs("upscale_delay_seconds")?,
        downscale_delay_seconds: secs("downscale_delay_seconds")?,
    };
    if let (Some(w), Some(_)) = (
        get_some(&fields, "workers"),
        p.min_workers.or(p.max_workers),
    ) {
        return Err(w.err("`workers` cannot be combined with `min_workers`/`max_workers`"));
    }
    if let (Some(min), Some(max)) = (p.min_workers, p.max_workers)
        && max < min
        && let Some(m) = get_some(&fields, "max_workers")
    {
        return Err(m.err("`max_workers` must be at least `min_workers`"));
    }
    Ok(p)
}
