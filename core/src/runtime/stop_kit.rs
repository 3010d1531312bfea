//! Autostop on remote clusters: the head stops or tears down its own cluster through
//! the cluster's provider, with nobody running aloft anywhere else.
//!
//! Clouds that stop or terminate a node whose OS shuts down need no kit: their
//! heads power their nodes off (`agent power-off`, see the launcher's
//! `client::autostop`). For the others the launcher hands the
//! head a *stop kit*: the provider's component (the same WebAssembly that ran on
//! the launcher's machine: WASM makes the provider portable), the provider's
//! settings (endpoint), the cluster's identity, and the credentials the provider's
//! manifest declares (the launcher names them to the user).
//!
//! The kit never touches the node's disk. The launcher sends it on the SSH
//! session's stdin to `agent autostop`, which passes it on to the running agent
//! daemon over the daemon's Unix socket ([`KIT_SOCKET`], 0600 in the agent
//! folder). The socket only takes a kit (`put`), drops it (`drop`) or says whether
//! one is held (`has`): nothing ever reads a kit back from it. The daemon keeps
//! the kit in its memory only, and made itself non-dumpable at start
//! ([`make_undumpable`]: no core dump, and other processes of the same user
//! cannot read its `/proc/PID/mem` or `environ` nor `ptrace` it). When the
//! cluster has been idle long enough, the agent runs `aloft agent self-stop` with
//! aloft itself, installed on the head for this (the small node agent has no
//! WebAssembly runtime), and writes the kit to that process's stdin on a pipe;
//! `self-stop` makes itself non-dumpable before it reads it, loads the component
//! in the same sandbox as on the launcher and calls `stop-instances` or
//! `terminate-instances`.
//!
//! A kit lives as long as the daemon: a head that reboots or an agent that
//! restarts has none. The launcher sends it again at `aloft start` and whenever
//! autostop is set; until then the agent records an autostop failure naming the
//! lost kit (`agent autostop-failure`, which `status -r` shows), never a silent
//! no-op. A manual `stop` or `down` has the daemon drop it.
//!
//! Launchers before this one wrote the kit to `kit/stop-kit.json` in the agent
//! folder; [`remove_kit`] still removes that file wherever a kit is set, dropped or
//! run.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;
#[cfg(feature = "plugin")]
pub use with_host::{StopKit, run};

/// The file older launchers kept the kit in, in [`kit_dir`].
pub const KIT_FILE: &str = "stop-kit.json";

/// The folder older launchers kept the kit in, in the agent folder `root`.
pub fn kit_dir(root: &Path) -> PathBuf {
    root.join("kit")
}

/// The agent daemon's socket that takes the kit, in the agent folder.
pub const KIT_SOCKET: &str = "kit.sock";

/// The largest kit the daemon takes (the component is a few MiB).
const MAX_KIT_BYTES: u64 = 256 << 20;

/// How long the daemon waits for a client of its socket to finish its request.
const SOCKET_TIMEOUT: Duration = Duration::from_secs(5);

/// Makes this process non-dumpable (`prctl(PR_SET_DUMPABLE, 0)`): no core dump,
/// and processes of the same user cannot read its memory, environment or attach
/// to it. A no-op where Linux's `prctl` is not available.
pub fn make_undumpable() -> Result<(), String> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    nix::sys::prctl::set_dumpable(false).map_err(|e| format!("prctl(PR_SET_DUMPABLE, 0): {e}"))?;
    Ok(())
}

/// The autostop failure the agent records when autostop needs a kit and it holds
/// none (it restarted, or the head rebooted, since the kit was sent).
pub const LOST_KIT: &str = "the stop kit is not in the agent's memory (the agent or the head \
                            restarted since it was sent): autostop cannot stop the cluster \
                            until `aloft start` or `aloft autostop` sends it again";

/// Waits, at most `timeout`, until process `pid` is non-dumpable (it called
/// [`make_undumpable`]): Linux then makes its `/proc/PID` files root's. Whether it
/// is, or this process is root's (which reads any process's memory anyway, so
/// there is nothing to wait for). Elsewhere than Linux, `true` at once.
pub fn wait_undumpable(pid: u32, timeout: Duration) -> bool {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use std::os::unix::fs::MetadataExt;
        // The effective user, from the `Uid:` line (real, effective, ...): not
        // the owner of our own `/proc` files, root's since we are non-dumpable.
        let me = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|status| {
                let line = status.lines().find(|l| l.starts_with("Uid:"))?;
                line.split_whitespace().nth(2)?.parse::<u32>().ok()
            });
        let Some(me) = me else {
            return false;
        };
        if me == 0 {
            return true;
        }
        let status = PathBuf::from(format!("/proc/{pid}/status"));
        let deadline = std::time::Instant::now() + timeout;
        loop {
            match std::fs::metadata(&status) {
                Ok(meta) if meta.uid() == 0 => return true,
                Ok(_) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                _ => return false,
            }
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = (pid, timeout);
        true
    }
}

