//! Which cluster names aloft accepts: SkyPilot's rule
//! (`[a-zA-Z]([-_.a-zA-Z0-9]*[a-zA-Z0-9])?`, `check_cluster_name_is_valid`),
//! capped at 63 characters so a name fits a DNS label and every cloud's tags. A
//! valid name never contains `/` or `..`, so it cannot steer a path built from it.

use super::StateError;

/// Longest accepted cluster name.
pub const MAX_CLUSTER_NAME_LEN: usize = 63;

/// `Ok` when `name` is a valid cluster name, else [`StateError::BadName`].
pub fn validate_cluster_name(name: &str) -> Result<(), StateError> {
    let bytes = name.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= MAX_CLUSTER_NAME_LEN
        && bytes[0].is_ascii_alphabetic()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(StateError::BadName(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skypilot_names() {
        for ok in ["lora", "seed-1", "Cuda_11.8", "a", &"a".repeat(63)] {
            assert!(validate_cluster_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "11.8cuda",
            "-x",
            "x-",
            "../../x",
            "a/b",
            "a..",
            "a b",
            "é",
            &"a".repeat(64),
        ] {
            assert!(
                matches!(validate_cluster_name(bad), Err(StateError::BadName(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_lock_path_cannot_escape() {
        let dir = tempfile::tempdir().unwrap();
        let err = super::super::ClusterLock::try_acquire(dir.path(), "../../x").unwrap_err();
        assert!(matches!(err, StateError::BadName(_)), "{err}");
        assert!(
            err.to_string().contains("must start with a letter"),
            "{err}"
        );
        assert!(super::super::ClusterLock::acquire(dir.path(), "ok-1").is_ok());
    }
}
