//! `image_id: docker:IMAGE` on `local` nodes and an SSH pool's machine with a real Docker
//! Engine (scripts/test.sh starts one without a bridge network and exports
//! `DOCKER_HOST`): images are built here from a busybox-static root with `docker
//! import`, and a private registry is Debian's `docker-registry` on loopback with
//! htpasswd authentication. Nothing is pulled from the internet.

use crate::common;

use common::{aloft, aloft_env, assert_secret_in_no_file, free_port, text};

use aloft_tests::sshd::Sshd;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Whether a Docker daemon answers. Without one, a CI run (`CI=true`) fails and
/// any other run says the test is skipped.
fn docker_ready() -> bool {
    let answers = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !answers {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "no Docker daemon answers (DOCKER_HOST={:?}): scripts/test.sh starts one",
            std::env::var("DOCKER_HOST").ok()
        );
        eprintln!(
            "skipped: no Docker daemon answers (scripts/test.sh installs docker.io and starts one)"
        );
    }
    answers
}

fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .output()
        .expect("run docker")
}

/// `docker` with its own client folder (no login of the test lands in `~/.docker`).
fn docker_in(config: &Path, args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .env("DOCKER_CONFIG", config)
        .output()
        .expect("run docker")
}

/// Imports an image `tag` whose root is busybox (static) and a file
/// `/etc/aloft-image-marker` holding `marker`, which the host does not have.
fn import_image(tag: &str, marker: &str) {
    let root = tempfile::tempdir().unwrap();
    let bin = root.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(root.path().join("etc")).unwrap();
    std::fs::create_dir_all(root.path().join("tmp")).unwrap();
    std::fs::copy("/bin/busybox", bin.join("busybox"))
        .expect("/bin/busybox (busybox-static; scripts/test.sh installs it)");
    let applets = Command::new("/bin/busybox").arg("--list").output().unwrap();
    for applet in text(&applets.stdout).lines().filter(|a| *a != "busybox") {
        std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
    }
    std::fs::write(
        root.path().join("etc/aloft-image-marker"),
        format!("{marker}\n"),
    )
    .unwrap();
    let mut tar = Command::new("tar")
        .args(["-C", root.path().to_str().unwrap(), "-c", "."])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = Command::new("docker")
        .args(["import", "-", tag])
        .stdin(tar.stdout.take().unwrap())
        .output()
        .unwrap();
    assert!(tar.wait().unwrap().success(), "tar of the image's root");
    assert!(out.status.success(), "docker import: {}", text(&out.stderr));
}

