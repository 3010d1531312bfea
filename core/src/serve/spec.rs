//! [`ServicePlan`]: a task's `service:` section with SkyServe's defaults filled in
//! and everything this build cannot carry out refused by name.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::task::{ReplicaPolicy, ServiceSpec, TargetQps, Task};

use super::ServeError;

/// How a service's replicas are probed.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// Path, starting with `/`.
    pub path: String,
    /// JSON body; when set the probe is a POST.
    pub post_data: Option<serde_json::Value>,
    /// Extra request headers.
    pub headers: BTreeMap<String, String>,
    /// Failures are not counted this long after a replica's job started.
    pub initial_delay: Duration,
    /// One probe's timeout.
    pub timeout: Duration,
    /// Time between probes of one replica.
    pub interval: Duration,
    /// A ready replica failing its probes this long is replaced.
    pub failure_timeout: Duration,
}

/// A service as the controller runs it (SkyServe's defaults where the task is
/// silent).
#[derive(Debug, Clone, PartialEq)]
pub struct ServicePlan {
    /// Readiness probe.
    pub probe: Probe,
    /// Lower bound of replicas.
    pub min_replicas: u32,
    /// Upper bound of replicas.
    pub max_replicas: u32,
    /// Replicas kept above the autoscaler's target.
    pub num_overprovision: u32,
    /// Requests per second one replica should take; `None`: a fixed count.
    pub target_qps_per_replica: Option<f64>,
    /// A higher target must hold this long before replicas are added.
    pub upscale_delay: Duration,
    /// A lower target must hold this long before replicas are removed.
    pub downscale_delay: Duration,
    /// On-demand replicas always kept (when the task asks for spot).
    pub base_ondemand_fallback_replicas: u32,
    /// Launch on-demand replicas while spot ones are not ready.
    pub dynamic_ondemand_fallback: bool,
    /// `round_robin` or `least_load`.
    pub load_balancing_policy: String,
    /// The port replicas serve on.
    pub replica_port: u16,
    /// TLS files of the endpoint.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Longest a proxied response may take.
    pub stream_timeout: Duration,
    /// Whether the task asks for spot instances.
    pub use_spot: bool,
}

impl ServicePlan {
    /// The plan of `task`'s `service:` section. Errors name the field: a task
    /// without `service:`, a worker `pool`, fields this build does not carry out
    /// (`spot_placer`, per-accelerator QPS targets), no replica port. Files are
    /// checked by [`ServicePlan::check_files`].
    pub fn from_task(task: &Task) -> Result<ServicePlan, ServeError> {
        let spec = task.service.as_ref().ok_or_else(|| {
            ServeError::Invalid("the task has no `service:` section: serve it with `service: {readiness_probe: /, replicas: 1, ports: 8080}`".into())
        })?;
        Self::from_spec(spec, task)
    }

