//! One module per CLI command.

pub mod agent;
pub mod task_args;
pub mod validate;
