//! The providers compiled into this binary (crate `aloft-bundled-providers`).

pub use aloft_bundled_providers::providers;
