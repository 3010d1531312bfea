//! The user's settings and folders: aloft's home (`$ALOFT_HOME`, default `~/.aloft`)
//! and the `config.yaml` inside it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

/// aloft's home folder: `$ALOFT_HOME`, else `~/.aloft`.
pub fn aloft_home() -> PathBuf {
    if let Some(home) = std::env::var_os("ALOFT_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(home);
    }
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(home) => PathBuf::from(home).join(".aloft"),
        None => PathBuf::from(".aloft"),
    }
}

/// `~/x` as a path under the user's home; anything else as it is.
pub fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(path),
    }
}

/// A YAML error as `file:line:col: message`.
pub fn yaml_error(path: &Path, err: &serde_yaml::Error) -> String {
    let at = err
        .location()
        .map(|l| format!(":{}:{}", l.line(), l.column()))
        .unwrap_or_default();
    format!("{}{at}: {err}", path.display())
}

/// A settings file that cannot be used.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file exists but cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid YAML or has unknown fields (`file:line:col: message`).
    #[error("{0}")]
    Invalid(String),
}

/// What `config.yaml` may hold.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Clouds the user has enabled for the optimizer's offline plans.
    #[serde(default)]
    pub clouds: Option<Vec<String>>,
    /// Settings per provider (`providers.local.root`, `providers.aws.endpoint`).
    #[serde(default)]
    pub providers: BTreeMap<String, serde_yaml::Value>,
    /// Hosts providers may reach at most (narrows their manifests).
    #[serde(default)]
    pub allowed_hosts: Option<Vec<String>>,
    /// How long, in seconds, a provider's answer to a plan (its credentials check
    /// and live offers) is reused before it is asked again; 0 asks every time.
    /// Default [`DEFAULT_OFFERS_CACHE_SECS`].
    #[serde(default)]
    pub offers_cache_secs: Option<u64>,
    /// Kubernetes: which kubeconfig contexts aloft may use (SkyPilot's
    /// `kubernetes:` section).
    #[serde(default)]
    pub kubernetes: KubernetesConfig,
    /// Managed jobs: where their controller runs.
    #[serde(default)]
    pub jobs: JobsConfig,
    /// Bucket stores' settings (`storage.r2.endpoint`, `storage.gcs.*`).
    #[serde(default)]
    pub storage: StorageConfig,
    /// Where catalogs are refreshed from, and how often (`catalog:`).
    #[serde(default)]
    pub catalog: CatalogConfig,
    /// The file as read, for passing it on (see [`Config::without_jobs_yaml`]).
    #[serde(skip)]
    raw: Option<serde_yaml::Value>,
}

/// SkyPilot's hosted catalogs, schema version v8 (SkyPilot 0.14's
/// `CATALOG_SCHEMA_VERSION`): `<url><cloud>/vms.csv` and
/// `<url>common/accelerators.csv`.
pub const DEFAULT_CATALOG_URL: &str =
    "https://raw.githubusercontent.com/skypilot-org/skypilot-catalog/master/catalogs/v8/";

/// Hours a fetched catalog file is used before it is fetched again when
/// `catalog.max_age_hours` is unset: SkyPilot's `pull_frequency_hours`.
pub const DEFAULT_CATALOG_MAX_AGE_HOURS: u64 = 7;

/// The environment variable that replaces `catalog.url` (`off` turns refreshing
/// off, as the test suites do: no test reaches the internet).
pub const CATALOG_URL_ENV: &str = "ALOFT_CATALOG_URL";

/// The `catalog:` section of `config.yaml`: the catalogs are kept whole and current
/// from a URL laid out as SkyPilot's hosted catalogs, into `HOME/catalogs`, the
/// snapshot in the binary being the offline fallback.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogConfig {
    /// The base URL (default [`DEFAULT_CATALOG_URL`]); `off` never refreshes.
    /// `$ALOFT_CATALOG_URL` replaces it.
    #[serde(default)]
    pub url: Option<String>,
    /// A base URL (or `off`) per cloud, in place of `url` for that cloud's
    /// `vms.csv` (`common` for the shared files); a cloud named here that the
    /// binary has no snapshot of is fetched too.
    #[serde(default)]
    pub clouds: BTreeMap<String, String>,
    /// Hours a fetched file is used before it is fetched again (default
    /// [`DEFAULT_CATALOG_MAX_AGE_HOURS`]).
    #[serde(default)]
    pub max_age_hours: Option<u64>,
}

