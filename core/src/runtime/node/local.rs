//! Nodes that are folders on this machine (the `local` provider).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Node, NodeError, Running, Script};

/// A node that is a folder on this machine (the `local` provider).
#[derive(Debug, Clone)]
pub struct LocalNode {
    home: PathBuf,
}

impl LocalNode {
    /// A node whose home is `home` (created when first used).
    pub fn new(home: impl Into<PathBuf>) -> Self {
        LocalNode { home: home.into() }
    }

    /// The node's home folder.
    pub fn home(&self) -> &Path {
        &self.home
    }

    fn ensure_home(&self) -> Result<(), NodeError> {
        std::fs::create_dir_all(&self.home).map_err(|source| NodeError::Io {
            context: format!("creating {}", self.home.display()),
            source,
        })
    }
}

impl Node for LocalNode {
    fn describe(&self) -> String {
        self.home.display().to_string()
    }

    fn spawn(&self, script: &Script) -> Result<Running, NodeError> {
        self.ensure_home()?;
        let mut command = Command::new("bash");
        command
            .arg("-s")
            .current_dir(&self.home)
            .env("HOME", &self.home);
        Running::start(
            command,
            "bash",
            script.render(None),
            self.describe(),
            false,
            None,
        )
    }

    fn upload(&self, local: &Path, remote: &str, gitignore: bool) -> Result<(), NodeError> {
        self.ensure_home()?;
        let target = self.home.join(remote);
        copy_tree(local, &target, gitignore).map_err(|err| NodeError::Transfer {
            local: local.display().to_string(),
            node: self.describe(),
            remote: remote.to_string(),
            detail: err.to_string(),
        })
    }
}

