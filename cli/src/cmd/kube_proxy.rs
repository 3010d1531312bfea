//! `aloft kube-proxy`: the SSH `ProxyCommand` for Kubernetes pods. It relays
//! stdin/stdout to the pod's port through the API server's `pods/portforward`
//! WebSocket ([`aloft::kube::portforward`]), so no `kubectl` is needed. aloft writes
//! it into the SSH options and `$ALOFT_HOME/ssh/config` of pod nodes; users do not
//! call it.

use std::path::PathBuf;

use crate::exit::{CliError, CliResult};

/// `aloft kube-proxy --context C --namespace N --pod P --port 22 [--kubeconfig F]`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The kubeconfig context whose API server to go through.
    #[arg(long)]
    context: String,
    /// The pod's namespace.
    #[arg(long)]
    namespace: String,
    /// The pod.
    #[arg(long)]
    pod: String,
    /// The pod's port (SSH's `%p`).
    #[arg(long)]
    port: u16,
    /// The kubeconfig file (default: `$KUBECONFIG`, else `~/.kube/config`).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
}

/// Runs the command: resolves the context, then relays until either side closes.
/// Nothing but the pod's bytes goes to stdout (SSH reads it).
pub fn run(args: Args) -> CliResult {
    use aloft::kube::portforward::{check_context, check_namespace, check_pod};
    check_context(&args.context)
        .and_then(|()| check_namespace(&args.namespace))
        .and_then(|()| check_pod(&args.pod))
        .map_err(|e| CliError::failure(format!("kube-proxy: {e}")))?;
    let ctx = aloft::kube::config::resolve(args.kubeconfig.as_deref(), &args.context)
        .map_err(|e| CliError::failure(format!("kube-proxy: {e}")))?;
    aloft::kube::portforward::proxy_stdio(&ctx, &args.namespace, &args.pod, args.port)
        .map(|_| ())
        .map_err(|e| CliError::failure(format!("kube-proxy: {e}")))
}
