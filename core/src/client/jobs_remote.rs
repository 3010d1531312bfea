//! Managed jobs whose controller runs on a cluster of its own (`jobs: controller:`
//! in `config.yaml`), so that jobs keep running while this machine is off.
//!
//! The controller cluster is an ordinary cluster, launched through any provider
//! with the resources the config names. Its head gets aloft itself beside the node
//! agent (`runtime::head::FULL_PROGRAM`, this launcher's own program, so the head
//! must be of its platform), and that program is the controller: every `jobs` verb
//! here runs `aloft jobs <verb>` there, over the head's SSH connection, with a home of its own
//! (`~/.aloft-jobs` on the host: its own job database, cluster state and key pair).
//!
//! The controller gets only what the user grants: the providers
//! `jobs.controller.providers` names (default: the controller cluster's own
//! provider), a [`ControllerGrant`]. Before the grant is first relied on, or when it
//! grows, the caller's consent is asked (the CLI shows the providers and credential
//! names and asks), and the grant is recorded in `jobs-controller-grant.json`.
//! A task naming another provider is refused.
//!
//! Before each submission the host gets a *controller kit* over the connection's
//! stdin (never on a command line): this machine's `config.yaml` without its `jobs`
//! section and with `clouds` narrowed to the granted providers, and, when
//! `kubernetes` is granted, a kubeconfig of its own with its contexts' credentials
//! inline (see [`crate::kube::config::portable_kubeconfig`]; mode 0600, the one
//! secret file the host keeps).
//!
//! The credentials the granted providers' manifests declare (the values as this
//! machine's environment and credential files give them) are never written on the
//! host: every call sends them on the SSH session's stdin as part of its script,
//! which exports them to the `aloft jobs|serve` it runs there, and so to the
//! controller that call starts; the controller makes itself non-dumpable, so other
//! processes of the host's user cannot read its environment or memory. They live as
//! long as that controller: one that exits when idle takes them with it, and the
//! next call brings them again (rotated credentials too). Launchers before this one
//! wrote them to `credentials.sh`; the next kit, and `down` of the controller
//! cluster, remove that file.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::{Config, ControllerConfig};
use crate::jobs::{CancelTarget, JobId, JobSummary};
use crate::plugin::CredentialSource;
use crate::runtime::head::{Head, HeadLocation};
use crate::runtime::node::Script;
use crate::state::{ClusterRecord, ClusterStatus};
use crate::task::{FileMount, Task, TaskChain, Workdir};

use super::lifecycle::{LaunchOptions, handle};
use super::{Client, ClientError, ClientResult, Event};

/// The name of the cluster a remote jobs controller runs on.
pub const CONTROLLER_CLUSTER: &str = "aloft-jobs-controller";

/// The controller's home on its host, relative to the host user's home.
pub const CONTROLLER_HOME: &str = ".aloft-jobs";

/// Idle minutes after which the controller cluster stops, unless its resources
/// set `autostop` (SkyPilot stops its controllers after 10 idle minutes too).
pub const CONTROLLER_AUTOSTOP_MINUTES: u64 = 10;

/// The lock files that keep cluster `cluster` busy for autostop: for the
/// controller cluster, the controllers' (held while they manage jobs or serve
/// services, which are not jobs of the cluster's own queue); none for any other
/// cluster.
pub(crate) fn busy_locks(cluster: &str) -> Vec<String> {
    if cluster != CONTROLLER_CLUSTER {
        return Vec::new();
    }
    [
        "jobs-controller.lock",
        "jobs-controller.starting.lock",
        "serve-controller.lock",
        "serve-controller.starting.lock",
    ]
    .iter()
    .map(|f| format!("{CONTROLLER_HOME}/{f}"))
    .collect()
}

/// Settings that make a controller fast in tests; passed on to the host when set.
const FORWARDED_ENV: &[&str] = &[
    "ALOFT_JOBS_POLL_MS",
    "ALOFT_JOBS_IDLE_MS",
    "ALOFT_JOBS_RETRY_MS",
    "ALOFT_SERVE_POLL_MS",
    "ALOFT_SERVE_IDLE_MS",
    "ALOFT_SERVE_RETRY_MS",
    "ALOFT_SERVE_WINDOW_MS",
    "ALOFT_LOG",
];