impl CatalogConfig {
    /// The base URL `cloud`'s file comes from (`common` for the shared files), as
    /// configured: the cloud's own entry, else `url`, else the default. Whether it
    /// turns refreshing off is for the caller to read (`off`, empty).
    pub fn url_for(&self, cloud: &str) -> &str {
        self.clouds
            .get(cloud)
            .or(self.url.as_ref())
            .map_or(DEFAULT_CATALOG_URL, String::as_str)
    }

    /// How long a fetched file is used.
    pub fn max_age(&self) -> std::time::Duration {
        std::time::Duration::from_secs(
            self.max_age_hours
                .unwrap_or(DEFAULT_CATALOG_MAX_AGE_HOURS)
                .saturating_mul(3600),
        )
    }
}

/// The `jobs:` section of `config.yaml`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobsConfig {
    /// Run the managed-jobs controller on a cluster of its own (absent: on this
    /// machine, started on demand).
    #[serde(default)]
    pub controller: Option<ControllerConfig>,
}

/// `jobs.controller`: the controller's cluster.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControllerConfig {
    /// The cluster's `resources`, as in a task (`{infra: ssh/lab, cpus: 2+}`).
    pub resources: serde_yaml::Value,
    /// The providers the controller's jobs may use (`[aws, lambda]`): only their
    /// credentials go to the controller host, and a task naming another provider
    /// is refused. Absent: the controller cluster's own provider only.
    #[serde(default)]
    pub providers: Option<Vec<String>>,
}

/// The `storage:` section of `config.yaml`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// Cloudflare R2.
    #[serde(default)]
    pub r2: R2Config,
    /// Google Cloud Storage.
    #[serde(default)]
    pub gcs: GcsConfig,
}

/// `storage.gcs`: Google Cloud Storage's settings (its credentials are Google's
/// own files, never here).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GcsConfig {
    /// The JSON API's root (default `https://storage.googleapis.com`), for an
    /// emulator or a gateway; the OAuth2 token request goes there too.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The project new buckets are made in (default: `GOOGLE_CLOUD_PROJECT`, else
    /// the credentials' project).
    #[serde(default)]
    pub project: Option<String>,
    /// The location new buckets get (default `US`, as GCS's own default).
    #[serde(default)]
    pub location: Option<String>,
}

/// `storage.r2`: Cloudflare R2's settings (its keys are read from
/// `~/.cloudflare/`, never from here).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct R2Config {
    /// R2's S3 endpoint (default `https://<account id>.r2.cloudflarestorage.com`);
    /// for an emulator or a gateway.
    #[serde(default)]
    pub endpoint: Option<String>,
}

/// The `kubernetes:` section of `config.yaml`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesConfig {
    /// Contexts aloft may use, each a region (`infra: k8s/CONTEXT`); default the
    /// kubeconfig's current context.
    #[serde(default)]
    pub allowed_contexts: Option<Vec<String>>,
    /// The kubeconfig file (default `$KUBECONFIG`, else `~/.kube/config`).
    #[serde(default)]
    pub kubeconfig: Option<String>,
    /// Seconds a pod may stay unschedulable before the launch fails over
    /// (default 10).
    #[serde(default)]
    pub provision_timeout: Option<u64>,
}

/// How long a provider's live offers are reused when `offers_cache_secs` is unset.
pub const DEFAULT_OFFERS_CACHE_SECS: u64 = 600;

