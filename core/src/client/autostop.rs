//! Autostop and autodown on every provider that can stop or terminate: a `local`
//! cluster's agent runs `aloft stop|down` on this machine. A remote head stops its
//! cluster itself, so it stops even when the user's machine is off:
//!
//! - on clouds that stop or terminate an instance whose OS shuts down
//!   ([`POWER_OFF_PROVIDERS`]: EC2's `InstanceInitiatedShutdownBehavior`; Compute
//!   Engine, which always stops such a VM), the provider sets that behaviour on
//!   every node where the cloud has one, and the head's agent powers the nodes off
//!   (`agent power-off`): no credential goes to the head. Where the cloud only
//!   stops, an autodown is finished by the next `status -r`, which deletes the
//!   stopped nodes;
//! - elsewhere the head's agent gets a stop kit (`runtime::stop_kit`), in its
//!   memory only, and calls the provider itself with the credentials the
//!   provider declares; the launcher names them when autostop is set, and sends
//!   the kit again at every `start` (a rebooted head has lost it).
//!
//! On Kubernetes the kit holds no credential of the user's: the launcher makes a
//! per-cluster service account allowed to delete only the cluster's own pods and
//! ports Service, and hands the head a short-lived token of it
//! ([`crate::kube::stop_grant`]); `down`, and an autostop cancelled or set again,
//! delete the account (its token stops working), and an autodown that fired
//! leaves it to Kubernetes' garbage collector (the head pod owns it).
//!
//! `status -r` brings the record in line (and finishes an autodown: security
//! group, key pair).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::kube::access::KubeAccess;
use crate::kube::stop_grant::{self, StopGrant};
use crate::plugin::CredentialSource;
use crate::runtime::head::HeadLocation;
use crate::runtime::stop_kit::StopKit;
use crate::state::ClusterRecord;

use super::lifecycle::{cluster_ref, handle, resume_request};
use super::providers::provider_settings;
use super::{Client, ClientError, ClientResult, Event};

/// Providers whose cloud stops or terminates an instance when its operating
/// system shuts down, and whose bundled component sets which on every node of a
/// cluster when `run-instances` gets the [`SHUTDOWN_SETTING`] setting (and says so
/// in each instance's `extra`). Their heads power their cluster off instead of
/// holding a stop kit.
pub(crate) const POWER_OFF_PROVIDERS: &[&str] = &["aws", "gcp"];

/// The provider setting that asks `run-instances` for the shutdown behaviour
/// (`stop` or `terminate`) of every node, and the `extra` key confirming it.
pub(crate) const SHUTDOWN_SETTING: &str = "shutdown_behavior";

/// A cluster's autostop: stop it, or tear it down, once it has been idle (no job
/// pending or running) for `idle_minutes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutostopSetting {
    /// Idle minutes before it fires.
    pub idle_minutes: u64,
    /// Tear down instead of stopping.
    pub down: bool,
}

impl AutostopSetting {
    /// Stop after `idle_minutes`.
    pub fn stop_after(idle_minutes: u64) -> Self {
        AutostopSetting {
            idle_minutes,
            down: false,
        }
    }

    /// Tear down after `idle_minutes`.
    pub fn down_after(idle_minutes: u64) -> Self {
        AutostopSetting {
            idle_minutes,
            down: true,
        }
    }

    /// SkyPilot's flags: `-i MIN` stops after MIN idle minutes, `--down` tears
    /// down instead, and `--down` alone tears down as soon as the cluster is idle.
    pub fn from_flags(idle_minutes: Option<u64>, down: bool) -> Option<Self> {
        match (idle_minutes, down) {
            (Some(idle_minutes), down) => Some(AutostopSetting { idle_minutes, down }),
            (None, true) => Some(AutostopSetting::down_after(0)),
            (None, false) => None,
        }
    }
}

/// What a shutdown from inside a cluster's nodes does, as their provider confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shutdown {
    /// The cloud stops the node.
    Stops,
    /// The cloud terminates the node.
    Terminates,
}

/// Where local state keeps the last autostop failure `status -r` saw, per cluster.
pub(crate) const KV_OWNER: &str = "aloft";

pub(crate) fn failure_key(cluster: &str) -> String {
    format!("autostop-failure:{cluster}")
}

