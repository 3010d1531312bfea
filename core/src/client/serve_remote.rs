//! Services whose controller runs on the controller cluster (`jobs: controller:`
//! in `config.yaml`, shared with managed jobs): every `serve` verb runs `aloft
//! serve <verb>` on its head, over SSH, in the controller's home there, with the
//! same kit and grant as managed jobs. Endpoints listen on every address of that
//! host (ports from 30001; on a cloud, open them with `ports: 30001-30100` in
//! `jobs.controller.resources`); the URLs shown here name the host's address.

use std::io::Write;

use crate::serve::UpdateMode;
use crate::task::{Task, TaskChain};

use super::jobs_remote::{CONTROLLER_CLUSTER, GrantConsent, RemoteJobs};
use super::lifecycle::handle;
use super::serve::{ServeLogs, ServiceView};
use super::{Client, ClientError, ClientResult};

impl Client {
    /// The controller cluster's host, when services are served there; with
    /// `consent`, launched (and its kit written) as needed.
    pub(super) fn remote_serve(
        &self,
        consent: Option<&mut GrantConsent<'_>>,
    ) -> ClientResult<Option<RemoteJobs>> {
        if self.jobs_controller_cluster().is_none() {
            return Ok(None);
        }
        self.remote_jobs(consent)
    }

    /// The endpoint URL as seen from here: the host's address for its loopback.
    fn remote_endpoint(&self, url: Option<String>) -> ClientResult<Option<String>> {
        let Some(url) = url else {
            return Ok(None);
        };
        let record = self.cluster(CONTROLLER_CLUSTER)?;
        let host =
            handle(&record)?.ips.first().cloned().ok_or_else(|| {
                ClientError::Other("the controller cluster has no address".into())
            })?;
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host
        };
        Ok(Some(url.replacen("127.0.0.1", &host, 1)))
    }

    pub(super) fn remote_serve_up(
        &self,
        remote: &RemoteJobs,
        task: &Task,
        name: &str,
    ) -> ClientResult<(String, Option<String>)> {
        let chain = TaskChain::new(vec![task.clone()]);
        super::jobs_remote::check_remote_submittable(&chain)?;
        if let Some(grant) = remote.grant() {
            grant.check(&chain)?;
        }
        let args: Vec<String> = ["up", "-y", "-n", name].map(String::from).to_vec();
        remote.call_for("serve", &args, Some(&chain.to_yaml_string_with_secrets()))?;
        let view = self.remote_serve_status(remote, &[name.to_string()])?;
        let endpoint = view.into_iter().next().and_then(|v| v.endpoint);
        Ok((name.to_string(), endpoint))
    }

    pub(super) fn remote_serve_status(
        &self,
        remote: &RemoteJobs,
        names: &[String],
    ) -> ClientResult<Vec<ServiceView>> {
        let mut args: Vec<String> = vec!["status".into(), "-o".into(), "json".into()];
        args.extend(names.iter().cloned());
        let text = remote.call_for("serve", &args, None)?;
        let mut views: Vec<ServiceView> = serde_json::from_str(&text).map_err(|e| {
            ClientError::Other(format!(
                "controller ({CONTROLLER_CLUSTER}) answered an unreadable service list: {e}"
            ))
        })?;
        for view in &mut views {
            view.endpoint = self.remote_endpoint(view.endpoint.take())?;
        }
        Ok(views)
    }

    pub(super) fn remote_serve_update(
        &self,
        remote: &RemoteJobs,
        name: &str,
        task: &Task,
        mode: UpdateMode,
    ) -> ClientResult<u32> {
        let chain = TaskChain::new(vec![task.clone()]);
        super::jobs_remote::check_remote_submittable(&chain)?;
        if let Some(grant) = remote.grant() {
            grant.check(&chain)?;
        }
        let args: Vec<String> = ["update", "-y", "--mode", mode.as_str(), name]
            .map(String::from)
            .to_vec();
        let text = remote.call_for("serve", &args, Some(&chain.to_yaml_string_with_secrets()))?;
        text.lines()
            .rev()
            .find_map(|l| l.trim().parse().ok())
            .ok_or_else(|| {
                ClientError::Other(format!(
                    "controller ({CONTROLLER_CLUSTER}) answered no version: {}",
                    text.trim()
                ))
            })
    }

    pub(super) fn remote_serve_down(
        &self,
        remote: &RemoteJobs,
        names: &[String],
        all: bool,
        purge: bool,
    ) -> ClientResult<Vec<String>> {
        let targets: Vec<String> = if all {
            self.remote_serve_status(remote, &[])?
                .into_iter()
                .map(|v| v.name)
                .collect()
        } else {
            names.to_vec()
        };
        let mut args: Vec<String> = vec!["down".into(), "-y".into()];
        if all {
            args.push("-a".into());
        } else {
            args.extend(names.iter().cloned());
        }
        if purge {
            args.push("--purge".into());
        }
        remote.call_for("serve", &args, None)?;
        Ok(targets)
    }

    pub(super) fn remote_serve_logs(
        &self,
        remote: &RemoteJobs,
        name: &str,
        which: ServeLogs,
        follow: bool,
        out: &mut dyn Write,
    ) -> ClientResult<()> {
        let mut args: Vec<String> = vec!["logs".into(), name.into()];
        match which {
            ServeLogs::Replica(id) => args.push(id.to_string()),
            ServeLogs::Controller => args.push("--controller".into()),
            ServeLogs::LoadBalancer => args.push("--load-balancer".into()),
        }
        if !follow {
            args.push("--no-follow".into());
        }
        let code = remote.stream_for("serve", &args, out)?;
        if code != 0 {
            return Err(ClientError::Other(format!(
                "controller ({CONTROLLER_CLUSTER}): `serve logs` exited {code}"
            )));
        }
        Ok(())
    }
}
