//! Loading, caching, sandboxing and calling provider components.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use thiserror::Error;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, Store, Trap};

use super::kube_bridge;
use super::sandbox::{CredentialSource, Grants, HostState, KvStore, scrub};
use super::trust::{
    GRANTS_FILE, GuardedResolver, InstallGrant, NameResolver, SystemResolver, manifest_problems,
    private_dir, read_grants,
};
use super::types::{
    Capabilities, ClusterInstances, ClusterRef, Identity, Manifest, PortRange, ProviderError,
    ProviderOffer, Region, RunRequest, RunResult,
};
use super::v0_1_0 as v1;
use super::v0_2_0 as v2;

/// Versions of the `provisioner` export this host speaks. WIT 0.2.0 adds imports
/// (`http2`, `kube`) and one optional export (`manifest`, read with the manifest):
/// a component that uses them still exports 0.1.0's provisioner, and one
/// exporting a `provisioner@0.2.0` is refused.
pub const SUPPORTED_VERSIONS: &[&str] = &[v1::VERSION];

/// The bundled provider that is lent the Kubernetes contexts.
pub const KUBERNETES_PROVIDER: &str = "kubernetes";

/// How often the engine's epoch advances (the deadline's resolution).
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Why a provider call failed.
#[derive(Debug, Error)]
pub enum PluginError {
    /// The provider answered with a typed error.
    #[error("{provider}: {error}")]
    Provider {
        /// Provider name.
        provider: String,
        /// Its error.
        error: Box<ProviderError>,
    },
    /// The call ran past its deadline and was stopped.
    #[error("{provider}: the call did not finish within {seconds} s and was stopped")]
    Deadline {
        /// Provider name.
        provider: String,
        /// The limit.
        seconds: u64,
    },
    /// The component tried to use more memory than allowed.
    #[error("{provider}: the component exceeded its memory limit of {limit_mib} MiB")]
    Memory {
        /// Provider name.
        provider: String,
        /// The limit.
        limit_mib: usize,
    },
    /// The component trapped (a panic, `unreachable`, a bad access).
    #[error("{provider}: the component crashed: {detail}")]
    Trap {
        /// Provider name.
        provider: String,
        /// What wasmtime said.
        detail: String,
    },
    /// The component targets a WIT version this aloft does not speak.
    #[error(
        "{origin}: built for provider interface {found}; this aloft speaks {}",
        SUPPORTED_VERSIONS.join(", ")
    )]
    Incompatible {
        /// Where the component came from.
        origin: String,
        /// The version it exports (or a description).
        found: String,
    },
    /// The component could not be compiled or is malformed.
    #[error("{origin}: {detail}")]
    Load {
        /// Where it came from.
        origin: String,
        /// Why.
        detail: String,
    },
    /// An installed provider asks for more than the user granted, or was never
    /// granted anything.
    #[error("{origin}: {detail}; review and grant it with `aloft providers install`")]
    NotGranted {
        /// Where it came from.
        origin: String,
        /// What is missing.
        detail: String,
    },
    /// No provider by this name.
    #[error("no provider named `{0}`")]
    Unknown(String),
    /// The host itself failed (engine, state).
    #[error("provider host: {0}")]
    Host(String),
}

/// Settings of the host.
pub struct HostConfig {
    /// aloft's home: the compiled-component cache and state live here.
    pub home: PathBuf,
    /// Deadline of one call.
    pub call_timeout: Duration,
    /// Memory cap of one instance, bytes.
    pub memory_limit: usize,
    /// Largest HTTP response body a provider may receive.
    pub max_response_bytes: usize,
    /// The user's allow-list of hosts (`None`: whatever manifests declare).
    pub allowed_hosts: Option<Vec<String>>,
    /// Endpoint override per provider (`providers.aws.endpoint`).
    pub endpoints: BTreeMap<String, String>,
    /// Settings per provider, passed to `configure`.
    pub settings: BTreeMap<String, Vec<(String, String)>>,
    /// Where secrets come from.
    pub credentials: Arc<dyn CredentialSource>,
    /// Resolves the host names providers call; every resolved address must be
    /// public unless the request goes to a user-set endpoint.
    pub resolver: Arc<dyn NameResolver>,
    /// Where compiled components are cached (`None`: no cache, always compile).
    /// Created owner-only and used only while owned by this user and not writable
    /// by group or others.
    pub cache_dir: Option<PathBuf>,
    /// The allowed Kubernetes contexts, lent to the bundled `kubernetes` provider
    /// only (see [`crate::kube::access`]).
    pub kube: Option<Arc<crate::kube::access::KubeAccess>>,
    /// Told the origin of each component about to be compiled (not found in the
    /// cache), before the compile starts.
    pub on_compile: Option<CompileHook>,
    /// Components compiled ahead of time, by the address and length of the
    /// `'static` component bytes they were compiled from (see
    /// [`HostConfig::compiled_ahead`]).
    compiled: BTreeMap<(usize, usize), &'static [u8]>,
}

