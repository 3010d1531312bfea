//! The provider host: loads provider components (WebAssembly, WIT
//! `aloft:provider`), runs each in a sandbox with only the imports its manifest
//! earns, and turns every failure of a call — a typed provider error, a trap, a
//! deadline, a memory bomb — into a [`PluginError`] for that call alone.
//!
//! - [`host`]: the engine, the compiled-component cache, loading and calling.
//! - [`sandbox`]: what one instance may touch (hosts, secrets, kv, memory).
//! - [`privileges`]: what the three first-party providers may do beyond that.
//! - [`trust`]: what a manifest may ask for, which addresses requests may reach,
//!   install grants, trusted folders.
//! - [`types`]: the interface as plain Rust types, independent of WIT versions.
//! - `v0_1_0`: bindings of `wit/since_v0.1.0`; a later version adds a sibling.
//! - `v0_2_0`: bindings of `wit/since_v0.2.0` (the `http2` import: HTTP/2 with
//!   trailers, for gRPC).
//! - `outgoing`: the rules every provider request passes, whichever import sent it.
//! - `kube_bridge`: the `kube` import of `wit/since_v0.2.0`, answered only for a
//!   component granted Kubernetes access.

pub mod conformance;
pub mod credentials;
pub mod host;
mod kube_bridge;
mod outgoing;
pub mod privileges;
pub mod sandbox;
pub mod trust;
pub mod types;
mod v0_1_0;
mod v0_2_0;

pub use credentials::StandardCredentials;
pub use host::{
    CompileHook, HostConfig, KUBERNETES_PROVIDER, PluginError, PluginHost, ProviderInstance,
    SUPPORTED_VERSIONS,
};
pub use privileges::Privileges;
pub use sandbox::{CredentialSource, EnvCredentials};
pub use trust::{InstallGrant, NameResolver, SystemResolver, display_safe};
pub use types::*;
