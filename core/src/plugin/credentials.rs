//! Where the host finds the secrets it lends providers: the environment first,
//! then the clouds' own credential files: AWS's `~/.aws/credentials` (with
//! `AWS_PROFILE` and `AWS_SHARED_CREDENTIALS_FILE` honoured as the AWS CLI does),
//! Lambda Cloud's `~/.lambda_cloud/lambda_keys`, RunPod's `~/.runpod/config.toml`,
//! doctl's `config.yaml` for DigitalOcean, Vast.ai's `vast_api_key`, Prime
//! Intellect's `~/.prime/config.json`, Fluidstack's `~/.fluidstack/api_key`,
//! Nebius's `~/.nebius/credentials.json`, Cudo's
//! `~/.config/cudo/cudo.yml` (its current context's key and project), the Azure
//! CLI's cached login for the `AZURE_*` service principal,
//! and Google's JSON credentials for
//! [`GCP_CREDENTIALS_JSON`] (the file named by `GOOGLE_APPLICATION_CREDENTIALS`, else
//! the application-default credentials that `gcloud auth application-default login`
//! writes, under `CLOUDSDK_CONFIG` when set).

use std::path::PathBuf;

use super::sandbox::CredentialSource;

/// The credential name under which a provider receives Google's credentials: the
/// whole JSON document (a service-account key or an `authorized_user` file). The
/// provider has no files, so the host reads it.
pub const GCP_CREDENTIALS_JSON: &str = "GCP_CREDENTIALS_JSON";

/// The credential name under which the `oci` provider receives the active profile
/// of OCI's config file as JSON: `{"user", "tenancy", "fingerprint", "region"}`
/// (the profile `OCI_CLI_PROFILE`, else `DEFAULT`, of `OCI_CONFIG_FILE`, else
/// `~/.oci/config`; a named profile inherits the `DEFAULT` section's keys, as in
/// OCI's SDKs). Only those four keys are lent, as one value, so no part of it is
/// scrubbed from messages on its own (the region, the user's OCID). Not named
/// `OCI_CONFIG_PROFILE`: other OCI tools read that variable as a profile's name.
pub const OCI_PROFILE_JSON: &str = "OCI_PROFILE_JSON";

/// The credential name under which the `oci` provider receives its API signing
/// key (PEM): `OCI_CLI_KEY_CONTENT` when set (as for OCI's CLI), else the file
/// named by `OCI_CLI_KEY_FILE`, else the profile's `key_file` (`~` expanded).
pub const OCI_KEY_CONTENT: &str = "OCI_CLI_KEY_CONTENT";

/// The credential name under which the `cudo` provider receives its API key: the
/// key of the current context of `~/.config/cudo/cudo.yml` (the file cudoctl writes
/// and Cudo's Python package `cudo-compute` reads; neither reads a variable, so
/// the environment's `CUDO_API_KEY` is aloft's own, taken first as for every
/// credential).
pub const CUDO_API_KEY: &str = "CUDO_API_KEY";

/// The credential name under which the `cudo` provider receives the project of
/// `cudo.yml`'s current context (not a secret; `providers.cudo.project` wins).
pub const CUDO_PROJECT: &str = "CUDO_PROJECT";

/// The credential name under which the `nebius` provider receives a service
/// account's credentials file (the JSON with `subject-credentials`): the variable,
/// else `~/.nebius/credentials.json`.
pub const NEBIUS_CREDENTIALS_JSON: &str = "NEBIUS_CREDENTIALS_JSON";

/// The environment, then the clouds' credential files.
#[derive(Debug, Default, Clone)]
pub struct StandardCredentials;

