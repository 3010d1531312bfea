//! The provider's verbs over RunPod's GraphQL API: deploy a cluster's missing pods
//! (on-demand or interruptible), resume stopped ones, list many clusters in one
//! call, stop, terminate, and the catalog from live `gpuTypes` prices.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::json;

use aloft_provider_sdk::nodes;
use aloft_provider_sdk::types::{
    ClusterInstances, ClusterRef, Identity, Instance, InstanceStatus, Offer, ProviderError, Region,
    RunRequest, RunResult,
};
use aloft_provider_sdk::{errors, log};

use crate::api;
use crate::model::{self, GpuType, Pod, PodShape, Role};

/// The fields of a pod that aloft reads (`Pod` in RunPod's schema).
const POD_FIELDS: &str = "id name desiredStatus podType gpuCount env \
    runtime { ports { ip isIpPublic privatePort publicPort type } }";

/// The image pods run unless `providers.runpod.image` says otherwise: RunPod's
/// PyTorch image, whose start script authorizes `PUBLIC_KEY` for SSH.
pub const DEFAULT_IMAGE: &str = "runpod/pytorch:2.4.0-py3.11-cuda12.4.1-devel-ubuntu22.04";

/// The env entry that records a pod's instance type (pods have no tags).
const TYPE_ENV: &str = "ALOFT_INSTANCE_TYPE";

/// The instance type a pod was deployed as (from its env).
fn type_of(env: &[String]) -> Option<String> {
    env.iter()
        .find_map(|e| e.strip_prefix(&format!("{TYPE_ENV}=")))
        .map(str::to_string)
}

/// A pod with its env (the part of the answer `Pod` does not keep).
#[derive(Deserialize)]
struct WithEnv {
    #[serde(flatten)]
    pod: Pod,
    #[serde(default)]
    env: Option<Vec<String>>,
}

/// Every pod of the account with its instance type (one call answers for every
/// cluster).
fn list_with_env() -> Result<Vec<(Pod, Option<String>)>, ProviderError> {
    #[derive(Deserialize)]
    struct Myself {
        pods: Option<Vec<WithEnv>>,
    }
    #[derive(Deserialize)]
    struct Data {
        myself: Option<Myself>,
    }
    let data: Data = api::graphql(
        &format!("query Pods {{ myself {{ pods {{ {POD_FIELDS} }} }} }}"),
        json!({}),
    )?;
    Ok(data
        .myself
        .and_then(|m| m.pods)
        .unwrap_or_default()
        .into_iter()
        .map(|w| {
            let t = type_of(w.env.as_deref().unwrap_or_default());
            (w.pod, t)
        })
        .collect())
}

/// The cluster's pods (not terminated), with their roles and instance types.
fn members(all: &[(Pod, Option<String>)], cluster: &str) -> Vec<(Role, Pod, Option<String>)> {
    let mut found: Vec<(Role, Pod, Option<String>)> = all
        .iter()
        .filter(|(p, _)| !p.is_gone())
        .filter_map(|(p, t)| p.role_in(cluster).map(|r| (r, p.clone(), t.clone())))
        .collect();
    found.sort_by_key(|(r, _, _)| *r);
    found
}

fn shape_of(instance_type: &str) -> Result<PodShape, ProviderError> {
    model::parse_instance_type(instance_type).ok_or_else(|| {
        errors::unsupported(
            "UnknownInstanceType",
            &format!(
                "{instance_type} is not a RunPod GPU pod type this provider knows \
                 (<count>x_<GPU>_<SECURE|COMMUNITY>; CPU pods are not supported)"
            ),
        )
    })
}

/// The bid per GPU for an interruptible pod: `providers.runpod.bid_per_gpu`, else
/// the GPU type's current interruptible price in the pod's cloud.
fn bid_per_gpu(
    shape: &PodShape,
    settings: &BTreeMap<String, String>,
) -> Result<f64, ProviderError> {
    if let Some(bid) = settings
        .get("bid_per_gpu")
        .and_then(|b| b.trim().parse::<f64>().ok())
    {
        return Ok(bid);
    }
    #[derive(Deserialize)]
    struct Data {
        #[serde(rename = "gpuTypes")]
        gpu_types: Option<Vec<GpuType>>,
    }
    let data: Data = api::graphql(
        "query Bid($input: GpuTypeFilter) { gpuTypes(input: $input) { id securePrice \
         communityPrice secureSpotPrice communitySpotPrice secureCloud communityCloud } }",
        json!({ "input": { "id": shape.gpu_type_id } }),
    )?;
    data.gpu_types
        .unwrap_or_default()
        .iter()
        .find(|t| t.id == shape.gpu_type_id)
        .and_then(|t| t.prices(shape.cloud))
        .and_then(|(_, spot)| spot)
        .ok_or_else(|| {
            errors::unsupported(
                "NoInterruptiblePrice",
                &format!(
                    "RunPod offers no interruptible {} in the {} cloud",
                    shape.gpu_type_id,
                    shape.cloud.as_str()
                ),
            )
        })
}