/// What a request to the daemon's kit socket did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KitEvent {
    /// A new kit is held.
    Put,
    /// The kit was dropped.
    Dropped,
}

/// The daemon's side: the kit in memory, and the socket it arrives on.
pub struct KitKeeper {
    listener: UnixListener,
    path: PathBuf,
    kit: Option<Vec<u8>>,
}

impl std::fmt::Debug for KitKeeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KitKeeper")
            .field("path", &self.path)
            .field("holds_kit", &self.kit.is_some())
            .finish()
    }
}

impl KitKeeper {
    /// Listens on [`KIT_SOCKET`] in the agent folder `root` (owner-only; a socket
    /// left by an earlier daemon is replaced).
    pub fn listen(root: &Path) -> Result<KitKeeper, String> {
        use std::os::unix::fs::PermissionsExt;
        let path = root.join(KIT_SOCKET);
        let fail = |e: std::io::Error| format!("{}: {e}", path.display());
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).map_err(fail)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(fail)?;
        listener.set_nonblocking(true).map_err(fail)?;
        Ok(KitKeeper {
            listener,
            path,
            kit: None,
        })
    }

    /// Answers every request waiting on the socket; returns what the last one that
    /// changed the kit did.
    pub fn serve(&mut self) -> Option<KitEvent> {
        let mut event = None;
        while let Ok((stream, _)) = self.listener.accept() {
            match self.answer(stream) {
                Ok(Some(e)) => event = Some(e),
                Ok(None) => {}
                Err(err) => tracing::debug!("stop kit socket: {err}"),
            }
        }
        event
    }

    fn answer(&mut self, mut stream: UnixStream) -> std::io::Result<Option<KitEvent>> {
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(Some(SOCKET_TIMEOUT))?;
        stream.set_write_timeout(Some(SOCKET_TIMEOUT))?;
        let mut request = Vec::new();
        (&mut stream)
            .take(MAX_KIT_BYTES)
            .read_to_end(&mut request)?;
        let (verb, body) = match request.iter().position(|b| *b == b'\n') {
            Some(at) => (&request[..at], &request[at + 1..]),
            None => (&request[..], &[][..]),
        };
        let (reply, event): (&[u8], _) = match verb {
            b"put" if !body.is_empty() => {
                self.forget();
                self.kit = Some(body.to_vec());
                (b"ok\n", Some(KitEvent::Put))
            }
            b"drop" => {
                self.forget();
                (b"ok\n", Some(KitEvent::Dropped))
            }
            b"has" if self.kit.is_some() => (b"yes\n", None),
            b"has" => (b"no\n", None),
            _ => (b"bad request\n", None),
        };
        request.fill(0);
        stream.write_all(reply)?;
        Ok(event)
    }

    /// The kit, while one is held.
    pub fn kit(&self) -> Option<&[u8]> {
        self.kit.as_deref()
    }

    /// Drops the kit, its bytes overwritten first.
    pub fn forget(&mut self) {
        if let Some(mut kit) = self.kit.take() {
            kit.fill(0);
        }
    }
}