impl CredentialSource for StandardCredentials {
    fn get(&self, name: &str) -> Option<String> {
        if let Some(value) = std::env::var(name).ok().filter(|v| !v.is_empty()) {
            return Some(value);
        }
        if name == "LAMBDA_API_KEY" {
            return lambda_api_key();
        }
        if name == "RUNPOD_API_KEY" {
            return runpod_api_key();
        }
        if name == "DIGITALOCEAN_ACCESS_TOKEN" {
            return doctl_access_token();
        }
        if name == "VAST_API_KEY" {
            return vast_api_key();
        }
        if name == "PRIME_API_KEY" {
            return prime_api_key();
        }
        if name == "FLUIDSTACK_API_KEY" {
            return fluidstack_api_key_in(&dirs::home_dir()?);
        }
        if name == NEBIUS_CREDENTIALS_JSON {
            return nebius_credentials_in(&dirs::home_dir()?);
        }
        if name == CUDO_API_KEY || name == CUDO_PROJECT {
            let path = dirs::home_dir()?
                .join(".config")
                .join("cudo")
                .join("cudo.yml");
            let (key, project) = cudo_context(&std::fs::read_to_string(path).ok()?)?;
            return if name == CUDO_API_KEY { key } else { project };
        }
        if name.starts_with("AZURE_") {
            return azure_cli_value(name);
        }
        if name == GCP_CREDENTIALS_JSON {
            return gcp_credentials_json();
        }
        if name == OCI_PROFILE_JSON {
            return oci_profile().map(|p| oci_profile_json(&p));
        }
        if name == OCI_KEY_CONTENT {
            return oci_key_content();
        }
        let key = match name {
            "AWS_ACCESS_KEY_ID" => "aws_access_key_id",
            "AWS_SECRET_ACCESS_KEY" => "aws_secret_access_key",
            "AWS_SESSION_TOKEN" => "aws_session_token",
            _ => return None,
        };
        aws_profile_value(key)
    }
}

/// The JSON of `$GOOGLE_APPLICATION_CREDENTIALS`, else of the application-default
/// credentials file (`$CLOUDSDK_CONFIG/application_default_credentials.json`, by
/// default under `~/.config/gcloud`), as Google's client libraries look for them.
/// A file that is not JSON is not lent.
fn gcp_credentials_json() -> Option<String> {
    let env_path = |name: &str| {
        std::env::var_os(name)
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
    };
    let path = env_path("GOOGLE_APPLICATION_CREDENTIALS").or_else(|| {
        let config = env_path("CLOUDSDK_CONFIG")
            .or_else(|| dirs::home_dir().map(|h| h.join(".config").join("gcloud")))?;
        Some(config.join("application_default_credentials.json"))
    })?;
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .filter(serde_json::Value::is_object)
        .map(|_| text)
}

/// The keys of the active profile of OCI's config file.
fn oci_profile() -> Option<std::collections::BTreeMap<String, String>> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let path = match env("OCI_CONFIG_FILE") {
        Some(p) => PathBuf::from(expand_home(&p)?),
        None => dirs::home_dir()?.join(".oci").join("config"),
    };
    let profile = env("OCI_CLI_PROFILE").unwrap_or_else(|| "DEFAULT".into());
    oci_config_profile(&std::fs::read_to_string(path).ok()?, &profile)
}

/// `path` with a leading `~/` replaced by the home folder.
fn expand_home(path: &str) -> Option<String> {
    match path.strip_prefix("~/") {
        Some(rest) => Some(dirs::home_dir()?.join(rest).display().to_string()),
        None => Some(path.to_string()),
    }
}

/// The keys of `profile` in an OCI config file's text (its own over `DEFAULT`'s).
fn oci_config_profile(
    text: &str,
    profile: &str,
) -> Option<std::collections::BTreeMap<String, String>> {
    let file = ini::Ini::load_from_str(text).ok()?;
    let mut keys = std::collections::BTreeMap::new();
    let mut found = false;
    for name in ["DEFAULT", profile] {
        if let Some(section) = file.section(Some(name)) {
            found |= name == profile;
            for (k, v) in section.iter() {
                keys.insert(k.trim().to_string(), v.trim().to_string());
            }
        }
    }
    found.then_some(keys)
}

/// The JSON lent as [`OCI_PROFILE_JSON`]: the four identity keys only.
fn oci_profile_json(profile: &std::collections::BTreeMap<String, String>) -> String {
    let pick = |k: &str| profile.get(k).cloned().unwrap_or_default();
    serde_json::json!({
        "user": pick("user"),
        "tenancy": pick("tenancy"),
        "fingerprint": pick("fingerprint"),
        "region": pick("region"),
    })
    .to_string()
}

/// The API signing key: the file named by `OCI_CLI_KEY_FILE`, else by the profile's
/// `key_file` (`OCI_CLI_KEY_CONTENT` itself is read from the environment first).
fn oci_key_content() -> Option<String> {
    let path = match std::env::var("OCI_CLI_KEY_FILE")
        .ok()
        .filter(|v| !v.is_empty())
    {
        Some(p) => p,
        None => oci_profile()?.get("key_file")?.clone(),
    };
    std::fs::read_to_string(expand_home(&path)?)
        .ok()
        .filter(|k| k.contains("PRIVATE KEY"))
}

