//! Kubeconfig files: parsing with located errors, resolving a context.
//!
//! Which file: the one given, else the first existing entry of `$KUBECONFIG` (a
//! `:`-separated list), else `~/.kube/config`. When none exists and aloft runs in a
//! pod (`KUBERNETES_SERVICE_HOST` set), the context [`IN_CLUSTER`] resolves to the
//! pod's service account (token, CA and namespace files under
//! `/var/run/secrets/kubernetes.io/serviceaccount`, or `$ALOFT_KUBE_SERVICEACCOUNT_DIR`).
//!
//! Relative file paths (CA, client certificate, token file, exec command) are read
//! relative to the kubeconfig's folder, as `kubectl` does. Exec credential plugins
//! (`client.authentication.k8s.io/v1` and `v1beta1`) run exactly the command the
//! kubeconfig names, with its arguments and environment and `KUBERNETES_EXEC_INFO`;
//! their token is cached in this process until its `expirationTimestamp`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde::Deserialize;

use super::{KubeError, ResolvedContext};

/// The context name of in-cluster service-account credentials.
pub const IN_CLUSTER: &str = "in-cluster";

/// Where a pod's service-account files are.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// A parsed kubeconfig file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct KubeConfig {
    /// The default context.
    #[serde(default)]
    pub current_context: Option<String>,
    #[serde(default)]
    clusters: Vec<Named<ClusterSpec>>,
    #[serde(default)]
    users: Vec<Named<UserSpec>>,
    #[serde(default)]
    contexts: Vec<Named<ContextSpec>>,
    /// The file it was read from (relative paths are relative to its folder).
    #[serde(skip)]
    pub path: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
