//! Container images as a task's runtime (`image_id: docker:IMAGE`).
//!
//! Each node of such a cluster gets one container of the image, made at launch
//! ([`start_on_nodes`], before the agent starts and before any job: a missing image
//! fails the launch with the daemon's reason) and removed by `down`
//! ([`remove_on_nodes`]). The container uses the host's network (`--network host`:
//! `SKYPILOT_NODE_IPS` and ports work as without it), sees the node's home (the
//! workdir, the file mounts under it and aloft's node folders) and the absolute file
//! mount targets at the same paths, and gets the node's GPUs (`--gpus all`) when it
//! has any. Its main process only waits; the agent, on the host, runs `setup` and
//! `run` inside it with `docker exec` ([`wrap`]), so queueing, logs, `cancel` and
//! autostop work as without a container.
//!
//! A container is named after its cluster and a hash of the node's `$HOME`
//! (`aloft-CLUSTER-HASH`) and labelled `aloft.cluster=CLUSTER`, so the launcher and
//! the agent find it from the node alone, and several clusters (or several `local`
//! nodes sharing one Docker daemon) never collide. A stopped container (the node was
//! stopped and started) is started again before the next job.
//!
//! Private registries follow SkyPilot: `SKYPILOT_DOCKER_USERNAME`,
//! `SKYPILOT_DOCKER_PASSWORD` and `SKYPILOT_DOCKER_SERVER` from the task's `envs` or
//! `secrets`. The password reaches the node inside the launch script's standard input
//! and `docker login` on its standard input (never a command line), with a
//! throw-away `DOCKER_CONFIG` folder removed as soon as the image is pulled, so the
//! credentials are kept in no file.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::node::{Node, NodeError, Script};
use crate::task::{ImageId, SecretValue, Task};

/// The container every node of a cluster runs its jobs in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerSpec {
    /// The image (`docker:` stripped): `ubuntu:22.04`, `127.0.0.1:5000/team/app:1`.
    pub image: String,
    /// Pass the node's GPUs through (`--gpus all`).
    #[serde(default)]
    pub gpus: bool,
    /// Absolute paths on the node also mounted at the same path (file mount
    /// targets outside the home).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<String>,
}

/// The environment variables naming a private registry's credentials.
pub const REGISTRY_ENV: [&str; 3] = [
    "SKYPILOT_DOCKER_USERNAME",
    "SKYPILOT_DOCKER_PASSWORD",
    "SKYPILOT_DOCKER_SERVER",
];

