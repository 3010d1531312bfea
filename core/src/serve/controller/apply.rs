//! What a finished call changes: a replica's status, its address, its removal.

use super::*;

impl ServeController {
    pub(super) fn apply(
        &self,
        db: &ServeDb,
        lives: &mut HashMap<String, Live>,
        done: Done,
    ) -> Result<(), ServeError> {
        let name = done.service.as_str();
        let replicas = db.replicas(name)?;
        if let Outcome::Polled(probes) = done.outcome {
            if let Some(live) = lives.get_mut(name) {
                live.polling = false;
            }
            for (id, probe) in probes {
                let Some(r) = replicas.iter().find(|r| r.id == id) else {
                    continue;
                };
                if !matches!(
                    r.status,
                    ReplicaStatus::Starting | ReplicaStatus::Ready | ReplicaStatus::NotReady
                ) {
                    continue;
                }
                let status = match probe {
                    JobProbe::ClusterGone if r.use_spot => ReplicaStatus::Preempted,
                    JobProbe::ClusterGone => ReplicaStatus::Failed,
                    JobProbe::Failed { .. } | JobProbe::Succeeded => ReplicaStatus::Failed,
                    JobProbe::Running | JobProbe::Unreachable(_) => continue,
                };
                let why = match status {
                    ReplicaStatus::Preempted => "its spot instance was preempted",
                    _ if matches!(probe, JobProbe::ClusterGone) => "its cluster is gone",
                    _ => "its job ended",
                };
                db.event(name, &format!("replica {id}: {status}: {why}"))?;
                let mut updated = r.clone();
                updated.status = status;
                db.put_replica(&updated)?;
            }
            return Ok(());
        }
        let Some(r) = replicas.iter().find(|r| r.id == done.replica) else {
            return Ok(());
        };
        let mut updated = r.clone();
        match done.outcome {
            Outcome::Launched(Ok((launched, host)))
            | Outcome::Reconciled(Reconciled::Alive { launched, .. }, host) => {
                if r.status.is_leaving() {
                    // Retired while it launched: the next round tears it down.
                    return Ok(());
                }
                updated.cluster_job_id = launched.cluster_job_id;
                updated.location = Some(format!(
                    "{}/{}",
                    launched.location.cloud, launched.location.region
                ));
                updated.launched_at = Some(now());
                match host {
                    Some(host) => {
                        updated.status = ReplicaStatus::Starting;
                        updated.url = Some(format!("http://{host}"));
                        db.event(
                            name,
                            &format!(
                                "replica {} launched on {}",
                                r.id,
                                updated.location.as_deref().unwrap_or("?")
                            ),
                        )?;
                    }
                    None => {
                        updated.status = ReplicaStatus::FailedProvision;
                        db.event(
                            name,
                            &format!("replica {}: its cluster has no address", r.id),
                        )?;
                    }
                }
            }
            Outcome::Launched(Err(err)) => {
                updated.status = ReplicaStatus::FailedProvision;
                db.event(name, &format!("replica {}: launch failed: {err}", r.id))?;
                if let Some(live) = lives.get_mut(name) {
                    live.backoff_until = Some(Instant::now() + self.settings.launch_backoff);
                    if let LaunchError::Precheck(why) = &err {
                        live.precheck_failure = Some(why.clone());
                    }
                }
            }
            Outcome::Reconciled(Reconciled::Absent, _) => {
                updated.status = ReplicaStatus::FailedProvision;
                db.event(
                    name,
                    &format!("replica {}: its launch was cut short; replacing it", r.id),
                )?;
            }
            Outcome::Probed(ok, url) => {
                // The route to the replica changed (a forward started anew).
                if let Some(url) = url.filter(|u| r.url.as_ref() != Some(u)) {
                    updated.url = Some(url);
                }
                let Some(live) = lives.get(name) else {
                    return Ok(());
                };
                let Some((plan, _)) = live.plans.get(&r.version) else {
                    return Ok(());
                };
                let t = now();
                let elapsed = |since: Option<i64>| {
                    Duration::from_secs(u64::try_from(t - since.unwrap_or(t)).unwrap_or(0))
                };
                match (r.status, ok) {
                    (ReplicaStatus::Starting | ReplicaStatus::NotReady, true) => {
                        updated.status = ReplicaStatus::Ready;
                        updated.ready_at.get_or_insert(t);
                        updated.failing_since = None;
                        db.event(name, &format!("replica {} READY", r.id))?;
                    }
                    (ReplicaStatus::Ready, true) if updated.url == r.url => return Ok(()),
                    (ReplicaStatus::Ready, true) => {}
                    (ReplicaStatus::Starting, false) => {
                        if elapsed(r.launched_at) < plan.probe.initial_delay {
                            return Ok(());
                        }
                        updated.status = ReplicaStatus::FailedInitialDelay;
                        db.event(
                            name,
                            &format!("replica {}: not ready within the initial delay", r.id),
                        )?;
                    }
                    (ReplicaStatus::Ready, false) => {
                        updated.status = ReplicaStatus::NotReady;
                        updated.failing_since = Some(t);
                        db.event(
                            name,
                            &format!("replica {} NOT_READY: its probe fails", r.id),
                        )?;
                    }
                    (ReplicaStatus::NotReady, false) => {
                        if elapsed(r.failing_since) < plan.probe.failure_timeout {
                            return Ok(());
                        }
                        updated.status = ReplicaStatus::FailedProbing;
                        db.event(
                            name,
                            &format!("replica {}: failed its probe too long", r.id),
                        )?;
                    }
                    _ => return Ok(()),
                }
            }
            Outcome::TornDown(Ok(())) => {
                db.remove_replica(name, r.id)?;
                db.event(name, &format!("replica {} torn down", r.id))?;
                if let Some(live) = lives.get_mut(name) {
                    live.next_check.remove(&r.id);
                    live.teardown_retry.remove(&r.id);
                }
                return Ok(());
            }
            Outcome::TornDown(Err(err)) => {
                // Tried again after a while, not every round.
                if let Some(live) = lives.get_mut(name) {
                    live.teardown_retry
                        .insert(r.id, Instant::now() + self.settings.launch_backoff);
                }
                db.event(
                    name,
                    &format!("replica {}: teardown failed (tried again): {err}", r.id),
                )?;
                return Ok(());
            }
            Outcome::Polled(_) => return Ok(()),
        }
        db.put_replica(&updated)
    }
}