struct Named<T> {
    name: String,
    #[serde(alias = "cluster", alias = "user", alias = "context")]
    #[serde(default = "Option::default")]
    value: Option<T>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct ClusterSpec {
    #[serde(default)]
    server: String,
    #[serde(default)]
    certificate_authority: Option<String>,
    #[serde(default)]
    certificate_authority_data: Option<String>,
    #[serde(default)]
    insecure_skip_tls_verify: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct UserSpec {
    #[serde(default)]
    token: Option<String>,
    #[serde(default, rename = "tokenFile")]
    token_file: Option<String>,
    #[serde(default)]
    client_certificate: Option<String>,
    #[serde(default)]
    client_certificate_data: Option<String>,
    #[serde(default)]
    client_key: Option<String>,
    #[serde(default)]
    client_key_data: Option<String>,
    #[serde(default)]
    exec: Option<ExecSpec>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExecSpec {
    #[serde(default)]
    api_version: Option<String>,
    command: String,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: Option<Vec<EnvVar>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct EnvVar {
    name: String,
    #[serde(default)]
    value: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct ContextSpec {
    #[serde(default)]
    cluster: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    namespace: Option<String>,
}

/// Which kubeconfig file applies: `explicit`, else the first existing entry of
/// `$KUBECONFIG`, else `~/.kube/config` (which may not exist).
pub fn kubeconfig_path(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    if let Some(list) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        let paths: Vec<PathBuf> = std::env::split_paths(&list)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
        if let Some(p) = paths.iter().find(|p| p.exists()).or(paths.first()) {
            return p.clone();
        }
    }
    dirs::home_dir()
        .unwrap_or_default()
        .join(".kube")
        .join("config")
}

fn config_error(file: &Path, line: Option<usize>, message: impl Into<String>) -> KubeError {
    KubeError::Config {
        file: file.display().to_string(),
        line,
        message: message.into(),
    }
}

impl KubeConfig {
    /// Reads and parses the kubeconfig at `path`; a malformed file is an error
    /// naming the file and line.
    pub fn load(path: &Path) -> Result<KubeConfig, KubeError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| config_error(path, None, format!("cannot read: {e}")))?;
        Self::parse(path, &text)
    }

    /// Parses kubeconfig `text` read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<KubeConfig, KubeError> {
        if text.trim().is_empty() {
            return Ok(KubeConfig {
                path: path.to_path_buf(),
                ..KubeConfig::default()
            });
        }
        let mut config: KubeConfig = serde_yaml::from_str(text).map_err(|err| {
            let line = err.location().map(|l| l.line());
            // serde_yaml's message repeats the position; keep the message proper.
            let message = err.to_string();
            let message = message.split(" at line ").next().unwrap_or(&message);
            config_error(path, line, redact_quoted(message))
        })?;
        config.path = path.to_path_buf();
        Ok(config)
    }

    /// The context names, in file order.
    pub fn context_names(&self) -> Vec<String> {
        self.contexts.iter().map(|c| c.name.clone()).collect()
    }

    /// The context's API server URL and namespace, without reading any other file
    /// or running its exec plugin.
    pub fn server_and_namespace(&self, context: &str) -> Result<(String, String), KubeError> {
        let (ctx, cluster) = self.context_and_cluster(context)?;
        Ok((
            cluster.server.trim_end_matches('/').to_string(),
            namespace_of(ctx),
        ))
    }

    fn context_and_cluster(
        &self,
        context: &str,
    ) -> Result<(&ContextSpec, &ClusterSpec), KubeError> {
        let ctx = self
            .contexts
            .iter()
            .find(|c| c.name == context)
            .ok_or_else(|| KubeError::UnknownContext {
                name: context.to_string(),
                known: self.context_names(),
            })?;
        let spec = ctx.value.as_ref().ok_or_else(|| {
            config_error(&self.path, None, format!("context {context:?} is empty"))
        })?;
        let cluster = self
            .clusters
            .iter()
            .find(|c| c.name == spec.cluster)
            .and_then(|c| c.value.as_ref())
            .ok_or_else(|| {
                config_error(
                    &self.path,
                    None,
                    format!(
                        "context {context:?} names cluster {:?}, which is not defined",
                        spec.cluster
                    ),
                )
            })?;
        if cluster.server.is_empty() {
            return Err(config_error(
                &self.path,
                None,
                format!("cluster {:?} has no server", spec.cluster),
            ));
        }
        Ok((spec, cluster))
    }

    /// Resolves `context` to what a connection needs: reads the files it names and
    /// runs its exec plugin (its token cached until it expires).
    pub fn resolve(&self, context: &str) -> Result<ResolvedContext, KubeError> {
        let (ctx, cluster) = self.context_and_cluster(context)?;
        let dir = self.path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let mut out = ResolvedContext {
            name: context.to_string(),
            server: cluster.server.trim_end_matches('/').to_string(),
            namespace: namespace_of(ctx),
            insecure_skip_tls_verify: cluster.insecure_skip_tls_verify,
            ..ResolvedContext::default()
        };
        out.ca_pem = self.data_or_file(
            &dir,
            cluster.certificate_authority_data.as_deref(),
            cluster.certificate_authority.as_deref(),
            "certificate-authority",
        )?;
        let user = match self.users.iter().find(|u| u.name == ctx.user) {
            Some(u) => u.value.clone().unwrap_or_default(),
            None if ctx.user.is_empty() => UserSpec::default(),
            None => {
                return Err(config_error(
                    &self.path,
                    None,
                    format!(
                        "context {context:?} names user {:?}, which is not defined",
                        ctx.user
                    ),
                ));
            }
        };
        out.client_cert_pem = self.data_or_file(
            &dir,
            user.client_certificate_data.as_deref(),
            user.client_certificate.as_deref(),
            "client-certificate",
        )?;
        out.client_key_pem = self.data_or_file(
            &dir,
            user.client_key_data.as_deref(),
            user.client_key.as_deref(),
            "client-key",
        )?;
        if let Some(token) = user.token.filter(|t| !t.is_empty()) {
            out.token = Some(token);
        } else if let Some(file) = &user.token_file {
            let path = dir.join(file);
            let token = std::fs::read_to_string(&path)
                .map_err(|e| config_error(&path, None, format!("cannot read token file: {e}")))?;
            out.token = Some(token.trim().to_string());
        }
        if let Some(exec) = &user.exec {
            let cred = run_exec(&dir, exec)?;
            if cred.token.is_some() {
                out.token = cred.token;
            }
            if cred.client_cert_pem.is_some() {
                out.client_cert_pem = cred.client_cert_pem;
                out.client_key_pem = cred.client_key_pem;
            }
        }
        Ok(out)
    }

    /// Base64 `data`, else the contents of `file` (relative to `dir`).
    fn data_or_file(
        &self,
        dir: &Path,
        data: Option<&str>,
        file: Option<&str>,
        what: &str,
    ) -> Result<Option<Vec<u8>>, KubeError> {
        if let Some(data) = data.filter(|d| !d.trim().is_empty()) {
            let compact: String = data.split_whitespace().collect();
            return base64::engine::general_purpose::STANDARD
                .decode(compact)
                .map(Some)
                .map_err(|e| {
                    config_error(&self.path, None, format!("{what}-data: not base64: {e}"))
                });
        }
        match file.filter(|f| !f.is_empty()) {
            Some(file) => {
                let path = dir.join(file);
                std::fs::read(&path)
                    .map(Some)
                    .map_err(|e| config_error(&path, None, format!("cannot read {what}: {e}")))
            }
            None => Ok(None),
        }
    }
}

/// `message` with every double-quoted value replaced by `"…"`: a parse error may
/// quote a scalar of the file, which may be a token.
fn redact_quoted(message: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for c in message.chars() {
        if c == '"' {
            if inside {
                out.push_str("…\"");
            } else {
                out.push('"');
            }
            inside = !inside;
        } else if !inside {
            out.push(c);
        }
    }
    out
}

fn namespace_of(ctx: &ContextSpec) -> String {
    ctx.namespace
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "default".to_string())
}