/// See [`HostConfig::on_compile`].
pub type CompileHook = Arc<dyn Fn(&str) + Send + Sync>;

impl HostConfig {
    /// Defaults: 60 s per call, 256 MiB per instance, 16 MiB per response.
    pub fn new(home: impl Into<PathBuf>) -> Self {
        let home = home.into();
        HostConfig {
            cache_dir: Some(home.join("cache/components")),
            resolver: Arc::new(SystemResolver),
            home,
            call_timeout: Duration::from_secs(60),
            memory_limit: 256 << 20,
            max_response_bytes: 16 << 20,
            allowed_hosts: None,
            endpoints: BTreeMap::new(),
            settings: BTreeMap::new(),
            credentials: Arc::new(super::credentials::StandardCredentials),
            kube: None,
            on_compile: None,
            compiled: BTreeMap::new(),
        }
    }

    /// Lends the host the compiled form of `component`, made ahead of time by
    /// wasmtime's `precompile_component` with this host's engine settings (the
    /// bundled providers' build does this): loading `component` then deserializes
    /// it instead of compiling it. A form made for another engine or CPU is
    /// refused by wasmtime's header check, and the component is compiled as usual.
    ///
    /// # Safety
    /// `compiled` must come from wasmtime's `precompile_component` of exactly
    /// `component` (for instance both embedded by the same build): wasmtime runs
    /// its machine code as it is.
    pub unsafe fn compiled_ahead(&mut self, component: &'static [u8], compiled: &'static [u8]) {
        self.compiled
            .insert((component.as_ptr() as usize, component.len()), compiled);
    }
}

/// A loaded provider: its manifest and its pre-linked component.
struct Loaded {
    manifest: Manifest,
    origin: String,
    pre: v1::ProviderPre<HostState>,
    /// Shipped with aloft (or vouched for by the caller of `load_bytes`).
    bundled: bool,
    /// Credential names it is lent.
    credentials: Vec<String>,
}

/// Loads provider components and hands out sandboxed instances of them.
pub struct PluginHost {
    engine: Engine,
    linker: Linker<HostState>,
    config: HostConfig,
    kv: Arc<KvStore>,
    /// For the manifests' hosts: HTTPS only, public addresses only.
    http: reqwest::Client,
    /// For user-set endpoints (emulators on loopback, plain HTTP).
    http_endpoint: reqwest::Client,
    /// For `http2@0.2.0` to the manifests' hosts: h2 over TLS, public addresses only.
    http2: reqwest::Client,
    /// For `http2@0.2.0` to user-set endpoints: h2c (prior knowledge).
    http2_endpoint: reqwest::Client,
    providers: BTreeMap<String, Loaded>,
    /// Cache keys of `'static` component bytes (the bundled ones), by their address
    /// and length, hashed once by `precompile` for the load that follows. Only
    /// `'static` bytes go in: no other slice can ever occupy their addresses.
    keys: std::sync::Mutex<BTreeMap<(usize, usize), String>>,
    _ticker: Ticker,
}

/// Advances the engine's epoch until dropped.
struct Ticker {
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The engine's settings. `providers/bundled/build.rs` compiles the bundled
/// components ahead of time with the same ones: change both together (a mismatch
/// only costs a compile on first use, which `compiled_providers_load_without_compiling`
/// in the CLI's tests catches).
fn engine_config() -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config
}

