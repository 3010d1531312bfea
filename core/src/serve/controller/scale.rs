//! How many replicas each version keeps (the autoscaler's target, spot and
//! on-demand, old versions leaving as new ones are ready) and which of them the
//! endpoint routes to.

use super::*;

impl ServeController {
    pub(super) fn scale(
        &self,
        db: &ServeDb,
        live: &mut Live,
        service: &ServiceRecord,
        replicas: &[ReplicaRecord],
        ops: &mut JoinSet<Done>,
        busy: &mut HashSet<(String, u64)>,
    ) -> Result<(), ServeError> {
        let version = service.version;
        let Some((plan, task)) = live.plans.get(&version).cloned() else {
            return Ok(());
        };
        if live.autoscaler_version != version {
            // A new version brings its own policy; the count carries over.
            live.autoscaler = Autoscaler::new(&plan);
            live.autoscaler_version = version;
        }
        let qps = live.balancer.request_rate(self.settings.qps_window);
        let target = live.autoscaler.decide(qps, Instant::now());
        let current: Vec<&ReplicaRecord> = replicas
            .iter()
            .filter(|r| r.version == version && !r.status.is_leaving())
            .collect();
        let ready = |spot: Option<bool>| {
            current
                .iter()
                .filter(|r| {
                    r.status == ReplicaStatus::Ready && spot.is_none_or(|s| r.use_spot == s)
                })
                .count() as u32
        };
        let (spot_want, on_demand_want) = if plan.use_spot {
            let base = plan.base_ondemand_fallback_replicas.min(target);
            let spot = target - base;
            let cover = if plan.dynamic_ondemand_fallback {
                spot.saturating_sub(ready(Some(true)))
            } else {
                0
            };
            (spot, base + cover)
        } else {
            (0, target)
        };
        let local_ports = task
            .resources
            .candidates()
            .iter()
            .all(|r| r.infra.cloud.as_deref() == Some("local"));
        let backing_off = live.backoff_until.is_some_and(|t| t > Instant::now());
        for (spot, want) in [(true, spot_want), (false, on_demand_want)] {
            let mut have: Vec<&ReplicaRecord> = current
                .iter()
                .copied()
                .filter(|r| r.use_spot == spot)
                .collect();
            let count = have.len() as u32;
            if count < want && !backing_off && live.precheck_failure.is_none() {
                for _ in count..want {
                    let port = if local_ports {
                        free_loopback_port()?
                    } else {
                        plan.replica_port
                    };
                    let r = db.new_replica(&service.name, version, spot, port)?;
                    db.event(
                        &service.name,
                        &format!(
                            "replica {} ({}, version {version}) to launch",
                            r.id,
                            if spot { "spot" } else { "on-demand" }
                        ),
                    )?;
                    self.launch(db, live, &r, ops, busy)?;
                }
            } else if count > want {
                have.sort_by_key(|r| (r.status.scale_down_rank(), std::cmp::Reverse(r.id)));
                for r in have.into_iter().take((count - want) as usize) {
                    db.event(&service.name, &format!("replica {} scaled down", r.id))?;
                    self.retire(db, r)?;
                }
            }
        }
        // Older versions leave as the newest one becomes ready.
        let ready_new = ready(None);
        let mut old: Vec<&ReplicaRecord> = replicas
            .iter()
            .filter(|r| r.version < version && !r.status.is_leaving())
            .collect();
        let keep_old = match service.update_mode {
            UpdateMode::Rolling => target.saturating_sub(ready_new) as usize,
            UpdateMode::BlueGreen if ready_new >= target => 0,
            UpdateMode::BlueGreen => old.len(),
        };
        if old.len() > keep_old {
            old.sort_by_key(|r| (r.status.scale_down_rank(), r.id));
            let n = old.len() - keep_old;
            for r in old.into_iter().take(n) {
                db.event(
                    &service.name,
                    &format!("replica {} of version {} retired", r.id, r.version),
                )?;
                self.retire(db, r)?;
            }
        }
        Ok(())
    }

    /// Points the endpoint at the replicas that should take traffic.
    pub(super) fn route(
        &self,
        db: &ServeDb,
        live: &mut Live,
        service: &ServiceRecord,
        replicas: &[ReplicaRecord],
    ) -> Result<(), ServeError> {
        let ready: Vec<&ReplicaRecord> = replicas
            .iter()
            .filter(|r| r.status == ReplicaStatus::Ready && r.url.is_some())
            .collect();
        let newest: Vec<&ReplicaRecord> = ready
            .iter()
            .copied()
            .filter(|r| r.version == service.version)
            .collect();
        let chosen: Vec<&ReplicaRecord> = match service.update_mode {
            UpdateMode::BlueGreen if (newest.len() as u32) < live.autoscaler.current() => {
                let old: Vec<&ReplicaRecord> = ready
                    .iter()
                    .copied()
                    .filter(|r| r.version != service.version)
                    .collect();
                if old.is_empty() { newest } else { old }
            }
            UpdateMode::BlueGreen => newest,
            UpdateMode::Rolling => ready,
        };
        let ids: Vec<u64> = chosen.iter().map(|r| r.id).collect();
        if ids != live.routed {
            live.balancer.set_replicas(
                chosen
                    .iter()
                    .filter_map(|r| r.url.clone().map(|url| Replica { id: r.id, url }))
                    .collect(),
            );
            log(&format!("[lb {}] replicas {ids:?}", service.name));
            db.event(
                &service.name,
                &format!("endpoint routes to replicas {ids:?}"),
            )?;
            live.routed = ids;
        }
        Ok(())
    }
}
