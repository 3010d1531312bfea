//! Shared helpers for aloft end-to-end tests: real servers started on loopback.

pub mod azure_fake;
pub mod components;
pub mod conformance;
pub mod cudo_fake;
pub mod digitalocean_fake;
pub mod fakes;
pub mod fault_proxy;
pub mod fluidstack_fake;
pub mod gcp_fake;
pub mod gcs_fake;
pub mod k8s_fake;
pub mod moto;
pub mod nebius_fake;
pub mod oci_fake;
pub mod portforward_fake;
pub mod primeintellect_fake;
pub mod runpod_fake;
pub mod sshd;
pub mod vastai_fake;