impl PluginHost {
    /// A host with no provider loaded yet.
    pub fn new(config: HostConfig) -> Result<PluginHost, PluginError> {
        let engine = Engine::new(&engine_config()).map_err(|e| PluginError::Host(e.to_string()))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| PluginError::Host(e.to_string()))?;
        v1::Provider::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)
            .map_err(|e| PluginError::Host(e.to_string()))?;
        v2::ProviderImports::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)
            .map_err(|e| PluginError::Host(e.to_string()))?;
        kube_bridge::KubeImports::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)
            .map_err(|e| PluginError::Host(e.to_string()))?;
        let db = crate::state::StateDb::open(&config.home.join("state.db"))
            .map_err(|e| PluginError::Host(e.to_string()))?;
        let http = reqwest::Client::builder()
            .timeout(config.call_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .https_only(true)
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver(config.resolver.clone())))
            .http1_only()
            .build()
            .map_err(|e| PluginError::Host(e.to_string()))?;
        let http_endpoint = reqwest::Client::builder()
            .timeout(config.call_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .http1_only()
            .build()
            .map_err(|e| PluginError::Host(e.to_string()))?;
        // `http2@0.2.0`: the same rules, HTTP/2 only (ALPN `h2` over TLS; h2c with
        // prior knowledge to a user-set plain-http endpoint).
        let http2 = reqwest::Client::builder()
            .timeout(config.call_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .https_only(true)
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver(config.resolver.clone())))
            .http2_prior_knowledge()
            .build()
            .map_err(|e| PluginError::Host(e.to_string()))?;
        let http2_endpoint = reqwest::Client::builder()
            .timeout(config.call_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .http2_prior_knowledge()
            .build()
            .map_err(|e| PluginError::Host(e.to_string()))?;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let ticker_engine = engine.clone();
        let ticker_stop = stop.clone();
        std::thread::Builder::new()
            .name("aloft-epoch".into())
            .spawn(move || {
                while !ticker_stop.load(std::sync::atomic::Ordering::SeqCst) {
                    std::thread::sleep(EPOCH_TICK);
                    ticker_engine.increment_epoch();
                }
            })
            .map_err(|e| PluginError::Host(e.to_string()))?;
        Ok(PluginHost {
            engine,
            linker,
            kv: Arc::new(KvStore::new(db)),
            http,
            http_endpoint,
            http2,
            http2_endpoint,
            config,
            providers: BTreeMap::new(),
            keys: Default::default(),
            _ticker: Ticker { stop },
        })
    }

    /// Compiles (or takes from the cache) and loads a first-party component (a
    /// bundled provider, or one the caller vouches for): it is lent every
    /// credential its manifest declares. Returns its manifest. `origin` names it
    /// in messages (a path, or `bundled:local`).
    pub async fn load_bytes(
        &mut self,
        origin: &str,
        bytes: &[u8],
    ) -> Result<Manifest, PluginError> {
        let (manifest, pre) = self.prepare(origin, bytes).await?;
        self.providers.insert(
            manifest.name.clone(),
            Loaded {
                credentials: manifest.credentials.clone(),
                manifest: manifest.clone(),
                origin: origin.to_string(),
                pre,
                bundled: true,
            },
        );
        Ok(manifest)
    }

    /// Compiles a component and reads its manifest without loading it: it is lent
    /// nothing and cannot be instantiated from this host afterwards. Refused as
    /// [`PluginHost::load_bytes`] refuses it (a bad manifest, a version this host
    /// does not speak).
    pub async fn inspect(&mut self, origin: &str, bytes: &[u8]) -> Result<Manifest, PluginError> {
        self.prepare(origin, bytes)
            .await
            .map(|(manifest, _)| manifest)
    }

    /// Loads a third-party component under the user's install grant: refused when
    /// there is no grant, when its manifest asks for hosts or credentials beyond
    /// it, or when it would replace a bundled provider the grant does not say it
    /// may replace. It is lent only the granted credentials.
    pub async fn load_installed(
        &mut self,
        origin: &str,
        bytes: &[u8],
        grant: Option<&InstallGrant>,
    ) -> Result<Manifest, PluginError> {
        self.load_installed_as(origin, bytes, grant, None).await
    }

    async fn load_installed_as(
        &mut self,
        origin: &str,
        bytes: &[u8],
        grant: Option<&InstallGrant>,
        expected_name: Option<&str>,
    ) -> Result<Manifest, PluginError> {
        let (manifest, pre) = self.prepare(origin, bytes).await?;
        let not_granted = |detail: String| PluginError::NotGranted {
            origin: origin.to_string(),
            detail,
        };
        if let Some(expected) = expected_name.filter(|e| *e != manifest.name) {
            return Err(not_granted(format!(
                "the file `{expected}.wasm` declares provider `{}`",
                manifest.name
            )));
        }
        let Some(grant) = grant else {
            return Err(not_granted(format!(
                "provider `{}` has no install grant",
                manifest.name
            )));
        };
        if let Some(excess) = grant.excess(&manifest) {
            return Err(not_granted(excess));
        }
        let shadows = self
            .providers
            .get(&manifest.name)
            .is_some_and(|l| l.bundled);
        if shadows && !grant.replaces_bundled {
            return Err(not_granted(format!(
                "provider `{}` would replace the bundled provider of that name",
                manifest.name
            )));
        }
        // Names a bundled provider uses (`AWS_SECRET_ACCESS_KEY`) are lent only
        // with recorded consent; so is every other name: the grant lists them.
        let credentials = manifest
            .credentials
            .iter()
            .filter(|c| grant.credentials.contains(c))
            .cloned()
            .collect();
        self.providers.insert(
            manifest.name.clone(),
            Loaded {
                credentials,
                manifest: manifest.clone(),
                origin: origin.to_string(),
                pre,
                bundled: false,
            },
        );
        Ok(manifest)
    }

    /// Compiles, links and reads the manifest of a component (0.1.0's `info`, and
    /// 0.2.0's `manifest` export when the component has it), and validates it.
    async fn prepare(
        &mut self,
        origin: &str,
        bytes: &[u8],
    ) -> Result<(Manifest, v1::ProviderPre<HostState>), PluginError> {
        let component = self.compile(origin, bytes)?;
        check_version(&self.engine, &component, origin)?;
        let load_error = |detail: String| PluginError::Load {
            origin: origin.to_string(),
            detail,
        };
        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| load_error(format!("cannot link: {e}")))?;
        let declares = exports(&self.engine, &component)
            .iter()
            .any(|e| e == v2::manifest::EXPORT);
        let declared = declares
            .then(|| v2::manifest::ProviderManifestIndices::new(&instance_pre))
            .transpose()
            .map_err(|e| load_error(format!("{}: {e}", v2::manifest::EXPORT)))?;
        let pre = v1::ProviderPre::new(instance_pre).map_err(|e| load_error(e.to_string()))?;
        // Read the manifest in a store with no grants at all, under the deadline
        // of a call.
        let mut store = self.store(Grants::none(origin), false);
        store.set_epoch_deadline(deadline_ticks(self.config.call_timeout));
        let failed = |e| classify(origin, e, &self.config, &[]);
        let instance = pre
            .instance_pre()
            .instantiate_async(&mut store)
            .await
            .map_err(failed)?;
        let bindings = v1::Provider::new(&mut store, &instance).map_err(failed)?;
        let info = bindings
            .aloft_provider_provisioner()
            .call_info(&mut store)
            .await
            .map_err(failed)?;
        let mut manifest: Manifest = info.into();
        if let Some(indices) = declared {
            let manifest_export = indices.load(&mut store, &instance).map_err(failed)?;
            let flags = manifest_export
                .aloft_provider_manifest()
                .call_get_capabilities(&mut store)
                .await
                .map_err(failed)?;
            v2::manifest::apply(flags, &mut manifest.capabilities);
        }
        validate_manifest(&manifest, origin)?;
        Ok((manifest, pre))
    }

    /// Loads every `*.wasm` in `dir` (missing folder: nothing), each under its
    /// grant in `dir/grants.json` (see [`PluginHost::load_installed`]); a file must
    /// be named after the provider it contains. Broken or ungranted components are
    /// returned as errors; the others load.
    pub async fn load_dir(&mut self, dir: &Path) -> Vec<Result<Manifest, PluginError>> {
        let mut out = Vec::new();
        let Ok(entries) = std::fs::read_dir(dir) else {
            return out;
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
            .collect();
        paths.sort();
        let grants = match read_grants(dir) {
            Ok(grants) => grants,
            Err(e) => {
                out.push(Err(PluginError::NotGranted {
                    origin: dir.join(GRANTS_FILE).display().to_string(),
                    detail: format!("unreadable grants: {e}"),
                }));
                BTreeMap::new()
            }
        };
        for path in paths {
            let origin = path.display().to_string();
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let bytes = match std::fs::read(&path) {
                Ok(bytes) => bytes,
                Err(e) => {
                    out.push(Err(PluginError::Load {
                        origin,
                        detail: e.to_string(),
                    }));
                    continue;
                }
            };
            let result = self
                .load_installed_as(&origin, &bytes, grants.get(&stem), Some(&stem))
                .await;
            out.push(result);
        }
        out
    }

    /// Manifests of the loaded providers, by name.
    pub fn manifests(&self) -> Vec<&Manifest> {
        self.providers.values().map(|l| &l.manifest).collect()
    }

    /// Where a loaded provider came from.
    pub fn origin(&self, name: &str) -> Option<&str> {
        self.providers.get(name).map(|l| l.origin.as_str())
    }

    /// What loaded provider `name` may do beyond the sandbox ([`super::Privileges`]);
    /// none for a name not loaded.
    pub fn privileges(&self, name: &str) -> super::Privileges {
        self.providers
            .get(name)
            .map_or(super::Privileges::NONE, |l| {
                super::Privileges::of(name, l.bundled)
            })
    }

    /// A fresh sandboxed instance of provider `name`, configured with the user's
    /// settings for it.
    pub async fn instance(&self, name: &str) -> Result<ProviderInstance, PluginError> {
        self.instance_with(name, &[]).await
    }

    /// Like [`PluginHost::instance`], with `extra` settings for this instance only,
    /// which replace the user's of the same key.
    pub async fn instance_with(
        &self,
        name: &str,
        extra: &[(String, String)],
    ) -> Result<ProviderInstance, PluginError> {
        let loaded = self
            .providers
            .get(name)
            .ok_or_else(|| PluginError::Unknown(name.to_string()))?;
        let m = &loaded.manifest;
        let endpoint = self.config.endpoints.get(name).cloned();
        let mut hosts: Vec<String> = match &self.config.allowed_hosts {
            None => m.hosts.clone(),
            Some(allowed) => m
                .hosts
                .iter()
                .filter(|h| allowed.iter().any(|a| a.eq_ignore_ascii_case(h)))
                .cloned()
                .collect(),
        };
        hosts.sort();
        hosts.dedup();
        let to_endpoint = endpoint.is_some();
        let kube = self
            .config
            .kube
            .clone()
            .filter(|_| super::Privileges::of(name, loaded.bundled).kube_bridge);
        let mut settings = self.config.settings.get(name).cloned().unwrap_or_default();
        if let Some(kube) = &kube {
            settings.extend(kube.settings());
        }
        settings.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
        settings.extend(extra.iter().cloned());
        let grants = Grants {
            kube,
            provider: name.to_string(),
            hosts,
            endpoint,
            credentials: loaded.credentials.clone(),
            source: self.config.credentials.clone(),
            max_response_bytes: self.config.max_response_bytes,
        };
        let mut store = self.store(grants, to_endpoint);
        let bindings = loaded
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| classify(name, e, &self.config, &[]))?;
        let mut instance = ProviderInstance {
            name: name.to_string(),
            store,
            bindings,
            timeout: self.config.call_timeout,
            memory_limit: self.config.memory_limit,
            declared: m.capabilities,
        };
        instance.arm();
        let r = instance
            .bindings
            .aloft_provider_provisioner()
            .call_configure(&mut instance.store, &settings)
            .await;
        instance.finish(r)?;
        Ok(instance)
    }

    fn store(&self, grants: Grants, to_endpoint: bool) -> Store<HostState> {
        let (http, http2) = if to_endpoint {
            (self.http_endpoint.clone(), self.http2_endpoint.clone())
        } else {
            (self.http.clone(), self.http2.clone())
        };
        let state = HostState::new(
            grants,
            self.kv.clone(),
            self.config.memory_limit,
            http,
            http2,
        );
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        store.epoch_deadline_trap();
        store.set_epoch_deadline(u64::MAX / 2);
        store
    }

    /// Where the compiled form of `bytes` is cached (`None`: no cache).
    pub fn cache_path(&self, bytes: &[u8]) -> Option<PathBuf> {
        let dir = self.config.cache_dir.as_ref()?;
        Some(dir.join(format!("{}.cwasm", self.key_of(bytes))))
    }

    /// The cache folder when it is safe to use: created owner-only, owned by this
    /// user, not writable by group or others.
    fn trusted_cache_dir(&self) -> Option<&Path> {
        let dir = self.config.cache_dir.as_deref()?;
        match private_dir(dir) {
            Ok(()) => Some(dir),
            Err(e) => {
                tracing::warn!("not using the compiled-component cache: {e}");
                None
            }
        }
    }

    /// The compiled form of `bytes`: compiled ahead of time, else from the cache,
    /// else compiled now (and cached).
    fn compile(&self, origin: &str, bytes: &[u8]) -> Result<Component, PluginError> {
        if let Some(compiled) = self
            .config
            .compiled
            .get(&(bytes.as_ptr() as usize, bytes.len()))
        {
            // SAFETY: `compiled_ahead`'s caller vouched that these are wasmtime's
            // compiled form of exactly these bytes; wasmtime checks the header for
            // its version, engine settings and CPU features.
            match unsafe { Component::deserialize(&self.engine, compiled) } {
                Ok(component) => return Ok(component),
                Err(e) => tracing::debug!("{origin}: not using its ahead-of-time form: {e}"),
            }
        }
        let key = self.key_of(bytes);
        let dir = self.trusted_cache_dir();
        if let Some(dir) = dir {
            let path = dir.join(format!("{key}.cwasm"));
            let regular = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file());
            if regular {
                // SAFETY: the file is in aloft's own cache folder, which only this
                // user can write (checked just now), named by a key that hashes the
                // component bytes, aloft's version and the engine settings; it was
                // written by `precompile_component` of this engine configuration,
                // and wasmtime checks its header for version and configuration.
                match unsafe { Component::deserialize_file(&self.engine, &path) } {
                    Ok(component) => return Ok(component),
                    Err(e) => {
                        tracing::debug!("ignoring unusable cache entry {}: {e}", path.display())
                    }
                }
            }
        }
        let compiled = self.compile_to_cache(origin, bytes, &key, dir)?;
        // SAFETY: `compiled` was produced just now by this engine.
        unsafe { Component::deserialize(&self.engine, &compiled) }.map_err(|e| PluginError::Load {
            origin: origin.to_string(),
            detail: e.to_string(),
        })
    }

    /// Compiles, several at once, those of `components` (`(origin, bytes)`) that
    /// are not in the cache yet, so that loading them next finds them there: on a
    /// machine's first run, the bundled components compile in parallel instead of
    /// one after the other.
    pub fn precompile(&self, components: &[(&str, &'static [u8])]) {
        let Some(dir) = self.trusted_cache_dir() else {
            return;
        };
        let missing: Vec<(&str, &[u8], String)> = components
            .iter()
            .filter(|(_, bytes)| {
                !self
                    .config
                    .compiled
                    .contains_key(&(bytes.as_ptr() as usize, bytes.len()))
            })
            .map(|(origin, bytes)| {
                let key = cache_key(&self.engine, bytes);
                self.keys
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert((bytes.as_ptr() as usize, bytes.len()), key.clone());
                (*origin, *bytes, key)
            })
            .filter(|(_, _, key)| !dir.join(format!("{key}.cwasm")).is_file())
            .collect();
        if missing.len() < 2 {
            return;
        }
        std::thread::scope(|scope| {
            for (origin, bytes, key) in &missing {
                // A failure here only means the load compiles it (and reports it).
                scope.spawn(move || self.compile_to_cache(origin, bytes, key, Some(dir)));
            }
        });
    }

    /// The cache key of `bytes` ([`cache_key`]), from the memo when `precompile`
    /// hashed these very bytes.
    fn key_of(&self, bytes: &[u8]) -> String {
        let slot = (bytes.as_ptr() as usize, bytes.len());
        let known = self
            .keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&slot)
            .cloned();
        known.unwrap_or_else(|| cache_key(&self.engine, bytes))
    }

    /// Compiles `bytes` and writes the result to the cache folder `dir` as `key`.
    fn compile_to_cache(
        &self,
        origin: &str,
        bytes: &[u8],
        key: &str,
        dir: Option<&Path>,
    ) -> Result<Vec<u8>, PluginError> {
        if let Some(hook) = &self.config.on_compile {
            hook(origin);
        }
        let compiled = self
            .engine
            .precompile_component(bytes)
            .map_err(|e| PluginError::Load {
                origin: origin.to_string(),
                detail: format!("not a valid component: {e:#}"),
            })?;
        // A cache write failure only costs the next run a compile.
        if let Some(dir) = dir {
            let tmp = dir.join(format!("{key}.tmp{}", std::process::id()));
            let _ = std::fs::remove_file(&tmp);
            let written = {
                use std::io::Write;
                use std::os::unix::fs::OpenOptionsExt;
                std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&tmp)
                    .and_then(|mut f| f.write_all(&compiled))
            };
            if written.is_ok() {
                let _ = std::fs::rename(&tmp, dir.join(format!("{key}.cwasm")));
            } else {
                let _ = std::fs::remove_file(&tmp);
            }
        }
        Ok(compiled)
    }
}