    fn from_spec(spec: &ServiceSpec, task: &Task) -> Result<ServicePlan, ServeError> {
        let invalid = |m: String| ServeError::Invalid(m);
        if spec.pool.is_some() || task.pool.is_some() {
            return Err(invalid(
                "service.pool: worker pools are not supported yet; serve replicas with `replicas` or `replica_policy`".into(),
            ));
        }
        let probe = match &spec.readiness_probe {
            Some(p) => Probe {
                path: p.path.clone(),
                post_data: p.post_data.clone(),
                headers: p.headers.clone(),
                initial_delay: secs(p.initial_delay_seconds, 1200),
                timeout: secs(p.timeout_seconds, 15),
                interval: secs(p.endpoint_probe_interval_seconds, 10),
                failure_timeout: secs(p.consecutive_failure_threshold_timeout, 180),
            },
            None => Probe {
                path: "/".into(),
                post_data: None,
                headers: BTreeMap::new(),
                initial_delay: secs(None, 1200),
                timeout: secs(None, 15),
                interval: secs(None, 10),
                failure_timeout: secs(None, 180),
            },
        };
        if !probe.path.starts_with('/') {
            return Err(invalid(format!(
                "service.readiness_probe: path `{}` must start with `/`",
                probe.path
            )));
        }
        let fixed = ReplicaPolicy {
            min_replicas: spec.replicas.unwrap_or(1),
            max_replicas: None,
            num_overprovision: None,
            target_qps_per_replica: None,
            dynamic_ondemand_fallback: None,
            base_ondemand_fallback_replicas: None,
            spot_placer: None,
            upscale_delay_seconds: None,
            downscale_delay_seconds: None,
        };
        let policy = spec.replica_policy.as_ref().unwrap_or(&fixed);
        if let Some(placer) = &policy.spot_placer {
            return Err(invalid(format!(
                "service.replica_policy.spot_placer: `{placer}` is not supported yet; remove it (replicas are placed by the optimizer, cheapest first)"
            )));
        }
        let target_qps_per_replica = match &policy.target_qps_per_replica {
            None => None,
            Some(TargetQps::Uniform(q)) if *q > 0.0 => Some(*q),
            Some(TargetQps::Uniform(q)) => {
                return Err(invalid(format!(
                    "service.replica_policy.target_qps_per_replica: {q} must be above 0"
                )));
            }
            Some(TargetQps::PerAccelerator(_)) => {
                return Err(invalid(
                    "service.replica_policy.target_qps_per_replica: per-accelerator targets (instance-aware autoscaling) are not supported yet; give one number".into(),
                ));
            }
        };
        let max_replicas = policy.max_replicas.unwrap_or(policy.min_replicas);
        if max_replicas < policy.min_replicas {
            return Err(invalid(format!(
                "service.replica_policy: min_replicas ({}) is above max_replicas ({max_replicas})",
                policy.min_replicas
            )));
        }
        if max_replicas == 0 {
            return Err(invalid(
                "service.replica_policy.max_replicas: at least one replica is needed (min_replicas: 0 scales a quiet service to zero)"
                    .into(),
            ));
        }
        let replica_port = spec
            .ports
            .or_else(|| {
                task.resources
                    .candidates()
                    .iter()
                    .find_map(|r| r.ports.first().map(|p| p.start))
            })
            .ok_or_else(|| {
                invalid(
                    "service.ports: the port the replicas serve on is needed (e.g. `ports: 8080`)"
                        .into(),
                )
            })?;
        let tls = spec
            .tls
            .as_ref()
            .map(|t| (expand_home(&t.keyfile), expand_home(&t.certfile)));
        let use_spot = task.resources.candidates().iter().any(|r| r.use_spot);
        Ok(ServicePlan {
            probe,
            min_replicas: policy.min_replicas,
            max_replicas,
            num_overprovision: policy.num_overprovision.unwrap_or(0),
            target_qps_per_replica,
            upscale_delay: secs(policy.upscale_delay_seconds, 300),
            downscale_delay: secs(policy.downscale_delay_seconds, 1200),
            base_ondemand_fallback_replicas: policy.base_ondemand_fallback_replicas.unwrap_or(0),
            dynamic_ondemand_fallback: policy.dynamic_ondemand_fallback.unwrap_or(false),
            load_balancing_policy: match spec.load_balancing_policy.as_deref() {
                Some("round_robin") => "round_robin".into(),
                _ => "least_load".into(),
            },
            replica_port,
            tls,
            stream_timeout: secs(
                spec.load_balancer
                    .as_ref()
                    .and_then(|l| l.stream_timeout_seconds),
                120,
            ),
            use_spot,
        })
    }
}

impl ServicePlan {
    /// Checks that the files the plan names exist (the TLS key and
    /// certificate), when a service is brought up or updated; a controller
    /// running it later does not ask again.
    pub fn check_files(&self) -> Result<(), ServeError> {
        if let Some((key, cert)) = &self.tls {
            for (field, path) in [("keyfile", key), ("certfile", cert)] {
                if !path.is_file() {
                    return Err(ServeError::Invalid(format!(
                        "service.tls.{field}: `{}` does not exist",
                        path.display()
                    )));
                }
            }
        }
        Ok(())
    }
}

fn secs(value: Option<u64>, default: u64) -> Duration {
    Duration::from_secs(value.unwrap_or(default))
}

fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(path),
    }
}