impl Drop for KitKeeper {
    fn drop(&mut self) {
        self.forget();
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Sends one request (`verb`, then `body`) to the daemon's kit socket in `root`
/// and returns its reply.
fn request(root: &Path, verb: &str, body: &[u8]) -> Result<String, String> {
    let path = root.join(KIT_SOCKET);
    let fail = |e: std::io::Error| {
        format!(
            "the agent does not take the stop kit ({}: {e}); is the agent running?",
            path.display()
        )
    };
    let mut stream = UnixStream::connect(&path).map_err(fail)?;
    stream
        .set_read_timeout(Some(SOCKET_TIMEOUT * 2))
        .map_err(fail)?;
    stream.write_all(verb.as_bytes()).map_err(fail)?;
    stream.write_all(b"\n").map_err(fail)?;
    stream.write_all(body).map_err(fail)?;
    stream.shutdown(std::net::Shutdown::Write).map_err(fail)?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).map_err(fail)?;
    Ok(reply.trim().to_string())
}

/// Hands the kit (`kit`, its JSON) to the agent daemon of the folder `root`,
/// which keeps it in memory only.
pub fn hand_over(root: &Path, kit: &[u8]) -> Result<(), String> {
    match request(root, "put", kit)?.as_str() {
        "ok" => Ok(()),
        other => Err(format!("the agent refused the stop kit: {other}")),
    }
}

/// Has the agent daemon of `root` drop its kit, if it runs; removes a kit an older
/// launcher left on the disk.
pub fn drop_kit(root: &Path) {
    remove_kit(root);
    if root.join(KIT_SOCKET).exists()
        && let Err(err) = request(root, "drop", b"")
    {
        tracing::debug!("dropping the stop kit: {err}");
    }
}

/// Whether the agent daemon of `root` holds a kit (`false` when it does not run).
pub fn held(root: &Path) -> bool {
    request(root, "has", b"").is_ok_and(|reply| reply == "yes")
}

/// The mark a run kit leaves: `down` or `stop`.
pub const DONE_FILE: &str = "self-stopped";

/// Has the daemon of `root` drop its kit, and removes the mark of a kit that ran
/// (autostop cancelled or set again).
pub fn remove(root: &Path) {
    drop_kit(root);
    let _ = std::fs::remove_file(root.join(DONE_FILE));
}

/// Removes a kit older launchers left on the disk of `root` (in its own folder,
/// or before that in the agent folder itself).
pub fn remove_kit(root: &Path) {
    let _ = std::fs::remove_dir_all(kit_dir(root));
    let _ = std::fs::remove_file(root.join(KIT_FILE));
}

/// What the head did with its kit (`down` or `stop`), if it ran it.
pub fn done(root: &Path) -> Option<String> {
    std::fs::read_to_string(root.join(DONE_FILE))
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| s == "down" || s == "stop")
}

/// The kit itself and running it: needs the provider host (WebAssembly).
#[cfg(feature = "plugin")]
mod with_host {
    use std::collections::BTreeMap;
    use std::path::Path;
    use std::sync::Arc;

    use serde::{Deserialize, Serialize};

    use super::{DONE_FILE, remove};
    use crate::kube::access::KubeAccess;
    use crate::kube::stop_grant::NarrowContext;
    use crate::plugin::{ClusterRef, CredentialSource, HostConfig, PluginHost};

    /// Everything a head needs to stop or tear down its own cluster.
    #[derive(Clone, Serialize, Deserialize)]
    pub struct StopKit {
        /// The provider's name.
        pub provider: String,
        /// The cluster on the provider.
        pub cluster: ClusterRef,
        /// Terminate (`true`) or stop.
        pub down: bool,
        /// The provider's settings (`configure`), endpoint included.
        pub settings: Vec<(String, String)>,
        /// The provider's declared credentials that had values.
        pub credentials: BTreeMap<String, String>,
        /// The provider component, hex-encoded.
        pub component_hex: String,
        /// Kubernetes: the one context the component's `kube` import reaches, with
        /// the cluster's narrow service-account token (never the user's
        /// credentials; see [`crate::kube::stop_grant`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub kube: Option<NarrowContext>,
    }