impl Client {
    /// The last autostop failure `refresh` found on `cluster`'s head, while its
    /// autostop keeps failing (the head retries it).
    pub fn autostop_failure(&self, cluster: &str) -> ClientResult<Option<String>> {
        Ok(self.state.kv_get(KV_OWNER, &failure_key(cluster))?)
    }

    /// Sets (or, with `None`, cancels) the autostop of every cluster in `names`
    /// ([`Client::autostop`]); returns each cluster's outcome.
    pub fn autostop_many(
        &self,
        names: &[String],
        setting: Option<AutostopSetting>,
    ) -> Vec<(String, ClientResult<()>)> {
        let set = |name: &String| (name.clone(), self.autostop(name, setting));
        names.iter().map(set).collect()
    }

    /// Sets (`Some`) or cancels (`None`) a cluster's autostop; its head node's
    /// agent carries it out.
    pub fn autostop(&self, cluster: &str, setting: Option<AutostopSetting>) -> ClientResult<()> {
        let record = self.cluster(cluster)?;
        let head = self.head_of(&record)?;
        let remote = matches!(handle(&record)?.head, HeadLocation::Ssh { .. });
        match setting {
            None => {
                head.set_autostop(None)?;
                // The kit is dropped: so is the right its token carried.
                if remote && let Some(warning) = self.revoke_kube_stop_grant(&record) {
                    self.emit(Event::Warning(warning));
                }
                // A shutdown from inside (a job's) stops the nodes again, as
                // before autodown, rather than destroying them.
                if remote
                    && record.autostop_down
                    && self.powers_off(&record)?
                    && let Err(err) = self.set_shutdown_behavior(&record, false)
                {
                    self.emit(Event::Warning(format!(
                        "`{}`: a shutdown from inside a node still terminates it: {err}",
                        record.name
                    )));
                }
            }
            Some(AutostopSetting {
                idle_minutes: minutes,
                down,
            }) => {
                let mut spec = crate::launch::autostop_spec(
                    &self.agent_binary,
                    &self.home,
                    &record.name,
                    minutes,
                    down,
                    self.autostop_seconds_per_minute,
                );
                spec.busy_while_locked = super::jobs_remote::busy_locks(&record.name);
                if !remote {
                    head.set_autostop(Some(&spec))?;
                } else if self.powers_off(&record)? {
                    // The head first: a head that does not answer (stopped) fails
                    // here, before the provider is asked anything.
                    head.set_power_off_autostop(&spec)?;
                    match self.set_shutdown_behavior(&record, down) {
                        Err(err) => {
                            // Powering off must not do what the nodes are not set to.
                            let _ = head.set_autostop(None);
                            self.state.set_autostop(&record.name, None, false)?;
                            return Err(err);
                        }
                        Ok(Shutdown::Stops) if down => {
                            self.emit(Event::Warning(format!(
                                "provider {} stops, rather than deletes, a node that shuts \
                                 itself down: `{}` powers off when idle, and the next \
                                 `aloft status -r` deletes it (its disks are billed until then)",
                                record.provider, record.name
                            )));
                        }
                        Ok(_) => {}
                    }
                } else {
                    let mut kit = self.stop_kit(&record, down)?;
                    let granted = if self.is_bundled(&record, crate::plugin::KUBERNETES_PROVIDER)? {
                        let idle = Duration::from_secs(
                            minutes.saturating_mul(self.autostop_seconds_per_minute.unwrap_or(60)),
                        );
                        let grant = self.kube_stop_grant(&record, &mut kit, idle)?;
                        self.emit(Event::Warning(format!(
                            "provider kubernetes cannot tear `{}` down without credentials: its \
                             head's agent keeps, in its memory only, {} (`aloft down` or \
                             cancelling autostop revokes it)",
                            record.name,
                            grant.describe()
                        )));
                        true
                    } else {
                        false
                    };
                    let names: Vec<&str> = kit.credentials.keys().map(String::as_str).collect();
                    if !names.is_empty() {
                        self.emit(Event::Warning(format!(
                            "provider {} cannot stop `{}` without credentials: its head's \
                             agent keeps {} in a stop kit in its memory only (never on the \
                             head's disk, unreadable by the cluster's jobs) until autostop \
                             fires or is cancelled, or the cluster is stopped or torn down; \
                             a reboot of the head or a restart of its agent loses the kit \
                             (`aloft status -r` says so) until `aloft start` or `aloft \
                             autostop` sends it again",
                            record.provider,
                            record.name,
                            names.join(", ")
                        )));
                    }
                    let sent = head
                        .install_full_program(&self.node_agents, "autostop")
                        .and_then(|stopper| head.set_remote_autostop(&spec, &kit, &stopper));
                    if let Err(err) = sent {
                        // A token the head never got is revoked at once.
                        if granted && let Some(warning) = self.revoke_kube_grant_now(&record) {
                            self.emit(Event::Warning(warning));
                        }
                        return Err(err.into());
                    }
                }
            }
        }
        let _ = self.state.kv_delete(KV_OWNER, &failure_key(&record.name));
        let minutes = setting.map(|s| u32::try_from(s.idle_minutes).unwrap_or(u32::MAX));
        self.state
            .set_autostop(&record.name, minutes, setting.is_some_and(|s| s.down))?;
        Ok(())
    }

