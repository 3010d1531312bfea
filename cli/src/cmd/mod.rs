//! One module per CLI command.

pub mod task_args;
pub mod validate;
