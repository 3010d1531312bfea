//! The user's settings: `$ALOFT_HOME/config.yaml` (default `~/.aloft/config.yaml`).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::exit::CliError;

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

/// What `config.yaml` may hold.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Clouds the user has enabled for the optimizer (until providers' credential
    /// checks decide it).
    #[serde(default)]
    pub clouds: Option<Vec<String>>,
    /// Settings per provider (`providers.local.root`, `providers.aws.endpoint`).
    #[serde(default)]
    pub providers: std::collections::BTreeMap<String, serde_yaml::Value>,
    /// Hosts providers may reach at most (narrows their manifests).
    #[serde(default)]
    pub allowed_hosts: Option<Vec<String>>,
}

impl Config {
    /// Reads the config file under `home`; a missing file is an empty config.
    pub fn load(home: &Path) -> Result<Config, CliError> {
        let path = home.join("config.yaml");
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(err) => {
                return Err(CliError::failure(format!(
                    "cannot read {}: {err}",
                    path.display()
                )));
            }
        };
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        serde_yaml::from_str(&text).map_err(|err| CliError::failure(yaml_error(&path, &err)))
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

/// `~/x` as a path under the user's home; anything else as it is.
pub fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(path),
    }
}
