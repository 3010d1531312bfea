//! Which API servers the `kubernetes` provider may reach, and with what
//! credentials: the host's half of the `kube` import (`wit/since_v0.2.0/kube.wit`).
//!
//! The mechanism:
//! - The host resolves the contexts the user allows (`kubernetes.allowed_contexts`
//!   in `config.yaml`, default the kubeconfig's current context) and hands the
//!   component, as settings, only each context's name, server URL and namespace
//!   ([`KubeAccess::settings`]).
//! - The component sends every API request through the `kube` import, naming the
//!   context and a path. The host answers only a component whose sandbox holds a
//!   `KubeAccess` (granted by `plugin::privileges`: the first-party `kubernetes`
//!   provider), checks that the context is allowed and that the path lies under
//!   that context's server (same scheme, host, port and path prefix:
//!   [`crate::plugin::trust::kube_url_allowed`]), and sends it through a client
//!   built for that context: its CA, its client certificate and key,
//!   `insecure-skip-tls-verify`. It adds
//!   `Authorization: Bearer TOKEN` itself (static, token file, or the exec plugin's,
//!   renewed when it expires).
//! - So the component never sees a file, a key or a token: nothing secret can reach
//!   its logs, its errors or its kv state. Servers of contexts the user did not
//!   allow are never reachable, and no other provider gets this path.
//!
//! A server named by the user's own kubeconfig may be on a private address (most
//! clusters are): like a user-set endpoint, it is not subject to the public-address
//! rule of the manifests' hosts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use super::config::{IN_CLUSTER, KubeConfig, in_cluster_available, kubeconfig_path};
use super::{KubeError, ResolvedContext};

/// One allowed context, as the component may know it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ContextInfo {
    /// The context's name (the region in `infra: k8s/NAME`).
    pub name: String,
    /// The API server's URL.
    pub server: String,
    /// The namespace pods go to.
    pub namespace: String,
}

/// The allowed contexts of one aloft run, and a client per context.
pub struct KubeAccess {
    kubeconfig: Option<PathBuf>,
    contexts: BTreeMap<String, ContextInfo>,
    /// Contexts given resolved, in memory (no kubeconfig file: a head's stop kit).
    inline: BTreeMap<String, ResolvedContext>,
    problems: Vec<(String, String)>,
    timeout: Duration,
    clients: Mutex<BTreeMap<String, (String, reqwest::Client)>>,
}

impl KubeAccess {
    /// Reads the kubeconfig (`kubeconfig`, else `$KUBECONFIG`, else
    /// `~/.kube/config`) and keeps the `allowed` contexts (default: its current
    /// context; with no kubeconfig in a pod: [`IN_CLUSTER`]). Nothing is run and no
    /// credential file is read yet; what cannot be used is kept as a problem to
    /// report ([`KubeAccess::settings`]).
    pub fn load(kubeconfig: Option<&Path>, allowed: Option<&[String]>, timeout: Duration) -> Self {
        let mut access = KubeAccess {
            kubeconfig: kubeconfig.map(Path::to_path_buf),
            contexts: BTreeMap::new(),
            inline: BTreeMap::new(),
            problems: Vec::new(),
            timeout,
            clients: Mutex::new(BTreeMap::new()),
        };
        let path = kubeconfig_path(kubeconfig);
        if !path.exists() {
            let wants_in_cluster = allowed.is_none_or(|a| a.iter().any(|c| c == IN_CLUSTER));
            if in_cluster_available() && wants_in_cluster {
                match super::config::resolve_in_cluster(&super::config::service_account_dir()) {
                    Ok(r) => {
                        access.contexts.insert(
                            IN_CLUSTER.into(),
                            ContextInfo {
                                name: IN_CLUSTER.into(),
                                server: r.server,
                                namespace: r.namespace,
                            },
                        );
                    }
                    Err(e) => access.problems.push((IN_CLUSTER.into(), e.to_string())),
                }
            } else {
                access.problems.push((
                    String::new(),
                    format!("no kubeconfig at {}", path.display()),
                ));
            }
            return access;
        }
        let config = match KubeConfig::load(&path) {
            Ok(config) => config,
            Err(e) => {
                access.problems.push((String::new(), e.to_string()));
                return access;
            }
        };
        let names: Vec<String> = match allowed {
            Some(list) => list.to_vec(),
            None => match &config.current_context {
                Some(c) if !c.is_empty() => vec![c.clone()],
                _ => {
                    access.problems.push((
                        String::new(),
                        format!(
                            "{} has no current-context; name contexts in `kubernetes.allowed_contexts` of aloft's config.yaml",
                            path.display()
                        ),
                    ));
                    Vec::new()
                }
            },
        };
        for name in names {
            match config.server_and_namespace(&name) {
                Ok((server, namespace)) => {
                    access.contexts.insert(
                        name.clone(),
                        ContextInfo {
                            name,
                            server,
                            namespace,
                        },
                    );
                }
                Err(e) => access.problems.push((name, e.to_string())),
            }
        }
        access
    }