fn cache_key(engine: &Engine, bytes: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(bytes);
    hasher.update(env!("CARGO_PKG_VERSION").as_bytes());
    // The engine's compatibility hash covers wasmtime's version and its settings.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut h);
    hasher.update(std::hash::Hasher::finish(&h).to_le_bytes());
    hex::encode(hasher.finalize())
}

/// The names a component exports.
fn exports(engine: &Engine, component: &Component) -> Vec<String> {
    component
        .component_type()
        .exports(engine)
        .map(|(name, _)| name.to_string())
        .collect()
}

/// The epoch ticks of a call's deadline.
fn deadline_ticks(timeout: Duration) -> u64 {
    (timeout.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64
}

/// Refuses components that do not export a provisioner version we speak.
fn check_version(engine: &Engine, component: &Component, origin: &str) -> Result<(), PluginError> {
    let exports = exports(engine, component);
    let ours = format!("aloft:provider/provisioner@{}", v1::VERSION);
    if exports.iter().any(|e| e == &ours) {
        return Ok(());
    }
    let found = exports
        .iter()
        .find_map(|e| e.strip_prefix("aloft:provider/provisioner@"))
        .map(str::to_string)
        .unwrap_or_else(|| format!("none (exports: {})", exports.join(", ")));
    Err(PluginError::Incompatible {
        origin: origin.to_string(),
        found,
    })
}

fn validate_manifest(m: &Manifest, origin: &str) -> Result<(), PluginError> {
    let name_ok = !m.name.is_empty()
        && m.name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !name_ok {
        return Err(PluginError::Load {
            origin: origin.to_string(),
            detail: format!("invalid provider name `{}` in its manifest", m.name),
        });
    }
    let problems = manifest_problems(m);
    if !problems.is_empty() {
        return Err(PluginError::Load {
            origin: origin.to_string(),
            detail: format!("refused manifest: {}", problems.join("; ")),
        });
    }
    Ok(())
}

/// Turns a wasmtime error into a typed error for the call.
fn classify(
    provider: &str,
    err: wasmtime::Error,
    config: &HostConfig,
    secrets: &[String],
) -> PluginError {
    if let Some(trap) = err.downcast_ref::<Trap>() {
        match trap {
            Trap::Interrupt => {
                return PluginError::Deadline {
                    provider: provider.to_string(),
                    seconds: config.call_timeout.as_secs().max(1),
                };
            }
            Trap::AllocationTooLarge => {
                return PluginError::Memory {
                    provider: provider.to_string(),
                    limit_mib: config.memory_limit >> 20,
                };
            }
            _ => {}
        }
    }
    // A trap's text quotes the component's own names (its backtrace).
    let detail = super::trust::display_safe(&scrub(&format!("{err:#}"), secrets));
    if detail.contains("memory") && (detail.contains("grow") || detail.contains("limit")) {
        return PluginError::Memory {
            provider: provider.to_string(),
            limit_mib: config.memory_limit >> 20,
        };
    }
    PluginError::Trap {
        provider: provider.to_string(),
        detail,
    }
}

/// What a generated export call returns.
type GuestResult<T> = wasmtime::Result<Result<T, v1::GuestError>>;

/// One sandboxed instance of a provider. After a trap or a deadline it is poisoned:
/// get a fresh one from [`PluginHost::instance`].
pub struct ProviderInstance {
    name: String,
    store: Store<HostState>,
    bindings: v1::Provider,
    timeout: Duration,
    memory_limit: usize,
    /// What 0.2.0's `manifest` export declared when the component was loaded.
    declared: Capabilities,
}

impl ProviderInstance {
    /// The provider's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Arms the deadline for one call.
    fn arm(&mut self) {
        self.store.set_epoch_deadline(deadline_ticks(self.timeout));
    }

    /// Disarms the deadline and maps the call's outcome to a typed result.
    fn finish<T>(&mut self, result: GuestResult<T>) -> Result<T, PluginError> {
        self.store.set_epoch_deadline(u64::MAX / 2);
        let secrets = self.store.data().secrets.clone();
        let config = HostConfig {
            call_timeout: self.timeout,
            memory_limit: self.memory_limit,
            ..HostConfig::new(PathBuf::new())
        };
        match result {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => {
                let mut error: ProviderError = error.into();
                error.message = scrub(&error.message, &secrets);
                Err(PluginError::Provider {
                    provider: self.name.clone(),
                    error: Box::new(error),
                })
            }
            Err(err) => Err(classify(&self.name, err, &config, &secrets)),
        }
    }

    /// The manifest, as the component states it (what its 0.2.0 `manifest`
    /// export declares as read when it was loaded).
    pub async fn info(&mut self) -> Result<Manifest, PluginError> {
        self.arm();
        let result = self
            .bindings
            .aloft_provider_provisioner()
            .call_info(&mut self.store)
            .await;
        let config = HostConfig {
            call_timeout: self.timeout,
            memory_limit: self.memory_limit,
            ..HostConfig::new(PathBuf::new())
        };
        let mut manifest: Manifest = result
            .map_err(|e| classify(&self.name, e, &config, &[]))?
            .into();
        manifest.capabilities.container_images = self.declared.container_images;
        manifest.capabilities.catalog_prices = self.declared.catalog_prices;
        Ok(manifest)
    }

    /// Regions and zones.
    pub async fn regions(&mut self) -> Result<Vec<Region>, PluginError> {
        let r = {
            self.arm();
            let r = self
                .bindings
                .aloft_provider_provisioner()
                .call_regions(&mut self.store)
                .await;
            self.finish(r)
        }?;
        Ok(r.into_iter().map(Into::into).collect())
    }

    /// Checks the credentials.
    pub async fn check_credentials(&mut self) -> Result<Identity, PluginError> {
        let r = {
            self.arm();
            let r = self
                .bindings
                .aloft_provider_provisioner()
                .call_check_credentials(&mut self.store)
                .await;
            self.finish(r)
        }?;
        Ok(r.into())
    }

    /// Creates or resumes a cluster's nodes.
    pub async fn run_instances(&mut self, req: &RunRequest) -> Result<RunResult, PluginError> {
        let req = req.into();
        let r = {
            self.arm();
            let r = self
                .bindings
                .aloft_provider_provisioner()
                .call_run_instances(&mut self.store, &req)
                .await;
            self.finish(r)
        }?;
        Ok(r.into())
    }

    /// The nodes of many clusters at once.
    pub async fn query_instances(
        &mut self,
        clusters: &[ClusterRef],
    ) -> Result<Vec<ClusterInstances>, PluginError> {
        let clusters: Vec<_> = clusters.iter().map(Into::into).collect();
        let r = {
            self.arm();
            let r = self
                .bindings
                .aloft_provider_provisioner()
                .call_query_instances(&mut self.store, &clusters)
                .await;
            self.finish(r)
        }?;
        Ok(r.into_iter().map(Into::into).collect())
    }

    /// Stops a cluster's nodes.
    pub async fn stop_instances(&mut self, cluster: &ClusterRef) -> Result<(), PluginError> {
        let c = cluster.into();
        {
            self.arm();
            let r = self
                .bindings
                .aloft_provider_provisioner()
                .call_stop_instances(&mut self.store, &c)
                .await;
            self.finish(r)
        }
    }

    /// Destroys a cluster's nodes.
    pub async fn terminate_instances(&mut self, cluster: &ClusterRef) -> Result<(), PluginError> {
        let c = cluster.into();
        {
            self.arm();
            let r = self
                .bindings
                .aloft_provider_provisioner()
                .call_terminate_instances(&mut self.store, &c)
                .await;
            self.finish(r)
        }
    }

    /// Opens ports.
    pub async fn open_ports(
        &mut self,
        cluster: &ClusterRef,
        ports: &[PortRange],
    ) -> Result<(), PluginError> {
        let c = cluster.into();
        let p: Vec<_> = ports.iter().map(Into::into).collect();
        {
            self.arm();
            let r = self
                .bindings
                .aloft_provider_provisioner()
                .call_open_ports(&mut self.store, &c, &p)
                .await;
            self.finish(r)
        }
    }

    /// Removes what `open_ports` created.
    pub async fn cleanup_ports(&mut self, cluster: &ClusterRef) -> Result<(), PluginError> {
        let c = cluster.into();
        {
            self.arm();
            let r = self
                .bindings
                .aloft_provider_provisioner()
                .call_cleanup_ports(&mut self.store, &c)
                .await;
            self.finish(r)
        }
    }

    /// Catalog rows.
    pub async fn offers(
        &mut self,
        region: Option<&str>,
    ) -> Result<Vec<ProviderOffer>, PluginError> {
        let region = region.map(str::to_string);
        self.arm();
        let r = self
            .bindings
            .aloft_provider_provisioner()
            .call_offers(&mut self.store, region.as_deref())
            .await;
        let r = self.finish(r)?;
        Ok(r.into_iter().map(Into::into).collect())
    }
}
