//! The guest side of aloft's provider interface (`wit/since_v0.1.0`).
//!
//! A provider crate implements [`bindings::exports::aloft::provider::provisioner::Guest`]
//! and exports it with [`export_provider!`]; it builds with
//! `cargo build --target wasm32-wasip2 --release`. The helpers here wrap the
//! host's imports: [`http`] (requests the host sends, only to the hosts the manifest
//! declares), [`kv`], [`log`] and [`credentials`], plus typed [`errors`] and request
//! [`signing`]. See `docs/provider-guide.md`.

/// Generated bindings of the `provider` world.
#[allow(missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/since_v0.1.0",
        world: "provider",
        pub_export_macro: true,
        default_bindings_module: "aloft_provider_sdk::bindings",
    });
}

/// JSON helpers (serde_json, re-exported so providers need no extra dependency).
pub use serde_json as json;

pub mod errors;
pub mod http;
pub mod oauth2;
pub mod signing;

pub use bindings::aloft::provider::types;
pub use bindings::exports::aloft::provider::provisioner::Guest as Provider;

/// Exports a type implementing [`Provider`] as the component's provisioner:
/// `aloft_provider_sdk::export_provider!(MyProvider);`
#[macro_export]
macro_rules! export_provider {
    ($ty:ident) => {
        $crate::bindings::export!($ty with_types_in $crate::bindings);
    };
}

/// The provider's key-value store (persisted by aloft, private to this provider).
pub mod kv {
    pub use crate::bindings::aloft::provider::kv::{delete, get, keys, set};
}

/// Named secrets declared in the manifest.
pub mod credentials {
    pub use crate::bindings::aloft::provider::credentials::get;
}

/// Logging into the host's tracing (secrets are scrubbed by the host).
pub mod log {
    pub use crate::bindings::aloft::provider::log::{Level, log};

    /// Logs at info level.
    pub fn info(message: &str) {
        log(Level::Info, message);
    }

    /// Logs at debug level.
    pub fn debug(message: &str) {
        log(Level::Debug, message);
    }
}