/// `22/tcp` and the task's ports (RunPod maps ports when the pod is deployed).
fn ports_of(req: &RunRequest) -> String {
    let mut ports = vec!["22/tcp".to_string()];
    for range in &req.ports {
        for port in range.start..=range.end.max(range.start) {
            if port != 22 {
                ports.push(format!("{port}/tcp"));
            }
        }
    }
    ports.join(",")
}

/// Deploys one pod named `name`; its id.
fn deploy(
    req: &RunRequest,
    shape: &PodShape,
    name: &str,
    settings: &BTreeMap<String, String>,
    volume: Option<&model::Mount>,
) -> Result<String, ProviderError> {
    let image = settings
        .get("image")
        .cloned()
        .unwrap_or_else(|| DEFAULT_IMAGE.into());
    let disk = req.disk_size_gib.unwrap_or(50).max(10);
    let mut env = vec![json!({"key": TYPE_ENV, "value": req.instance_type})];
    if let Some(key) = req.ssh_public_key.as_deref() {
        env.push(json!({"key": "PUBLIC_KEY", "value": key.trim()}));
    }
    let mut input = json!({
        "name": name,
        "imageName": image,
        "gpuTypeId": shape.gpu_type_id,
        "gpuCount": shape.gpu_count,
        "cloudType": shape.cloud.as_str(),
        "containerDiskInGb": disk,
        "ports": ports_of(req),
        "supportPublicIp": true,
        "startSsh": true,
        "env": env,
    });
    match req.cluster.zone.as_deref() {
        Some(zone) => input["dataCenterId"] = json!(zone),
        None => input["countryCode"] = json!(req.cluster.region),
    }
    if let Some(v) = volume {
        input["networkVolumeId"] = json!(v.id);
        input["volumeMountPath"] = json!(v.mount_path);
    }
    #[derive(Deserialize)]
    struct Deployed {
        id: String,
    }
    let deployed: Option<Deployed> = if req.use_spot {
        input["bidPerGpu"] = json!(bid_per_gpu(shape, settings)?);
        #[derive(Deserialize)]
        struct Data {
            #[serde(rename = "podRentInterruptable")]
            pod: Option<Deployed>,
        }
        let data: Data = api::graphql(
            "mutation Spot($input: PodRentInterruptableInput!) { \
             podRentInterruptable(input: $input) { id desiredStatus } }",
            json!({ "input": input }),
        )?;
        data.pod
    } else {
        #[derive(Deserialize)]
        struct Data {
            #[serde(rename = "podFindAndDeployOnDemand")]
            pod: Option<Deployed>,
        }
        let data: Data = api::graphql(
            "mutation OnDemand($input: PodFindAndDeployOnDemandInput!) { \
             podFindAndDeployOnDemand(input: $input) { id desiredStatus } }",
            json!({ "input": input }),
        )?;
        data.pod
    };
    deployed.map(|d| d.id).ok_or_else(|| {
        errors::capacity(
            "NoInstancesAvailable",
            "RunPod deployed no pod (it answered none)",
        )
    })
}

/// Starts a stopped pod again (`podResume`, or `podBidResume` for an
/// interruptible one, at the same bid rules as a deploy).
fn resume(
    pod: &Pod,
    shape: &PodShape,
    settings: &BTreeMap<String, String>,
) -> Result<(), ProviderError> {
    let gpu_count = pod.gpu_count.unwrap_or(shape.gpu_count);
    if pod.is_spot() {
        let _: serde_json::Value = api::graphql(
            "mutation BidResume($input: PodBidResumeInput!) { \
             podBidResume(input: $input) { id desiredStatus } }",
            json!({ "input": {
                "podId": pod.id,
                "bidPerGpu": bid_per_gpu(shape, settings)?,
                "gpuCount": gpu_count,
            }}),
        )?;
    } else {
        let _: serde_json::Value = api::graphql(
            "mutation Resume($input: PodResumeInput!) { \
             podResume(input: $input) { id desiredStatus } }",
            json!({ "input": { "podId": pod.id, "gpuCount": gpu_count } }),
        )?;
    }
    Ok(())
}