    /// Whether `record`'s head powers its cluster off rather than holding a stop
    /// kit: its provider is one of [`POWER_OFF_PROVIDERS`], as bundled.
    fn powers_off(&self, record: &ClusterRecord) -> ClientResult<bool> {
        Ok(POWER_OFF_PROVIDERS.contains(&record.provider.as_str())
            && self.is_bundled(record, &record.provider)?)
    }

    /// Whether `record`'s provider is the bundled provider `name`.
    fn is_bundled(&self, record: &ClusterRecord, name: &str) -> ClientResult<bool> {
        let origin = format!("bundled:{name}");
        Ok(record.provider == name
            && self.providers()?.host.origin(&record.provider) == Some(origin.as_str()))
    }

    /// The Kubernetes contexts the user allows, with their credentials (nothing is
    /// run yet).
    fn user_kube_access(&self) -> KubeAccess {
        let kube = &self.config.kubernetes;
        let path = kube.kubeconfig.as_deref().map(crate::config::expand_home);
        KubeAccess::load(
            path.as_deref(),
            kube.allowed_contexts.as_deref(),
            Duration::from_secs(30),
        )
    }

    /// The pods of a Kubernetes cluster, head first, as its record names them.
    fn kube_pods(record: &ClusterRecord) -> ClientResult<Vec<String>> {
        let pods: Vec<String> = handle(record)?
            .nodes
            .iter()
            .map(|n| n.id().to_string())
            .collect();
        for pod in &pods {
            crate::kube::portforward::check_pod(pod)
                .map_err(|why| ClientError::Other(format!("cluster `{}`: {why}", record.name)))?;
        }
        if pods.is_empty() {
            return Err(ClientError::Other(format!(
                "cluster `{}` has no pods recorded; try `aloft status -r`",
                record.name
            )));
        }
        Ok(pods)
    }

    /// Makes the narrow service account of a Kubernetes cluster and puts its
    /// token, and the objects it may delete, in `kit` (in place of any credential
    /// of the user's). The token lives `idle` plus a day.
    fn kube_stop_grant(
        &self,
        record: &ClusterRecord,
        kit: &mut StopKit,
        idle: Duration,
    ) -> ClientResult<StopGrant> {
        let pods = Self::kube_pods(record)?;
        let services = vec![stop_grant::ports_service_name(&pods[0])];
        let access = self.user_kube_access();
        let (grant, narrow) = self
            .block_on(stop_grant::grant(
                &access,
                &record.region,
                &record.name,
                &pods,
                &services,
                idle + stop_grant::TOKEN_SLACK,
            ))
            .map_err(|e| ClientError::Provider {
                provider: record.provider.clone(),
                message: e.to_string(),
            })?;
        let list = |names: &[String]| serde_json::to_string(names).unwrap_or_else(|_| "[]".into());
        kit.settings
            .retain(|(k, _)| k != "stop_pods" && k != "stop_services");
        kit.settings.push(("stop_pods".into(), list(&grant.pods)));
        kit.settings
            .push(("stop_services".into(), list(&grant.services)));
        kit.credentials.clear();
        kit.kube = Some(narrow);
        Ok(grant)
    }

    /// Deletes the narrow service account, Role and RoleBinding of a Kubernetes
    /// cluster (its head's token stops working); a warning when that failed, `None`
    /// when done or when the cluster is not on Kubernetes or has no autostop set
    /// (a user whose rights stop short of RBAC objects is not warned at every
    /// `down`).
    pub(crate) fn revoke_kube_stop_grant(&self, record: &ClusterRecord) -> Option<String> {
        if record.provider != crate::plugin::KUBERNETES_PROVIDER
            || record.autostop_minutes.is_none()
        {
            return None;
        }
        self.revoke_kube_grant_now(record)
    }