/// The kit's files that hold secrets, removed from the host by `down`.
const SECRET_FILES: &[&str] = &["credentials.sh", "kubeconfig"];

/// The controller host, reached through its head.
pub(crate) struct RemoteJobs {
    head: Head,
    binary: String,
    /// What its kit holds (set when the kit was written).
    grant: Option<ControllerGrant>,
    /// The granted credentials, sent with every call (see the module's doc).
    credentials: Credentials,
}

/// Credential names and values, never shown (`Debug` prints the names only).
#[derive(Default)]
struct Credentials(BTreeMap<String, String>);

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

/// What a remote jobs controller is given: the providers its jobs may use, each
/// with the names of the credentials its manifest declares (for `kubernetes`, the
/// kubeconfig contexts). Values never appear here; they go in the kit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControllerGrant {
    /// Provider name → its credential names.
    pub providers: BTreeMap<String, Vec<String>>,
}

impl ControllerGrant {
    /// Whether every provider and credential name here is in `other` too.
    pub fn within(&self, other: &ControllerGrant) -> bool {
        self.providers.iter().all(|(p, names)| {
            other
                .providers
                .get(p)
                .is_some_and(|o| names.iter().all(|n| o.contains(n)))
        })
    }

    /// The granted providers' names.
    pub fn names(&self) -> Vec<String> {
        self.providers.keys().cloned().collect()
    }

    /// Refuses a task that names a provider outside the grant.
    pub(crate) fn check(&self, chain: &TaskChain) -> ClientResult<()> {
        for task in chain.tasks() {
            for cloud in task
                .resources
                .candidates()
                .iter()
                .filter_map(|r| r.infra.cloud.as_ref())
            {
                if !self.providers.contains_key(cloud) {
                    return Err(ClientError::ProviderNotGranted {
                        provider: cloud.clone(),
                        granted: self.names(),
                    });
                }
            }
        }
        Ok(())
    }
}

/// Asked before the remote controller is given a grant the user has not given
/// before; `false` refuses (nothing is sent).
pub type GrantConsent<'a> = dyn FnMut(&ControllerGrant) -> bool + 'a;

/// The controller cluster's task: the configured resources, no work.
fn controller_task(controller: &ControllerConfig) -> ClientResult<Task> {
    let yaml = serde_yaml::to_string(&serde_json::json!({
        "name": CONTROLLER_CLUSTER,
        "resources": controller.resources,
        "run": "true",
    }))
    .map_err(ClientError::other)?;
    let chain =
        TaskChain::from_yaml_str(&yaml, "config.yaml (jobs.controller)", &Default::default())
            .map_err(|e| ClientError::InvalidInput(e.to_string()))?;
    chain
        .tasks()
        .first()
        .cloned()
        .ok_or_else(|| ClientError::InvalidInput("jobs.controller: no resources".into()))
}

