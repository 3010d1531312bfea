//! Kubeconfig files: parsing with located errors, resolving a context.

use std::path::Path;

use super::{KubeError, ResolvedContext};

/// Resolves `context` of the kubeconfig at `kubeconfig` (else `$KUBECONFIG`, else
/// `~/.kube/config`) to what a connection needs, running its exec credential plugin
/// if it names one.
///
/// Being built (issue #13): this placeholder keeps the contract the port-forward
/// tunnel codes against.
pub fn resolve(kubeconfig: Option<&Path>, context: &str) -> Result<ResolvedContext, KubeError> {
    Err(KubeError::Config {
        file: kubeconfig
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "kubeconfig".into()),
        line: None,
        message: format!("cannot resolve context {context:?} yet"),
    })
}
