//! One module per CLI command.

pub mod autostop;
pub mod completion;
pub mod cost_report;
pub mod down;
pub mod exec;
pub mod jobs;
pub mod launch;
pub mod managed;
pub mod provider_test;
pub mod providers;
pub mod serve;
pub mod show_gpus;
pub mod ssh_setup;
pub mod status;
pub mod storage;
pub mod task_args;
pub mod validate;
pub mod volumes;