    /// Access to `contexts` exactly as given (server, namespace, CA, token), with
    /// no kubeconfig file and no exec plugin: what a head's stop kit carries (see
    /// [`super::stop_grant`]).
    pub fn from_resolved(contexts: Vec<ResolvedContext>, timeout: Duration) -> Self {
        let mut access = KubeAccess {
            kubeconfig: None,
            contexts: BTreeMap::new(),
            inline: BTreeMap::new(),
            problems: Vec::new(),
            timeout,
            clients: Mutex::new(BTreeMap::new()),
        };
        for r in contexts {
            access.contexts.insert(
                r.name.clone(),
                ContextInfo {
                    name: r.name.clone(),
                    server: r.server.clone(),
                    namespace: r.namespace.clone(),
                },
            );
            access.inline.insert(r.name.clone(), r);
        }
        access
    }

    /// The allowed contexts.
    pub fn contexts(&self) -> impl Iterator<Item = &ContextInfo> {
        self.contexts.values()
    }

    /// What the component is configured with: `contexts` (JSON list of
    /// [`ContextInfo`]) and `problems` (JSON list of `[context, message]`).
    pub fn settings(&self) -> Vec<(String, String)> {
        let contexts: Vec<&ContextInfo> = self.contexts.values().collect();
        vec![
            (
                "contexts".into(),
                serde_json::to_string(&contexts).unwrap_or_else(|_| "[]".into()),
            ),
            (
                "problems".into(),
                serde_json::to_string(&self.problems).unwrap_or_else(|_| "[]".into()),
            ),
        ]
    }

    /// The allowed context named `name`.
    pub fn context(&self, name: &str) -> Option<&ContextInfo> {
        self.contexts.get(name)
    }

    /// The client and bearer token for a request to context `name` (resolving its
    /// credentials, running its exec plugin when its token expired).
    pub async fn connection(
        &self,
        name: &str,
    ) -> Result<(reqwest::Client, Option<String>), KubeError> {
        let resolved = self.resolved(name).await?;
        let fingerprint = tls_fingerprint(&resolved);
        if let Ok(clients) = self.clients.lock()
            && let Some((f, client)) = clients.get(name)
            && *f == fingerprint
        {
            return Ok((client.clone(), resolved.token));
        }
        let client = client_for(&resolved, self.timeout)?;
        if let Ok(mut clients) = self.clients.lock() {
            clients.insert(name.to_string(), (fingerprint, client.clone()));
        }
        Ok((client, resolved.token))
    }
}

impl KubeAccess {
    /// Context `name` resolved: its server, namespace, CA and credentials (running
    /// its exec plugin when its token expired). The answer holds secrets.
    pub async fn resolved(&self, name: &str) -> Result<ResolvedContext, KubeError> {
        let info = self
            .contexts
            .get(name)
            .ok_or_else(|| KubeError::UnknownContext {
                name: name.to_string(),
                known: self.contexts.keys().cloned().collect(),
            })?;
        if let Some(r) = self.inline.get(name) {
            return Ok(r.clone());
        }
        let kubeconfig = self.kubeconfig.clone();
        let context = name.to_string();
        tokio::task::spawn_blocking(move || super::config::resolve(kubeconfig.as_deref(), &context))
            .await
            .map_err(|e| KubeError::Connect {
                server: info.server.clone(),
                message: e.to_string(),
            })?
    }
}

/// What the TLS setup of a client depends on (hashed; never shown).
fn tls_fingerprint(r: &ResolvedContext) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in [&r.ca_pem, &r.client_cert_pem, &r.client_key_pem] {
        h.update(part.as_deref().unwrap_or_default());
        h.update([0xff]);
    }
    h.update([r.insecure_skip_tls_verify as u8]);
    hex::encode(h.finalize())
}

