//! Autostop and autodown on every provider that can stop or terminate: a `local`
//! cluster's agent runs `aloft stop|down` on this machine; a remote head gets a stop
//! kit (`runtime::stop_kit`) and calls the provider itself, so the cluster stops
//! even when the user's machine is off. `status -r` brings the record in line.

use std::collections::BTreeMap;

use crate::plugin::{ClusterRef, CredentialSource, StandardCredentials};
use crate::runtime::head::HeadLocation;
use crate::runtime::stop_kit::StopKit;

use super::lifecycle::handle;
use super::providers::provider_settings;
use super::{Client, ClientError, ClientResult};

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

    /// Sets (`Some`) or cancels (`None`) a cluster's autostop; its head node's
    /// agent carries it out.
    pub fn autostop(&self, cluster: &str, setting: Option<AutostopSetting>) -> ClientResult<()> {
        let record = self.cluster(cluster)?;
        let head = self.head_of(&record)?;
        match setting {
            None => head.set_autostop(None)?,
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
                );
                spec.busy_while_locked = super::jobs_remote::busy_locks(&record.name);
                match handle(&record)?.head {
                    HeadLocation::Local { .. } => head.set_autostop(Some(&spec))?,
                    HeadLocation::Ssh { .. } => {
                        let kit = self.stop_kit(&record, down)?;
                        let stopper = head.install_full_program(&self.node_agents, "autostop")?;
                        head.set_remote_autostop(&spec, &kit, &stopper)?;
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

    /// The kit a remote head stops its own cluster with.
    fn stop_kit(&self, record: &crate::state::ClusterRecord, down: bool) -> ClientResult<StopKit> {
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
        let source = StandardCredentials;
        let credentials: BTreeMap<String, String> = manifest
            .credentials
            .iter()
            .filter_map(|name| source.get(name).map(|v| (name.clone(), v)))
            .collect();
        Ok(StopKit {
            provider: record.provider.clone(),
            cluster: ClusterRef {
                cluster: record.name.clone(),
                region: record.region.clone(),
                zone: record.zone.clone(),
            },
            down,
            settings: provider_settings(&self.config, &record.provider),
            credentials,
            component_hex: hex::encode(component),
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