/// Resolves `context` of the kubeconfig at `kubeconfig` (else `$KUBECONFIG`, else
/// `~/.kube/config`) to what a connection needs, running its exec credential plugin
/// if it names one. With no kubeconfig file, [`IN_CLUSTER`] resolves to the pod's
/// service account.
pub fn resolve(kubeconfig: Option<&Path>, context: &str) -> Result<ResolvedContext, KubeError> {
    let path = kubeconfig_path(kubeconfig);
    if !path.exists() && context == IN_CLUSTER {
        return resolve_in_cluster(&service_account_dir());
    }
    KubeConfig::load(&path)?.resolve(context)
}

/// A kubeconfig with `contexts` (as [`resolve`] gave them, exec plugins already
/// run) written out in full: inline CA, token or client certificate and key, no
/// file or plugin of this machine named. This is what a machine that has none of
/// those files (a remote jobs controller) uses; a plugin's token is written as it
/// is now and expires there when it would here. The text holds secrets.
pub fn portable_kubeconfig(contexts: &[ResolvedContext]) -> Result<String, KubeError> {
    let b64 = |pem: &Option<Vec<u8>>| {
        pem.as_ref()
            .map(|p| base64::engine::general_purpose::STANDARD.encode(p))
    };
    let (mut clusters, mut users, mut named) = (Vec::new(), Vec::new(), Vec::new());
    for r in contexts {
        let name = &r.name;
        let mut cluster = serde_json::json!({ "server": r.server });
        if let Some(ca) = b64(&r.ca_pem) {
            cluster["certificate-authority-data"] = ca.into();
        }
        if r.insecure_skip_tls_verify {
            cluster["insecure-skip-tls-verify"] = true.into();
        }
        let mut user = serde_json::json!({});
        if let Some(token) = &r.token {
            user["token"] = token.clone().into();
        }
        if let (Some(cert), Some(key)) = (b64(&r.client_cert_pem), b64(&r.client_key_pem)) {
            user["client-certificate-data"] = cert.into();
            user["client-key-data"] = key.into();
        }
        clusters.push(serde_json::json!({ "name": name, "cluster": cluster }));
        users.push(serde_json::json!({ "name": name, "user": user }));
        named.push(serde_json::json!({
            "name": name,
            "context": { "cluster": name, "user": name, "namespace": r.namespace },
        }));
    }
    let config = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": contexts.first().map(|r| &r.name),
        "clusters": clusters,
        "users": users,
        "contexts": named,
    });
    serde_yaml::to_string(&config).map_err(|e| KubeError::Config {
        file: "<portable kubeconfig>".into(),
        line: None,
        message: e.to_string(),
    })
}

