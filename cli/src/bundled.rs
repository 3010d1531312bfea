//! The providers and node agents compiled into this binary (crate
//! `aloft-bundled-providers`).

pub use aloft_bundled_providers::{compiled, node_agents, providers};
