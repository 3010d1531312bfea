//! Building the provider host from the user's config: the bundled providers, those
//! installed under `$ALOFT_HOME/providers` (each loaded only within the grant the
//! user gave at `aloft providers install`, recorded in `providers/grants.json`),
//! per-provider settings and endpoints.
//!
//! And what a provider's user does with a component file: review what it asks for
//! ([`Client::review_component`]), then install it under a grant
//! ([`Client::install_provider`]) or run the conformance kit against it under a
//! grant ([`Client::test_provider`]); and check every provider's credentials
//! ([`Client::check_providers`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::config::{Config, expand_home, yaml_error};
use crate::plugin::conformance::{self, ConformanceOptions, Report};
use crate::plugin::trust::{ScratchDir, private_dir, read_grants, write_grants};
use crate::plugin::{
    HostConfig, Identity, InstallGrant, Manifest, PluginError, PluginHost, ProviderInstance,
};

use super::{Client, ClientError, ClientResult};

/// A host with every provider loaded, plus the load errors of broken installed ones.
pub struct Providers {
    /// The host.
    pub host: PluginHost,
    /// `(origin, error)` for components that failed to load.
    pub broken: Vec<(String, String)>,
    /// Names of the bundled providers.
    pub bundled: Vec<String>,
    /// `ssh_proxy_command` per provider: every SSH connection to its nodes goes
    /// through it (`%h`/`%p` are the node's address and port).
    pub proxy_commands: BTreeMap<String, String>,
    /// The kubeconfig the user's config names (`kubernetes.kubeconfig`), if any.
    pub kubeconfig: Option<std::path::PathBuf>,
}

/// A provider's settings as the key/value pairs `configure` receives (lists are
/// joined with commas).
fn settings_of(value: &serde_yaml::Value) -> Vec<(String, String)> {
    let Some(map) = value.as_mapping() else {
        return Vec::new();
    };
    map.iter()
        .filter_map(|(k, v)| {
            let key = k.as_str()?.to_string();
            let value = match v {
                serde_yaml::Value::String(s) => s.clone(),
                serde_yaml::Value::Bool(b) => b.to_string(),
                serde_yaml::Value::Number(n) => n.to_string(),
                serde_yaml::Value::Sequence(items) => items
                    .iter()
                    .filter_map(|i| i.as_str().map(str::to_string))
                    .collect::<Vec<_>>()
                    .join(","),
                _ => return None,
            };
            Some((key, value))
        })
        .collect()
}

/// The settings `configure` receives for provider `name` (from `config.yaml`).
pub(crate) fn provider_settings(config: &Config, name: &str) -> Vec<(String, String)> {
    config
        .providers
        .get(name)
        .map(settings_of)
        .unwrap_or_default()
}

/// Where the host finds the secrets it lends providers: the environment first, then
/// the files the user's `config.yaml` names for them
/// (`providers.<name>.credential_files: {NAME: PATH}`: the file's content, trailing
/// whitespace trimmed), then the clouds' own credential files
/// ([`crate::plugin::StandardCredentials`]). A file named there lends its content
/// only under that name, and only to a provider whose manifest declares the name
/// and whose user granted it, like an environment variable of that name.
#[derive(Debug, Clone, Default)]
pub struct ConfiguredCredentials {
    files: BTreeMap<String, PathBuf>,
}

impl ConfiguredCredentials {
    /// The credential files `config` names, checked: each name `A-Z`, `0-9`, `_`,
    /// each path a string (`~/` is the home folder). A name given two different
    /// files by two providers is refused.
    pub fn from_config(config: &Config) -> ClientResult<ConfiguredCredentials> {
        let mut files: BTreeMap<String, PathBuf> = BTreeMap::new();
        for (provider, value) in &config.providers {
            let Some(entries) = value.get("credential_files") else {
                continue;
            };
            let at = format!("config.yaml: providers.{provider}.credential_files");
            let map = entries.as_mapping().ok_or_else(|| {
                ClientError::InvalidInput(format!("{at}: expected a map of NAME: PATH"))
            })?;
            for (name, path) in map {
                let (Some(name), Some(path)) = (name.as_str(), path.as_str()) else {
                    return Err(ClientError::InvalidInput(format!(
                        "{at}: expected a map of NAME: PATH (strings)"
                    )));
                };
                let good_name = !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
                if !good_name {
                    return Err(ClientError::InvalidInput(format!(
                        "{at}: `{name}` is not a credential name (A-Z, 0-9, _)"
                    )));
                }
                let path = expand_home(path);
                match files.get(name) {
                    Some(other) if *other != path => {
                        return Err(ClientError::InvalidInput(format!(
                            "{at}: `{name}` is already read from {}; one file per name",
                            other.display()
                        )));
                    }
                    _ => {
                        files.insert(name.to_string(), path);
                    }
                }
            }
        }
        Ok(ConfiguredCredentials { files })
    }
}

