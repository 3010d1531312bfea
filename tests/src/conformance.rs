//! The provider conformance kit: takes any provider instance through the lifecycle
//! every provider must support, and checks that injected failures come back typed.
//!
//! ```text
//! run(2) -> query (2 running, one head) -> run(2) again (nothing created)
//!   -> stop -> query (stopped) -> run(2) (both resumed, nothing created)
//!   -> terminate -> query (nothing left)
//! ```

use aloft::plugin::{
    ClusterRef, ErrorKind, InstanceStatus, PluginError, ProviderInstance, RunRequest,
};

/// Where to run the lifecycle.
#[derive(Debug, Clone)]
pub struct ConformanceOptions {
    /// A cluster name the provider does not know yet.
    pub cluster: String,
    /// Region.
    pub region: String,
    /// Zone.
    pub zone: Option<String>,
    /// Instance type.
    pub instance_type: String,
}

fn request(o: &ConformanceOptions, count: u32) -> RunRequest {
    RunRequest {
        cluster: cluster_ref(o),
        instance_type: o.instance_type.clone(),
        count,
        use_spot: false,
        disk_size_gib: None,
        image_id: None,
        ports: Vec::new(),
        labels: vec![("aloft-conformance".into(), "1".into())],
        ssh_public_key: None,
    }
}

fn cluster_ref(o: &ConformanceOptions) -> ClusterRef {
    ClusterRef {
        cluster: o.cluster.clone(),
        region: o.region.clone(),
        zone: o.zone.clone(),
    }
}

fn check(ok: bool, step: &str, detail: impl std::fmt::Debug) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(format!("{step}: {detail:?}"))
    }
}

/// Runs the lifecycle; the error names the step that broke the contract.
pub async fn run_lifecycle(p: &mut ProviderInstance, o: &ConformanceOptions) -> Result<(), String> {
    let fail = |step: &str, e: PluginError| format!("{step}: {e}");
    let first = p
        .run_instances(&request(o, 2))
        .await
        .map_err(|e| fail("run(2)", e))?;
    check(first.created.len() == 2, "run(2) creates two nodes", &first)?;
    check(
        first.instances.iter().filter(|i| i.is_head).count() == 1,
        "exactly one head",
        &first.instances,
    )?;
    let cref = cluster_ref(o);
    let q = p
        .query_instances(std::slice::from_ref(&cref))
        .await
        .map_err(|e| fail("query", e))?;
    check(
        q.len() == 1
            && q[0].instances.len() == 2
            && q[0]
                .instances
                .iter()
                .all(|i| matches!(i.status, InstanceStatus::Running | InstanceStatus::Pending)),
        "query after run: two running",
        &q,
    )?;
    let again = p
        .run_instances(&request(o, 2))
        .await
        .map_err(|e| fail("run(2) again", e))?;
    check(
        again.created.is_empty() && again.resumed.is_empty(),
        "run is idempotent",
        &again,
    )?;
    p.stop_instances(&cref).await.map_err(|e| fail("stop", e))?;
    let q = p
        .query_instances(std::slice::from_ref(&cref))
        .await
        .map_err(|e| fail("query after stop", e))?;
    check(
        q[0].instances
            .iter()
            .all(|i| matches!(i.status, InstanceStatus::Stopped | InstanceStatus::Stopping)),
        "query after stop: stopped",
        &q,
    )?;
    let resumed = p
        .run_instances(&request(o, 2))
        .await
        .map_err(|e| fail("run after stop", e))?;
    check(
        resumed.created.is_empty() && resumed.resumed.len() == 2,
        "run after stop resumes both, creates none",
        &resumed,
    )?;
    p.terminate_instances(&cref)
        .await
        .map_err(|e| fail("terminate", e))?;
    let q = p
        .query_instances(std::slice::from_ref(&cref))
        .await
        .map_err(|e| fail("query after terminate", e))?;
    check(
        q[0].instances.iter().all(|i| {
            matches!(
                i.status,
                InstanceStatus::Terminated | InstanceStatus::Terminating
            )
        }),
        "query after terminate: nothing left",
        &q,
    )
}

/// Checks that `run-instances` on an instance configured to refuse capacity answers
/// a typed `capacity` error.
pub async fn expect_capacity_error(
    p: &mut ProviderInstance,
    o: &ConformanceOptions,
) -> Result<(), String> {
    match p.run_instances(&request(o, 1)).await {
        Err(PluginError::Provider { error, .. }) if error.kind == ErrorKind::Capacity => Ok(()),
        other => Err(format!("expected a capacity error, got {other:?}")),
    }
}
