//! The guest side of aloft's provider interface (`wit/since_v0.1.0`).
//!
//! A provider crate implements [`bindings::exports::aloft::provider::provisioner::Guest`]
//! and exports it with [`export_provider!`]; it builds with
//! `cargo build --target wasm32-wasip2 --release`. The helpers here wrap the
//! host's imports: [`http`] (requests the host sends, only to the hosts the manifest
//! declares), [`kv`], [`log`] and [`credentials`], plus typed [`errors`], request
//! [`signing`] and a cluster's [`nodes`] by role. See `docs/provider-guide.md`.

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
pub mod google;
pub mod http;
pub mod manifest;
pub mod nodes;
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
    use std::collections::BTreeMap;

    pub use crate::bindings::aloft::provider::kv::{delete, get, keys, set};

    /// A key-value store: the host's inside a component ([`Host`]), a map in
    /// native unit tests, so a provider's bookkeeping is tested without a host.
    pub trait Store {
        /// A value.
        fn get(&mut self, key: &str) -> Option<String>;
        /// Sets a value.
        fn set(&mut self, key: &str, value: &str);
        /// Deletes a key.
        fn delete(&mut self, key: &str);
        /// Keys starting with `prefix`, sorted.
        fn keys(&mut self, prefix: &str) -> Vec<String>;
    }

    /// The host's store (only usable inside a component).
    pub struct Host;

    impl Store for Host {
        fn get(&mut self, key: &str) -> Option<String> {
            get(key)
        }
        fn set(&mut self, key: &str, value: &str) {
            set(key, value)
        }
        fn delete(&mut self, key: &str) {
            delete(key)
        }
        fn keys(&mut self, prefix: &str) -> Vec<String> {
            keys(prefix)
        }
    }

    impl Store for BTreeMap<String, String> {
        fn get(&mut self, key: &str) -> Option<String> {
            BTreeMap::get(self, key).cloned()
        }
        fn set(&mut self, key: &str, value: &str) {
            self.insert(key.to_string(), value.to_string());
        }
        fn delete(&mut self, key: &str) {
            self.remove(key);
        }
        fn keys(&mut self, prefix: &str) -> Vec<String> {
            self.range(prefix.to_string()..)
                .map(|(k, _)| k)
                .take_while(|k| k.starts_with(prefix))
                .cloned()
                .collect()
        }
    }
}

/// The settings `configure` received (from `providers.<name>.*` in aloft's config),
/// kept for the instance's later calls.
pub mod settings {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    static SETTINGS: Mutex<BTreeMap<String, String>> = Mutex::new(BTreeMap::new());

    /// Keeps `pairs` (call it from `configure`).
    pub fn store(pairs: Vec<(String, String)>) {
        if let Ok(mut map) = SETTINGS.lock() {
            *map = pairs.into_iter().collect();
        }
    }

    /// Every setting.
    pub fn all() -> BTreeMap<String, String> {
        SETTINGS.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The setting with which aloft asks `run-instances` (with a count of 0) what a
    /// shutdown from inside each node of a cluster should do, when the cluster's
    /// autostop is set: `stop` or `terminate`. A provider that supports it answers
    /// with the same key in each instance's `extra`, giving what the cloud will
    /// really do (a cloud that only stops such a node says `stop`; aloft then
    /// finishes an autodown at the next `status -r`).
    pub const SHUTDOWN: &str = "shutdown_behavior";

    /// The settings with which aloft hands `run-instances` the host key pair its
    /// nodes should answer SSH with (OpenSSH ed25519: the private key, and the
    /// public key line), so the launcher knows the key before it first connects. A
    /// provider that can install it at creation (cloud-init's `ssh_keys`, see
    /// [`crate::nodes::cloud_init_host_key`]) does, and reports the public key in
    /// each instance's `extra` under [`HOST_KEY`], also on later queries (a tag);
    /// the launcher then refuses any other key from the first connection on.
    /// Others ignore them: their nodes are trusted on first use.
    pub const HOST_KEY: &str = "ssh_host_key";

    /// The public half of [`HOST_KEY`].
    pub const HOST_KEY_PUBLIC: &str = "ssh_host_key_public";

    /// The host key pair in `settings`, checked: `(private, public)`.
    pub fn host_key(
        settings: &BTreeMap<String, String>,
    ) -> Result<Option<(&str, &str)>, crate::types::ProviderError> {
        let invalid = |why: &str| crate::errors::invalid("InvalidSetting", why);
        match (settings.get(HOST_KEY), settings.get(HOST_KEY_PUBLIC)) {
            (None, None) => Ok(None),
            (Some(private), Some(public)) => {
                let private = private.trim();
                if !private.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----")
                    || !private.ends_with("-----END OPENSSH PRIVATE KEY-----")
                {
                    return Err(invalid(&format!(
                        "{HOST_KEY} is not an OpenSSH private key"
                    )));
                }
                let public = public.trim();
                let fields: Vec<&str> = public.split_whitespace().collect();
                if fields.len() < 2
                    || fields[0] != "ssh-ed25519"
                    || !fields[1]
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
                {
                    return Err(invalid(&format!(
                        "{HOST_KEY_PUBLIC} is not an ed25519 public key line"
                    )));
                }
                Ok(Some((private, public)))
            }
            _ => Err(invalid(&format!(
                "{HOST_KEY} and {HOST_KEY_PUBLIC} come together"
            ))),
        }
    }

    /// The value of [`SHUTDOWN`] in `settings`, checked.
    pub fn shutdown(
        settings: &BTreeMap<String, String>,
    ) -> Result<Option<&str>, crate::types::ProviderError> {
        match settings.get(SHUTDOWN).map(String::as_str) {
            None => Ok(None),
            Some(value @ ("stop" | "terminate")) => Ok(Some(value)),
            Some(other) => Err(crate::errors::invalid(
                "InvalidSetting",
                &format!("{SHUTDOWN} must be `stop` or `terminate`, not `{other}`"),
            )),
        }
    }
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
