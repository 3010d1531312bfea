//! One module per group of CLI commands.

pub mod jobs;
pub mod launch;
pub mod lifecycle;
pub mod managed;
pub mod providers;
pub mod serve;
pub mod show_gpus;
pub mod ssh_setup;
pub mod status;
pub mod storage;
pub mod task_args;