    impl std::fmt::Debug for StopKit {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("StopKit")
                .field("provider", &self.provider)
                .field("cluster", &self.cluster)
                .field("down", &self.down)
                .field("credentials", &self.credentials.keys().collect::<Vec<_>>())
                .field("kube", &self.kube)
                .finish_non_exhaustive()
        }
    }

    /// Secrets from the kit only.
    struct KitCredentials(BTreeMap<String, String>);

    impl CredentialSource for KitCredentials {
        fn get(&self, name: &str) -> Option<String> {
            self.0.get(name).cloned()
        }
    }

    /// Stops or tears down the cluster the kit `text` (its JSON, as the agent
    /// daemon wrote it on this process's stdin) describes, through its provider;
    /// `root` is the agent folder (the provider's scratch home, the done mark).
    pub fn run(root: &Path, text: &str) -> Result<(), String> {
        let kit: StopKit =
            serde_json::from_str(text).map_err(|e| format!("unreadable stop kit: {e}"))?;
        let bytes =
            hex::decode(&kit.component_hex).map_err(|e| format!("stop kit component: {e}"))?;
        let home = root.join("provider-home");
        let mut config = HostConfig::new(&home);
        if let Some((_, endpoint)) = kit.settings.iter().find(|(k, _)| k == "endpoint") {
            config
                .endpoints
                .insert(kit.provider.clone(), endpoint.clone());
        }
        config
            .settings
            .insert(kit.provider.clone(), kit.settings.clone());
        config.credentials = Arc::new(KitCredentials(kit.credentials.clone()));
        // Kubernetes: the kit's one context and narrow token, nothing of this
        // machine's (no kubeconfig is read here).
        config.kube = kit.kube.as_ref().map(|narrow| {
            Arc::new(KubeAccess::from_resolved(
                vec![narrow.resolved()],
                config.call_timeout,
            ))
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async {
            let mut host = PluginHost::new(config).map_err(|e| e.to_string())?;
            host.load_bytes(&format!("stop-kit:{}", kit.provider), &bytes)
                .await
                .map_err(|e| e.to_string())?;
            let mut instance = host
                .instance(&kit.provider)
                .await
                .map_err(|e| e.to_string())?;
            if kit.down {
                instance.terminate_instances(&kit.cluster).await
            } else {
                instance.stop_instances(&kit.cluster).await
            }
            .map_err(|e| e.to_string())
        })?;
        // Done: no kit of an older launcher stays on a stopped disk, and no
        // mark of an earlier run (a `start` sends a new kit with the autostop
        // setting).
        remove(root);
        // Where the machines outlive the call (a node pool's hosts), the launcher
        // learns from this mark, at its next `status -r`, that the cluster is over.
        let mark = if kit.down { "down" } else { "stop" };
        std::fs::write(root.join(DONE_FILE), mark).map_err(|e| format!("{DONE_FILE}: {e}"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_daemon_holds_the_kit_in_memory_and_never_gives_it_back() {
        let root = tempfile::tempdir().unwrap();
        let mut keeper = KitKeeper::listen(root.path()).unwrap();
        // A kit an older launcher left on the disk goes at the first drop.
        std::fs::create_dir(kit_dir(root.path())).unwrap();
        std::fs::write(kit_dir(root.path()).join(KIT_FILE), "{}").unwrap();
        std::fs::write(root.path().join(KIT_FILE), "{}").unwrap();
        let serve = |keeper: &mut KitKeeper, f: &(dyn Fn() -> String + Sync)| {
            std::thread::scope(|s| {
                let client = s.spawn(f);
                let mut event = None;
                while !client.is_finished() {
                    event = keeper.serve().or(event);
                    std::thread::sleep(Duration::from_millis(5));
                }
                (client.join().unwrap(), event.or_else(|| keeper.serve()))
            })
        };
        let secret = br#"{"credentials":{"K":"s3cret"}}"#;
        let (_, event) = serve(&mut keeper, &|| {
            hand_over(root.path(), secret)
                .map(|()| "ok".into())
                .unwrap()
        });
        assert_eq!(event, Some(KitEvent::Put));
        assert_eq!(keeper.kit(), Some(&secret[..]));
        let (has, _) = serve(&mut keeper, &|| held(root.path()).to_string());
        assert_eq!(has, "true");
        // Nothing reads a kit back, and no file under the folder holds it.
        let (reply, _) = serve(&mut keeper, &|| request(root.path(), "get", b"").unwrap());
        assert_eq!(reply, "bad request");
        for entry in walk(root.path()) {
            let bytes = std::fs::read(&entry).unwrap_or_default();
            assert!(!bytes.windows(6).any(|w| w == b"s3cret"), "{entry:?}");
        }
        let (_, event) = serve(&mut keeper, &|| {
            drop_kit(root.path());
            String::new()
        });
        assert_eq!(event, Some(KitEvent::Dropped));
        assert_eq!(keeper.kit(), None);
        assert!(!kit_dir(root.path()).exists() && !root.path().join(KIT_FILE).exists());
        // The mark of a kit that ran goes when autostop is set again.
        std::fs::write(root.path().join(DONE_FILE), "stop").unwrap();
        assert_eq!(done(root.path()).as_deref(), Some("stop"));
        drop(keeper);
        assert!(!root.path().join(KIT_SOCKET).exists());
        // No daemon: nothing held, and handing a kit over fails saying so.
        assert!(!held(root.path()));
        let err = hand_over(root.path(), secret).unwrap_err();
        assert!(err.contains("agent") && !err.contains("s3cret"), "{err}");
        remove(root.path());
        assert_eq!(done(root.path()), None);
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                files.extend(walk(&path));
            } else {
                files.push(path);
            }
        }
        files
    }

    #[test]
    fn the_kit_waits_for_its_reader_to_be_undumpable() {
        // A reader that never makes itself non-dumpable is not waited for
        // forever, and, unless this is root's, gets nothing.
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let root = std::fs::read_to_string("/proc/self/status")
            .unwrap()
            .lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"));
        assert_eq!(
            wait_undumpable(child.id(), Duration::from_millis(200)),
            root
        );
        let _ = child.kill();
        let _ = child.wait();
        // Gone: nothing to write to.
        assert!(!wait_undumpable(child.id(), Duration::from_millis(50)) || root);
    }

    #[test]
    fn a_process_made_undumpable_says_so() {
        // nextest runs each test in a process of its own.
        make_undumpable().unwrap();
        #[cfg(target_os = "linux")]
        assert!(!nix::sys::prctl::get_dumpable().unwrap());
    }
}