/// The names of the containers labelled with cluster `name`.
fn containers_of(name: &str) -> Vec<String> {
    let out = docker(&[
        "ps",
        "-a",
        "--filter",
        &format!("label=aloft.cluster={name}"),
        "--format",
        "{{.Names}}",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout).lines().map(str::to_string).collect()
}

/// The command lines of the processes inside container `name`.
fn processes_in(name: &str) -> String {
    text(&docker(&["top", name, "-o", "pid,args"]).stdout)
}

/// Removes the containers of its clusters when dropped, so that a failing test
/// leaves none running on the daemon.
struct RemoveContainers(Vec<String>);

impl Drop for RemoveContainers {
    fn drop(&mut self) {
        for cluster in &self.0 {
            let label = format!("label=aloft.cluster={cluster}");
            let listed = docker(&["ps", "-aq", "--filter", &label]);
            for id in text(&listed.stdout).lines() {
                let _ = docker(&["rm", "-f", id]);
            }
        }
    }
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_docker_image_task_runs_setup_run_exec_and_cancel_inside_one_container_per_node_across_stop_and_start()
 {
    if !docker_ready() {
        return;
    }
    let image = format!("aloft-test/busybox-{}:1", std::process::id());
    import_image(&image, "only-in-the-image");
    assert!(!Path::new("/etc/aloft-image-marker").exists());
    let cluster = format!("ctr{}", std::process::id());
    let _cleanup = RemoveContainers(vec![cluster.clone()]);
    let home = tempfile::tempdir().unwrap();
    let project = home.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(project.join("data.txt"), "from-the-workdir").unwrap();
    std::fs::write(
        project.join("task.yaml"),
        format!(
            "num_nodes: 2\nworkdir: .\nresources: {{infra: local, cpus: 2, image_id: docker:{image}}}\n\
             envs: {{MODEL: tiny}}\nfile_mounts: {{{mount}: ./data.txt}}\n\
             setup: echo \"setup $SKYPILOT_SETUP_NODE_RANK $(cat /etc/aloft-image-marker)\"\n\
             run: echo \"rank $SKYPILOT_NODE_RANK/$SKYPILOT_NUM_NODES $(cat /etc/aloft-image-marker) \
             $(cat data.txt) $(cat {mount}) $MODEL token=${{#HF_TOKEN}} in=$PWD\"\n",
            // An absolute file mount target (on a local node, this machine's path):
            // mounted into the container at the same path.
            mount = home.path().join("abs/mounted.txt").display()
        ),
    )
    .unwrap();
    let out = aloft(
        home.path(),
        &[
            "launch",
            "-y",
            "-c",
            &cluster,
            "--secret",
            "HF_TOKEN=hf_container_secret",
            project.join("task.yaml").to_str().unwrap(),
        ],
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let mut lines: Vec<String> = stdout
        .lines()
        .map(|l| {
            // The workdir's node folder differs per rank: keep its last part.
            l.replace(&format!("{}/", home.path().display()), "HOME/")
        })
        .collect();
    lines.sort();
    let workdir = |rank: u32| format!("HOME/local/{cluster}/local-{cluster}-{rank}/sky_workdir");
    assert_eq!(
        lines,
        [
            format!(
                "(rank 0) rank 0/2 only-in-the-image from-the-workdir from-the-workdir tiny token=19 in={}",
                workdir(0)
            ),
            "(rank 0) setup 0 only-in-the-image".to_string(),
            format!(
                "(rank 1) rank 1/2 only-in-the-image from-the-workdir from-the-workdir tiny token=19 in={}",
                workdir(1)
            ),
            "(rank 1) setup 1 only-in-the-image".to_string(),
        ],
        "{stderr}"
    );
    let containers = containers_of(&cluster);
    assert_eq!(
        containers.len(),
        2,
        "one container per node: {containers:?}"
    );
    // The secret went in by name (`docker exec -e HF_TOKEN`), never as a value.
    assert_secret_in_no_file(home.path(), "hf_container_secret");

    // A second job with `exec`, cancelled while it runs inside the container.
    let out = aloft(
        home.path(),
        &[
            "exec",
            &cluster,
            "-d",
            "--",
            "cat /etc/aloft-image-marker; exec sleep 4321",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let running_in = || {
        containers
            .iter()
            .filter(|c| processes_in(c).contains("sleep 4321"))
            .count()
    };
    wait_until("the exec'd job sleeps inside a container", || {
        running_in() == 1
    });
    let out = aloft(home.path(), &["logs", &cluster, "2", "--no-follow"]);
    assert!(
        text(&out.stdout).contains("only-in-the-image"),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let out = aloft(home.path(), &["cancel", "-y", &cluster, "2"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    wait_until("the cancelled job is gone from the container", || {
        running_in() == 0
    });
    let queue = aloft(home.path(), &["queue", &cluster]);
    assert!(
        text(&queue.stdout).contains("CANCELLED"),
        "{}",
        text(&queue.stdout)
    );
    // Both containers still run (one job's end is not the node's).
    let running = docker(&[
        "ps",
        "--filter",
        &format!("label=aloft.cluster={cluster}"),
        "-q",
    ]);
    assert_eq!(text(&running.stdout).lines().count(), 2);

    // Stopped and started: the stop stops the containers of these nodes, which
    // outlive it (as a machine's stop ends them), and keeps them; the next job
    // starts its node's container again and runs inside it.
    assert!(
        aloft(home.path(), &["stop", "-y", &cluster])
            .status
            .success()
    );
    assert_eq!(
        text(
            &docker(&[
                "ps",
                "--filter",
                &format!("label=aloft.cluster={cluster}"),
                "-q"
            ])
            .stdout
        )
        .lines()
        .count(),
        0,
        "a stopped cluster's containers still run"
    );
    assert_eq!(
        containers_of(&cluster).len(),
        2,
        "the stop removed the containers"
    );
    let out = aloft(home.path(), &["start", &cluster]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = aloft(
        home.path(),
        &[
            "exec",
            &cluster,
            "--",
            "echo again in $(cat /etc/aloft-image-marker)",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "again in only-in-the-image");

    let out = aloft(home.path(), &["down", "-y", &cluster]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(containers_of(&cluster), Vec::<String>::new());
    let _ = docker(&["rmi", &image]);
}

/// Debian's `docker-registry` on a loopback port, requiring `user`/`password`.
struct Registry {
    child: Child,
    address: String,
    _dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_registry(user: &str, password: &str) -> Registry {
    let dir = tempfile::tempdir().unwrap();
    let htpasswd = Command::new("htpasswd")
        .args(["-Bbn", user, password])
        .output()
        .expect("htpasswd (apache2-utils; scripts/test.sh installs it)");
    assert!(htpasswd.status.success());
    std::fs::write(dir.path().join("htpasswd"), &htpasswd.stdout).unwrap();
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let config = dir.path().join("config.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog: {{level: error}}\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
             http:\n  addr: {address}\nauth:\n  htpasswd:\n    realm: aloft-test\n    path: {}\n",
            dir.path().join("data").display(),
            dir.path().join("htpasswd").display()
        ),
    )
    .unwrap();
    let child = Command::new("docker-registry")
        .arg("serve")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("docker-registry (scripts/test.sh installs it)");
    let registry = Registry {
        child,
        address,
        _dir: dir,
    };
    wait_until("the registry listens", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    registry
}

#[test]
fn a_private_registry_image_is_pulled_with_the_tasks_credentials_and_bad_ones_fail_clearly() {
    if !docker_ready() {
        return;
    }
    let password = "pw-private-registry-2718";
    let registry = start_registry("teammate", password);
    let config = tempfile::tempdir().unwrap();
    let local = format!("aloft-test/private-{}:1", std::process::id());
    import_image(&local, "from-the-private-registry");
    let image = format!("{}/team/app:1", registry.address);
    assert!(docker(&["tag", &local, &image]).status.success());
    let login = Command::new("docker")
        .args([
            "login",
            "--username",
            "teammate",
            "--password-stdin",
            &registry.address,
        ])
        .env("DOCKER_CONFIG", config.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .map(|mut s| s.write_all(password.as_bytes()));
            child.wait_with_output()
        })
        .unwrap();
    assert!(login.status.success(), "{}", text(&login.stderr));
    let push = docker_in(config.path(), &["push", &image]);
    assert!(push.status.success(), "{}", text(&push.stderr));
    // Only the registry has it now: the launch must pull it.
    assert!(docker(&["rmi", &image, &local]).status.success());

    // One machine of an SSH node pool (a real sshd with its own home), whose
    // Docker daemon is the tests' one.
    let home = tempfile::tempdir().unwrap();
    let machine = Sshd::start_machine(&home.path().join("machine"), "127.0.0.5");
    std::fs::write(
        home.path().join("ssh_node_pools.yaml"),
        format!(
            "lab:\n  user: {}\n  identity_file: {}\n  cpus: 2\n  hosts:\n    - ip: {}\n      port: {}\n",
            machine.user,
            machine.identity_file.display(),
            machine.ip,
            machine.port
        ),
    )
    .unwrap();
    let task = |image: &str| {
        let path = home.path().join("task.yaml");
        std::fs::write(
            &path,
            format!(
                "resources: {{infra: ssh/lab, image_id: docker:{image}}}\n\
                 envs: {{SKYPILOT_DOCKER_USERNAME: teammate, SKYPILOT_DOCKER_SERVER: {}}}\n\
                 run: cat /etc/aloft-image-marker\n",
                registry.address
            ),
        )
        .unwrap();
        path
    };
    let launch = |cluster: &str, image: &str, password: &str| {
        aloft_env(
            home.path(),
            &[
                "launch",
                "-y",
                "-c",
                cluster,
                "--secret",
                "SKYPILOT_DOCKER_PASSWORD",
                task(image).to_str().unwrap(),
            ],
            &[("SKYPILOT_DOCKER_PASSWORD", password)],
        )
    };
    let pid = std::process::id();
    let _cleanup = RemoveContainers(
        ["badpw", "missing", "goodpw"]
            .iter()
            .map(|c| format!("{c}{pid}"))
            .collect(),
    );

    // Wrong credentials: the launch fails naming the registry; no job, no container.
    let bad = format!("badpw{pid}");
    let out = launch(&bad, &image, "not-the-password");
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!("logging in to registry {}", registry.address)),
        "{stderr}"
    );
    assert!(!text(&out.stdout).contains("from-the-private-registry"));
    assert_eq!(containers_of(&bad), Vec::<String>::new());
    let down = |cluster: &str| {
        let out = aloft(home.path(), &["down", "-y", cluster]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(containers_of(cluster), Vec::<String>::new());
    };
    // The pool's one machine is free again for the next launch.
    down(&bad);

    // An image the registry does not have: its reason, before any `run`.
    let missing = format!("missing{pid}");
    let out = launch(
        &missing,
        &format!("{}/team/nosuch:1", registry.address),
        password,
    );
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("pulling image") && stderr.contains("not found"),
        "{stderr}"
    );
    assert_eq!(containers_of(&missing), Vec::<String>::new());
    assert!(!text(&out.stdout).contains("from-the-private-registry"));
    down(&missing);

    // The right credentials: pulled, and the job runs in it.
    let good = format!("goodpw{pid}");
    let out = launch(&good, &image, password);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(stdout.trim(), "from-the-private-registry", "{stderr}");
    assert_eq!(containers_of(&good).len(), 1);
    for output in [&stdout, &stderr] {
        assert!(!output.contains(password));
    }
    // Not under aloft's home, nor in the machine's home (no `~/.docker` login).
    assert_secret_in_no_file(home.path(), password);

    down(&good);
    let _ = docker(&["rmi", &image]);
}

/// The dry run, as JSON and as a table, of a `docker:` task in a home where test
/// component `component` is installed as provider `faulty` (the cheapest offer of
/// the task, its token set) beside the clouds aloft ships prices for.
fn image_task_plan(component: &str) -> (serde_json::Value, String) {
    let home = tempfile::tempdir().unwrap();
    let wasm = home.path().join("faulty.wasm");
    std::fs::write(&wasm, aloft_tests::components::test_component(component)).unwrap();
    let out = aloft(
        home.path(),
        &["providers", "install", "-y", wasm.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    std::fs::write(home.path().join("config.yaml"), "clouds: [faulty, aws]\n").unwrap();
    let task = home.path().join("task.yaml");
    std::fs::write(
        &task,
        "resources: {cpus: 2, image_id: docker:busybox:1.36}\nrun: cat /etc/os-release\n",
    )
    .unwrap();
    let token = [("FAULTY_TOKEN", "faulty-token-value")];
    let dry_run = |extra: &[&str]| {
        let mut args = vec!["launch", "--dryrun", "--all-clouds"];
        args.extend_from_slice(extra);
        args.push(task.to_str().unwrap());
        let out = aloft_env(home.path(), &args, &token);
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    let plan = serde_json::from_str(&dry_run(&["-o", "json"])).unwrap();
    (plan, dry_run(&[]))
}

#[test]
fn a_provider_whose_manifest_says_its_nodes_cannot_run_container_images_is_left_out_with_why() {
    let why = "cannot run a container image (image_id: docker:...): its nodes are containers of \
               the provider's own image";
    // `faulty` does not export WIT 0.2.0's `manifest` (a 0.1.0 component): it can,
    // and its offer, the cheapest, is chosen.
    let (plan, table) = image_task_plan("faulty");
    let task = &plan["tasks"][0];
    assert_eq!(task["chosen"]["cloud"], "faulty", "{plan}");
    assert!(!table.contains("Left out: faulty"), "{table}");

    // The same component declaring (through the SDK's `export_capabilities!`) that
    // its nodes cannot: left out, and the dry run says why.
    let (plan, table) = image_task_plan("boxed");
    let task = &plan["tasks"][0];
    assert_ne!(task["chosen"]["cloud"], "faulty", "{plan}");
    assert!(
        task["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["cloud"] != "faulty"),
        "{plan}"
    );
    assert!(
        task["excluded"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["cloud"] == "faulty" && e["reason"] == why),
        "{plan}"
    );
    assert!(
        table.contains(&format!("Left out: faulty {why}.")),
        "{table}"
    );
    // RunPod declares the same through its manifest.
    assert!(
        task["excluded"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["cloud"] == "runpod" && e["reason"] == why),
        "{plan}"
    );
}
