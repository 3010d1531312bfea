//! Helpers shared by the CLI's integration tests.
// Each test binary uses a different subset of these.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Output};

/// Runs the `aloft` binary with `ALOFT_HOME=home`.
pub fn aloft(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aloft"))
        .args(args)
        .env("ALOFT_HOME", home)
        .output()
        .expect("run aloft")
}

/// Runs the `aloft` binary with `ALOFT_HOME=home` and more environment variables.
pub fn aloft_env(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aloft"))
        .args(args)
        .env("ALOFT_HOME", home)
        .envs(env.iter().copied())
        .output()
        .expect("run aloft")
}

/// Output bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Kills (and reaps) a child process when dropped.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A one-node, one-CPU job running `run`, named `name`.
pub fn one_node_job(name: &str, run: &str) -> aloft::runtime::queue::JobSpec {
    aloft::runtime::queue::JobSpec {
        name: Some(name.into()),
        demand: aloft::runtime::scheduler::Demand {
            cpus: 1.0,
            gpus: 0.0,
            num_nodes: 1,
        },
        accelerator: None,
        setup: None,
        run: run.into(),
        env: vec![],
    }
}

/// Every file under `dir` (aloft's home: state, logs, keys, the machines' files).
pub fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => files.extend(files_under(&path)),
            Ok(t) if t.is_file() => files.push(path),
            _ => {}
        }
    }
    files
}

/// Fails when any file under `dir` holds `secret`.
pub fn assert_secret_in_no_file(dir: &Path, secret: &str) {
    for entry in files_under(dir) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the secret is in {}",
            entry.display()
        );
    }
}
