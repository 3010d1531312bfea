//! Every integration test of this crate, in one test binary: one link of
//! wasmtime and the providers instead of one per file (CI time). Each module is
//! one former test file; `cargo nextest` still runs every test in its own process.

mod jobs_controller;
mod jobs_db;
mod optimizer_catalog;
mod state_db;
mod task_api;
mod task_fields;
mod task_fuzz;
mod task_golden;
mod task_skypilot_examples;
