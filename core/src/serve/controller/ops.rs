//! The calls a round starts, each on a task of its own: launch, probe, tear
//! down a replica.

use super::*;

impl ServeController {
    pub(super) fn launch(
        &self,
        db: &ServeDb,
        live: &Live,
        r: &ReplicaRecord,
        ops: &mut JoinSet<Done>,
        busy: &mut HashSet<(String, u64)>,
    ) -> Result<(), ServeError> {
        let Some((plan, task)) = live.plans.get(&r.version) else {
            return Ok(());
        };
        let spec_yaml = replica_task(task, plan, r).to_yaml_string_with_secrets();
        let mut updated = r.clone();
        updated.status = ReplicaStatus::Provisioning;
        db.put_replica(&updated)?;
        let req = LaunchRequest {
            job_id: i64::try_from(r.id).unwrap_or_default(),
            task_index: 0,
            spec_yaml,
            cluster: r.cluster.clone(),
            constraints: LaunchConstraints::default(),
            envs: BTreeMap::from([
                ("ALOFT_SERVE_PORT".to_string(), r.port.to_string()),
                ("ALOFT_SERVE_REPLICA_ID".to_string(), r.id.to_string()),
                ("ALOFT_SERVE_VERSION".to_string(), r.version.to_string()),
            ]),
        };
        let backend = Arc::clone(&self.backend);
        let (service, id, port) = (r.service.clone(), r.id, r.port);
        busy.insert((service.clone(), id));
        log(&format!(
            "service {service}: launching replica {id} on {}",
            r.cluster
        ));
        ops.spawn_blocking(move || {
            let result = backend
                .launch(&req)
                .map(|launched| (launched, backend.replica_address(&req.cluster, port)));
            Done {
                service,
                replica: id,
                outcome: Outcome::Launched(result),
            }
        });
        Ok(())
    }

    pub(super) fn probe(
        &self,
        r: &ReplicaRecord,
        plan: &ServicePlan,
        ops: &mut JoinSet<Done>,
        busy: &mut HashSet<(String, u64)>,
    ) {
        if r.url.is_none() {
            return;
        }
        let (http, probe) = (self.http.clone(), plan.probe.clone());
        let backend = Arc::clone(&self.backend);
        let (service, id, cluster, port) = (r.service.clone(), r.id, r.cluster.clone(), r.port);
        busy.insert((service.clone(), id));
        ops.spawn(async move {
            // The route first: a forward to a head only SSH reaches may have
            // ended (or belonged to a controller that died) and is started anew.
            let address =
                tokio::task::spawn_blocking(move || backend.replica_address(&cluster, port))
                    .await
                    .ok()
                    .flatten();
            let Some(base) = address.map(|a| format!("http://{a}")) else {
                return Done {
                    service,
                    replica: id,
                    outcome: Outcome::Probed(false, None),
                };
            };
            let url = format!("{base}{}", probe.path);
            let mut request = match &probe.post_data {
                Some(body) => http.post(&url).json(body),
                None => http.get(&url),
            };
            for (k, v) in &probe.headers {
                request = request.header(k, v);
            }
            let ok = request
                .timeout(probe.timeout)
                .send()
                .await
                .is_ok_and(|resp| resp.status().is_success());
            Done {
                service,
                replica: id,
                outcome: Outcome::Probed(ok, Some(base)),
            }
        });
    }

    /// Takes a replica out: out of the endpoint this round; its cluster is torn
    /// down in a later round, once the requests it was serving have ended.
    pub(super) fn retire(&self, db: &ServeDb, r: &ReplicaRecord) -> Result<(), ServeError> {
        let mut updated = r.clone();
        updated.status = ReplicaStatus::ShuttingDown;
        db.put_replica(&updated)
    }

    pub(super) fn tear_down(
        &self,
        db: &ServeDb,
        live: &mut Live,
        r: &ReplicaRecord,
        ops: &mut JoinSet<Done>,
        busy: &mut HashSet<(String, u64)>,
    ) -> Result<(), ServeError> {
        if busy.contains(&(r.service.clone(), r.id)) {
            return Ok(());
        }
        if live
            .teardown_retry
            .get(&r.id)
            .is_some_and(|t| *t > Instant::now())
        {
            return Ok(());
        }
        // Requests already sent to it finish first (the balancer ends each within
        // the stream timeout).
        if live.balancer.in_flight().get(&r.id).is_some_and(|n| *n > 0) {
            return Ok(());
        }
        if !r.status.is_leaving() {
            let mut updated = r.clone();
            updated.status = ReplicaStatus::ShuttingDown;
            db.put_replica(&updated)?;
        }
        busy.insert((r.service.clone(), r.id));
        self.spawn_teardown(r, ops);
        Ok(())
    }

    pub(super) fn spawn_teardown(&self, r: &ReplicaRecord, ops: &mut JoinSet<Done>) {
        let backend = Arc::clone(&self.backend);
        let cref = cluster_ref(r);
        let (service, id) = (r.service.clone(), r.id);
        log(&format!(
            "service {service}: tearing down replica {id} ({})",
            r.cluster
        ));
        ops.spawn_blocking(move || Done {
            service,
            replica: id,
            outcome: Outcome::TornDown(backend.teardown(&cref).map_err(|e| e.to_string())),
        });
    }
}