fn aws_credentials_file() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("AWS_SHARED_CREDENTIALS_FILE").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    dirs::home_dir().map(|home| home.join(".aws").join("credentials"))
}

/// `key` of the active profile (`AWS_PROFILE`, else `default`).
fn aws_profile_value(key: &str) -> Option<String> {
    let file = ini::Ini::load_from_file(aws_credentials_file()?).ok()?;
    let profile = std::env::var("AWS_PROFILE")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "default".into());
    file.section(Some(profile))?
        .get(key)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Lambda Cloud's key from `~/.lambda_cloud/lambda_keys` (SkyPilot's file).
fn lambda_api_key() -> Option<String> {
    let path = dirs::home_dir()?.join(".lambda_cloud").join("lambda_keys");
    lambda_keys_value(&std::fs::read_to_string(path).ok()?)
}

/// The `api_key = ...` line of a `lambda_keys` file.
fn lambda_keys_value(text: &str) -> Option<String> {
    text.lines()
        .filter_map(|line| line.split_once('='))
        .find(|(k, _)| k.trim() == "api_key")
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// RunPod's key from `~/.runpod/config.toml`, where `runpod config` (the Python
/// SDK, `api_key`) and `runpodctl config` (`apikey`) write it.
fn runpod_api_key() -> Option<String> {
    let path = dirs::home_dir()?.join(".runpod").join("config.toml");
    runpod_config_value(&std::fs::read_to_string(path).ok()?)
}

/// The `api_key = "..."` (or `apikey`) value of a RunPod `config.toml`.
fn runpod_config_value(text: &str) -> Option<String> {
    text.lines()
        .filter_map(|line| line.split_once('='))
        .find(|(k, _)| matches!(k.trim(), "api_key" | "apikey"))
        .map(|(_, v)| v.trim().trim_matches(|c| c == '"' || c == '\'').to_string())
        .filter(|v| !v.is_empty())
}

/// DigitalOcean's token from doctl's `config.yaml` (`$XDG_CONFIG_HOME/doctl`, by
/// default `~/.config/doctl`), where `doctl auth init` writes it.
fn doctl_access_token() -> Option<String> {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| dirs::home_dir().map(|h| h.join(".config")))?;
    doctl_config_value(&std::fs::read_to_string(config.join("doctl").join("config.yaml")).ok()?)
}

