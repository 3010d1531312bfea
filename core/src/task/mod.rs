//! The task model: what to run and on what resources.

pub mod resources;

pub use resources::*;
