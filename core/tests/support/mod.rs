//! Helpers shared by core's integration tests.

pub mod sshd;