/// The service-account folder: `$ALOFT_KUBE_SERVICEACCOUNT_DIR`, else
/// [`SERVICE_ACCOUNT_DIR`].
pub fn service_account_dir() -> PathBuf {
    std::env::var_os("ALOFT_KUBE_SERVICEACCOUNT_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(SERVICE_ACCOUNT_DIR))
}

/// Whether aloft runs in a pod (`KUBERNETES_SERVICE_HOST` is set).
pub fn in_cluster_available() -> bool {
    std::env::var_os("KUBERNETES_SERVICE_HOST").is_some_and(|v| !v.is_empty())
}

/// In-cluster credentials: `KUBERNETES_SERVICE_HOST`/`_PORT` and the `token`,
/// `ca.crt` and `namespace` files of `dir`.
pub fn resolve_in_cluster(dir: &Path) -> Result<ResolvedContext, KubeError> {
    let host = std::env::var("KUBERNETES_SERVICE_HOST")
        .ok()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| {
            config_error(
                dir,
                None,
                "not in a pod: KUBERNETES_SERVICE_HOST is not set",
            )
        })?;
    let port = std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_else(|_| "443".into());
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    let token_path = dir.join("token");
    let token = std::fs::read_to_string(&token_path)
        .map_err(|e| config_error(&token_path, None, format!("cannot read: {e}")))?;
    let ca_pem = std::fs::read(dir.join("ca.crt")).ok();
    let namespace = std::fs::read_to_string(dir.join("namespace"))
        .ok()
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "default".into());
    Ok(ResolvedContext {
        name: IN_CLUSTER.to_string(),
        server: format!("https://{host}:{port}"),
        namespace,
        ca_pem,
        token: Some(token.trim().to_string()),
        ..ResolvedContext::default()
    })
}

// ---- exec credential plugins ---------------------------------------------------

/// What an exec plugin handed back.
#[derive(Clone, Default)]
struct ExecCredential {
    token: Option<String>,
    client_cert_pem: Option<Vec<u8>>,
    client_key_pem: Option<Vec<u8>>,
    /// When it expires (`None`: valid for the life of this process).
    expires: Option<SystemTime>,
}

/// Tokens of exec plugins by command line and environment, until they expire.
static EXEC_CACHE: Mutex<Option<HashMap<String, ExecCredential>>> = Mutex::new(None);

/// How long before its expiry a cached credential is renewed.
const EXPIRY_MARGIN: Duration = Duration::from_secs(10);

/// Runs the exec plugin (or takes its cached answer).
fn run_exec(dir: &Path, exec: &ExecSpec) -> Result<ExecCredential, KubeError> {
    let env: BTreeMap<String, String> = exec
        .env
        .iter()
        .flatten()
        .map(|e| (e.name.clone(), e.value.clone()))
        .collect();
    let key = serde_json::json!([exec.command, exec.args, env, dir]).to_string();
    if let Ok(cache) = EXEC_CACHE.lock()
        && let Some(cred) = cache.as_ref().and_then(|c| c.get(&key))
        && cred
            .expires
            .is_none_or(|at| at > SystemTime::now() + EXPIRY_MARGIN)
    {
        return Ok(cred.clone());
    }
    let cred = run_exec_uncached(dir, exec, &env)?;
    if let Ok(mut cache) = EXEC_CACHE.lock() {
        cache
            .get_or_insert_with(HashMap::new)
            .insert(key, cred.clone());
    }
    Ok(cred)
}