/// Copies `from` (a file or a folder) to `to`, skipping what its ignore files
/// exclude when `gitignore` is set (its top-level `.skyignore` when it has one,
/// else its `.gitignore` files). `.git` folders are never copied.
fn copy_tree(from: &Path, to: &Path, gitignore: bool) -> std::io::Result<()> {
    if from.is_file() {
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(from, to)?;
        return Ok(());
    }
    let skyignore = match super::skyignore(from).filter(|_| gitignore) {
        Some(file) => {
            let mut builder = ignore::gitignore::GitignoreBuilder::new(from);
            if let Some(err) = builder.add(&file) {
                return Err(std::io::Error::other(format!("{}: {err}", file.display())));
            }
            Some(builder.build().map_err(std::io::Error::other)?)
        }
        None => None,
    };
    let use_gitignore = gitignore && skyignore.is_none();
    let walker = ignore::WalkBuilder::new(from)
        .hidden(false)
        .git_ignore(use_gitignore)
        .git_global(false)
        .git_exclude(false)
        .ignore(false)
        .parents(false)
        .require_git(false)
        .filter_entry(move |entry| {
            entry.file_name() != ".git"
                && !skyignore.as_ref().is_some_and(|m| {
                    let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
                    m.matched(entry.path(), is_dir).is_ignore()
                })
        })
        .build();
    std::fs::create_dir_all(to)?;
    for entry in walker {
        let entry = entry.map_err(std::io::Error::other)?;
        let relative = entry
            .path()
            .strip_prefix(from)
            .map_err(std::io::Error::other)?;
        let target = to.join(relative);
        match entry.file_type() {
            Some(kind) if kind.is_dir() => std::fs::create_dir_all(&target)?,
            Some(kind) if kind.is_file() => {
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::copy(entry.path(), &target)?;
            }
            // Symlinks and special files are skipped, as rsync -a without -L would
            // copy links we cannot resolve safely here.
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn env_values_are_quoted_not_interpreted() {
        let dir = tempfile::tempdir().unwrap();
        let node = LocalNode::new(dir.path().join("node"));
        let script = Script {
            body: "printf '%s|' \"$A\" \"$B\"; exit 3".into(),
            env: vec![
                ("A".into(), "it's $(echo no) `x`".into()),
                ("B".into(), "line1\nline2".into()),
            ],
            cwd: Some("work dir".into()),
        };
        let mut out = Vec::new();
        let code = node.run(&script, &mut out).unwrap();
        assert_eq!(code, 3);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "it's $(echo no) `x`|line1\nline2|"
        );
        assert!(dir.path().join("node/work dir").is_dir());
    }

    #[test]
    fn stderr_is_merged_and_home_is_the_node_folder() {
        let dir = tempfile::tempdir().unwrap();
        let node = LocalNode::new(dir.path().join("n0"));
        let mut out = Vec::new();
        let code = node
            .run(&Script::new("echo out; echo err >&2; echo $HOME"), &mut out)
            .unwrap();
        assert_eq!(code, 0);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            format!("out\nerr\n{}\n", dir.path().join("n0").display())
        );
    }

    #[test]
    fn a_large_script_does_not_deadlock() {
        let dir = tempfile::tempdir().unwrap();
        let node = LocalNode::new(dir.path());
        let body = format!("echo start\n: '{}'\necho end", "x".repeat(1 << 20));
        let mut out = Vec::new();
        assert_eq!(node.run(&Script::new(body), &mut out).unwrap(), 0);
        assert_eq!(String::from_utf8(out).unwrap(), "start\nend\n");
    }

    #[test]
    fn a_killer_stops_the_whole_process_group() {
        let dir = tempfile::tempdir().unwrap();
        let node = LocalNode::new(dir.path());
        let running = node
            .spawn(&Script::new("sleep 30 & sleep 30; echo never"))
            .unwrap();
        let killer = running.killer();
        let started = Instant::now();
        let waiter = std::thread::spawn(move || {
            let mut out = Vec::new();
            (running.wait(&mut out), out)
        });
        std::thread::sleep(Duration::from_millis(200));
        killer.kill();
        let (result, out) = waiter.join().unwrap();
        assert!(
            matches!(result, Err(NodeError::Killed { .. })),
            "{result:?}"
        );
        assert!(out.is_empty());
        assert!(started.elapsed() < Duration::from_secs(10));
        // Killing again after the end is harmless.
        killer.kill();
    }

    #[test]
    fn upload_honours_gitignore_and_skips_dot_git() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::create_dir_all(src.join(".git")).unwrap();
        std::fs::create_dir_all(src.join("build")).unwrap();
        std::fs::write(src.join(".gitignore"), "build/\n*.log\n").unwrap();
        std::fs::write(src.join("main.py"), "print(1)").unwrap();
        std::fs::write(src.join("sub/data.txt"), "d").unwrap();
        std::fs::write(src.join("sub/run.log"), "l").unwrap();
        std::fs::write(src.join("build/out.bin"), "b").unwrap();
        std::fs::write(src.join(".git/HEAD"), "h").unwrap();
        let node = LocalNode::new(dir.path().join("node"));
        node.upload(&src, "sky_workdir", true).unwrap();
        let dst = dir.path().join("node/sky_workdir");
        assert!(dst.join("main.py").is_file());
        assert!(dst.join("sub/data.txt").is_file());
        assert!(dst.join(".gitignore").is_file());
        assert!(!dst.join("sub/run.log").exists());
        assert!(!dst.join("build").exists());
        assert!(!dst.join(".git").exists());
        // Without gitignore, ignored files come along (but never .git).
        node.upload(&src, "all", false).unwrap();
        assert!(dir.path().join("node/all/sub/run.log").is_file());
        assert!(!dir.path().join("node/all/.git").exists());
    }

    #[test]
    fn a_top_level_skyignore_replaces_gitignore() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::create_dir_all(src.join("data")).unwrap();
        std::fs::write(src.join(".gitignore"), "*.log\n").unwrap();
        std::fs::write(src.join(".skyignore"), "data/\n*.ckpt\n").unwrap();
        std::fs::write(src.join("main.py"), "print(1)").unwrap();
        std::fs::write(src.join("sub/run.log"), "l").unwrap();
        std::fs::write(src.join("sub/model.ckpt"), "c").unwrap();
        std::fs::write(src.join("data/big.bin"), "b").unwrap();
        let node = LocalNode::new(dir.path().join("node"));
        node.upload(&src, "w", true).unwrap();
        let dst = dir.path().join("node/w");
        assert!(dst.join("main.py").is_file());
        // .gitignore no longer applies; .skyignore does, at any depth.
        assert!(dst.join("sub/run.log").is_file());
        assert!(!dst.join("sub/model.ckpt").exists());
        assert!(!dst.join("data").exists());
    }
}
