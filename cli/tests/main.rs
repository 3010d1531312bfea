//! Every integration test of this crate, in one test binary: one link of
//! wasmtime and the providers instead of one per file (CI time). Each module is
//! one former test file; `cargo nextest` still runs every test in its own process.

mod common;

mod accelerator_names;
mod aws_moto;
mod azure_launch;
mod catalog_refresh;
mod cli_plan;
mod cloud_failover;
mod cluster_commands;
mod concurrency;
mod containers;
mod cudo_launch;
mod digitalocean_launch;
mod first_hour;
mod first_hour_flags;
mod fluidstack_launch;
mod gcp_launch;
mod head_ssh;
mod host_keys;
mod installed_provider_plans;
mod kube_autostop;
mod kube_proxy_cli;
mod kubernetes;
mod lambda_cloud;
mod launch_flow;
mod launch_local;
mod launch_ssh;
mod managed_jobs;
mod managed_jobs_moto;
mod managed_jobs_remote;
mod nebius_launch;
mod oci_launch;
mod primeintellect_launch;
mod provider_conformance_cmd;
mod provider_guide;
mod providers_cli;
mod refresh;
mod registry_logins;
mod runpod_launch;
mod serve_local;
mod skypilot_cli;
mod stop_kit_secrets;
mod storage_azure;
mod storage_gcs;
mod storage_mount;
mod storage_r2;
mod vastai_launch;
mod volumes;