impl Config {
    /// Reads `config.yaml` under `home`; a missing or empty file is an empty config.
    ///
    /// `$ALOFT_CATALOG_URL`, when set, replaces `catalog.url`.
    pub fn load(home: &Path) -> Result<Config, ConfigError> {
        let mut config = Config::load_file(home)?;
        if let Some(url) = std::env::var_os(CATALOG_URL_ENV) {
            config.catalog.url = Some(url.to_string_lossy().into_owned());
        }
        Ok(config)
    }

    fn load_file(home: &Path) -> Result<Config, ConfigError> {
        let path = home.join("config.yaml");
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        let mut config: Config = serde_yaml::from_str(&text)
            .map_err(|err| ConfigError::Invalid(yaml_error(&path, &err)))?;
        config.raw = serde_yaml::from_str(&text).ok();
        Ok(config)
    }

    /// The file as read, without its `jobs` section: what a remote jobs
    /// controller runs with (it controls its jobs itself). `kubeconfig`, when
    /// given, replaces `kubernetes.kubeconfig` (the controller's own copy, since a
    /// path here names a file on this machine). `clouds`, when given, narrows
    /// `clouds` to those (all of them when the file sets none): the providers the
    /// controller may plan on.
    pub fn without_jobs_yaml(
        &self,
        kubeconfig: Option<&str>,
        clouds: Option<&[String]>,
    ) -> Result<String, serde_yaml::Error> {
        let mut raw = self
            .raw
            .clone()
            .unwrap_or(serde_yaml::Value::Mapping(Default::default()));
        if let Some(map) = raw.as_mapping_mut() {
            map.remove("jobs");
            if let Some(path) = kubeconfig {
                let kube = map
                    .entry("kubernetes".into())
                    .or_insert_with(|| serde_yaml::Value::Mapping(Default::default()));
                if let Some(kube) = kube.as_mapping_mut() {
                    kube.insert("kubeconfig".into(), path.into());
                }
            }
            // The controller refreshes its catalogs from where this client does.
            if let Some(url) = &self.catalog.url {
                let catalog = map
                    .entry("catalog".into())
                    .or_insert_with(|| serde_yaml::Value::Mapping(Default::default()));
                if let Some(catalog) = catalog.as_mapping_mut() {
                    catalog.insert("url".into(), url.as_str().into());
                }
            }
            if let Some(clouds) = clouds {
                let narrowed: Vec<serde_yaml::Value> = clouds
                    .iter()
                    .filter(|c| self.clouds.as_ref().is_none_or(|all| all.contains(c)))
                    .map(|c| c.as_str().into())
                    .collect();
                map.insert("clouds".into(), serde_yaml::Value::Sequence(narrowed));
            }
        }
        serde_yaml::to_string(&raw)
    }