fn run_exec_uncached(
    dir: &Path,
    exec: &ExecSpec,
    env: &BTreeMap<String, String>,
) -> Result<ExecCredential, KubeError> {
    let failed = |message: String| KubeError::ExecPlugin {
        command: exec.command.clone(),
        message,
    };
    let api_version = exec
        .api_version
        .clone()
        .unwrap_or_else(|| "client.authentication.k8s.io/v1".into());
    if !matches!(
        api_version.as_str(),
        "client.authentication.k8s.io/v1" | "client.authentication.k8s.io/v1beta1"
    ) {
        return Err(failed(format!("unsupported apiVersion {api_version:?}")));
    }
    // A command with a `/` is a path (relative to the kubeconfig's folder); a bare
    // name is looked up on PATH.
    let program = if exec.command.contains('/') {
        dir.join(&exec.command)
    } else {
        PathBuf::from(&exec.command)
    };
    let info = serde_json::json!({
        "apiVersion": api_version,
        "kind": "ExecCredential",
        "spec": {"interactive": false},
    });
    let mut command = std::process::Command::new(&program);
    command
        .args(&exec.args)
        .envs(env)
        .env("KUBERNETES_EXEC_INFO", info.to_string())
        .stdin(std::process::Stdio::null());
    let output = output_within(command, EXEC_TIMEOUT).map_err(failed)?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
        return Err(failed(format!(
            "{}{}",
            output.status,
            last.map(|l| format!(": {l}")).unwrap_or_default()
        )));
    }
    #[derive(Deserialize)]
    struct Out {
        #[serde(default)]
        kind: String,
        #[serde(default)]
        status: Option<Status>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Status {
        #[serde(default)]
        token: Option<String>,
        #[serde(default)]
        expiration_timestamp: Option<String>,
        #[serde(default)]
        client_certificate_data: Option<String>,
        #[serde(default)]
        client_key_data: Option<String>,
    }
    // Never echo the output: it holds the token.
    let out: Out = serde_json::from_slice(&output.stdout).map_err(|e| {
        failed(format!(
            "its output is not an ExecCredential (line {})",
            e.line()
        ))
    })?;
    if out.kind != "ExecCredential" {
        return Err(failed(format!(
            "its output has kind {:?}, not ExecCredential",
            out.kind
        )));
    }
    let status = out
        .status
        .ok_or_else(|| failed("its ExecCredential has no status".into()))?;
    let expires = match status.expiration_timestamp.as_deref() {
        Some(ts) => Some(
            parse_rfc3339(ts).ok_or_else(|| failed(format!("bad expirationTimestamp {ts:?}")))?,
        ),
        None => None,
    };
    let cred = ExecCredential {
        token: status.token.filter(|t| !t.is_empty()),
        client_cert_pem: status.client_certificate_data.map(String::into_bytes),
        client_key_pem: status.client_key_data.map(String::into_bytes),
        expires,
    };
    if cred.token.is_none() && cred.client_cert_pem.is_none() {
        return Err(failed(
            "its ExecCredential has neither a token nor a client certificate".into(),
        ));
    }
    Ok(cred)
}

