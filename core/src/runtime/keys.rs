//! SSH key pairs for reaching nodes: each cluster's own (see
//! [`crate::launch::cluster_key`]), and the user's under `~/.aloft/keys`, which
//! only clusters recorded before keys were per cluster still use.
//!
//! Generated once with `ssh-keygen` (ed25519); the private key is always mode 0600
//! and its folder 0700, repaired if something loosened them.

use std::fs::Permissions;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use thiserror::Error;

/// File name of the private key; the public key adds `.pub`.
const KEY_NAME: &str = "aloft-key";

/// A key pair on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPair {
    /// The private key (mode 0600).
    pub private_key: PathBuf,
    /// The public key, one line in OpenSSH format.
    pub public_key: String,
}

/// Why the key pair could not be made or read.
#[derive(Debug, Error)]
pub enum KeyError {
    /// A file-system error.
    #[error("{path}: {source}")]
    Io {
        /// File or folder.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `ssh-keygen` failed or is missing.
    #[error("ssh-keygen failed: {0}")]
    Keygen(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Where [`ensure_key_pair`] keeps the private key of the pair in `dir`.
pub fn private_key_path(dir: &Path) -> PathBuf {
    dir.join(KEY_NAME)
}

/// Returns the key pair in `dir`, generating it on first use.
pub fn ensure_key_pair(dir: &Path) -> Result<KeyPair, KeyError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    std::fs::set_permissions(dir, Permissions::from_mode(0o700)).map_err(io(dir))?;
    let private_key = private_key_path(dir);
    let public_path = dir.join(format!("{KEY_NAME}.pub"));
    let missing = || !private_key.exists() || !public_path.exists();
    // Several aloft processes may start at once on a fresh home: one makes the
    // pair while the others wait on this lock, then use it.
    let lock_path = dir.join(".keygen.lock");
    let _lock = if missing() {
        let lock = std::fs::File::create(&lock_path).map_err(io(&lock_path))?;
        lock.lock().map_err(io(&lock_path))?;
        Some(lock)
    } else {
        None
    };
    if missing() {
        // A half-written pair (crash between the two files) is regenerated whole.
        let _ = std::fs::remove_file(&private_key);
        let _ = std::fs::remove_file(&public_path);
        let output = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "aloft", "-f"])
            .arg(&private_key)
            .output()
            .map_err(|err| KeyError::Keygen(format!("cannot run ssh-keygen: {err}")))?;
        if !output.status.success() {
            return Err(KeyError::Keygen(
                String::from_utf8_lossy(&output.stderr).trim().to_string(),
            ));
        }
    }
    std::fs::set_permissions(&private_key, Permissions::from_mode(0o600))
        .map_err(io(&private_key))?;
    let public_key = std::fs::read_to_string(&public_path)
        .map_err(io(&public_path))?
        .trim()
        .to_string();
    Ok(KeyPair {
        private_key,
        public_key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_key_pair_is_made_once_with_tight_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        let first = ensure_key_pair(&keys).unwrap();
        assert!(
            first.public_key.starts_with("ssh-ed25519 "),
            "{}",
            first.public_key
        );
        assert_eq!(mode(&first.private_key), 0o600);
        assert_eq!(mode(&keys), 0o700);
        // Loosened by someone: repaired, and the same key is kept.
        std::fs::set_permissions(&first.private_key, Permissions::from_mode(0o644)).unwrap();
        let second = ensure_key_pair(&keys).unwrap();
        assert_eq!(second, first);
        assert_eq!(mode(&second.private_key), 0o600);
    }

    #[test]
    fn a_half_written_pair_is_regenerated() {
        let dir = tempfile::tempdir().unwrap();
        let first = ensure_key_pair(dir.path()).unwrap();
        std::fs::remove_file(dir.path().join("aloft-key.pub")).unwrap();
        let second = ensure_key_pair(dir.path()).unwrap();
        assert_ne!(second.public_key, first.public_key);
        assert!(dir.path().join("aloft-key.pub").exists());
    }
}
