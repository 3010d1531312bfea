//! Serving (`aloft serve`): services whose replicas are ordinary clusters behind
//! one endpoint. The controller (one process for every service on this machine)
//! launches, probes, scales, replaces and updates replicas; the load balancer in
//! the same process proxies each service's requests to its ready replicas.

#[cfg(feature = "plugin")]
pub mod balancer;