/// The token of a doctl `config.yaml`: that of the current `context` under
/// `auth-contexts` when it names one other than `default`, else `access-token`.
fn doctl_config_value(text: &str) -> Option<String> {
    let doc: serde_yaml::Value = serde_yaml::from_str(text).ok()?;
    let context = doc.get("context").and_then(serde_yaml::Value::as_str);
    let token = match context {
        Some(c) if c != "default" => doc.get("auth-contexts")?.get(c)?,
        _ => doc.get("access-token")?,
    };
    token
        .as_str()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// The key and project of the current context of a `cudo.yml` (`configVersion:
/// v0`, `current-context`, `contexts: [{name, key, project}]`, `keys: [{name,
/// key}]`), read as `cudo_compute.AuthConfig.load_config` reads it: the context's
/// `key` names an entry of `keys`. `None` for another version or no such context.
fn cudo_context(text: &str) -> Option<(Option<String>, Option<String>)> {
    let doc: serde_yaml::Value = serde_yaml::from_str(text).ok()?;
    if doc.get("configVersion").and_then(serde_yaml::Value::as_str) != Some("v0") {
        return None;
    }
    let current = doc.get("current-context")?.as_str()?;
    let named = |list: &str, name: &str| {
        doc.get(list)?
            .as_sequence()?
            .iter()
            .find(|e| e.get("name").and_then(serde_yaml::Value::as_str) == Some(name))
            .cloned()
    };
    let text_of = |v: Option<&serde_yaml::Value>| {
        v.and_then(serde_yaml::Value::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let context = named("contexts", current)?;
    let project = text_of(context.get("project"));
    let key = text_of(context.get("key"))
        .and_then(|k| named("keys", &k))
        .and_then(|k| text_of(k.get("key")));
    Some((key, project))
}

/// Vast.ai's key from the file its CLI and SDK read: `$XDG_CONFIG_HOME/vastai/vast_api_key`
/// (by default `~/.config/vastai`, where `vastai set api-key` writes it), else the
/// older `~/.vast_api_key`.
fn vast_api_key() -> Option<String> {
    let home = dirs::home_dir();
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join(".config")));
    vast_api_key_in(config, home)
}

/// [`vast_api_key`] over a config folder and a home folder.
fn vast_api_key_in(config: Option<PathBuf>, home: Option<PathBuf>) -> Option<String> {
    config
        .and_then(|c| key_file(&c.join("vastai").join("vast_api_key")))
        .or_else(|| home.and_then(|h| key_file(&h.join(".vast_api_key"))))
}

/// A file that holds one key and nothing else: its text trimmed, `None` when
/// missing or blank.
fn key_file(path: &std::path::Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    Some(text.trim().to_string()).filter(|v| !v.is_empty())
}

/// Prime Intellect's key from the file its CLI (`prime login`) writes and its
/// `APIClient` reads after the variable: `api_key` of `~/.prime/config.json`
/// (`PRIME_CONTEXT`'s other environments are not read).
fn prime_api_key() -> Option<String> {
    prime_api_key_in(&dirs::home_dir()?.join(".prime").join("config.json"))
}

/// [`prime_api_key`] from the config file at `path`.
fn prime_api_key_in(path: &std::path::Path) -> Option<String> {
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    doc.get("api_key")?
        .as_str()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// Fluidstack's key from `<home>/.fluidstack/api_key` (the file SkyPilot's
/// Fluidstack support reads, the whole file trimmed; Fluidstack's own package
/// reads only the variable `FLUIDSTACK_API_KEY`).
fn fluidstack_api_key_in(home: &std::path::Path) -> Option<String> {
    key_file(&home.join(".fluidstack").join("api_key"))
}

/// Nebius's service-account credentials file, `<home>/.nebius/credentials.json`
/// (the file SkyPilot's Nebius support and the `nebius` SDK's credentials-file
/// reader take): its JSON, when it is JSON.
fn nebius_credentials_in(home: &std::path::Path) -> Option<String> {
    let text = std::fs::read_to_string(home.join(".nebius").join("credentials.json")).ok()?;
    serde_json::from_str::<serde_json::Value>(&text).ok()?;
    Some(text)
}

/// A service principal's `name` (`AZURE_SUBSCRIPTION_ID`, `AZURE_TENANT_ID`,
/// `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`) from the Azure CLI's cached login
/// (`$AZURE_CONFIG_DIR`, by default `~/.azure`): the default subscription of
/// `azureProfile.json` and its tenant; when that subscription's login is a
/// service principal (`az login --service-principal`), its id, and its secret
/// from `service_principal_entries.json`. A user's login (an MSAL refresh token)
/// is not lent.
fn azure_cli_value(name: &str) -> Option<String> {
    let dir = std::env::var_os("AZURE_CONFIG_DIR")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| dirs::home_dir().map(|h| h.join(".azure")))?;
    let read = |file: &str| std::fs::read_to_string(dir.join(file)).ok();
    azure_cli_lookup(name, &read("azureProfile.json")?, || {
        read("service_principal_entries.json")
    })
}

/// [`azure_cli_value`] over the profile's text and a reader of the entries file.
fn azure_cli_lookup(
    name: &str,
    profile: &str,
    entries: impl FnOnce() -> Option<String>,
) -> Option<String> {
    // The CLI writes azureProfile.json with a byte-order mark.
    let doc: serde_json::Value =
        serde_json::from_str(profile.trim_start_matches('\u{feff}')).ok()?;
    let sub = doc
        .get("subscriptions")?
        .as_array()?
        .iter()
        .find(|s| s.get("isDefault").and_then(serde_json::Value::as_bool) == Some(true))?;
    let text = |v: Option<&serde_json::Value>| {
        v.and_then(serde_json::Value::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let user = sub.get("user");
    let principal = (text(user.and_then(|u| u.get("type"))).as_deref() == Some("servicePrincipal"))
        .then(|| text(user.and_then(|u| u.get("name"))))
        .flatten();
    match name {
        "AZURE_SUBSCRIPTION_ID" => text(sub.get("id")),
        "AZURE_TENANT_ID" => text(sub.get("tenantId")),
        "AZURE_CLIENT_ID" => principal,
        "AZURE_CLIENT_SECRET" => {
            let principal = principal?;
            let list: serde_json::Value = serde_json::from_str(&entries()?).ok()?;
            list.as_array()?
                .iter()
                .find(|e| text(e.get("client_id")).as_deref() == Some(principal.as_str()))
                .and_then(|e| text(e.get("client_secret")))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nebius_credentials_file_is_lent_when_it_is_json() {
        let home = tempfile::tempdir().unwrap();
        assert_eq!(nebius_credentials_in(home.path()), None);
        std::fs::create_dir_all(home.path().join(".nebius")).unwrap();
        let file = home.path().join(".nebius/credentials.json");
        std::fs::write(&file, "not json").unwrap();
        assert_eq!(nebius_credentials_in(home.path()), None);
        let json = r#"{"subject-credentials": {"alg": "RS256", "kid": "k"}}"#;
        std::fs::write(&file, json).unwrap();
        assert_eq!(nebius_credentials_in(home.path()).as_deref(), Some(json));
    }

    #[test]
    fn the_fluidstack_key_file_lends_its_api_key() {
        let home = tempfile::tempdir().unwrap();
        assert_eq!(fluidstack_api_key_in(home.path()), None);
        std::fs::create_dir_all(home.path().join(".fluidstack")).unwrap();
        let file = home.path().join(".fluidstack/api_key");
        std::fs::write(&file, "  \n").unwrap();
        assert_eq!(fluidstack_api_key_in(home.path()), None);
        std::fs::write(&file, " fs-key-123\n").unwrap();
        assert_eq!(
            fluidstack_api_key_in(home.path()).as_deref(),
            Some("fs-key-123")
        );
    }

    #[test]
    fn the_prime_cli_config_lends_its_api_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        assert_eq!(prime_api_key_in(&path), None);
        std::fs::write(&path, r#"{"api_key": "", "team_id": null}"#).unwrap();
        assert_eq!(
            prime_api_key_in(&path),
            None,
            "prime writes an empty key first"
        );
        std::fs::write(
            &path,
            r#"{"api_key": " pk-123 ", "base_url": "https://api.primeintellect.ai"}"#,
        )
        .unwrap();
        assert_eq!(prime_api_key_in(&path).as_deref(), Some("pk-123"));
        std::fs::write(&path, "not json").unwrap();
        assert_eq!(prime_api_key_in(&path), None);
    }

    #[test]
    fn the_azure_cli_login_lends_the_default_subscription_and_its_service_principal() {
        let profile = "\u{feff}{\"installationId\": \"i\", \"subscriptions\": [
            {\"id\": \"sub-other\", \"isDefault\": false, \"tenantId\": \"t0\",
             \"user\": {\"name\": \"someone@example.com\", \"type\": \"user\"}},
            {\"id\": \"sub-1\", \"isDefault\": true, \"tenantId\": \"tenant-1\",
             \"user\": {\"name\": \"app-1\", \"type\": \"servicePrincipal\"}}]}";
        let entries = || {
            Some(
                r#"[{"client_id": "app-0", "tenant": "tenant-1", "client_secret": "wrong"},
                    {"client_id": "app-1", "tenant": "tenant-1", "client_secret": "s3cret"}]"#
                    .to_string(),
            )
        };
        let get = |name: &str| azure_cli_lookup(name, profile, entries);
        assert_eq!(get("AZURE_SUBSCRIPTION_ID").as_deref(), Some("sub-1"));
        assert_eq!(get("AZURE_TENANT_ID").as_deref(), Some("tenant-1"));
        assert_eq!(get("AZURE_CLIENT_ID").as_deref(), Some("app-1"));
        assert_eq!(get("AZURE_CLIENT_SECRET").as_deref(), Some("s3cret"));
        assert_eq!(get("AZURE_OTHER"), None);
        // A user's login lends the subscription and tenant, no principal.
        let user = profile.replace("servicePrincipal", "user");
        assert_eq!(
            azure_cli_lookup("AZURE_SUBSCRIPTION_ID", &user, entries).as_deref(),
            Some("sub-1")
        );
        assert_eq!(azure_cli_lookup("AZURE_CLIENT_ID", &user, entries), None);
        assert_eq!(
            azure_cli_lookup("AZURE_CLIENT_SECRET", &user, entries),
            None
        );
        assert_eq!(
            azure_cli_lookup("AZURE_TENANT_ID", "not json", entries),
            None
        );
    }

    #[test]
    fn vast_key_files_lend_the_vast_api_key_newer_first() {
        let dir = tempfile::tempdir().unwrap();
        let (config, home) = (dir.path().join("config"), dir.path().join("home"));
        std::fs::create_dir_all(config.join("vastai")).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        let key = || vast_api_key_in(Some(config.clone()), Some(home.clone()));
        assert_eq!(key(), None);
        std::fs::write(home.join(".vast_api_key"), "old-key\n").unwrap();
        assert_eq!(key().as_deref(), Some("old-key"));
        std::fs::write(config.join("vastai/vast_api_key"), " new-key \n").unwrap();
        assert_eq!(key().as_deref(), Some("new-key"));
        std::fs::write(config.join("vastai/vast_api_key"), "\n").unwrap();
        assert_eq!(
            key().as_deref(),
            Some("old-key"),
            "an empty file lends nothing"
        );
    }

    #[test]
    fn an_oci_profile_inherits_the_default_section() {
        let text = "[DEFAULT]\nuser=ocid1.user.oc1..aaa\nfingerprint=aa:bb\n\
                    tenancy=ocid1.tenancy.oc1..t\nregion=us-ashburn-1\nkey_file=~/.oci/k.pem\n\n\
                    [WORK]\nuser = ocid1.user.oc1..work\nregion = eu-frankfurt-1\n";
        let default = oci_config_profile(text, "DEFAULT").unwrap();
        assert_eq!(default["user"], "ocid1.user.oc1..aaa");
        let work = oci_config_profile(text, "WORK").unwrap();
        assert_eq!(work["user"], "ocid1.user.oc1..work");
        assert_eq!(work["tenancy"], "ocid1.tenancy.oc1..t", "from DEFAULT");
        let json: serde_json::Value = serde_json::from_str(&oci_profile_json(&work)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"user": "ocid1.user.oc1..work", "tenancy": "ocid1.tenancy.oc1..t",
                               "fingerprint": "aa:bb", "region": "eu-frankfurt-1"}),
            "the key file's path is not lent"
        );
        assert_eq!(oci_config_profile(text, "MISSING"), None);
        assert_eq!(oci_config_profile("not [ini", "DEFAULT"), None);
    }

    #[test]
    fn cudo_yml_lends_the_current_contexts_key_and_project() {
        let text = "configVersion: v0\ncurrent-context: work\n\
                    contexts:\n- {name: default, key: k1, project: p-default}\n\
                    - {name: work, key: k2, project: p-work}\n\
                    keys:\n- {name: k1, key: key-one}\n- {name: k2, key: key-two}\n";
        assert_eq!(
            cudo_context(text),
            Some((Some("key-two".into()), Some("p-work".into())))
        );
        let other = text.replace("current-context: work", "current-context: gone");
        assert_eq!(cudo_context(&other), None);
        assert_eq!(cudo_context(&text.replace("v0", "v1")), None);
        let no_key = text.replace("{name: k2, key: key-two}", "{name: k3, key: key-three}");
        assert_eq!(cudo_context(&no_key), Some((None, Some("p-work".into()))));
    }

    #[test]
    fn the_doctl_config_lends_the_digitalocean_token() {
        assert_eq!(
            doctl_config_value("access-token: dop_v1_abc\ncontext: default\n").as_deref(),
            Some("dop_v1_abc")
        );
        assert_eq!(
            doctl_config_value(
                "access-token: dop_v1_default\nauth-contexts:\n  work: dop_v1_work\ncontext: work\n"
            )
            .as_deref(),
            Some("dop_v1_work")
        );
        assert_eq!(doctl_config_value("access-token: \"\"\n"), None);
        assert_eq!(doctl_config_value("context: missing\n"), None);
        assert_eq!(doctl_config_value("not: [yaml"), None);
    }

    #[test]
    fn the_runpod_config_file_lends_the_api_key() {
        assert_eq!(
            runpod_config_value("[default]\napi_key = \"rpa_ABC\"\n").as_deref(),
            Some("rpa_ABC")
        );
        assert_eq!(
            runpod_config_value("apikey = 'rpa_X'").as_deref(),
            Some("rpa_X")
        );
        assert_eq!(runpod_config_value("api_key = \"\"\n"), None);
        assert_eq!(runpod_config_value(""), None);
    }

    #[test]
    fn the_lambda_keys_file_lends_the_api_key() {
        assert_eq!(
            lambda_keys_value("# lambda\napi_key = secret_x.y\n").as_deref(),
            Some("secret_x.y")
        );
        assert_eq!(lambda_keys_value("api_key=abc").as_deref(), Some("abc"));
        assert_eq!(lambda_keys_value("other = 1\napi_key =\n"), None);
        assert_eq!(lambda_keys_value(""), None);
    }

    #[test]
    fn a_profile_in_the_shared_file_lends_aws_keys() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("credentials");
        std::fs::write(
            &file,
            "[default]\naws_access_key_id = AKIADEFAULT\naws_secret_access_key = s1\n\n\
             [work]\naws_access_key_id=AKIAWORK\naws_secret_access_key=s2\naws_session_token=t2\n",
        )
        .unwrap();
        // One test touches these variables, so no other test races with it.
        // SAFETY: no other thread of this test binary reads or writes them.
        unsafe {
            std::env::remove_var("AWS_ACCESS_KEY_ID");
            std::env::remove_var("AWS_SECRET_ACCESS_KEY");
            std::env::remove_var("AWS_SESSION_TOKEN");
            std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", &file);
            std::env::remove_var("AWS_PROFILE");
        }
        let source = StandardCredentials;
        assert_eq!(
            source.get("AWS_ACCESS_KEY_ID").as_deref(),
            Some("AKIADEFAULT")
        );
        assert_eq!(source.get("AWS_SESSION_TOKEN"), None);
        unsafe { std::env::set_var("AWS_PROFILE", "work") };
        assert_eq!(source.get("AWS_ACCESS_KEY_ID").as_deref(), Some("AKIAWORK"));
        assert_eq!(source.get("AWS_SESSION_TOKEN").as_deref(), Some("t2"));
        unsafe { std::env::set_var("AWS_ACCESS_KEY_ID", "AKIAENV") };
        assert_eq!(
            source.get("AWS_ACCESS_KEY_ID").as_deref(),
            Some("AKIAENV"),
            "env first"
        );
        assert_eq!(source.get("OTHER_SECRET"), None);
        unsafe {
            std::env::remove_var("AWS_ACCESS_KEY_ID");
            std::env::remove_var("AWS_PROFILE");
            std::env::remove_var("AWS_SHARED_CREDENTIALS_FILE");
        }
    }

    #[test]
    fn google_credentials_come_from_the_key_file_else_the_adc_file() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key.json");
        std::fs::write(&key, r#"{"type":"service_account","project_id":"p1"}"#).unwrap();
        let gcloud = dir.path().join("gcloud");
        std::fs::create_dir(&gcloud).unwrap();
        std::fs::write(
            gcloud.join("application_default_credentials.json"),
            r#"{"type":"authorized_user","refresh_token":"r"}"#,
        )
        .unwrap();
        // One test touches these variables, so no other test races with it.
        // SAFETY: no other thread of this test binary reads or writes them.
        unsafe {
            std::env::remove_var(GCP_CREDENTIALS_JSON);
            std::env::set_var("GOOGLE_APPLICATION_CREDENTIALS", &key);
            std::env::set_var("CLOUDSDK_CONFIG", &gcloud);
        }
        let source = StandardCredentials;
        let lent = source.get(GCP_CREDENTIALS_JSON).unwrap();
        assert!(lent.contains("service_account"), "the key file first");
        unsafe { std::env::remove_var("GOOGLE_APPLICATION_CREDENTIALS") };
        let lent = source.get(GCP_CREDENTIALS_JSON).unwrap();
        assert!(lent.contains("authorized_user"), "then the ADC file");
        std::fs::write(
            gcloud.join("application_default_credentials.json"),
            "not json",
        )
        .unwrap();
        assert_eq!(
            source.get(GCP_CREDENTIALS_JSON),
            None,
            "garbage is not lent"
        );
        unsafe { std::env::set_var("CLOUDSDK_CONFIG", dir.path().join("missing")) };
        assert_eq!(source.get(GCP_CREDENTIALS_JSON), None);
        unsafe { std::env::remove_var("CLOUDSDK_CONFIG") };
    }
}
