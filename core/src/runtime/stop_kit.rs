//! Autostop on remote clusters: the head stops or tears down its own cluster through
//! the cluster's provider, with nobody running aloft anywhere else.
//!
//! Clouds that stop or terminate a node whose OS shuts down need no kit: their
//! heads power their nodes off (`agent power-off`, see the launcher's
//! `client::autostop`). For the others the launcher hands the
//! head a *stop kit*: the provider's component (the same WebAssembly that ran on
//! the launcher's machine: WASM makes the provider portable), the provider's
//! settings (endpoint), the cluster's identity, and the credentials the provider's
//! manifest declares (the launcher names them to the user). The kit lives in a
//! folder of its own in the agent's folder (`kit/stop-kit.json`, the folder 0700,
//! the file 0600) and is removed when autostop is cancelled or set without a kit,
//! when the cluster is stopped or torn down by the launcher, and once it has done
//! its work. When the cluster has been idle long enough, the agent runs `aloft
//! agent self-stop` with aloft itself, installed on the head for this (the small
//! node agent has no WebAssembly runtime), which loads the component in the same
//! sandbox as on the launcher and calls `stop-instances` or
//! `terminate-instances`.
//!
//! Security trade-off: the head holds credentials that can stop or terminate
//! instances. They are only those the provider declares, and the file is readable
//! by the head's login user only, but the cluster's jobs run as that user and can
//! read it while it is there; for production use, give aloft credentials
//! restricted to the instance verbs (for AWS an IAM user or role allowed only
//! `ec2:Describe*`, `ec2:StopInstances`, `ec2:TerminateInstances` and the
//! security-group clean-up, on instances tagged `aloft-cluster`).

use std::path::{Path, PathBuf};
#[cfg(feature = "plugin")]
pub use with_host::{StopKit, run};

/// The file the kit is kept in, in [`kit_dir`].
pub const KIT_FILE: &str = "stop-kit.json";

/// The owner-only folder of the kit, in the agent folder `root`.
pub fn kit_dir(root: &Path) -> PathBuf {
    root.join("kit")
}

/// The mark a run kit leaves: `down` or `stop`.
pub const DONE_FILE: &str = "self-stopped";

/// Writes the kit (`kit`, as JSON; the agent only keeps it) into the agent folder
/// `root`: the file 0600 in a folder 0700.
pub fn write(root: &Path, kit: &serde_json::Value) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    let dir = kit_dir(root);
    let fail = |path: &Path, e: std::io::Error| format!("{}: {e}", path.display());
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| fail(&dir, e))?;
    // A folder left by someone else keeps its mode: make it owner-only.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| fail(&dir, e))?;
    let path = dir.join(KIT_FILE);
    let _ = std::fs::remove_file(&path);
    let mut file = std::fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| fail(&path, e))?;
    file.write_all(kit.to_string().as_bytes())
        .map_err(|e| fail(&path, e))
}

/// Removes the kit from `root`, and the mark of a kit that ran (autostop
/// cancelled or set again).
pub fn remove(root: &Path) {
    remove_kit(root);
    let _ = std::fs::remove_file(root.join(DONE_FILE));
}

/// Removes the kit from `root` (the cluster is stopped or torn down), also where
/// launchers before the kit's own folder put it.
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

    use super::{DONE_FILE, KIT_FILE, kit_dir, remove};
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
    }

    impl std::fmt::Debug for StopKit {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("StopKit")
                .field("provider", &self.provider)
                .field("cluster", &self.cluster)
                .field("down", &self.down)
                .field("credentials", &self.credentials.keys().collect::<Vec<_>>())
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

    /// Stops or tears down the cluster the kit in `root` describes, through its
    /// provider.
    pub fn run(root: &Path) -> Result<(), String> {
        let path = kit_dir(root).join(KIT_FILE);
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let kit: StopKit =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
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
        // Done: the credentials do not stay on a stopped disk (a `start` sends a new
        // kit with the autostop setting).
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
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn the_kit_is_owner_only_and_removed_without_the_autostop_mark() {
        let root = tempfile::tempdir().unwrap();
        // A folder someone else left open is made owner-only.
        std::fs::create_dir(kit_dir(root.path())).unwrap();
        std::fs::set_permissions(kit_dir(root.path()), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        write(root.path(), &serde_json::json!({"credentials": {"K": "v"}})).unwrap();
        let kit = kit_dir(root.path()).join(KIT_FILE);
        assert_eq!((mode(&kit_dir(root.path())), mode(&kit)), (0o700, 0o600));
        std::fs::write(root.path().join(DONE_FILE), "stop").unwrap();
        // Where launchers before the kit's own folder put it.
        std::fs::write(root.path().join(KIT_FILE), "{}").unwrap();
        remove_kit(root.path());
        assert!(!kit_dir(root.path()).exists() && !root.path().join(KIT_FILE).exists());
        assert_eq!(done(root.path()).as_deref(), Some("stop"));
        remove(root.path());
        assert_eq!(done(root.path()), None);
    }
}
