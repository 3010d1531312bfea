//! [`PortForwardServer`]: `tests/fakes/k8s_portforward_server.py`, an API server
//! with only the `pods/portforward` route (the same `k8s_portforward.serve` the
//! fake Kubernetes API server uses), its pods given as addresses (real sshd
//! "machines", see [`crate::sshd`]).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The TLS side of a [`PortForwardServer`].
#[derive(Debug, Clone, Copy)]
pub struct Tls<'a> {
    /// The server certificate (for 127.0.0.1).
    pub cert: &'a Path,
    /// Its key.
    pub key: &'a Path,
    /// The CA of the client certificates it accepts instead of the token.
    pub client_ca: Option<&'a Path>,
}

/// A running fake port-forward server (killed when dropped).
pub struct PortForwardServer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    tls: bool,
    child: Child,
}

impl PortForwardServer {
    /// Serves `pods` (`NAMESPACE/NAME=IP:PORT`) to requests with the bearer `token`,
    /// over TLS with `tls`.
    pub fn start(token: &str, pods: &[String], tls: Option<Tls<'_>>) -> PortForwardServer {
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fakes/k8s_portforward_server.py");
        let mut command = Command::new("python3");
        command.arg(script).args(["--token", token]);
        for pod in pods {
            command.args(["--pod", pod]);
        }
        if let Some(tls) = tls {
            command
                .arg("--tls-cert")
                .arg(tls.cert)
                .arg("--tls-key")
                .arg(tls.key);
            if let Some(ca) = tls.client_ca {
                command.arg("--client-ca").arg(ca);
            }
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start tests/fakes/k8s_portforward_server.py with python3");
        let mut first = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut first);
        }
        let port = first
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the fake port-forward server did not start: {first:?}"));
        PortForwardServer {
            port,
            tls: tls.is_some(),
            child,
        }
    }

    /// `http(s)://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }
}

impl Drop for PortForwardServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