/// A client for one context, with the port-forward's TLS setup
/// (`portforward::tls_config`): the context's CA alone when it names one
/// (else the public roots), its client certificate, `insecure-skip-tls-verify`.
pub fn client_for(r: &ResolvedContext, timeout: Duration) -> Result<reqwest::Client, KubeError> {
    let bad = |message: String| KubeError::Connect {
        server: r.server.clone(),
        message,
    };
    reqwest::Client::builder()
        .use_preconfigured_tls(super::portforward::tls_config(r).map_err(bad)?)
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .map_err(|e| bad(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed CA made for this test (`openssl req -x509`, P-256).
    const TEST_CA: &str = "\
-----BEGIN CERTIFICATE-----\n\
MIIBhzCCAS2gAwIBAgIUBF++OzCc7FAMHu7xwT3Dnt7Y2awwCgYIKoZIzj0EAwIw\n\
GDEWMBQGA1UEAwwNYWxvZnQtdGVzdC1jYTAgFw0yNjEyMDYxNjM5MjBaGA8yMTI2\n\
MTExMjE2MzkyMFowGDEWMBQGA1UEAwwNYWxvZnQtdGVzdC1jYTBZMBMGByqGSM49\n\
AgEGCCqGSM49AwEHA0IABEkmXHxYQgD8p+jA4HEDXnDjzAAGQ0sOfjulPXjcLT2y\n\
DcZ++cgqO+H8J3q5THaIA5PQtr6MEJU9fZ/wz2NAj6GjUzBRMB0GA1UdDgQWBBRB\n\
qcqneO9Zup658qSoiAILK1hq7TAfBgNVHSMEGDAWgBRBqcqneO9Zup658qSoiAIL\n\
K1hq7TAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIH6FZ28sEDsL\n\
zkc0eZx6kmCyz/jGoLBKRhCezfdtCGKmAiEAnOXsY5fUd3bcSMvpLRmS1OtUq25s\n\
gP8MLyfG6aHYH0E=\n\
-----END CERTIFICATE-----\n\
";

    #[test]
    fn a_context_with_a_ca_trusts_that_ca_alone() {
        use super::super::portforward::trust_roots;
        let with_ca = ResolvedContext {
            server: "https://10.0.0.1:6443".into(),
            ca_pem: Some(TEST_CA.as_bytes().to_vec()),
            ..Default::default()
        };
        // Its own CA and nothing else: no public root vouches for its server.
        assert_eq!(trust_roots(&with_ca).unwrap().len(), 1);
        assert!(client_for(&with_ca, Duration::from_secs(5)).is_ok());
        // Without a CA, the public roots (a managed cluster's public endpoint).
        let public = trust_roots(&ResolvedContext::default()).unwrap();
        assert!(public.len() > 50, "{}", public.len());
        // A CA that is not PEM is an error, not a fallback to the public roots.
        let broken = ResolvedContext {
            ca_pem: Some(b"not a certificate".to_vec()),
            ..with_ca
        };
        assert!(client_for(&broken, Duration::from_secs(5)).is_err());
    }

    #[test]
    fn contexts_given_resolved_need_no_kubeconfig() {
        // What a head's stop kit builds: one context with its narrow token, served
        // as given, with no kubeconfig file anywhere.
        let narrow = ResolvedContext {
            name: "kas".into(),
            server: "https://127.0.0.1:6443".into(),
            namespace: "aloft".into(),
            ca_pem: Some(TEST_CA.as_bytes().to_vec()),
            token: Some("sa-token".into()),
            ..Default::default()
        };
        let access = KubeAccess::from_resolved(vec![narrow], Duration::from_secs(5));
        assert_eq!(access.contexts().count(), 1);
        assert_eq!(access.context("kas").unwrap().namespace, "aloft");
        assert!(access.settings()[0].1.contains("https://127.0.0.1:6443"));
        // The settings the component gets never hold the token.
        assert!(
            !access
                .settings()
                .iter()
                .any(|(_, v)| v.contains("sa-token"))
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (_, token) = rt.block_on(access.connection("kas")).unwrap();
        assert_eq!(token.as_deref(), Some("sa-token"));
        assert!(matches!(
            rt.block_on(access.resolved("other")),
            Err(KubeError::UnknownContext { .. })
        ));
    }

    #[test]
    fn allowed_contexts_and_problems() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(
            &path,
            "current-context: a\nclusters:\n- name: c\n  cluster: {server: 'https://10.1.1.1:6443'}\ncontexts:\n- name: a\n  context: {cluster: c, namespace: ns}\n- name: b\n  context: {cluster: c}\n",
        )
        .unwrap();
        let t = Duration::from_secs(5);
        let access = KubeAccess::load(Some(&path), None, t);
        assert_eq!(access.contexts().count(), 1);
        assert_eq!(access.context("a").unwrap().namespace, "ns");
        let allowed = ["b".to_string(), "zz".to_string()];
        let access = KubeAccess::load(Some(&path), Some(&allowed), t);
        assert_eq!(access.context("b").unwrap().namespace, "default");
        let settings = access.settings();
        assert!(settings[1].1.contains("zz") && settings[1].1.contains("known contexts: a, b"));
    }
}
