//! `agent power-off`: autostop on clouds that stop (or terminate) a machine whose
//! operating system shuts down (EC2 does what the instance's
//! `InstanceInitiatedShutdownBehavior` says, which the launcher sets through the
//! provider). The head shuts the other nodes down over SSH, then itself; no
//! credential is needed on the head.

use std::time::Duration;

use super::agent::{AgentPaths, read_cluster_spec};
use super::node::{Node, Script};

/// Shuts this machine down: with passwordless sudo (cloud images), else as the
/// login user (root), else with `poweroff`.
pub const POWER_OFF: &str = "sudo -n shutdown -h now || shutdown -h now || poweroff";

/// Tries per node before the head goes down without it.
const ATTEMPTS: u32 = 3;

/// Powers off every node of the cluster whose agent lives in `paths`: the other
/// nodes first, then this one. A node that cannot be reached or refuses is
/// reported (on stdout: the agent's autostop log) and the head goes down all the
/// same, so that the rest of the cluster stops; `status -r` then shows the
/// cluster's nodes in mixed states.
pub fn power_off(paths: &AgentPaths) -> Result<(), String> {
    let spec = read_cluster_spec(paths).map_err(|e| e.to_string())?;
    let control_dir = paths.root().join("cm");
    let failures: Vec<String> = std::thread::scope(|scope| {
        let running: Vec<_> = spec
            .nodes
            .iter()
            .skip(1)
            .map(|node| {
                let node = node.connect(&control_dir);
                scope.spawn(move || power_off_node(&*node))
            })
            .collect();
        running
            .into_iter()
            .filter_map(|r| match r.join() {
                Ok(outcome) => outcome.err(),
                Err(_) => Some("a node's power-off panicked".into()),
            })
            .collect()
    });
    for failure in &failures {
        println!("warning: not powered off: {failure}");
    }
    let status = std::process::Command::new("sh")
        .args(["-c", POWER_OFF])
        .status()
        .map_err(|e| format!("cannot run `{POWER_OFF}`: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{POWER_OFF}` failed ({status})"))
    }
}

/// Shuts `node` down over SSH. A connection that drops during the command
/// (`ssh` exits 255) after the node answered counts as done: the machine went
/// down under it.
fn power_off_node(node: &dyn Node) -> Result<(), String> {
    let mut last = String::new();
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            std::thread::sleep(Duration::from_secs(5));
        }
        let mut out = Vec::new();
        match node.run(&Script::new("true"), &mut out) {
            Ok(0) => {}
            Ok(code) => {
                last = format!("unreachable (exit {code}): {}", tail(&out));
                continue;
            }
            Err(err) => {
                last = err.to_string();
                continue;
            }
        }
        out.clear();
        match node.run(&Script::new(POWER_OFF), &mut out) {
            Ok(0 | 255) => return Ok(()),
            Ok(code) => last = format!("`{POWER_OFF}` exited {code}: {}", tail(&out)),
            Err(err) => last = err.to_string(),
        }
    }
    Err(format!("{}: {last}", node.describe()))
}

/// The last line of a command's output, for a message.
fn tail(out: &[u8]) -> String {
    let text = String::from_utf8_lossy(out);
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(300)
        .collect()
}
