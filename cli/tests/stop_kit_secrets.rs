//! Issue 27: nothing that holds a secret stays readable by the jobs on a node. The
//! stop kit (the provider's credentials a head stops its cluster with) lives in the
//! head agent's memory only, never on its disk: a job that reads every file under
//! its home and `~/.aloft` finds no credential, with autostop set and after a
//! manual `stop`/`start`; a lost kit (the agent restarted) is shown by `status -r`;
//! the kit sent again still stops the idle cluster. On DigitalOcean's fake
//! (`tests/fakes/digitalocean_api.py`) with the test sshd machines, read back
//! from the fake.

use crate::common;

use aloft_tests::digitalocean_fake::DigitalOceanFake;
use common::cloud_world::CloudWorld;
use common::text;

/// The token only this test knows.
const SECRET: &str = "dop_v1_ALOFTKIT27a1b2c3d4e5f6.NEVER-ON-A-NODE";

type World = CloudWorld<DigitalOceanFake>;

/// A job that reads every regular file under its home and `~/.aloft` and prints
/// `CLEAN` (with how many it read) or `FOUND` and the files holding the token. The
/// token is in the task reversed, so the job's own script never holds it.
fn scan_task(world: &World) -> std::path::PathBuf {
    let reversed: String = SECRET.chars().rev().collect();
    world.task(
        "scan.yaml",
        &format!(
            "resources: {{infra: digitalocean/tor1, instance_type: s-2vcpu-4gb}}\n\
             run: |\n\
             \x20 python3 - <<'PY'\n\
             \x20 import os\n\
             \x20 needle = {reversed:?}[::-1].encode()\n\
             \x20 found, read = [], 0\n\
             \x20 for top in (os.path.expanduser('~'), os.path.expanduser('~/.aloft')):\n\
             \x20     for folder, _, files in os.walk(top):\n\
             \x20         for name in files:\n\
             \x20             path = os.path.join(folder, name)\n\
             \x20             if not os.path.isfile(path):\n\
             \x20                 continue\n\
             \x20             try:\n\
             \x20                 data = open(path, 'rb').read()\n\
             \x20             except OSError:\n\
             \x20                 continue\n\
             \x20             read += 1\n\
             \x20             if needle in data:\n\
             \x20                 found.append(path)\n\
             \x20 print('FOUND' if found else 'CLEAN', read, found)\n\
             \x20 PY\n"
        ),
    )
}

/// The job's verdict: fails unless it read the agent's files and found no token.
fn assert_clean(stdout: &str, when: &str) {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("CLEAN") || l.starts_with("FOUND"))
        .unwrap_or_else(|| panic!("{when}: the scan did not run: {stdout}"));
    assert!(line.starts_with("CLEAN"), "{when}: {line}");
    let read: usize = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_default();
    // The agent's queue, cluster description, logs and programs at least.
    assert!(read >= 5, "{when}: read only {read} files: {line}");
}

#[test]
fn no_job_on_the_head_can_read_the_stop_kit_and_it_still_stops_the_idle_cluster() {
    let world = CloudWorld::start("127.0.27", 1, 10, SECRET, |machines| {
        DigitalOceanFake::start(SECRET, machines, 1.0)
    })
    .with_env("DIGITALOCEAN_ACCESS_TOKEN", SECRET);
    world.write_config_behind_relay("digitalocean", "root", None);
    let task = scan_task(&world);
    let task = task.to_str().unwrap();

    // Autostop with a kit: the launcher names the credential and says where it is.
    let out = world.aloft(&["launch", "-y", "-i", "100", "-c", "sk", task]);
    assert_clean(&world.ok(&out), "autostop set at launch");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("DIGITALOCEAN_ACCESS_TOKEN") && stderr.contains("memory only"),
        "{stderr}"
    );

    // A manual stop drops the kit, a start sends it again: still on no file.
    world.ok(&world.aloft(&["stop", "-y", "sk"]));
    assert_eq!(
        world.fake.live_droplets(),
        [("sk-head".to_string(), "off".to_string())]
    );
    world.ok(&world.aloft(&["start", "-y", "sk"]));
    assert_clean(
        &world.ok(&world.aloft(&["exec", "sk", task])),
        "after stop and start",
    );
    world.assert_no_secret_in_files();

    // The agent restarts (as after a reboot of the head): its kit is gone, and
    // `status -r` says so rather than leaving an autostop that cannot stop.
    let agent = world.machines[0].home().join(".aloft/agent");
    let pid = std::fs::read_to_string(agent.join("agent.pid")).unwrap();
    let killed = std::process::Command::new("kill")
        .args(["-KILL", pid.trim()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = world.ok(&world.aloft(&["status", "-r"]));
    assert!(
        status.contains("stop kit is not in the agent's memory"),
        "{status}"
    );

    // Autostop set again sends the kit to a new agent, and the kit stops the
    // idle droplet through DigitalOcean's API.
    let mut again = world.command(&["autostop", "-i", "1", "sk"]);
    again.env("ALOFT_AUTOSTOP_SECONDS_PER_MINUTE", "1");
    world.ok(&again.output().unwrap());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while world.fake.live_droplets() != [("sk-head".to_string(), "off".to_string())] {
        assert!(
            std::time::Instant::now() < deadline,
            "not powered off: {:?}\n{}",
            world.fake.live_droplets(),
            std::fs::read_to_string(agent.join("autostop.log")).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    world.assert_no_secret_in_files();
    world.ok(&world.aloft(&["down", "-y", "sk"]));
    assert!(world.fake.live_droplets().is_empty());
    world.assert_every_request_valid();
}