    /// The string setting `key` of provider `provider` (`providers.aws.endpoint`).
    pub fn provider_setting(&self, provider: &str, key: &str) -> Option<String> {
        self.providers
            .get(provider)
            .and_then(|v| v.get(key))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_is_empty_and_a_bad_one_names_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let empty = Config::load(dir.path()).unwrap();
        assert!(empty.clouds.is_none() && empty.providers.is_empty());
        std::fs::write(
            dir.path().join("config.yaml"),
            "clouds: [aws]\nproviders:\n  aws:\n    endpoint: http://127.0.0.1:5000\n",
        )
        .unwrap();
        let config = Config::load(dir.path()).unwrap();
        assert_eq!(config.clouds, Some(vec!["aws".to_string()]));
        assert_eq!(
            config.provider_setting("aws", "endpoint").as_deref(),
            Some("http://127.0.0.1:5000")
        );
        std::fs::write(
            dir.path().join("config.yaml"),
            "clouds: [aws, gcp]\njobs:\n  controller:\n    resources: {infra: ssh/lab}\n    providers: [aws, lambda]\n",
        )
        .unwrap();
        let config = Config::load(dir.path()).unwrap();
        let controller = config.jobs.controller.as_ref().unwrap();
        assert_eq!(
            controller.providers,
            Some(vec!["aws".to_string(), "lambda".to_string()])
        );
        let passed_on = config.without_jobs_yaml(None, None).unwrap();
        assert!(
            passed_on.contains("clouds") && !passed_on.contains("jobs"),
            "{passed_on}"
        );
        let granted = ["aws".to_string(), "lambda".to_string()];
        let with_kube = config
            .without_jobs_yaml(Some("~/.aloft-jobs/kubeconfig"), Some(&granted))
            .unwrap();
        let reread: serde_yaml::Value = serde_yaml::from_str(&with_kube).unwrap();
        assert_eq!(
            reread["kubernetes"]["kubeconfig"].as_str(),
            Some("~/.aloft-jobs/kubeconfig"),
            "{with_kube}"
        );
        // Only what the file enabled and the controller is granted.
        assert_eq!(
            reread["clouds"],
            serde_yaml::from_str::<serde_yaml::Value>("[aws]").unwrap()
        );
        // A misspelt key under `jobs.controller` names its line.
        std::fs::write(
            dir.path().join("config.yaml"),
            "jobs:\n  controller:\n    resources: {infra: ssh/lab}\n    provider: [aws]\n",
        )
        .unwrap();
        let err = Config::load(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("config.yaml:4:") && err.contains("providers"),
            "{err}"
        );
        std::fs::write(
            dir.path().join("config.yaml"),
            "storage:\n  r2:\n    endpoint: http://127.0.0.1:9000\n",
        )
        .unwrap();
        let config = Config::load(dir.path()).unwrap();
        assert_eq!(
            config.storage.r2.endpoint.as_deref(),
            Some("http://127.0.0.1:9000")
        );
        std::fs::write(
            dir.path().join("config.yaml"),
            "storage:\n  r2:\n    endpont: http://127.0.0.1:9000\n",
        )
        .unwrap();
        let err = Config::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("config.yaml:3:"), "{err}");
        std::fs::write(
            dir.path().join("config.yaml"),
            "storage:\n  gcs:\n    endpoint: http://127.0.0.1:4443\n    project: p1\n    location: EU\n",
        )
        .unwrap();
        let gcs = Config::load(dir.path()).unwrap().storage.gcs;
        assert_eq!(
            (
                gcs.endpoint.as_deref(),
                gcs.project.as_deref(),
                gcs.location.as_deref()
            ),
            (Some("http://127.0.0.1:4443"), Some("p1"), Some("EU"))
        );
        std::fs::write(
            dir.path().join("config.yaml"),
            "storage:\n  gcs:\n    projcet: p1\n",
        )
        .unwrap();
        let err = Config::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("config.yaml:3:"), "{err}");
        std::fs::write(dir.path().join("config.yaml"), "clouds: [aws]\nclowds: 1\n").unwrap();
        let err = Config::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("config.yaml:2:"), "{err}");
    }

    #[test]
    fn a_remote_controller_refreshes_its_catalogs_from_where_the_client_does() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.yaml"),
            "catalog:\n  max_age_hours: 3\n  clouds: {gcp: 'off'}\n",
        )
        .unwrap();
        let mut config = Config::load(dir.path()).unwrap();
        assert_eq!(
            config.catalog.max_age(),
            std::time::Duration::from_secs(3 * 3600)
        );
        assert_eq!(config.catalog.url_for("gcp"), "off");
        // What `$ALOFT_CATALOG_URL` (or the file) set goes on to the controller.
        config.catalog.url = Some("http://127.0.0.1:8000/v8/".into());
        assert_eq!(config.catalog.url_for("aws"), "http://127.0.0.1:8000/v8/");
        let passed_on: serde_yaml::Value =
            serde_yaml::from_str(&config.without_jobs_yaml(None, None).unwrap()).unwrap();
        assert_eq!(
            passed_on["catalog"]["url"].as_str(),
            Some("http://127.0.0.1:8000/v8/")
        );
        assert_eq!(passed_on["catalog"]["max_age_hours"].as_u64(), Some(3));
        config.catalog = CatalogConfig::default();
        assert_eq!(config.catalog.url_for("aws"), DEFAULT_CATALOG_URL);
    }
}
