//! One module per CLI command.

pub mod agent;
pub mod launch;
pub mod show_gpus;
pub mod task_args;
pub mod validate;