/// How long an exec plugin may run (one waiting for an interactive login would
/// otherwise hang aloft).
pub const EXEC_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `command` to its end, collecting its output; killed after `limit`.
fn output_within(
    mut command: std::process::Command,
    limit: Duration,
) -> Result<std::process::Output, String> {
    use std::io::Read;
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run it: {e}"))?;
    // Read both pipes on threads, so a chatty plugin cannot block on a full pipe.
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut buf);
            }
            buf
        })
    };
    let stdout = reader(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = reader(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = std::time::Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("it did not finish within {} s", limit.as_secs()));
            }
            Err(e) => return Err(format!("cannot wait for it: {e}")),
        }
    };
    Ok(std::process::Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

/// `2026-11-30T22:00:00Z` (fractions and `+HH:MM` offsets allowed) as a time.
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let text = text.trim();
    let (date, rest) = text.split_once(['T', 't', ' '])?;
    let mut d = date.splitn(3, '-');
    let year: i64 = d.next()?.parse().ok()?;
    let month: i64 = d.next()?.parse().ok()?;
    let day: i64 = d.next()?.parse().ok()?;
    let (clock, offset) = if let Some(c) = rest.strip_suffix(['Z', 'z']) {
        (c, 0i64)
    } else {
        let at = rest.rfind(['+', '-'])?;
        let (c, off) = rest.split_at(at);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (h, m) = off[1..].split_once(':')?;
        (
            c,
            sign * (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60),
        )
    };
    let clock = clock.split('.').next()?;
    let mut c = clock.splitn(3, ':');
    let hour: i64 = c.next()?.parse().ok()?;
    let minute: i64 = c.next()?.parse().ok()?;
    let second: i64 = c.next()?.parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    let secs = days * 86400 + hour * 3600 + minute * 60 + second - offset;
    u64::try_from(secs)
        .ok()
        .map(|s| UNIX_EPOCH + Duration::from_secs(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    const BASE: &str = "apiVersion: v1
kind: Config
current-context: a
clusters:
- name: ca
  cluster:
    server: https://10.0.0.1:6443/
    certificate-authority-data: Q0FQRU0=
- name: cb
  cluster:
    server: https://k.example.com
    certificate-authority: ca.pem
    insecure-skip-tls-verify: true
users:
- name: ua
  user:
    token: tok-a
- name: ub
  user:
    tokenFile: tok.txt
    client-certificate: c.pem
    client-key-data: S0VZ
contexts:
- name: a
  context: {cluster: ca, user: ua, namespace: team}
- name: b
  context: {cluster: cb, user: ub}
";

    #[test]
    fn static_token_and_ca_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "config", BASE);
        let cfg = KubeConfig::load(&path).unwrap();
        assert_eq!(cfg.current_context.as_deref(), Some("a"));
        let a = cfg.resolve("a").unwrap();
        assert_eq!(a.server, "https://10.0.0.1:6443");
        assert_eq!(a.namespace, "team");
        assert_eq!(a.ca_pem.as_deref(), Some(&b"CAPEM"[..]));
        assert_eq!(a.token.as_deref(), Some("tok-a"));
        assert!(!a.insecure_skip_tls_verify);
        assert!(!format!("{a:?}").contains("tok-a"));
    }

    #[test]
    fn a_portable_kubeconfig_resolves_to_the_same_contexts_without_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "config", BASE);
        write(dir.path(), "ca.pem", "CA-FILE");
        write(dir.path(), "c.pem", "CERT-FILE");
        write(dir.path(), "tok.txt", "tok-b\n");
        let names = ["b".to_string(), "a".to_string()];
        let resolved: Vec<ResolvedContext> = names
            .iter()
            .map(|n| resolve(Some(&path), n).unwrap())
            .collect();
        let text = portable_kubeconfig(&resolved).unwrap();
        // Elsewhere, where none of the files named above exist.
        let other = tempfile::tempdir().unwrap();
        let moved = write(other.path(), "config", &text);
        assert!(
            !text.contains("tok.txt") && !text.contains("c.pem"),
            "{text}"
        );
        let cfg = KubeConfig::load(&moved).unwrap();
        assert_eq!(cfg.current_context.as_deref(), Some("b"));
        for name in &names {
            let (here, there) = (
                resolve(Some(&path), name).unwrap(),
                cfg.resolve(name).unwrap(),
            );
            assert_eq!(there.server, here.server);
            assert_eq!(there.namespace, here.namespace);
            assert_eq!(there.ca_pem, here.ca_pem);
            assert_eq!(there.client_cert_pem, here.client_cert_pem);
            assert_eq!(there.client_key_pem, here.client_key_pem);
            assert_eq!(there.token, here.token);
            assert_eq!(
                there.insecure_skip_tls_verify,
                here.insecure_skip_tls_verify
            );
        }
    }

    #[test]
    fn files_relative_to_the_kubeconfig() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "config", BASE);
        write(dir.path(), "ca.pem", "CA-FILE");
        write(dir.path(), "c.pem", "CERT-FILE");
        write(dir.path(), "tok.txt", "tok-b\n");
        let b = KubeConfig::load(&path).unwrap().resolve("b").unwrap();
        assert_eq!(b.namespace, "default");
        assert_eq!(b.ca_pem.as_deref(), Some(&b"CA-FILE"[..]));
        assert_eq!(b.client_cert_pem.as_deref(), Some(&b"CERT-FILE"[..]));
        assert_eq!(b.client_key_pem.as_deref(), Some(&b"KEY"[..]));
        assert_eq!(b.token.as_deref(), Some("tok-b"));
        assert!(b.insecure_skip_tls_verify);
    }

    #[test]
    fn malformed_file_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "config",
            "apiVersion: v1\nclusters:\n- name: x\n  cluster: [\n",
        );
        let err = resolve(Some(&path), "a").unwrap_err();
        let KubeError::Config { file, line, .. } = &err else {
            panic!("{err}");
        };
        assert_eq!(file, &path.display().to_string());
        assert!(line.is_some_and(|l| l >= 4), "{err}");
        assert!(err.to_string().starts_with(&format!("{}:", path.display())));
    }

    #[test]
    fn parse_errors_do_not_quote_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "config",
            "users:\n- name: u\n  user: secret-token-value-123\n",
        );
        let err = KubeConfig::load(&path).unwrap_err().to_string();
        assert!(!err.contains("secret-token-value-123"), "{err}");
        assert!(err.contains(":3"), "{err}");
    }

    #[test]
    fn unknown_context_lists_known_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "config", BASE);
        let err = resolve(Some(&path), "nope").unwrap_err();
        assert!(matches!(&err, KubeError::UnknownContext { known, .. } if known == &["a", "b"]));
        assert!(err.to_string().contains("known contexts: a, b"), "{err}");
    }

    #[test]
    fn exec_plugin_token_cached_until_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let counter = dir.path().join("runs");
        let script = write(
            dir.path(),
            "plugin.sh",
            &format!(
                "#!/bin/sh\necho run >> {}\ncase \"$KUBERNETES_EXEC_INFO\" in *ExecCredential*) ;; *) exit 3;; esac\n\
                 printf '{{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"kind\":\"ExecCredential\",\"status\":{{\"token\":\"%s-%s\",\"expirationTimestamp\":\"%s\"}}}}' \"$1\" \"$MYVAR\" \"$EXP\"\n",
                counter.display()
            ),
        );
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let config = |exp: &str| {
            format!(
                "clusters:\n- name: c\n  cluster: {{server: 'https://h'}}\nusers:\n- name: u\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: ./plugin.sh\n      args: [arg1]\n      env:\n      - {{name: MYVAR, value: v1}}\n      - {{name: EXP, value: '{exp}'}}\ncontexts:\n- name: x\n  context: {{cluster: c, user: u}}\n"
            )
        };
        // Far in the future: cached.
        let path = write(dir.path(), "config", &config("2999-01-01T00:00:00Z"));
        let cfg = KubeConfig::load(&path).unwrap();
        assert_eq!(cfg.resolve("x").unwrap().token.as_deref(), Some("arg1-v1"));
        assert_eq!(cfg.resolve("x").unwrap().token.as_deref(), Some("arg1-v1"));
        let runs = || std::fs::read_to_string(&counter).unwrap().lines().count();
        assert_eq!(runs(), 1);
        // Already expired: run each time.
        let path = write(dir.path(), "config", &config("2001-01-01T00:00:00+01:00"));
        let cfg = KubeConfig::load(&path).unwrap();
        cfg.resolve("x").unwrap();
        cfg.resolve("x").unwrap();
        assert_eq!(runs(), 3);
    }

    #[test]
    fn exec_plugin_failure_is_typed() {
        let dir = tempfile::tempdir().unwrap();
        let script = write(
            dir.path(),
            "bad.sh",
            "#!/bin/sh\necho 'no login' >&2\nexit 1\n",
        );
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let path = write(
            dir.path(),
            "config",
            "clusters:\n- name: c\n  cluster: {server: 'https://h'}\nusers:\n- name: u\n  user:\n    exec: {apiVersion: client.authentication.k8s.io/v1, command: ./bad.sh}\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n",
        );
        let err = resolve(Some(&path), "x").unwrap_err();
        assert!(matches!(err, KubeError::ExecPlugin { .. }));
        assert!(err.to_string().contains("no login"), "{err}");
    }

    #[test]
    fn a_hanging_plugin_is_stopped() {
        let mut command = std::process::Command::new("/bin/sh");
        command.args(["-c", "sleep 30"]);
        let started = std::time::Instant::now();
        let err = output_within(command, Duration::from_millis(300)).unwrap_err();
        assert!(err.contains("did not finish"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn in_cluster_service_account() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "token", "sa-token\n");
        write(dir.path(), "ca.crt", "SA-CA");
        write(dir.path(), "namespace", "jobs");
        // SAFETY: this test alone reads these variables.
        unsafe {
            std::env::set_var("KUBERNETES_SERVICE_HOST", "10.96.0.1");
            std::env::set_var("KUBERNETES_SERVICE_PORT", "443");
        }
        let r = resolve_in_cluster(dir.path()).unwrap();
        assert_eq!(r.server, "https://10.96.0.1:443");
        assert_eq!(r.namespace, "jobs");
        assert_eq!(r.token.as_deref(), Some("sa-token"));
        assert_eq!(r.ca_pem.as_deref(), Some(&b"SA-CA"[..]));
    }

    #[test]
    fn rfc3339() {
        let t = parse_rfc3339("1970-01-02T00:00:01Z").unwrap();
        assert_eq!(t, UNIX_EPOCH + Duration::from_secs(86401));
        let t = parse_rfc3339("1970-01-02T01:00:01.5+01:00").unwrap();
        assert_eq!(t, UNIX_EPOCH + Duration::from_secs(86401));
        assert!(parse_rfc3339("yesterday").is_none());
    }
}
