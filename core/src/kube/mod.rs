//! Kubernetes on the host side: what a provider component must not do itself.
//!
//! The `kubernetes` provider component speaks the API server's REST API through the
//! host's HTTP import. Everything that needs files or processes stays here, outside
//! the sandbox:
//! - [`config`]: reading kubeconfig files (located errors), resolving a context to a
//!   [`ResolvedContext`] (server, namespace, CA, client certificate, bearer token,
//!   running the exec credential plugin the kubeconfig names), in-cluster
//!   service-account credentials.
//! - [`portforward`]: SSH to a pod through the API server's `pods/portforward`
//!   subresource over WebSocket (`v4.channel.k8s.io`), used by `aloft kube-proxy` as
//!   the SSH `ProxyCommand`, so no `kubectl` is needed.
//!
//! - [`access`]: which API servers the `kubernetes` component may reach, and the
//!   credentials the host applies to its requests (it never sees them).
//! - [`stop_grant`]: autostop's narrow credential, a per-cluster service account
//!   allowed to delete only the cluster's own pods, and its short-lived token.
//!
//! Node records of a Kubernetes cluster carry three `extra` facts the host reads
//! (checked like any provider answer): [`EXTRA_CONTEXT`], [`EXTRA_NAMESPACE`],
//! [`EXTRA_POD`].

pub mod access;
pub mod config;
pub mod portforward;
pub mod stop_grant;

/// `extra` key on a Kubernetes node: the kubeconfig context it runs in.
pub const EXTRA_CONTEXT: &str = "kube-context";
/// `extra` key on a Kubernetes node: the pod's namespace.
pub const EXTRA_NAMESPACE: &str = "kube-namespace";
/// `extra` key on a Kubernetes node: the pod's name.
pub const EXTRA_POD: &str = "kube-pod";

/// One kubeconfig context, resolved to what a connection needs.
///
/// Secrets (`token`, `client_key_pem`) never appear in `Debug` output.
#[derive(Clone, Default)]
pub struct ResolvedContext {
    /// The context's name.
    pub name: String,
    /// The API server's base URL, e.g. `https://10.0.0.1:6443`.
    pub server: String,
    /// The namespace: the context's, else the config's, else `default`.
    pub namespace: String,
    /// PEM of the CA that signs the API server's certificate, when not a public one.
    pub ca_pem: Option<Vec<u8>>,
    /// Skip verifying the server's certificate (`insecure-skip-tls-verify`).
    pub insecure_skip_tls_verify: bool,
    /// PEM of the client certificate, for client-certificate authentication.
    pub client_cert_pem: Option<Vec<u8>>,
    /// PEM of the client certificate's private key.
    pub client_key_pem: Option<Vec<u8>>,
    /// A bearer token (static, from a token file, or from the exec plugin).
    pub token: Option<String>,
}

impl std::fmt::Debug for ResolvedContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResolvedContext")
            .field("name", &self.name)
            .field("server", &self.server)
            .field("namespace", &self.namespace)
            .field("ca_pem", &self.ca_pem.as_ref().map(|_| "<pem>"))
            .field("insecure_skip_tls_verify", &self.insecure_skip_tls_verify)
            .field(
                "client_cert_pem",
                &self.client_cert_pem.as_ref().map(|_| "<pem>"),
            )
            .field(
                "client_key_pem",
                &self.client_key_pem.as_ref().map(|_| "<redacted>"),
            )
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// What can go wrong on the host's Kubernetes side.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    /// A kubeconfig file could not be read or parsed; `line` is 1-based where known.
    #[error("{file}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Config {
        /// The kubeconfig file.
        file: String,
        /// The line of the problem, where known.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// The context is not in the kubeconfig.
    #[error("no kubeconfig context named {name:?}; known contexts: {}", known.join(", "))]
    UnknownContext {
        /// The context asked for.
        name: String,
        /// The contexts the kubeconfig has.
        known: Vec<String>,
    },
    /// The exec credential plugin failed (its stderr's last line, never its token).
    #[error("exec credential plugin {command:?} failed: {message}")]
    ExecPlugin {
        /// The command the kubeconfig names.
        command: String,
        /// What went wrong.
        message: String,
    },
    /// Connecting to the API server failed.
    #[error("kubernetes API {server}: {message}")]
    Connect {
        /// The API server.
        server: String,
        /// What went wrong.
        message: String,
    },
    /// The API server refused a request (`status`; 0: refused before sending).
    #[error("kubernetes API {server}: {what}: HTTP {status}: {message}")]
    Refused {
        /// The API server.
        server: String,
        /// What was asked.
        what: String,
        /// The HTTP status.
        status: u16,
        /// The server's message (never a credential).
        message: String,
    },
    /// A port-forward to a pod failed: the API server refused it (`status`, e.g.
    /// 401, 403, 404), or the forward broke (the error channel, a protocol fault).
    #[error("port-forward to {target}: {message}")]
    PortForward {
        /// `pod NAMESPACE/POD port PORT`.
        target: String,
        /// The HTTP status of the refused upgrade, when it was refused.
        status: Option<u16>,
        /// What went wrong (never a credential).
        message: String,
    },
}