/// Why a node's container could not be made.
#[derive(Debug, Error)]
pub enum ContainerError {
    /// The node's script ran and failed: Docker missing and not installable, a
    /// registry login refused, an image that does not exist.
    #[error("starting a container of image `{image}` on node {node} failed:\n{detail}")]
    Start {
        /// The image.
        image: String,
        /// The node.
        node: String,
        /// The script's last lines (Docker's own words).
        detail: String,
    },
    /// The node could not be reached.
    #[error(transparent)]
    Node(#[from] NodeError),
}

/// The container image `task` asks for: the first `image_id: docker:...` among its
/// resources.
pub fn image_of(task: &Task) -> Option<String> {
    task.resources
        .candidates()
        .iter()
        .find_map(|r| match &r.image_id {
            Some(ImageId::Docker(image)) => Some(image.clone()),
            _ => None,
        })
}

/// The container of a cluster launched for `task`, when it names a Docker image;
/// `gpus` when its nodes have GPUs.
pub fn spec_for(task: &Task, gpus: bool) -> Option<ContainerSpec> {
    let image = image_of(task)?;
    let mounts = task
        .file_mounts
        .keys()
        .filter(|target| target.starts_with('/'))
        .map(|target| target.trim_end_matches('/').to_string())
        .filter(|t| !t.is_empty())
        .collect();
    Some(ContainerSpec {
        image,
        gpus,
        mounts,
    })
}

/// Whether the nodes of `cloud` are themselves containers of the task's image
/// (Kubernetes: the pod's image; Vast.ai: the instance's image), so there is no
/// container to make inside the node. The provider gets the image as `image-id`
/// `docker:IMAGE`.
pub fn image_is_the_node(cloud: &str) -> bool {
    matches!(cloud, "kubernetes" | "vastai")
}

/// The registry credentials `task` carries (`SKYPILOT_DOCKER_*` from its `envs`
/// and `secrets`), to log in with before pulling.
pub fn registry_env(task: &Task) -> Vec<(String, String)> {
    REGISTRY_ENV
        .iter()
        .filter_map(|name| {
            let value =
                task.envs
                    .get(*name)
                    .cloned()
                    .or_else(|| match task.secrets.get(*name) {
                        Some(SecretValue::Inline(secret)) => Some(secret.expose().to_string()),
                        _ => None,
                    })?;
            Some((name.to_string(), value))
        })
        .collect()
}

/// Shell-quotes for bash.
fn quote(value: &str) -> String {
    shlex::try_quote(value)
        .map(|q| q.into_owned())
        .unwrap_or_else(|_| "''".to_string())
}

/// Bash that sets `__aloft_c` (this node's container of `cluster`) and
/// `__aloft_docker` (a function running `docker`, through passwordless `sudo` where
/// the user cannot reach the daemon), and `__aloft_h` (the hash of `$HOME`).
fn prelude(cluster: &str) -> String {
    format!(
        "__aloft_h=$(printf %s \"$HOME\" | cksum | cut -d' ' -f1)\n\
         __aloft_c={prefix}-\"$__aloft_h\"\n\
         __aloft_sudo=\n\
         if command -v docker >/dev/null 2>&1 && ! docker version >/dev/null 2>&1 \
            && sudo -n docker version >/dev/null 2>&1; then __aloft_sudo='sudo -n -E'; fi\n\
         __aloft_docker() {{ $__aloft_sudo docker \"$@\"; }}\n",
        prefix = quote(&format!("aloft-{cluster}")),
    )
}

/// Bash installing Docker where it is missing and the node allows it (root or
/// passwordless `sudo`, `apt-get`); else it exits 3 saying so.
const INSTALL_DOCKER: &str = r#"if ! command -v docker >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then __aloft_root=; elif sudo -n true 2>/dev/null; then __aloft_root='sudo -n'; else
    echo "aloft: Docker is not installed on this node, and it cannot be installed here (not root, no passwordless sudo): install Docker in the node's image, or use a VM image (image_id without docker:)"; exit 3; fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "aloft: Docker is not installed on this node and there is no apt-get to install it with: install Docker in the node's image"; exit 3; fi
  echo "aloft: installing Docker (apt-get install docker.io)"
  $__aloft_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null \
    && $__aloft_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null \
    || { echo "aloft: installing docker.io with apt-get failed"; exit 3; }
  $__aloft_root systemctl start docker >/dev/null 2>&1 || $__aloft_root service docker start >/dev/null 2>&1 || true
fi
"#;

/// The script that makes (or re-makes) this node's container of `cluster`; the
/// registry credentials go into its environment (see [`registry_env`]).
pub fn start_script(spec: &ContainerSpec, cluster: &str, registry: &[(String, String)]) -> Script {
    let image = quote(&spec.image);
    let mut mounts = String::new();
    for path in &spec.mounts {
        let path = quote(path);
        mounts.push_str(&format!(
            "if [ -e {path} ]; then __aloft_mounts+=(-v {path}:{path}); fi\n"
        ));
    }
    let gpus = if spec.gpus { " --gpus all" } else { "" };
    let label = quote(&format!("aloft.cluster={cluster}"));
    let body = format!(
        "{INSTALL_DOCKER}{prelude}\
         if ! __aloft_docker version >/dev/null 2>&1; then\n  \
           echo \"aloft: the Docker daemon does not answer on this node:\"; __aloft_docker version 2>&1 | tail -n 3; exit 3\n\
         fi\n\
         __aloft_docker rm -f \"$__aloft_c\" >/dev/null 2>&1\n\
         if ! __aloft_docker image inspect {image} >/dev/null 2>&1; then\n  \
           if [ -n \"${{SKYPILOT_DOCKER_USERNAME:-}}\" ]; then\n    \
             __aloft_server=\"${{SKYPILOT_DOCKER_SERVER:-}}\"\n    \
             export DOCKER_CONFIG=\"$(mktemp -d)\"\n    \
             trap 'rm -rf \"$DOCKER_CONFIG\"' EXIT\n    \
             if ! printf '%s' \"${{SKYPILOT_DOCKER_PASSWORD:-}}\" | __aloft_docker login \
                  --username \"$SKYPILOT_DOCKER_USERNAME\" --password-stdin ${{__aloft_server:+\"$__aloft_server\"}} >/dev/null 2>\"$DOCKER_CONFIG/err\"; then\n      \
               echo \"aloft: logging in to registry ${{__aloft_server:-docker.io}} as $SKYPILOT_DOCKER_USERNAME failed (SKYPILOT_DOCKER_USERNAME, SKYPILOT_DOCKER_PASSWORD):\"\n      \
               cat \"$DOCKER_CONFIG/err\"; exit 4\n    \
             fi\n  \
           fi\n  \
           if ! __aloft_docker pull -q {image} >/dev/null 2>/tmp/aloft-pull.$$; then\n    \
             echo \"aloft: pulling image {image} failed:\"; cat /tmp/aloft-pull.$$; rm -f /tmp/aloft-pull.$$; exit 4\n  \
           fi\n  \
           rm -f /tmp/aloft-pull.$$\n  \
           if [ -n \"${{DOCKER_CONFIG:-}}\" ]; then rm -rf \"$DOCKER_CONFIG\"; unset DOCKER_CONFIG; fi\n\
         fi\n\
         __aloft_mounts=(-v \"$HOME:$HOME\")\n\
         {mounts}\
         __aloft_docker run -d --name \"$__aloft_c\" --label {label} --label \"aloft.node=$__aloft_h\" \
           --network host{gpus} \"${{__aloft_mounts[@]}}\" --entrypoint /bin/sh {image} \
           -c 'trap \"exit 0\" TERM INT; while :; do sleep 3600 & wait $!; done' >/dev/null || exit 4\n",
        prelude = prelude(cluster),
    );
    Script {
        body,
        env: registry.to_vec(),
        cwd: None,
    }
}

/// Makes the container of `cluster` on every node at once (see [`start_script`]);
/// the first node that fails is the error, with Docker's own words.
pub fn start_on_nodes(
    spec: &ContainerSpec,
    cluster: &str,
    registry: &[(String, String)],
    nodes: &[Box<dyn Node>],
) -> Result<(), ContainerError> {
    let script = start_script(spec, cluster, registry);
    run_everywhere(nodes, &script)
        .into_iter()
        .try_for_each(|(node, result)| match result {
            Ok((0, _)) => Ok(()),
            Ok((code, output)) => Err(ContainerError::Start {
                image: spec.image.clone(),
                node,
                detail: last_lines(&output, code),
            }),
            Err(err) => Err(ContainerError::Node(err)),
        })
}

/// The script removing this node's container of `cluster` (none is fine).
pub fn remove_script(cluster: &str) -> Script {
    Script::new(format!(
        "command -v docker >/dev/null 2>&1 || exit 0\n{}\
         __aloft_docker rm -f \"$__aloft_c\" >/dev/null 2>&1 || true\n",
        prelude(cluster)
    ))
}

/// The script stopping this node's container of `cluster`, keeping it (none, or
/// one stopped already, is fine): the next job starts it again.
pub fn stop_script(cluster: &str) -> Script {
    Script::new(format!(
        "command -v docker >/dev/null 2>&1 || exit 0\n{}\
         __aloft_docker stop -t 10 \"$__aloft_c\" >/dev/null 2>&1 || true\n",
        prelude(cluster)
    ))
}

/// Removes the container of `cluster` from every node, best effort; returns what
/// could not be done, in words.
pub fn remove_on_nodes(cluster: &str, nodes: &[Box<dyn Node>]) -> Vec<String> {
    on_nodes(nodes, &remove_script(cluster), "removing")
}

/// Stops the container of `cluster` on every node, for nodes that outlive a
/// `stop` (this machine's, a pool's), best effort; returns what could not be
/// done, in words.
pub fn stop_on_nodes(cluster: &str, nodes: &[Box<dyn Node>]) -> Vec<String> {
    on_nodes(nodes, &stop_script(cluster), "stopping")
}

fn on_nodes(nodes: &[Box<dyn Node>], script: &Script, doing: &str) -> Vec<String> {
    run_everywhere(nodes, script)
        .into_iter()
        .filter_map(|(node, result)| match result {
            Ok((0, _)) => None,
            Ok((code, output)) => Some(format!(
                "{doing} the container on {node}: {}",
                last_lines(&output, code)
            )),
            Err(err) => Some(format!("{doing} the container on {node}: {err}")),
        })
        .collect()
}

type NodeRun = (String, Result<(i32, Vec<u8>), NodeError>);

fn run_everywhere(nodes: &[Box<dyn Node>], script: &Script) -> Vec<NodeRun> {
    std::thread::scope(|scope| {
        let runs: Vec<_> = nodes
            .iter()
            .map(|node| {
                scope.spawn(move || {
                    let mut out = Vec::new();
                    let result = node.run(script, &mut out).map(|code| (code, out));
                    (node.describe(), result)
                })
            })
            .collect();
        runs.into_iter()
            .map(|run| {
                run.join().unwrap_or_else(|_| {
                    (
                        "a node".into(),
                        Err(NodeError::Killed {
                            node: "node thread".into(),
                        }),
                    )
                })
            })
            .collect()
    })
}

fn last_lines(output: &[u8], code: i32) -> String {
    let text = String::from_utf8_lossy(output);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let detail = lines[lines.len().saturating_sub(10)..].join("\n");
    if detail.is_empty() {
        format!("exit status {code}")
    } else {
        detail
    }
}

/// A job's script `body` rewritten to run inside this node's container of
/// `cluster`: the host's bash (already in the job's folder, with the job's
/// environment exported) runs `docker exec` in the same folder, passing each of
/// `env_names` by name only (`-e NAME`: Docker takes the value from its own
/// environment, so no value is on a command line), and the body on standard input
/// to the image's `bash` (or `sh` where it has none). Killed (`cancel`, a failed
/// rank), it kills the job's process group inside the container too: stopping the
/// `docker exec` client alone would leave it running.
pub fn wrap<'a>(cluster: &str, body: &str, env_names: impl IntoIterator<Item = &'a str>) -> String {
    let mut delimiter = String::from("ALOFT_CONTAINER_JOB");
    while body.lines().any(|line| line == delimiter) {
        delimiter.push('_');
    }
    let envs: String = env_names
        .into_iter()
        .filter(|name| {
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
        .map(|name| format!(" -e {name}"))
        .collect();
    format!(
        "{prelude}\
         if [ \"$(__aloft_docker inspect -f '{{{{.State.Running}}}}' \"$__aloft_c\" 2>/dev/null)\" != true ]; then\n  \
           if ! __aloft_docker start \"$__aloft_c\" >/dev/null; then\n    \
             echo \"aloft: this node's container $__aloft_c is gone; launch the cluster again (aloft down, then launch)\"; exit 125\n  \
           fi\n\
         fi\n\
         mkdir -p \"$HOME/.aloft/container-jobs\"\n\
         __aloft_p=\"$HOME/.aloft/container-jobs/$$\"\n\
         rm -f \"$__aloft_p\"\n\
         __aloft_cancel() {{\n  \
           __aloft_pid=$(cat \"$__aloft_p\" 2>/dev/null)\n  \
           if [ -n \"$__aloft_pid\" ]; then\n    \
             __aloft_docker exec \"$__aloft_c\" /bin/sh -c 'kill -TERM -- -\"$1\" 2>/dev/null || kill -TERM \"$1\"' sh \"$__aloft_pid\" >/dev/null 2>&1\n  \
           fi\n  \
           rm -f \"$__aloft_p\"\n\
         }}\n\
         trap '__aloft_cancel; exit 143' TERM INT HUP\n\
         __aloft_docker exec -i -w \"$PWD\" -e HOME{envs} \"$__aloft_c\" /bin/sh -c \
           'echo $$ > \"$0\"; if command -v bash >/dev/null 2>&1; then exec bash -s; else exec sh -s; fi' \
           \"$__aloft_p\" <<'{delimiter}' &\n\
         {body}\n\
         {delimiter}\n\
         __aloft_exec=$!\n\
         wait \"$__aloft_exec\"\n\
         __aloft_rc=$?\n\
         rm -f \"$__aloft_p\"\n\
         exit \"$__aloft_rc\"\n",
        prelude = prelude(cluster),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A node stand-in: a folder of shims that is the whole `PATH` of a bash
    /// running `script`, so the node has exactly the commands a test gives it
    /// (no Docker unless a shim is one). Each shim logs its words to `log`.
    struct Node {
        dir: tempfile::TempDir,
    }

    impl Node {
        fn new() -> Node {
            let node = Node {
                dir: tempfile::tempdir().unwrap(),
            };
            std::fs::create_dir(node.bin()).unwrap();
            for tool in ["cksum", "cut", "cat", "true"] {
                let path = ["/usr/bin", "/bin"]
                    .iter()
                    .map(|d| std::path::Path::new(d).join(tool))
                    .find(|p| p.exists())
                    .unwrap();
                std::os::unix::fs::symlink(path, node.bin().join(tool)).unwrap();
            }
            node
        }

        fn bin(&self) -> std::path::PathBuf {
            self.dir.path().join("bin")
        }

        fn log(&self) -> String {
            std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
        }

        /// A shim named `name` that logs `name WORDS` and runs `body` (sh).
        fn shim(&self, name: &str, body: &str) {
            use std::os::unix::fs::PermissionsExt;
            let path = self.bin().join(name);
            let log = self.dir.path().join("log");
            std::fs::write(
                &path,
                format!(
                    "#!/bin/sh\necho \"{name} $*\" >> '{}'\n{body}\n",
                    log.display()
                ),
            )
            .unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }

        /// Runs `script` there: its exit code and output.
        fn run(&self, script: &str) -> (i32, String) {
            let out = std::process::Command::new("/bin/bash")
                .arg("-c")
                .arg(script)
                .env_clear()
                .env("PATH", self.bin())
                .env("HOME", self.dir.path())
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            (out.status.code().unwrap_or(-1), text)
        }
    }

    #[test]
    fn a_node_without_docker_gets_docker_io_through_passwordless_sudo() {
        let node = Node::new();
        node.shim("id", "echo 1000");
        // Passwordless sudo: runs what it is given (after -n).
        node.shim("sudo", "[ \"$1\" = -n ] && shift; exec \"$@\"");
        node.shim(
            "env",
            "while [ \"${1#*=}\" != \"$1\" ]; do export \"$1\"; shift; done; exec \"$@\"",
        );
        // Installing docker.io puts a docker on the node.
        let docker = node.bin().join("docker");
        node.shim(
            "apt-get",
            &format!(
                "case \"$*\" in *install*docker.io*) printf '#!/bin/sh\\nexit 0\\n' > '{0}'; /bin/chmod 755 '{0}';; esac",
                docker.display()
            ),
        );
        let (code, out) = node.run(&format!("{INSTALL_DOCKER}command -v docker"));
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("aloft: installing Docker"), "{out}");
        assert!(
            out.trim_end().ends_with(&docker.display().to_string()),
            "{out}"
        );
        let log = node.log();
        assert!(
            log.contains("sudo -n env DEBIAN_FRONTEND=noninteractive apt-get update -qq"),
            "{log}"
        );
        assert!(log.contains("apt-get install -y -qq docker.io"), "{log}");
        // With Docker there, nothing is installed again.
        let before = node.log().len();
        let (code, _) = node.run(INSTALL_DOCKER);
        assert_eq!(code, 0);
        assert_eq!(node.log().len(), before, "{}", node.log());
    }

    #[test]
    fn a_node_without_docker_and_without_a_way_to_install_it_says_why() {
        let node = Node::new();
        node.shim("id", "echo 1000");
        node.shim("sudo", "exit 1");
        node.shim("apt-get", "exit 0");
        let (code, out) = node.run(INSTALL_DOCKER);
        assert_eq!(code, 3, "{out}");
        assert!(out.contains("not root, no passwordless sudo"), "{out}");
        assert!(!node.log().contains("apt-get"), "{}", node.log());
        // Root, but no apt-get.
        let node = Node::new();
        node.shim("id", "echo 0");
        let (code, out) = node.run(INSTALL_DOCKER);
        assert_eq!(code, 3, "{out}");
        assert!(out.contains("there is no apt-get"), "{out}");
    }

    #[test]
    fn a_user_who_cannot_reach_the_daemon_runs_docker_through_sudo() {
        let node = Node::new();
        // The daemon answers only through sudo (the user is not in `docker`).
        node.shim("docker", "[ -n \"$UNDER_SUDO\" ]");
        node.shim(
            "sudo",
            "[ \"$1\" = -n ] && shift; [ \"$1\" = -E ] && shift; UNDER_SUDO=1 exec \"$@\"",
        );
        let (code, out) = node.run(&format!("{}__aloft_docker ps", prelude("c1")));
        assert_eq!(code, 0, "{out}");
        assert!(
            node.log().contains("sudo -n -E docker ps"),
            "{}",
            node.log()
        );
        // A user who can reach it runs docker itself.
        let node = Node::new();
        node.shim("docker", "exit 0");
        node.shim("sudo", "exit 1");
        let (code, out) = node.run(&format!("{}__aloft_docker ps", prelude("c1")));
        assert_eq!(code, 0, "{out}");
        assert!(!node.log().contains("sudo"), "{}", node.log());
        assert!(node.log().contains("docker ps"), "{}", node.log());
    }

    #[test]
    fn the_wrapped_job_passes_names_not_values_and_keeps_its_body_whole() {
        let body = "echo hi\nALOFT_CONTAINER_JOB\necho after";
        let text = wrap("c1", body, ["SKYPILOT_NODE_RANK", "HF_TOKEN", "bad name"]);
        assert!(text.contains(" -e HOME -e SKYPILOT_NODE_RANK -e HF_TOKEN \"$__aloft_c\""));
        assert!(!text.contains("bad name"));
        // The body's own line equal to the delimiter does not end the here-document.
        assert!(text.contains("<<'ALOFT_CONTAINER_JOB_'"));
        assert!(text.contains("ALOFT_CONTAINER_JOB\necho after\nALOFT_CONTAINER_JOB_\n"));
    }

    #[test]
    fn the_password_is_in_the_environment_never_in_the_script_text() {
        let spec = ContainerSpec {
            image: "127.0.0.1:5000/team/app:1".into(),
            gpus: true,
            mounts: vec!["/data".into()],
        };
        let registry = vec![
            ("SKYPILOT_DOCKER_USERNAME".into(), "me".into()),
            ("SKYPILOT_DOCKER_PASSWORD".into(), "s3cr3t-pw".into()),
        ];
        let script = start_script(&spec, "c1", &registry);
        assert!(!script.body.contains("s3cr3t-pw"));
        assert!(script.body.contains("--password-stdin"));
        assert!(script.body.contains(" --gpus all "));
        assert!(script.body.contains("-v /data:/data"));
        assert_eq!(script.env, registry);
    }
}
