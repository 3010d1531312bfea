//! What one provider instance may touch: the data behind its imports, and the rules
//! (allowed hosts, declared secrets, memory) the host enforces on it.

use std::sync::{Arc, Mutex};

use wasmtime::component::ResourceTable;
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::state::StateDb;

/// Where named secrets come from.
pub trait CredentialSource: Send + Sync {
    /// The secret's value, if set.
    fn get(&self, name: &str) -> Option<String>;
}

/// Secrets from this process's environment variables.
#[derive(Debug, Default, Clone)]
pub struct EnvCredentials;

impl CredentialSource for EnvCredentials {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

/// A provider's key-value store, persisted in aloft's state database.
pub struct KvStore {
    db: Mutex<StateDb>,
}

impl KvStore {
    /// A store over `db`.
    pub fn new(db: StateDb) -> Self {
        KvStore { db: Mutex::new(db) }
    }

    fn with<T>(&self, f: impl FnOnce(&StateDb) -> T) -> Option<T> {
        self.db.lock().ok().map(|db| f(&db))
    }

    pub(crate) fn get(&self, provider: &str, key: &str) -> Option<String> {
        self.with(|db| db.kv_get(provider, key).ok().flatten())
            .flatten()
    }

    pub(crate) fn set(&self, provider: &str, key: &str, value: &str) {
        if let Some(Err(err)) = self.with(|db| db.kv_set(provider, key, value)) {
            tracing::warn!(provider, key, "kv write failed: {err}");
        }
    }

    pub(crate) fn delete(&self, provider: &str, key: &str) {
        if let Some(Err(err)) = self.with(|db| db.kv_delete(provider, key)) {
            tracing::warn!(provider, key, "kv delete failed: {err}");
        }
    }

    pub(crate) fn list(&self, provider: &str, prefix: &str) -> Vec<String> {
        self.with(|db| db.kv_list(provider, prefix).unwrap_or_default())
            .unwrap_or_default()
    }
}

/// The rules for one provider.
#[derive(Clone)]
pub struct Grants {
    /// Provider name (kv namespace, log target).
    pub provider: String,
    /// Hosts it may reach (manifest ∩ user allow-list; `*.` wildcards).
    pub hosts: Vec<String>,
    /// Endpoint override: requests to the manifest's hosts go here instead.
    pub endpoint: Option<String>,
    /// Secret names it may read.
    pub credentials: Vec<String>,
    /// Where secrets come from.
    pub source: Arc<dyn CredentialSource>,
    /// Largest HTTP response body accepted.
    pub max_response_bytes: usize,
    /// Kubernetes API servers of the allowed contexts, with their credentials
    /// (only for the bundled `kubernetes` provider; see [`crate::kube::access`]).
    pub kube: Option<Arc<crate::kube::access::KubeAccess>>,
}

impl Grants {
    /// No grants at all (used while reading a component's manifest).
    pub fn none(provider: &str) -> Self {
        Grants {
            provider: provider.to_string(),
            hosts: Vec::new(),
            endpoint: None,
            credentials: Vec::new(),
            source: Arc::new(EnvCredentials),
            max_response_bytes: 0,
            kube: None,
        }
    }
}

/// The data of one provider instance's store.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limits: StoreLimits,
    pub(crate) grants: Grants,
    pub(crate) kv: Arc<KvStore>,
    pub(crate) http: reqwest::Client,
    /// The client of `http2@0.2.0` (HTTP/2 only).
    pub(crate) http2: reqwest::Client,
    /// Secret values handed to the guest: scrubbed from its logs and errors.
    pub(crate) secrets: Vec<String>,
}

impl HostState {
    /// A sandbox that inherits nothing: no files, no environment, no arguments, no
    /// network (sockets and name lookups are refused), stdio discarded.
    pub fn new(
        grants: Grants,
        kv: Arc<KvStore>,
        memory: usize,
        http: reqwest::Client,
        http2: reqwest::Client,
    ) -> Self {
        let wasi = WasiCtxBuilder::new()
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        HostState {
            wasi,
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(memory)
                .instances(4)
                .trap_on_grow_failure(true)
                .build(),
            grants,
            kv,
            http,
            http2,
            secrets: Vec::new(),
        }
    }

    /// `text` with every secret value handed out so far replaced by `***`.
    pub fn scrub(&self, text: &str) -> String {
        scrub(text, &self.secrets)
    }
}

/// The shortest value [`scrub`] hides: a shorter one is too likely to be an ordinary
/// word (a test key `wrong` would turn `missing or wrong X-Key` into `missing or ***
/// X-Key`), and too short to be a real credential.
pub const MIN_SECRET_LEN: usize = 8;

/// Replaces every occurrence of each secret in `secrets` (its exact value, at least
/// [`MIN_SECRET_LEN`] characters long) found in `text` by `***`.
pub fn scrub(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for secret in secrets
        .iter()
        .filter(|s| s.chars().count() >= MIN_SECRET_LEN)
    {
        out = out.replace(secret.as_str(), "***");
    }
    out
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Whether `host` is matched by one of `patterns` (`*.example.com` matches
/// subdomains).
pub fn host_allowed(host: &str, patterns: &[String]) -> bool {
    let host = host.to_ascii_lowercase();
    patterns.iter().any(|p| {
        let p = p.to_ascii_lowercase();
        match p.strip_prefix("*.") {
            Some(suffix) => host.ends_with(&format!(".{suffix}")),
            None => host == p,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_patterns() {
        let p = vec![
            "ec2.us-east-1.amazonaws.com".to_string(),
            "*.example.com".to_string(),
        ];
        assert!(host_allowed("EC2.us-east-1.amazonaws.com", &p));
        assert!(host_allowed("api.example.com", &p));
        assert!(!host_allowed("example.com", &p));
        assert!(!host_allowed("evil.com", &p));
        assert!(!host_allowed("ec2.us-east-1.amazonaws.com.evil.com", &p));
    }

    #[test]
    fn scrubbing_hides_secret_values() {
        let secrets = vec!["hunter2-long".to_string(), "ab".to_string()];
        assert_eq!(
            scrub("token=hunter2-long; x=ab", &secrets),
            "token=***; x=ab"
        );
    }

    #[test]
    fn short_values_are_words_not_secrets() {
        // A test key that is an ordinary word must not mask that word elsewhere.
        let secrets = vec!["wrong".to_string(), "1234567".to_string()];
        assert_eq!(
            scrub("missing or wrong X-Ventus-Key (1234567)", &secrets),
            "missing or wrong X-Ventus-Key (1234567)"
        );
        // From eight characters on, the exact value is hidden wherever it appears.
        let secrets = vec!["wrongkey".to_string()];
        assert_eq!(
            scrub("key wrongkey refused; wrongkeys", &secrets),
            "key *** refused; ***s"
        );
    }
}
