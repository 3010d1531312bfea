//! A local TCP port forwarded to a port on a node through its SSH route
//! (`ssh -N -L`): how the serve controller reaches replicas that only SSH can
//! reach (a node behind a `ProxyCommand`: a bastion, a Kubernetes port-forward).

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::NodeError;

/// How long the forward may take to listen (the SSH connection included).
const LISTEN_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs ssh (its arguments follow) in the background until it ends or this
/// shell's standard input closes: when the process holding the other end of
/// that pipe drops it or dies (even by kill -9), the forward goes with it.
const WATCHED: &str = "exec 3<&0\nssh \"$@\" </dev/null &\npid=$!\n\
{ read -r _ <&3; kill \"$pid\" 2>/dev/null; } &\nwait \"$pid\"\n";

/// A running `ssh -N -L 127.0.0.1:LOCAL:127.0.0.1:REMOTE`; dropping it stops it,
/// and so does the end of the process that started it.
#[derive(Debug)]
pub struct Forward {
    child: Child,
    local_port: u16,
}

impl Forward {
    /// Starts `ssh` with `args` (its options and destination, without `-L`) so
    /// that a free loopback port here reaches `remote_port` on the node's
    /// loopback, and waits until that port accepts connections.
    pub(super) fn start(
        mut args: Vec<String>,
        remote_port: u16,
        node: &str,
    ) -> Result<Self, NodeError> {
        let local_port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|source| NodeError::Io {
                context: "finding a free local port for a forward".into(),
                source,
            })?;
        let spec = format!("127.0.0.1:{local_port}:127.0.0.1:{remote_port}");
        let mut forward_args = vec![
            "-N".to_string(),
            "-o".into(),
            "ExitOnForwardFailure=yes".into(),
            "-L".into(),
            spec,
        ];
        forward_args.append(&mut args);
        let child = Command::new("sh")
            .arg("-c")
            .arg(WATCHED)
            .arg("sh")
            .args(&forward_args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| NodeError::Spawn {
                program: "ssh".into(),
                source,
            })?;
        let mut forward = Forward { child, local_port };
        let deadline = Instant::now() + LISTEN_TIMEOUT;
        loop {
            if TcpStream::connect((Ipv4Addr::LOCALHOST, local_port)).is_ok() {
                return Ok(forward);
            }
            let ended = forward.child.try_wait().ok().flatten().is_some();
            if ended || Instant::now() >= deadline {
                let detail = forward.stderr_text();
                return Err(NodeError::Unreachable {
                    node: node.to_string(),
                    detail: format!(
                        "cannot forward a local port to its port {remote_port}: {}",
                        if detail.is_empty() {
                            "no answer in time"
                        } else {
                            detail.trim()
                        }
                    ),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The loopback port here that reaches the node's port.
    pub fn local_port(&self) -> u16 {
        self.local_port
    }

    /// Whether the ssh client still runs.
    pub fn is_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn stderr_text(&mut self) -> String {
        use std::io::Read;
        drop(self.child.stdin.take());
        let _ = self.child.wait();
        let mut text = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            let _ = err.read_to_string(&mut text);
        }
        text
    }
}

impl Drop for Forward {
    fn drop(&mut self) {
        // Closing the pipe ends ssh; the shell then exits.
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}
