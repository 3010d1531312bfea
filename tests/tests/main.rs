//! Every integration test of this crate, in one test binary: one link of
//! wasmtime and the providers instead of one per file (CI time). Each module is
//! one former test file; `cargo nextest` still runs every test in its own process.

mod aws_conformance;
mod gcp_conformance;
mod gcp_credentials;
mod kube_portforward;
mod kubernetes_conformance;
mod lambda_conformance;
mod plugin_host;
mod runpod_conformance;
mod runtime_ssh;
mod trust_boundary;