impl Client {
    /// Where managed jobs are controlled: `Some(cluster)` when `config.yaml` puts
    /// the controller on a cluster of its own, `None` for this machine.
    pub fn jobs_controller_cluster(&self) -> Option<&'static str> {
        self.config
            .jobs
            .controller
            .as_ref()
            .map(|_| CONTROLLER_CLUSTER)
    }

    /// The remote controller's host, `None` when the controller runs here. With
    /// `start` (the consent to a new grant), the controller cluster is launched or
    /// started as needed and its kit written; otherwise it must be UP.
    pub(crate) fn remote_jobs(
        &self,
        mut start: Option<&mut GrantConsent<'_>>,
    ) -> ClientResult<Option<RemoteJobs>> {
        let Some(controller) = &self.config.jobs.controller else {
            return Ok(None);
        };
        let existing = self.state.cluster(CONTROLLER_CLUSTER)?;
        // Set once the controller can start at once (after the kit), so the wait
        // begins then; see `default_controller_autostop`.
        let mut default_autostop = false;
        match existing.as_ref().map(|r| r.status) {
            Some(ClusterStatus::Up) => {}
            _ if start.is_none() => {
                return Err(ClientError::Other(format!(
                    "the jobs controller cluster `{CONTROLLER_CLUSTER}` is not up \
                     (`aloft jobs launch` brings it up)"
                )));
            }
            Some(ClusterStatus::Stopped) => self.start(CONTROLLER_CLUSTER)?,
            _ => {
                self.emit(Event::Step(format!(
                    "Launching the jobs controller on cluster `{CONTROLLER_CLUSTER}`..."
                )));
                let task = controller_task(controller)?;
                self.launch(&task, &self.home, &LaunchOptions::named(CONTROLLER_CLUSTER))?;
                default_autostop = !task
                    .resources
                    .candidates()
                    .iter()
                    .any(|r| r.autostop.is_some());
            }
        }
        let record = self.cluster(CONTROLLER_CLUSTER)?;
        match handle(&record)?.head {
            HeadLocation::Ssh { .. } => {}
            HeadLocation::Local { .. } => {
                return Err(ClientError::InvalidInput(
                    "jobs.controller: the controller needs a remote cluster (its head \
                     reached over SSH), not `local`"
                        .into(),
                ));
            }
        };
        let head = self.head_of(&record)?;
        // The controller is aloft itself (it launches clusters), not the node agent.
        let binary = if start.is_some() {
            head.install_full_program(&self.node_agents, "the jobs controller")?
        } else {
            crate::runtime::head::FULL_PROGRAM.to_string()
        };
        let mut remote = RemoteJobs {
            head,
            binary,
            grant: None,
            credentials: Credentials::default(),
        };
        if let Some(consent) = start.as_mut() {
            // The cluster is recorded now, so its provider (the default grant) is known.
            let grant = self.controller_grant()?.ok_or_else(|| {
                ClientError::Other("the jobs controller's provider is unknown".into())
            })?;
            self.ensure_granted(&grant, &mut **consent)?;
            let kubeconfig = grant
                .providers
                .contains_key("kubernetes")
                .then(|| self.controller_kubeconfig())
                .flatten();
            remote.install_kit(&self.config, &grant, kubeconfig.as_deref())?;
            remote.credentials = Credentials(self.controller_credentials(&grant));
            remote.grant = Some(grant);
        } else if let Some(grant) = self.recorded_grant() {
            // Only what the user consented to, as recorded.
            remote.credentials = Credentials(self.controller_credentials(&grant));
        }
        if default_autostop {
            self.default_controller_autostop()?;
        }
        Ok(Some(remote))
    }

    /// The allowed Kubernetes contexts as a kubeconfig of their own (credentials
    /// inline, exec plugins run now), so the controller can launch pods; `None`
    /// when no context is allowed. A context that does not resolve is left out,
    /// with a warning: jobs on other clouds go on.
    fn controller_kubeconfig(&self) -> Option<String> {
        let (path, access) = self.kube_access();
        // Each context resolved once (an exec plugin runs once per submission).
        let mut resolved = Vec::new();
        for context in access.contexts() {
            match crate::kube::config::resolve(path.as_deref(), &context.name) {
                Ok(r) => resolved.push(r),
                Err(e) => self.emit(Event::Warning(format!(
                    "the jobs controller gets no access to Kubernetes context `{}`: {e}",
                    context.name
                ))),
            }
        }
        if resolved.is_empty() {
            return None;
        }
        match crate::kube::config::portable_kubeconfig(&resolved) {
            Ok(text) => Some(text),
            Err(e) => {
                self.emit(Event::Warning(format!(
                    "the jobs controller gets no Kubernetes access: {e}"
                )));
                None
            }
        }
    }

    /// The kubeconfig (as `config.yaml` names it) and its allowed contexts; nothing
    /// is run yet.
    fn kube_access(&self) -> (Option<PathBuf>, crate::kube::access::KubeAccess) {
        let kube = &self.config.kubernetes;
        let path = kube.kubeconfig.as_deref().map(crate::config::expand_home);
        let access = crate::kube::access::KubeAccess::load(
            path.as_deref(),
            kube.allowed_contexts.as_deref(),
            std::time::Duration::from_secs(30),
        );
        (path, access)
    }

    /// Stops the controller cluster after [`CONTROLLER_AUTOSTOP_MINUTES`] idle
    /// (no job managed, so no controller running) where its provider can stop
    /// instances; elsewhere (an ssh pool, Kubernetes) it is left up, with a note,
    /// since tearing it down would lose the jobs' records.
    fn default_controller_autostop(&self) -> ClientResult<()> {
        let record = self.cluster(CONTROLLER_CLUSTER)?;
        let can_stop = self
            .providers()?
            .host
            .manifests()
            .iter()
            .any(|m| m.name == record.provider && m.capabilities.stop_start);
        if !can_stop {
            self.emit(Event::Warning(format!(
                "the jobs controller cluster stays up when idle: provider {} cannot stop \
                 instances (`aloft down {CONTROLLER_CLUSTER}` when no job is left)",
                record.provider
            )));
            return Ok(());
        }
        self.autostop(
            CONTROLLER_CLUSTER,
            Some(super::AutostopSetting::stop_after(
                CONTROLLER_AUTOSTOP_MINUTES,
            )),
        )
    }

    /// The granted credentials that have a value here, with their values.
    fn controller_credentials(&self, grant: &ControllerGrant) -> BTreeMap<String, String> {
        let source =
            super::providers::ConfiguredCredentials::from_config(&self.config).unwrap_or_default();
        grant
            .providers
            .values()
            .flatten()
            .filter_map(|name| source.get(name).map(|v| (name.clone(), v)))
            .collect()
    }

    /// The providers the remote controller's jobs may use: `jobs.controller.providers`,
    /// else the controller cluster's own provider (as recorded, or as its resources
    /// pin it). `None` when there is no remote controller, or when its provider is
    /// known only once it is launched.
    fn granted_providers(&self) -> ClientResult<Option<BTreeSet<String>>> {
        let Some(controller) = &self.config.jobs.controller else {
            return Ok(None);
        };
        if let Some(names) = &controller.providers {
            return names
                .iter()
                .map(|n| {
                    crate::task::units::canonical_cloud(n).map_err(|e| {
                        ClientError::InvalidInput(format!(
                            "config.yaml: jobs.controller.providers: {e}"
                        ))
                    })
                })
                .collect::<ClientResult<_>>()
                .map(Some);
        }
        if let Some(record) = self.state.cluster(CONTROLLER_CLUSTER)? {
            return Ok(Some(BTreeSet::from([record.provider])));
        }
        let task = controller_task(controller)?;
        let clouds: BTreeSet<Option<String>> = task
            .resources
            .candidates()
            .iter()
            .map(|r| r.infra.cloud.clone())
            .collect();
        Ok(match clouds.into_iter().collect::<Vec<_>>().as_slice() {
            [Some(cloud)] => Some(BTreeSet::from([cloud.clone()])),
            _ => None,
        })
    }

    /// The grant the remote controller gets (the providers `granted_providers` names),
    /// each provider with the credential names its manifest declares.
    pub(crate) fn controller_grant(&self) -> ClientResult<Option<ControllerGrant>> {
        let Some(names) = self.granted_providers()? else {
            return Ok(None);
        };
        let providers = self.providers()?;
        let manifests = providers.host.manifests();
        let mut grant = ControllerGrant::default();
        for name in names {
            let manifest = manifests.iter().find(|m| m.name == name).ok_or_else(|| {
                ClientError::InvalidInput(format!(
                    "config.yaml: jobs.controller.providers: no provider `{name}` is loaded \
                     (loaded: {})",
                    manifests
                        .iter()
                        .map(|m| m.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
            let mut credentials = manifest.credentials.clone();
            if name == "kubernetes" {
                let (_, access) = self.kube_access();
                credentials.extend(
                    access
                        .contexts()
                        .map(|c| format!("kubeconfig context {}", c.name)),
                );
            }
            grant.providers.insert(name, credentials);
        }
        Ok(Some(grant))
    }

    /// Where the grant the user consented to is recorded.
    fn grant_path(&self) -> PathBuf {
        self.home.join("jobs-controller-grant.json")
    }

    /// The grant the user consented to, as recorded.
    fn recorded_grant(&self) -> Option<ControllerGrant> {
        std::fs::read(self.grant_path())
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
    }

    /// Goes on when `grant` is within the one recorded; else asks `consent` and
    /// records it, or refuses with [`ClientError::GrantRefused`].
    pub(crate) fn ensure_granted(
        &self,
        grant: &ControllerGrant,
        consent: &mut GrantConsent<'_>,
    ) -> ClientResult<()> {
        let path = self.grant_path();
        let recorded = self.recorded_grant();
        if recorded.as_ref() == Some(grant) {
            return Ok(());
        }
        // A narrower grant needs no consent; recorded, so that widening it again asks.
        if !recorded.is_some_and(|r| grant.within(&r)) && !consent(grant) {
            return Err(ClientError::GrantRefused {
                providers: grant.names(),
            });
        }
        let text = serde_json::to_vec_pretty(grant).map_err(ClientError::other)?;
        write_atomically(&path, &text)
            .map_err(|e| ClientError::Other(format!("cannot write {}: {e}", path.display())))
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// On `down` of the controller cluster: removes the kit's secret files from its
/// head, before the machines go. Best effort; a failure is worth a warning only
/// where the machine outlives the cluster (`survives`: an ssh pool's host).
pub(crate) fn remove_kit_at(
    control_dir: &Path,
    record: &ClusterRecord,
    survives: bool,
) -> Option<String> {
    if record.name != CONTROLLER_CLUSTER {
        return None;
    }
    let Ok(location @ HeadLocation::Ssh { .. }) = handle(record).map(|h| h.head) else {
        return None;
    };
    let head = Head::new(location, control_dir.to_path_buf());
    let files: Vec<String> = SECRET_FILES
        .iter()
        .map(|f| format!("\"$HOME\"/{CONTROLLER_HOME}/{f}"))
        .collect();
    let script = Script::new(format!("rm -f {}", files.join(" ")));
    let mut out = Vec::new();
    let why = match head.run_script(&script, &mut out) {
        Ok(0) => return None,
        Ok(code) => format!("exit {code}: {}", String::from_utf8_lossy(&out).trim()),
        Err(e) => e.to_string(),
    };
    survives.then(|| {
        format!(
            "`{CONTROLLER_CLUSTER}`: could not remove the jobs controller's credentials \
             from its host ({why}); remove ~/{CONTROLLER_HOME}/credentials.sh there"
        )
    })
}

/// Refuses what a remote controller cannot reach: files on this machine.
pub(crate) fn check_remote_submittable(chain: &TaskChain) -> ClientResult<()> {
    let local = |s: &str| !s.contains("://");
    for task in chain.tasks() {
        if let Some(Workdir::Local(dir)) = &task.workdir {
            return Err(ClientError::InvalidInput(format!(
                "workdir `{dir}` is on this machine, which the jobs controller (cluster \
                 `{CONTROLLER_CLUSTER}`) cannot reach: use a git workdir or a bucket \
                 (file_mounts with s3:// or gs://)"
            )));
        }
        for (target, mount) in &task.file_mounts {
            let source = match mount {
                FileMount::Path(p) if local(p) => Some(p.clone()),
                FileMount::Storage(s) => s.source.iter().find(|p| local(p)).cloned(),
                FileMount::Path(_) => None,
            };
            if let Some(source) = source {
                return Err(ClientError::InvalidInput(format!(
                    "file_mounts.{target}: `{source}` is on this machine, which the jobs \
                     controller (cluster `{CONTROLLER_CLUSTER}`) cannot reach: put it in \
                     a bucket"
                )));
            }
        }
    }
    Ok(())
}

/// A heredoc delimiter that no line of `texts` is.
fn delimiter(texts: &[&str]) -> String {
    let mut n = 0u32;
    loop {
        let d = format!("ALOFT_KIT_END_{n}");
        if texts.iter().all(|t| t.lines().all(|l| l != d)) {
            return d;
        }
        n += 1;
    }
}

fn quoted(args: &[String]) -> String {
    args.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ")
}

fn quote(s: &str) -> String {
    shlex::try_quote(s)
        .map(|q| q.into_owned())
        .unwrap_or_else(|_| "''".into())
}

impl RemoteJobs {
    /// Writes the controller kit on the host: the config, the granted credentials
    /// and (when `kubernetes` is granted) its own kubeconfig, the secret files 0600.
    fn install_kit(
        &self,
        config: &Config,
        grant: &ControllerGrant,
        kubeconfig: Option<&str>,
    ) -> ClientResult<()> {
        let kube_path = format!("~/{CONTROLLER_HOME}/kubeconfig");
        let config_yaml = config
            .without_jobs_yaml(kubeconfig.map(|_| kube_path.as_str()), Some(&grant.names()))
            .map_err(ClientError::other)?;
        let end = delimiter(&[&config_yaml, kubeconfig.unwrap_or_default()]);
        // An older launcher's credentials file goes: they travel with each call now.
        let mut body = format!(
            "umask 077\nmkdir -p \"$HOME\"/{CONTROLLER_HOME}\n\
             cat > \"$HOME\"/{CONTROLLER_HOME}/config.yaml <<'{end}'\n{config_yaml}\n{end}\n\
             rm -f \"$HOME\"/{CONTROLLER_HOME}/credentials.sh\n"
        );
        match kubeconfig {
            Some(kubeconfig) => body.push_str(&format!(
                "cat > \"$HOME\"/{CONTROLLER_HOME}/kubeconfig <<'{end}'\n{kubeconfig}\n{end}\n\
                 chmod 600 \"$HOME\"/{CONTROLLER_HOME}/kubeconfig\n"
            )),
            // One from a wider grant before goes.
            None => body.push_str(&format!("rm -f \"$HOME\"/{CONTROLLER_HOME}/kubeconfig\n")),
        }
        let mut out = Vec::new();
        let code = self
            .head
            .run_script(&Script::new(body), &mut out)
            .map_err(ClientError::other)?;
        if code != 0 {
            return Err(ClientError::Other(format!(
                "cannot write the jobs controller's kit: {}",
                String::from_utf8_lossy(&out).trim()
            )));
        }
        Ok(())
    }

    /// The script that runs `aloft jobs ARGS` on the host (`args` quoted for the
    /// shell already), in the controller's home, with its credentials; `prelude`
    /// runs first (it may make a file `$f`, removed at the end).
    fn script(&self, prelude: &str, args: &str, capture: bool) -> Script {
        self.script_for("jobs", prelude, args, capture)
    }

    /// [`RemoteJobs::script`] for the verbs of `group` (`jobs`, `serve`).
    fn script_for(&self, group: &str, prelude: &str, args: &str, capture: bool) -> Script {
        let call = format!("{} {group} {args}", quote(&self.binary));
        let run = if capture {
            // Only the answer on success, only the complaint on failure.
            format!(
                "err=$(mktemp)\nout=$({call} 2>\"$err\")\nrc=$?\n\
                 if [ $rc -eq 0 ]; then printf '%s\\n' \"$out\"; else cat \"$err\"; fi\n\
                 rm -f \"$err\"\n"
            )
        } else {
            format!("{call}\nrc=$?\n")
        };
        let mut script = Script::new(format!(
            "export ALOFT_HOME=\"$HOME\"/{CONTROLLER_HOME}\n\
             {prelude}{run}\
             [ -n \"${{f:-}}\" ] && rm -f \"$f\"\nexit $rc"
        ));
        script.env = FORWARDED_ENV
            .iter()
            .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
            .collect();
        // On stdin with the script, exported to what it runs; never in a file.
        script.env.extend(
            self.credentials
                .0
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        // Endpoints there are for other machines.
        script
            .env
            .push(("ALOFT_SERVE_BIND".to_string(), "0.0.0.0".to_string()));
        script
    }

    /// Runs `aloft GROUP ARGS` there, its output streamed into `out`; the exit code.
    pub(super) fn stream_for(
        &self,
        group: &str,
        args: &[String],
        out: &mut dyn Write,
    ) -> ClientResult<i32> {
        self.head
            .run_script(&self.script_for(group, "", &quoted(args), false), out)
            .map_err(ClientError::other)
    }

    /// Runs `aloft GROUP ARGS` there, `task` (when given) written to a file on the
    /// host first and its path passed last; what it printed on success.
    pub(super) fn call_for(
        &self,
        group: &str,
        args: &[String],
        task: Option<&str>,
    ) -> ClientResult<String> {
        let (prelude, file) = match task {
            Some(yaml) => {
                let end = delimiter(&[yaml]);
                (
                    format!("f=$(mktemp)\ncat > \"$f\" <<'{end}'\n{yaml}\n{end}\n"),
                    " \"$f\"",
                )
            }
            None => (String::new(), ""),
        };
        let mut out = Vec::new();
        let script = self.script_for(group, &prelude, &format!("{}{file}", quoted(args)), true);
        let code = self
            .head
            .run_script(&script, &mut out)
            .map_err(ClientError::other)?;
        let text = String::from_utf8_lossy(&out).into_owned();
        if code == 0 {
            Ok(text)
        } else {
            let text = text.trim();
            let text = text.strip_prefix("error: ").unwrap_or(text);
            Err(ClientError::Other(format!(
                "{group} controller ({CONTROLLER_CLUSTER}): {text}"
            )))
        }
    }

    /// The grant the kit holds, when it was written by this call.
    pub(super) fn grant(&self) -> Option<&ControllerGrant> {
        self.grant.as_ref()
    }

    /// Runs `aloft jobs ARGS` there, its output streamed into `out`; the exit code.
    fn stream(&self, args: &[String], out: &mut dyn Write) -> ClientResult<i32> {
        self.head
            .run_script(&self.script("", &quoted(args), false), out)
            .map_err(ClientError::other)
    }

    /// Runs `aloft jobs ARGS` there and returns what it printed on success.
    fn call(&self, args: &[String]) -> ClientResult<String> {
        self.call_for("jobs", args, None)
    }

    /// Submits the chain there; the job's id. A task naming a provider outside
    /// the kit's grant is refused.
    pub(crate) fn submit(&self, chain: &TaskChain, name: Option<&str>) -> ClientResult<JobId> {
        if let Some(grant) = &self.grant {
            grant.check(chain)?;
        }
        let mut args: Vec<String> = vec!["launch".into(), "-d".into(), "-y".into()];
        if let Some(name) = name {
            args.extend(["-n".into(), name.into()]);
        }
        // The task file travels inside the script, on the connection's stdin.
        let text = self.call_for("jobs", &args, Some(&chain.to_yaml_string_with_secrets()))?;
        text.lines()
            .rev()
            .find_map(|l| l.trim().parse().ok())
            .ok_or_else(|| {
                ClientError::Other(format!(
                    "jobs controller ({CONTROLLER_CLUSTER}) answered no job id: {}",
                    text.trim()
                ))
            })
    }

    /// `jobs queue` there.
    pub(crate) fn queue(&self, all: bool) -> ClientResult<Vec<JobSummary>> {
        let mut args: Vec<String> = vec!["queue".into(), "-o".into(), "json".into()];
        if all {
            args.push("-a".into());
        }
        let text = self.call(&args)?;
        serde_json::from_str(&text).map_err(|e| {
            ClientError::Other(format!(
                "jobs controller ({CONTROLLER_CLUSTER}) answered an unreadable queue: {e}"
            ))
        })
    }

    /// `jobs cancel` there; the ids now cancelling.
    pub(crate) fn cancel(&self, target: &CancelTarget) -> ClientResult<Vec<JobId>> {
        let mut args: Vec<String> = vec!["cancel".into(), "-y".into(), "-o".into(), "json".into()];
        match target {
            CancelTarget::All => args.push("-a".into()),
            CancelTarget::Name(n) => args.extend(["-n".into(), n.clone()]),
            CancelTarget::Ids(ids) => args.extend(ids.iter().map(|i| i.to_string())),
        }
        let text = self.call(&args)?;
        serde_json::from_str(&text).map_err(|e| {
            ClientError::Other(format!(
                "jobs controller ({CONTROLLER_CLUSTER}) answered an unreadable cancel: {e}"
            ))
        })
    }

    /// A job's output (followed until it ends with `follow`), or the controller's
    /// own log (`id` `None`), streamed into `out`.
    pub(crate) fn logs(
        &self,
        id: Option<JobId>,
        follow: bool,
        out: &mut dyn Write,
    ) -> ClientResult<()> {
        let mut args: Vec<String> = vec!["logs".into()];
        match id {
            Some(id) => args.push(id.to_string()),
            None => args.push("--controller".into()),
        }
        if !follow {
            args.push("--no-follow".into());
        }
        // The exit code says how the job ended; the caller asks the queue.
        self.stream(&args, out)?;
        Ok(())
    }
}
