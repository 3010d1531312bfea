//! The load balancer: an HTTP proxy in front of a service's ready replicas.