    /// [`Client::revoke_kube_stop_grant`] whatever the record says of autostop.
    fn revoke_kube_grant_now(&self, record: &ClusterRecord) -> Option<String> {
        let pods = Self::kube_pods(record).ok()?;
        let access = self.user_kube_access();
        self.block_on(stop_grant::revoke(&access, &record.region, &pods[0]))
            .err()
            .map(|e| {
                format!(
                    "`{}`: the service account its head's autostop token belongs to may be left: {e}",
                    record.name
                )
            })
    }

    /// Has the provider make a shutdown from inside each node of `record` stop
    /// the node or (`down`) terminate it: `run-instances` with the
    /// [`SHUTDOWN_SETTING`] and a count of 0 (no node to create or start). Fails
    /// unless every node confirms it; for `down`, a cloud that can only stop such a
    /// node may confirm `stop` (the next refresh deletes the stopped cluster).
    fn set_shutdown_behavior(&self, record: &ClusterRecord, down: bool) -> ClientResult<Shutdown> {
        let behavior = if down { "terminate" } else { "stop" };
        let provider_error = |message: String| ClientError::Provider {
            provider: record.provider.clone(),
            message,
        };
        let request = resume_request(record, 0);
        let providers = self.providers()?;
        let setting = [(SHUTDOWN_SETTING.to_string(), behavior.to_string())];
        let answer = self
            .block_on(async {
                let mut instance = providers
                    .host
                    .instance_with(&record.provider, &setting)
                    .await?;
                instance.run_instances(&request).await
            })
            .map_err(|e| provider_error(e.to_string()))?;
        let confirmed = |extra: &[(String, String)], what: &str| {
            extra
                .iter()
                .any(|(k, v)| k == SHUTDOWN_SETTING && v == what)
        };
        let all = |what: &str| answer.instances.iter().all(|i| confirmed(&i.extra, what));
        if answer.instances.is_empty() || !answer.created.is_empty() {
            return Err(provider_error(format!(
                "did not confirm that a shutdown from inside each node of `{}` would {behavior} it",
                record.name
            )));
        }
        if all(behavior) {
            Ok(if down {
                Shutdown::Terminates
            } else {
                Shutdown::Stops
            })
        } else if down && all("stop") {
            Ok(Shutdown::Stops)
        } else {
            Err(provider_error(format!(
                "did not confirm that a shutdown from inside each node of `{}` would {behavior} it",
                record.name
            )))
        }
    }

    /// The kit a remote head stops its own cluster with.
    fn stop_kit(&self, record: &ClusterRecord, down: bool) -> ClientResult<StopKit> {
        let providers = self.providers()?;
        let manifest = providers
            .host
            .manifests()
            .into_iter()
            .find(|m| m.name == record.provider)
            .ok_or_else(|| {
                ClientError::Other(format!("no provider named `{}`", record.provider))
            })?;
        let can = if down {
            true
        } else {
            manifest.capabilities.stop_start
        };
        if !can {
            return Err(ClientError::Other(format!(
                "provider {} cannot stop instances; use autodown (`--down`)",
                record.provider
            )));
        }
        let component = self.component_bytes(&record.provider)?;
        let source = super::providers::ConfiguredCredentials::from_config(&self.config)?;
        let credentials: BTreeMap<String, String> = manifest
            .credentials
            .iter()
            .filter_map(|name| source.get(name).map(|v| (name.clone(), v)))
            .collect();
        Ok(StopKit {
            provider: record.provider.clone(),
            cluster: cluster_ref(record),
            down,
            settings: provider_settings(&self.config, &record.provider),
            credentials,
            component_hex: hex::encode(component),
            kube: None,
        })
    }

    /// The component of provider `name`: bundled, else installed under
    /// `HOME/providers`.
    fn component_bytes(&self, name: &str) -> ClientResult<Vec<u8>> {
        if let Some((_, bytes)) = self.bundled.iter().find(|(n, _)| n == name) {
            return Ok(bytes.to_vec());
        }
        let path = self.home.join("providers").join(format!("{name}.wasm"));
        std::fs::read(&path).map_err(|e| ClientError::Other(format!("{}: {e}", path.display())))
    }
}
