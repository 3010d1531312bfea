//! Which program a remote head node runs. Clusters' heads run the small static
//! node agent (`core/agent`, musl) built for their architecture, whatever the
//! launcher's own platform is. A few roles need the whole of aloft on the head (the
//! stop kit's provider call, a jobs controller): those get the launcher's own
//! program, which only a Linux launcher of the same architecture has.

use std::path::{Path, PathBuf};

use thiserror::Error;

/// No program for a head's architecture.
#[derive(Debug, Error, PartialEq)]
pub enum NodeAgentError {
    /// This build carries no node agent for the architecture.
    #[error(
        "the head node is {arch} and this build of aloft carries no node agent for it \
         (it has: {have}); build the agents with scripts/build-agents.sh and rebuild aloft"
    )]
    NoAgent {
        /// The head's architecture, as `uname -m` said it.
        arch: String,
        /// The architectures there are agents for.
        have: String,
    },
    /// The role needs aloft itself on the head, and this launcher cannot run there.
    #[error(
        "{what} runs aloft itself on the head node, which is {arch}; this aloft runs on \
         {launcher}: run aloft from a Linux {arch} machine for that"
    )]
    NoFullProgram {
        /// What needed it.
        what: String,
        /// The head's architecture.
        arch: String,
        /// The launcher's platform.
        launcher: String,
    },
    /// The agent could not be unpacked.
    #[error("cannot unpack the node agent to {path}: {detail}")]
    Unpack {
        /// Where.
        path: String,
        /// Why.
        detail: String,
    },
}

/// The programs a launcher can install on heads.
#[derive(Clone, Debug)]
pub struct NodeAgents {
    launcher: PathBuf,
    cache: PathBuf,
    embedded: Vec<(String, &'static [u8])>,
}

impl NodeAgents {
    /// The launcher's own program (`launcher`, the fallback for a head of its own
    /// platform and what roles needing all of aloft get), and a folder to unpack
    /// embedded agents into.
    pub fn new(launcher: impl Into<PathBuf>, cache: impl Into<PathBuf>) -> Self {
        NodeAgents {
            launcher: launcher.into(),
            cache: cache.into(),
            embedded: Vec::new(),
        }
    }

    /// Adds the node agent for `arch` (`x86_64`, `aarch64`), as bytes.
    pub fn with_agent(mut self, arch: &str, program: &'static [u8]) -> Self {
        self.embedded.retain(|(a, _)| a != arch);
        self.embedded.push((arch.to_string(), program));
        self
    }

    /// The launcher's own program.
    pub fn launcher(&self) -> &Path {
        &self.launcher
    }

    /// The architectures this set has a small agent for.
    pub fn architectures(&self) -> Vec<&str> {
        self.embedded.iter().map(|(a, _)| a.as_str()).collect()
    }

    /// The program to install on a head whose `uname -m` is `arch`: the embedded
    /// agent for it (unpacked under the cache folder), else the launcher's own
    /// program when it runs there.
    pub fn agent_for(&self, arch: &str) -> Result<PathBuf, NodeAgentError> {
        let arch = normalize_arch(arch);
        if let Some((_, program)) = self.embedded.iter().find(|(a, _)| *a == arch) {
            return self.unpack(arch, program);
        }
        if launcher_arch() == Some(arch) {
            return Ok(self.launcher.clone());
        }
        let have: Vec<&str> = self.architectures();
        Err(NodeAgentError::NoAgent {
            arch: arch.to_string(),
            have: if have.is_empty() {
                format!("none; only its own program, for {}", launcher_platform())
            } else {
                have.join(", ")
            },
        })
    }

    /// The launcher's own program, for `what` on a head whose `uname -m` is `arch`.
    pub fn full_program_for(&self, arch: &str, what: &str) -> Result<PathBuf, NodeAgentError> {
        let arch = normalize_arch(arch);
        if launcher_arch() == Some(arch) {
            Ok(self.launcher.clone())
        } else {
            Err(NodeAgentError::NoFullProgram {
                what: what.to_string(),
                arch: arch.to_string(),
                launcher: launcher_platform(),
            })
        }
    }

    /// Writes `program` to `<cache>/<arch>/aloft-agent` (0755) unless it is there
    /// already: an unchanged file keeps its time, so rsync skips it on upload.
    fn unpack(&self, arch: &str, program: &[u8]) -> Result<PathBuf, NodeAgentError> {
        use std::os::unix::fs::PermissionsExt;
        let path = self.cache.join(arch).join("aloft-agent");
        let fail = |e: std::io::Error| NodeAgentError::Unpack {
            path: path.display().to_string(),
            detail: e.to_string(),
        };
        if std::fs::read(&path).is_ok_and(|have| have == program) {
            return Ok(path);
        }
        let dir = self.cache.join(arch);
        std::fs::create_dir_all(&dir).map_err(fail)?;
        // Written beside and renamed, so a concurrent launch never uploads half a file.
        let partial = dir.join(format!(".aloft-agent.{}", std::process::id()));
        std::fs::write(&partial, program).map_err(fail)?;
        std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o755)).map_err(fail)?;
        std::fs::rename(&partial, &path).map_err(fail)?;
        Ok(path)
    }
}

/// `uname -m` spellings of one architecture, as Rust names it.
pub fn normalize_arch(arch: &str) -> &str {
    match arch.trim() {
        "amd64" | "x86-64" => "x86_64",
        "arm64" | "armv8" | "aarch64_be" => "aarch64",
        other => other,
    }
}

/// The architecture this program runs on, when that is Linux (where heads are).
pub fn launcher_arch() -> Option<&'static str> {
    cfg!(target_os = "linux").then_some(std::env::consts::ARCH)
}

fn launcher_platform() -> String {
    format!("{} {}", std::env::consts::OS, std::env::consts::ARCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    static FAKE_ARM: &[u8] = b"\x7fELF pretend aarch64 agent";

    #[test]
    fn a_head_gets_the_agent_of_its_architecture() {
        let cache = tempfile::tempdir().unwrap();
        let agents = NodeAgents::new("/opt/aloft", cache.path()).with_agent("aarch64", FAKE_ARM);
        let path = agents.agent_for("arm64\n").unwrap();
        assert_eq!(path, cache.path().join("aarch64/aloft-agent"));
        assert_eq!(std::fs::read(&path).unwrap(), FAKE_ARM);
        let before = std::fs::metadata(&path).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        agents.agent_for("aarch64").unwrap();
        let after = std::fs::metadata(&path).unwrap().modified().unwrap();
        assert_eq!(before, after, "an unchanged agent is not written again");
    }

    #[test]
    fn without_an_agent_only_the_launchers_own_platform_is_served() {
        let cache = tempfile::tempdir().unwrap();
        let agents = NodeAgents::new("/opt/aloft", cache.path());
        let own = launcher_arch().unwrap_or("x86_64");
        let foreign = if own == "aarch64" {
            "x86_64"
        } else {
            "aarch64"
        };
        if launcher_arch().is_some() {
            assert_eq!(agents.agent_for(own).unwrap(), PathBuf::from("/opt/aloft"));
        }
        let err = agents.agent_for(foreign).unwrap_err();
        assert!(
            matches!(&err, NodeAgentError::NoAgent { arch, .. } if arch == foreign),
            "{err}"
        );
        let err = agents.full_program_for(foreign, "autostop").unwrap_err();
        assert!(err.to_string().contains("autostop"), "{err}");
        assert!(agents.agent_for("riscv64").is_err());
    }
}