/// Deploys the cluster's missing pods (named by role), each attaching `volume`
/// when given, and resumes stopped ones.
pub fn run(
    req: &RunRequest,
    settings: &BTreeMap<String, String>,
    volume: Option<&model::Mount>,
) -> Result<RunResult, ProviderError> {
    let region = req.cluster.region.as_str();
    let zone = req.cluster.zone.as_deref();
    let cluster = req.cluster.cluster.as_str();
    let here = |e: ProviderError| errors::in_zone(e, region, zone);
    if req.image_id.is_some() {
        return Err(here(errors::unsupported(
            "NoCustomImages",
            "this provider runs its pod image (`providers.runpod.image`); image_id is not supported",
        )));
    }
    let shape = shape_of(&req.instance_type).map_err(here)?;
    let all = list_with_env()?;
    let existing = members(&all, cluster);
    nodes::refuse_unlike(
        cluster,
        &req.instance_type,
        region,
        existing.iter().map(|(_, pod, t)| nodes::Have {
            node: &pod.id,
            instance_type: t.as_deref(),
            region: None,
        }),
    )?;
    let mut resumed = Vec::new();
    for (_, pod, _) in &existing {
        if matches!(
            pod.status(),
            InstanceStatus::Stopped | InstanceStatus::Preempted
        ) {
            resume(pod, &shape, settings).map_err(here)?;
            resumed.push(pod.id.clone());
        }
    }
    let roles: Vec<Role> = existing.iter().map(|(r, _, _)| *r).collect();
    let mut created = Vec::new();
    for role in model::roles_to_launch(&roles, req.count) {
        let id = deploy(
            req,
            &shape,
            &model::name_of(cluster, role),
            settings,
            volume,
        )
        .map_err(here)?;
        created.push(id);
    }
    let all = if created.is_empty() && resumed.is_empty() {
        all
    } else {
        list_with_env()?
    };
    Ok(RunResult {
        instances: to_instances(cluster, &all, settings),
        created,
        resumed,
    })
}

fn to_instances(
    cluster: &str,
    all: &[(Pod, Option<String>)],
    settings: &BTreeMap<String, String>,
) -> Vec<Instance> {
    let user = settings
        .get("ssh_user")
        .cloned()
        .unwrap_or_else(|| "root".into());
    members(all, cluster)
        .into_iter()
        .map(|(role, pod, t)| {
            let endpoint = pod.ssh_endpoint();
            Instance {
                id: pod.id.clone(),
                is_head: role == Role::Head,
                status: pod.status(),
                instance_type: t.unwrap_or_default(),
                zone: None,
                spot: pod.is_spot(),
                public_ip: endpoint.as_ref().map(|(ip, _)| ip.clone()),
                private_ip: None,
                ssh_port: endpoint.map(|(_, port)| port).unwrap_or(22),
                ssh_user: Some(user.clone()),
                extra: Vec::new(),
            }
        })
        .collect()
}

/// Every cluster's pods, from one `myself { pods }` query.
pub fn query(
    clusters: &[ClusterRef],
    settings: &BTreeMap<String, String>,
) -> Result<Vec<ClusterInstances>, ProviderError> {
    let all = list_with_env()?;
    Ok(clusters
        .iter()
        .map(|c| ClusterInstances {
            cluster: c.clone(),
            instances: to_instances(&c.cluster, &all, settings),
        })
        .collect())
}

/// Terminates the cluster's pods (idempotent: nothing left is success).
pub fn terminate(cluster: &ClusterRef) -> Result<(), ProviderError> {
    let all = list_with_env()?;
    for (_, pod, _) in members(&all, &cluster.cluster) {
        let answer: Result<serde_json::Value, ProviderError> = api::graphql(
            "mutation Terminate($input: PodTerminateInput!) { podTerminate(input: $input) }",
            json!({ "input": { "podId": pod.id } }),
        );
        match answer {
            Ok(_) => {}
            // Gone between the list and the call: what was asked is done.
            Err(e) if e.code == "NotFound" => {
                log::debug(&format!("runpod: pod {} was already gone", pod.id));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// RunPod's countries and data centers.
pub fn regions() -> Result<Vec<Region>, ProviderError> {
    Ok(model::REGIONS
        .iter()
        .map(|(name, zones)| Region {
            name: name.to_string(),
            zones: zones.iter().map(|z| z.to_string()).collect(),
        })
        .collect())
}

/// The key is valid when `myself` answers.
pub fn check_credentials() -> Result<Identity, ProviderError> {
    #[derive(Deserialize)]
    struct User {
        id: Option<String>,
    }
    #[derive(Deserialize)]
    struct Data {
        myself: Option<User>,
    }
    let data: Data = api::graphql("query Me { myself { id } }", json!({}))?;
    let account = data
        .myself
        .and_then(|u| u.id)
        .unwrap_or_else(|| "runpod".into());
    Ok(Identity {
        account,
        details: Vec::new(),
    })
}

/// Catalog rows from the live `gpuTypes` prices for `region` (every country when
/// none).
pub fn offers(region: Option<&str>) -> Result<Vec<Offer>, ProviderError> {
    #[derive(Deserialize)]
    struct Data {
        #[serde(rename = "gpuTypes")]
        gpu_types: Option<Vec<GpuType>>,
    }
    let data: Data = api::graphql(
        "query Offers($lowest: GpuLowestPriceInput) { gpuTypes { id memoryInGb maxGpuCount \
         secureCloud communityCloud securePrice communityPrice secureSpotPrice \
         communitySpotPrice lowestPrice(input: $lowest) { minimumBidPrice \
         uninterruptablePrice minVcpu minMemory } } }",
        json!({ "lowest": { "gpuCount": 1 } }),
    )?;
    let regions: Vec<&str> = match region {
        Some(r) => vec![r],
        None => model::REGIONS.iter().map(|(r, _)| *r).collect(),
    };
    Ok(model::offers(&data.gpu_types.unwrap_or_default(), &regions))
}