impl crate::plugin::CredentialSource for ConfiguredCredentials {
    fn get(&self, name: &str) -> Option<String> {
        if let Some(value) = std::env::var(name).ok().filter(|v| !v.is_empty()) {
            return Some(value);
        }
        if let Some(path) = self.files.get(name) {
            return std::fs::read_to_string(path)
                .ok()
                .map(|text| text.trim_end().to_string())
                .filter(|text| !text.is_empty());
        }
        crate::plugin::StandardCredentials.get(name)
    }
}

/// Where compiled provider components are kept by default: one folder per user,
/// beside no home in particular (`$XDG_CACHE_HOME/aloft/components`, else
/// `~/.cache/aloft/components`), so that a new home — a test's, a jobs controller's
/// — loads the components this machine compiled once, in milliseconds. Entries are
/// named by a hash of the component, aloft's version and the engine's settings.
pub fn default_component_cache(home: &Path) -> PathBuf {
    dirs::cache_dir()
        .map(|dir| dir.join("aloft").join("components"))
        .unwrap_or_else(|| home.join("cache").join("components"))
}

/// Loads every provider: the `bundled` components, then those installed under
/// `home/providers` (a broken one is listed in [`Providers::broken`], not fatal),
/// compiled once into [`default_component_cache`].
pub async fn load(
    home: &Path,
    config: &Config,
    bundled: &[(String, &'static [u8])],
) -> ClientResult<Providers> {
    load_with_cache(
        home,
        config,
        bundled,
        &[],
        &default_component_cache(home),
        None,
    )
    .await
}

/// [`load`], with compiled components kept in `cache`; `compiling` is told the
/// origin of each component that has to be compiled (a second or so each, on
/// first use only). `compiled` holds bundled providers compiled ahead of time, by
/// name, as [`crate::client::ClientBuilder::compiled_providers`] takes them (and
/// under its safety rule).
pub(crate) async fn load_with_cache(
    home: &Path,
    config: &Config,
    bundled: &[(String, &'static [u8])],
    compiled: &[(String, &'static [u8])],
    cache: &Path,
    compiling: Option<crate::plugin::CompileHook>,
) -> ClientResult<Providers> {
    let mut host_config = HostConfig::new(home);
    host_config.credentials = std::sync::Arc::new(ConfiguredCredentials::from_config(config)?);
    host_config.cache_dir = Some(cache.to_path_buf());
    host_config.allowed_hosts = config.allowed_hosts.clone();
    let mut settings: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for (name, value) in &config.providers {
        let pairs = settings_of(value);
        if let Some((_, endpoint)) = pairs.iter().find(|(k, _)| k == "endpoint") {
            host_config.endpoints.insert(name.clone(), endpoint.clone());
        }
        settings.insert(name.clone(), pairs);
    }
    // The local provider's node folders live under aloft's home unless configured.
    let local = settings.entry("local".into()).or_default();
    if !local.iter().any(|(k, _)| k == "root") {
        local.push(("root".into(), home.join("local").display().to_string()));
    }
    // The ssh provider has no filesystem: it gets the pools file as a setting.
    if let Some(pools) = ssh_pools_setting(&home.join("ssh_node_pools.yaml"))? {
        settings
            .entry("ssh".into())
            .or_default()
            .push(("pools".into(), pools));
    }
    let proxy_commands = settings
        .iter()
        .filter_map(|(name, pairs)| {
            pairs
                .iter()
                .find(|(k, _)| k == "ssh_proxy_command")
                .map(|(_, v)| (name.clone(), v.clone()))
        })
        .collect();
    // Kubernetes: the allowed contexts, resolved by the host (see `kube::access`);
    // the provision timeout reaches the component as a setting.
    if let Some(timeout) = config.kubernetes.provision_timeout {
        settings
            .entry(crate::plugin::KUBERNETES_PROVIDER.into())
            .or_default()
            .push(("provision_timeout".into(), timeout.to_string()));
    }
    let kubeconfig = config.kubernetes.kubeconfig.as_deref().map(expand_home);
    host_config.kube = Some(std::sync::Arc::new(crate::kube::access::KubeAccess::load(
        kubeconfig.as_deref(),
        config.kubernetes.allowed_contexts.as_deref(),
        host_config.call_timeout,
    )));
    host_config.settings = settings;
    host_config.on_compile = compiling;
    for (name, bytes) in bundled {
        if let Some((_, form)) = compiled.iter().find(|(n, _)| n == name) {
            // SAFETY: the caller vouched for the pairs (`compiled_providers`).
            unsafe { host_config.compiled_ahead(bytes, form) };
        }
    }
    let mut host = PluginHost::new(host_config).map_err(ClientError::other)?;
    let origins: Vec<String> = bundled
        .iter()
        .map(|(n, _)| format!("bundled:{n}"))
        .collect();
    let components: Vec<(&str, &'static [u8])> = origins
        .iter()
        .zip(bundled)
        .map(|(origin, (_, bytes))| (origin.as_str(), *bytes))
        .collect();
    host.precompile(&components);
    let mut bundled_names = Vec::new();
    for (name, bytes) in bundled {
        host.load_bytes(&format!("bundled:{name}"), bytes)
            .await
            .map_err(|e| ClientError::Other(format!("bundled provider {name}: {e}")))?;
        bundled_names.push(name.to_string());
    }
    let mut broken = Vec::new();
    for result in host.load_dir(&home.join("providers")).await {
        if let Err(err) = result {
            let origin = match &err {
                PluginError::Load { origin, .. }
                | PluginError::Incompatible { origin, .. }
                | PluginError::NotGranted { origin, .. } => origin.clone(),
                _ => "providers".into(),
            };
            broken.push((origin, err.to_string()));
        }
    }
    Ok(Providers {
        host,
        broken,
        bundled: bundled_names,
        proxy_commands,
        kubeconfig: config.kubernetes.kubeconfig.as_deref().map(expand_home),
    })
}

/// `ssh_node_pools.yaml` as JSON, with `~/` in key paths expanded (the provider
/// cannot see the user's home); `None` when the file does not exist.
fn ssh_pools_setting(path: &Path) -> ClientResult<Option<String>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ClientError::Other(format!("{}: {e}", path.display()))),
    };
    let mut value: serde_json::Value = serde_yaml::from_str(&text)
        .map_err(|err| ClientError::InvalidInput(yaml_error(path, &err)))?;
    if !value.is_object() {
        return Err(ClientError::InvalidInput(format!(
            "{}: expected a mapping of pool names to pools",
            path.display()
        )));
    }
    expand_identity_files(&mut value);
    Ok(Some(value.to_string()))
}

fn expand_identity_files(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                if key == "identity_file"
                    && let serde_json::Value::String(path) = item
                {
                    *path = expand_home(path).display().to_string();
                } else {
                    expand_identity_files(item);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(expand_identity_files),
        _ => {}
    }
}

impl Providers {
    /// Where provider `name` comes from: `bundled`, or the file it was loaded from.
    pub fn source(&self, name: &str) -> String {
        match self.host.origin(name) {
            Some(origin) if origin.starts_with("bundled:") => "bundled".into(),
            Some(origin) => origin.to_string(),
            None if self.bundled.iter().any(|b| b == name) => "bundled".into(),
            None => "installed".into(),
        }
    }

    /// An instance of `name`, or a clear error listing what is loaded.
    pub async fn instance(&self, name: &str) -> ClientResult<ProviderInstance> {
        self.host.instance(name).await.map_err(|e| match e {
            PluginError::Unknown(_) => {
                let known: Vec<&str> = self
                    .host
                    .manifests()
                    .iter()
                    .map(|m| m.name.as_str())
                    .collect();
                ClientError::Other(format!(
                    "no provider named `{name}` (loaded: {}); see `aloft providers list`",
                    known.join(", ")
                ))
            }
            other => ClientError::Provider {
                provider: name.to_string(),
                message: other.to_string(),
            },
        })
    }
}

/// A provider component read from a file and validated in a throwaway host that
/// lends it nothing: what it asks for, to be shown to its user before
/// [`Client::install_provider`] or [`Client::test_provider`] lends it anything.
pub struct ComponentReview {
    /// Where it was read from.
    pub origin: String,
    /// Its manifest (every string display-safe).
    pub manifest: Manifest,
    /// Each credential it asks for that a bundled provider uses too, with those
    /// providers: lent it, this component could act with that account.
    pub shared_credentials: Vec<(String, Vec<String>)>,
    /// Whether a bundled provider has its name: installed, it would replace that one.
    pub replaces_bundled: bool,
    /// Whether it is the bundled provider itself (reviewed by name, see
    /// [`Client::review_provider`]): tested as aloft runs it, with every
    /// credential it declares.
    pub bundled: bool,
    /// The user's settings for it (`providers.<name>` in config.yaml) when it was
    /// reviewed by name; [`ProviderTest::settings`] are applied over them.
    pub configured: Vec<(String, String)>,
    bytes: Vec<u8>,
    /// The throwaway host's home (its compiled code, its kv), removed when dropped.
    scratch: ScratchDir,
}

impl ComponentReview {
    /// The grant of everything it asks for; `replace`: it may replace the bundled
    /// provider of its name.
    pub fn full_grant(&self, replace: bool) -> InstallGrant {
        InstallGrant::of(&self.manifest, replace)
    }
}

/// Where [`Client::test_provider`] runs the conformance kit.
#[derive(Debug, Clone, Default)]
pub struct ProviderTest {
    /// Region of the test cluster; `None`: the region of the offer chosen (see
    /// [`ProviderTest::instance_type`]).
    pub region: Option<String>,
    /// Zone, when the cloud has zones; `None`: the chosen offer's zone, if any.
    pub zone: Option<String>,
    /// Instance type of its two nodes; `None`: the cheapest on-demand offer (in
    /// the region, when given) among the provider's own `offers`, else its
    /// cloud's shipped catalog.
    pub instance_type: Option<String>,
    /// A zone where the cloud refuses capacity: the refusal must be a typed
    /// `capacity` error.
    pub capacity_zone: Option<String>,
    /// Where the provider's requests go instead of its hosts (an emulator).
    pub endpoint: Option<String>,
    /// Settings for its `configure`.
    pub settings: Vec<(String, String)>,
}

/// One provider's answer to `check-credentials`.
#[derive(Debug, Clone)]
pub struct CredentialCheck {
    /// The provider.
    pub provider: String,
    /// Who its credentials belong to, or why they do not work.
    pub result: Result<Identity, String>,
}

impl Client {
    /// Reads the component at `path` and validates it in a throwaway host (a fresh
    /// owner-only folder with an unpredictable name): it must compile, speak a
    /// provider interface this aloft speaks, answer `info`, and ask only for
    /// acceptable hosts and credentials. Nothing is lent to it, nothing installed.
    pub fn review_component(&self, path: &Path) -> ClientResult<ComponentReview> {
        let bytes = std::fs::read(path)
            .map_err(|e| ClientError::Other(format!("{}: {e}", path.display())))?;
        self.review_bytes(path.display().to_string(), bytes, false)
    }

    /// [`Client::review_component`] for a component file, or for a provider named
    /// by `name_or_path`: a bundled one (`local`, `aws`: its embedded component,
    /// marked [`ComponentReview::bundled`]) or one installed under
    /// `HOME/providers`, each with the user's settings for it. A value that
    /// contains a `/`, ends in `.wasm` or names an existing file is a file.
    pub fn review_provider(&self, name_or_path: &str) -> ClientResult<ComponentReview> {
        let path = Path::new(name_or_path);
        if name_or_path.contains('/') || name_or_path.ends_with(".wasm") || path.is_file() {
            return self.review_component(path);
        }
        let configured = provider_settings(&self.config, name_or_path);
        if let Some((name, bytes)) = self.bundled.iter().find(|(n, _)| n == name_or_path) {
            let mut review = self.review_bytes(format!("bundled:{name}"), bytes.to_vec(), true)?;
            review.configured = configured;
            return Ok(review);
        }
        let installed = self
            .home
            .join("providers")
            .join(format!("{name_or_path}.wasm"));
        if installed.is_file() {
            let mut review = self.review_component(&installed)?;
            review.configured = configured;
            return Ok(review);
        }
        let mut known: Vec<String> = self.bundled.iter().map(|(n, _)| n.clone()).collect();
        known.sort();
        Err(ClientError::InvalidInput(format!(
            "`{name_or_path}` is neither a component file nor a provider aloft has (bundled: \
             {}; installed ones are named by `aloft providers list`)",
            known.join(", ")
        )))
    }

    fn review_bytes(
        &self,
        origin: String,
        bytes: Vec<u8>,
        bundled: bool,
    ) -> ClientResult<ComponentReview> {
        let scratch = ScratchDir::new("aloft-provider")
            .map_err(|e| ClientError::Other(format!("cannot create a scratch folder: {e}")))?;
        let manifest = self.block_on(async {
            let mut host = PluginHost::new(HostConfig::new(scratch.path()))?;
            host.inspect(&origin, &bytes).await
        });
        let manifest = manifest.map_err(ClientError::other)?;
        let providers = self.providers()?;
        let others: Vec<&Manifest> = providers
            .host
            .manifests()
            .into_iter()
            .filter(|m| providers.bundled.contains(&m.name) && m.name != manifest.name)
            .collect();
        let shared_credentials = manifest
            .credentials
            .iter()
            .map(|c| {
                let users = others.iter().filter(|b| b.credentials.contains(c));
                (c.clone(), users.map(|b| b.name.clone()).collect::<Vec<_>>())
            })
            .filter(|(_, users)| !users.is_empty())
            .collect();
        Ok(ComponentReview {
            replaces_bundled: !bundled && providers.bundled.contains(&manifest.name),
            bundled,
            configured: Vec::new(),
            origin,
            manifest,
            shared_credentials,
            bytes,
            scratch,
        })
    }

    /// Installs a reviewed component into `HOME/providers` (named after the
    /// provider) and records `grant` for it in `providers/grants.json`; later
    /// loads lend it only what the grant lists. Refused, installing nothing, when
    /// the grant does not cover what it asks for, or when it would replace a
    /// bundled provider and the grant does not say it may. Returns the file.
    pub fn install_provider(
        &self,
        review: &ComponentReview,
        grant: &InstallGrant,
    ) -> ClientResult<PathBuf> {
        let m = &review.manifest;
        if let Some(excess) = grant.excess(m) {
            return Err(ClientError::InvalidInput(format!(
                "{}: the grant does not cover it; nothing was installed: {excess}",
                m.name
            )));
        }
        if review.replaces_bundled && !grant.replaces_bundled {
            return Err(ClientError::InvalidInput(format!(
                "`{}` is a bundled provider; installing this component would replace it, \
                 which the grant does not allow. Nothing was installed",
                m.name
            )));
        }
        let dir = self.home.join("providers");
        let io = |e: std::io::Error| ClientError::Other(format!("{}: {e}", dir.display()));
        private_dir(&dir).map_err(io)?;
        let mut grants = read_grants(&dir).map_err(io)?;
        let target = dir.join(format!("{}.wasm", m.name));
        let tmp = dir.join(format!(".{}.wasm.{}", m.name, std::process::id()));
        std::fs::write(&tmp, &review.bytes)
            .and_then(|()| std::fs::rename(&tmp, &target))
            .map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                ClientError::Other(format!("{}: {e}", target.display()))
            })?;
        grants.insert(m.name.clone(), grant.clone());
        write_grants(&dir, &grants).map_err(io)?;
        Ok(target)
    }

    /// Runs the conformance kit ([`crate::plugin::conformance`]) against a
    /// reviewed component, loaded as an installed provider under `grant` (lent
    /// only the credentials it lists, reaching only its hosts or
    /// [`ProviderTest::endpoint`]), in the review's throwaway home. The kit
    /// creates a two-node test cluster (billed, on a real cloud) and terminates it.
    pub fn test_provider(
        &self,
        review: &ComponentReview,
        grant: &InstallGrant,
        test: &ProviderTest,
    ) -> ClientResult<Report> {
        let name = &review.manifest.name;
        let mut config = HostConfig::new(review.scratch.path());
        config.allowed_hosts = self.config.allowed_hosts.clone();
        config.credentials = std::sync::Arc::new(ConfiguredCredentials::from_config(&self.config)?);
        let mut settings = review.configured.clone();
        for (key, value) in &test.settings {
            settings.retain(|(k, _)| k != key);
            settings.push((key.clone(), value.clone()));
        }
        // The local provider's node folders go in the throwaway home too.
        if review.bundled && name == "local" && !settings.iter().any(|(k, _)| k == "root") {
            let root = review.scratch.path().join("local");
            settings.push(("root".into(), root.display().to_string()));
        }
        let endpoint = (test.endpoint.clone()).or_else(|| {
            settings
                .iter()
                .find(|(k, _)| k == "endpoint")
                .map(|(_, v)| v.clone())
        });
        if let Some(endpoint) = endpoint {
            config.endpoints.insert(name.clone(), endpoint);
        }
        config.settings.insert(name.clone(), settings);
        let failed = |e: PluginError| ClientError::Provider {
            provider: name.clone(),
            message: e.to_string(),
        };
        self.block_on(async {
            let mut host = PluginHost::new(config).map_err(ClientError::other)?;
            if review.bundled {
                host.load_bytes(&review.origin, &review.bytes)
                    .await
                    .map_err(failed)?;
            } else {
                host.load_installed(&review.origin, &review.bytes, Some(grant))
                    .await
                    .map_err(failed)?;
            }
            let mut instance = host.instance(name).await.map_err(failed)?;
            let (region, zone, instance_type) = self.test_target(&mut instance, test).await?;
            let options = ConformanceOptions {
                cluster: format!("aloft-conformance-{}", std::process::id()),
                region,
                zone,
                instance_type,
            };
            let mut report = conformance::run(&mut instance, &options).await;
            if let Some(zone) = &test.capacity_zone {
                let refused = ConformanceOptions {
                    cluster: format!("{}-capacity", options.cluster),
                    zone: Some(zone.clone()),
                    ..options
                };
                let checks = conformance::capacity_checks(&mut instance, &refused).await;
                report.checks.extend(checks);
            }
            Ok(report)
        })
    }

    /// Where the kit creates its test cluster: the region, zone and instance type
    /// `test` names, the rest chosen from the cheapest on-demand offer that fits
    /// them, asked of the provider (`offers`), else of its cloud's catalog.
    async fn test_target(
        &self,
        instance: &mut ProviderInstance,
        test: &ProviderTest,
    ) -> ClientResult<(String, Option<String>, String)> {
        if let (Some(region), Some(instance_type)) = (&test.region, &test.instance_type) {
            return Ok((region.clone(), test.zone.clone(), instance_type.clone()));
        }
        let name = instance.name().to_string();
        // (region, zone, instance type, on-demand price)
        let mut offers: Vec<(String, Option<String>, String, Option<f64>)> =
            match instance.offers(test.region.as_deref()).await {
                Ok(offers) => offers
                    .into_iter()
                    .map(|o| (o.region, o.zone, o.instance_type, o.price))
                    .collect(),
                Err(_) => Vec::new(),
            };
        let asked = !offers.is_empty();
        if !asked
            && let Ok(catalog) = self.catalog()
            && let Ok(rows) = catalog.offers(&name)
        {
            offers = rows
                .iter()
                .map(|o| {
                    (
                        o.region.clone(),
                        o.zone.clone(),
                        o.instance_type.clone(),
                        o.price,
                    )
                })
                .collect();
        }
        let fits =
            |(region, zone, instance_type, _): &(String, Option<String>, String, Option<f64>)| {
                test.region.as_ref().is_none_or(|r| r == region)
                    && test
                        .instance_type
                        .as_ref()
                        .is_none_or(|t| t == instance_type)
                    && test
                        .zone
                        .as_ref()
                        .is_none_or(|z| zone.as_ref().is_none_or(|oz| oz == z))
            };
        let price = |p: &Option<f64>| {
            p.filter(|p| p.is_finite() && *p >= 0.0)
                .unwrap_or(f64::INFINITY)
        };
        let chosen = offers
            .iter()
            .filter(|o| fits(o))
            .min_by(|a, b| price(&a.3).total_cmp(&price(&b.3)));
        let Some((region, zone, instance_type, _)) = chosen else {
            let wanted: Vec<String> = [
                test.region.as_ref().map(|r| format!("region {r}")),
                test.instance_type
                    .as_ref()
                    .map(|t| format!("instance type {t}")),
            ]
            .into_iter()
            .flatten()
            .collect();
            return Err(ClientError::InvalidInput(format!(
                "{name}: no offer to choose the test cluster's region and instance type from \
                 ({}{}); give --region and --instance-type",
                if offers.is_empty() {
                    "neither its `offers` nor a catalog of its cloud lists any".to_string()
                } else {
                    format!("{} offer(s), none in", offers.len())
                },
                if offers.is_empty() || wanted.is_empty() {
                    String::new()
                } else {
                    format!(" {}", wanted.join(" with "))
                }
            )));
        };
        Ok((
            region.clone(),
            test.zone.clone().or_else(|| zone.clone()),
            instance_type.clone(),
        ))
    }

    /// Whether credential `name` has a value here (the environment, a credential
    /// file `config.yaml` names, a cloud's own credentials file): what a provider
    /// declaring and granted it would be lent. The value itself is not returned.
    pub fn credential_is_set(&self, name: &str) -> bool {
        use crate::plugin::CredentialSource;
        ConfiguredCredentials::from_config(&self.config)
            .unwrap_or_default()
            .get(name)
            .is_some()
    }

    /// Every loaded provider's `check-credentials`, asked concurrently (the
    /// slowest answer bounds the wait), in name order.
    pub fn check_providers(&self) -> ClientResult<Vec<CredentialCheck>> {
        self.check_named_providers(&[])
    }

    /// [`Client::check_providers`] for the providers `wanted` names only (every
    /// one when empty), as SkyPilot's `sky check aws gcp`: names are matched
    /// ignoring case, `k8s` is `kubernetes`, and a name no loaded provider has is
    /// refused ([`ClientError::InvalidInput`], with a did-you-mean) before any
    /// provider is asked.
    pub fn check_named_providers(&self, wanted: &[String]) -> ClientResult<Vec<CredentialCheck>> {
        let providers = self.providers()?;
        let mut names: Vec<String> = providers
            .host
            .manifests()
            .iter()
            .map(|m| m.name.clone())
            .collect();
        if !wanted.is_empty() {
            let mut chosen = Vec::new();
            for want in wanted {
                let lower = want.trim().to_ascii_lowercase();
                let lower = if lower == "k8s" {
                    "kubernetes".to_string()
                } else {
                    lower
                };
                let Some(name) = names.iter().find(|n| n.eq_ignore_ascii_case(&lower)) else {
                    let hint = crate::task::suggest(&lower, names.iter().map(String::as_str))
                        .map(|s| format!(" (did you mean `{s}`?)"))
                        .unwrap_or_default();
                    return Err(ClientError::InvalidInput(format!(
                        "no provider named `{want}`{hint}; providers: {}",
                        names.join(", ")
                    )));
                };
                if !chosen.contains(name) {
                    chosen.push(name.clone());
                }
            }
            names.retain(|n| chosen.contains(n));
        }
        let results = self.block_on(futures::future::join_all(names.iter().map(
            |name| async move {
                let mut instance = providers.instance(name).await.map_err(|e| e.to_string())?;
                instance
                    .check_credentials()
                    .await
                    .map_err(|e| e.to_string())
            },
        )));
        Ok(names
            .into_iter()
            .zip(results)
            .map(|(provider, result)| CredentialCheck { provider, result })
            .collect())
    }
}

/// Every cloud name this installation knows: SkyPilot's clouds (a task for one
/// is valid; the plan says when nothing can launch there), clouds with a catalog
/// (shipped, or under `home/catalogs`), the `bundled` providers and those installed
/// under `home/providers` (by file name, which `providers install` sets to the
/// component's name). Sorted, without duplicates.
pub fn known_clouds(home: &Path, bundled: &[String]) -> Vec<String> {
    let mut names: Vec<String> = crate::catalog::Catalog::load(Some(&home.join("catalogs")))
        .map(|c| c.clouds())
        .unwrap_or_default();
    names.extend(crate::task::units::CLOUDS.iter().map(|c| c.to_string()));
    names.extend(bundled.iter().cloned());
    if let Ok(entries) = std::fs::read_dir(home.join("providers")) {
        names.extend(entries.flatten().filter_map(|e| {
            let path = e.path();
            (path.extension().is_some_and(|x| x == "wasm"))
                .then(|| path.file_stem()?.to_str().map(str::to_string))
                .flatten()
        }));
    }
    names.sort();
    names.dedup();
    names
}
