//! The provider's verbs over Compute Engine: create or resume a cluster, list many
//! clusters in one `aggregatedList`, stop, delete, firewall rules, regions and who
//! the credentials are.

use std::collections::BTreeMap;

use aloft_provider_sdk::errors;
use aloft_provider_sdk::kv;
use aloft_provider_sdk::nodes;
use aloft_provider_sdk::settings;
use aloft_provider_sdk::signing::uri_encode;
use aloft_provider_sdk::types::{
    ClusterInstances, ClusterRef, Identity, Instance, InstanceStatus, PortRange, ProviderError,
    Region, RunRequest, RunResult,
};
use serde_json::Value;

use crate::api::{self, Pending, last};
use crate::auth;
use crate::gce::{self, GceInstance, MachineSpec, NewInstance};

/// The project: the setting `providers.gcp.project`, else the credentials' own.
pub fn project(settings: &BTreeMap<String, String>) -> Result<String, ProviderError> {
    if let Some(p) = settings.get("project").filter(|p| !p.is_empty()) {
        return Ok(p.clone());
    }
    auth::lent()?.project().map(str::to_string).ok_or_else(|| {
        errors::invalid(
            "NoProject",
            "the Google credentials name no project: set providers.gcp.project",
        )
    })
}

fn network(settings: &BTreeMap<String, String>) -> String {
    let name = settings
        .get("network")
        .cloned()
        .unwrap_or_else(|| "default".into());
    if name.contains('/') {
        name
    } else {
        format!("global/networks/{name}")
    }
}

/// Names of a cluster's instances aloft stopped itself (kv, per cluster): a
/// stopped spot instance among them is not a preemption.
fn stopped_key(project: &str, cluster: &str) -> String {
    format!("stopped/{project}/{cluster}")
}

/// Names of a cluster's instances aloft is deleting (shown as terminating).
fn deleted_key(project: &str, cluster: &str) -> String {
    format!("deleted/{project}/{cluster}")
}

fn names_in(key: &str) -> Vec<String> {
    kv::get(key)
        .and_then(|v| serde_json::from_str(&v).ok())
        .unwrap_or_default()
}

fn set_names(key: &str, mut names: Vec<String>) {
    names.sort();
    names.dedup();
    if names.is_empty() {
        kv::delete(key);
    } else if let Ok(text) = serde_json::to_string(&names) {
        kv::set(key, &text);
    }
}

/// The instances of `clusters`, every zone, one paginated `aggregatedList`.
fn list(project: &str, clusters: &[String]) -> Result<Vec<GceInstance>, ProviderError> {
    let mut found = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut query = vec![("filter", gce::cluster_filter(clusters))];
        if let Some(t) = &token {
            query.push(("pageToken", t.clone()));
        }
        let page = api::call("GET", project, "aggregated/instances", &query, None)?;
        found.extend(gce::parse_list(&page));
        token = page["nextPageToken"]
            .as_str()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            return Ok(found);
        }
    }
}

/// The instances of one cluster in `region`.
fn cluster_instances(
    project: &str,
    cluster: &ClusterRef,
) -> Result<Vec<GceInstance>, ProviderError> {
    let label = gce::label_value(&cluster.cluster);
    let stem = gce::stem(&cluster.cluster);
    Ok(list(project, std::slice::from_ref(&cluster.cluster))?
        .into_iter()
        .filter(|i| in_region(&i.zone, &cluster.region))
        .filter(|i| i.cluster_label() == Some(label.as_str()) && i.name.starts_with(&stem))
        .collect())
}

fn in_region(zone: &str, region: &str) -> bool {
    zone.rsplit_once('-').is_some_and(|(r, _)| r == region)
}

/// The zone to create in: the request's, else the region's first.
fn zone_for(project: &str, cluster: &ClusterRef) -> Result<String, ProviderError> {
    if let Some(zone) = &cluster.zone {
        return Ok(zone.clone());
    }
    let page = api::call("GET", project, "zones", &[], None)?;
    let mut zones: Vec<String> = page["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|z| z["name"].as_str())
                .filter(|z| in_region(z, &cluster.region))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    zones.sort();
    zones.into_iter().next().ok_or_else(|| {
        errors::unsupported(
            "UnknownRegion",
            &format!("no zones in region {}", cluster.region),
        )
    })
}

fn image_for(req: &RunRequest, spec: &MachineSpec, settings: &BTreeMap<String, String>) -> String {
    match req
        .image_id
        .clone()
        .or_else(|| settings.get("image_id").cloned())
    {
        Some(image) if image.contains('/') => image,
        Some(image) => format!("global/images/{image}"),
        None if spec.has_gpu() => gce::DEEP_LEARNING.into(),
        None => gce::UBUNTU.into(),
    }
}

fn ssh_user(settings: &BTreeMap<String, String>) -> String {
    settings
        .get("ssh_user")
        .cloned()
        .unwrap_or_else(|| "aloft".into())
}

/// Creates the cluster's missing instances and starts its stopped ones. With the
/// [`settings::SHUTDOWN`] setting (aloft sets it with a count of 0 when autostop is
/// set), each instance says in its `extra` what a shutdown from inside it does:
/// Compute Engine always stops such a VM (TERMINATED is its stopped state), so the
/// answer is `stop` even when `terminate` was asked, and aloft deletes an autodown
/// cluster's stopped VMs at its next `status -r`. Nothing needs setting on the VMs.
pub fn run(
    req: &RunRequest,
    settings: &BTreeMap<String, String>,
) -> Result<RunResult, ProviderError> {
    let shutdown = settings::shutdown(settings)?;
    let host_key = settings::host_key(settings)?;
    let project = project(settings)?;
    let cluster = req.cluster.cluster.as_str();
    let region = req.cluster.region.as_str();
    let spec = MachineSpec::parse(&req.instance_type);
    let existing = cluster_instances(&project, &req.cluster)?;
    nodes::refuse_unlike(
        cluster,
        &spec.machine_type,
        region,
        existing.iter().map(|i| nodes::Have {
            node: &i.name,
            instance_type: Some(&i.spec.machine_type),
            region: None,
        }),
    )?;
    let place = |e: ProviderError, zone: Option<&str>| {
        if e.zone.is_some() {
            e
        } else {
            errors::in_zone(e, region, zone)
        }
    };
    // A count of 0 resumes nothing (aloft asks so to learn the shutdown behaviour).
    let stopped: Vec<&GceInstance> = existing
        .iter()
        .filter(|i| req.count > 0 && i.is_stopped())
        .collect();
    let mut ops = Vec::new();
    for i in &stopped {
        let path = format!("zones/{}/instances/{}/start", i.zone, uri_encode(&i.name));
        let op =
            api::call("POST", &project, &path, &[], None).map_err(|e| place(e, Some(&i.zone)))?;
        ops.push(Pending::new(&project, op));
    }
    let resumed: Vec<String> = stopped.iter().map(|i| i.name.clone()).collect();
    if !resumed.is_empty() {
        let key = stopped_key(&project, cluster);
        let left = names_in(&key)
            .into_iter()
            .filter(|n| !resumed.contains(n))
            .collect();
        set_names(&key, left);
    }
    let missing = (req.count as usize).saturating_sub(existing.len());
    let mut created = Vec::new();
    if missing > 0 {
        let zone = zone_for(&project, &req.cluster)?;
        let stem = gce::stem(cluster);
        let tag = if req.ports.is_empty() {
            None
        } else {
            ensure_firewall(&project, cluster, &req.ports, settings)?;
            Some(stem.clone())
        };
        let image = image_for(req, &spec, settings);
        let ssh_key = req
            .ssh_public_key
            .as_ref()
            .map(|k| format!("{}:{}", ssh_user(settings), k.trim()));
        let network = network(settings);
        let taken: Vec<&str> = existing.iter().map(|i| i.name.as_str()).collect();
        let mut names = Vec::new();
        if !existing.iter().any(GceInstance::is_head) {
            names.push((format!("{stem}-head"), "head"));
        }
        let mut n = 1;
        while names.len() < missing {
            let name = format!("{stem}-worker-{n}");
            if !taken.contains(&name.as_str()) {
                names.push((name, "worker"));
            }
            n += 1;
        }
        // A name aloft deleted before is a new instance now.
        let key = deleted_key(&project, cluster);
        let left = names_in(&key)
            .into_iter()
            .filter(|d| !names.iter().any(|(n, _)| n == d))
            .collect();
        set_names(&key, left);
        for (name, role) in &names {
            let body = gce::insert_body(&NewInstance {
                name,
                zone: &zone,
                spec: &spec,
                role,
                cluster,
                labels: &req.labels,
                image: &image,
                disk_size_gib: req.disk_size_gib,
                spot: req.use_spot,
                ssh_key: ssh_key.clone(),
                host_key,
                tag: tag.as_deref(),
                network: &network,
            });
            let op = api::call(
                "POST",
                &project,
                &format!("zones/{zone}/instances"),
                &[],
                Some(&body),
            )
            .map_err(|e| place(e, Some(&zone)))?;
            ops.push(Pending::new(&project, op));
            created.push(name.clone());
        }
    }
    api::wait_all(ops).map_err(|e| place(e, req.cluster.zone.as_deref()))?;
    let instances = cluster_instances(&project, &req.cluster)?;
    let mut instances = to_instances(&instances, settings, &[], &[]);
    if shutdown.is_some() {
        for instance in &mut instances {
            instance
                .extra
                .push((settings::SHUTDOWN.into(), "stop".into()));
        }
    }
    Ok(RunResult {
        instances,
        created,
        resumed,
    })
}

fn to_instances(
    found: &[GceInstance],
    settings: &BTreeMap<String, String>,
    stopped_by_us: &[String],
    deleted_by_us: &[String],
) -> Vec<Instance> {
    let user = ssh_user(settings);
    found
        .iter()
        .map(|i| Instance {
            id: i.name.clone(),
            is_head: i.is_head(),
            status: if deleted_by_us.contains(&i.name) {
                InstanceStatus::Terminating
            } else {
                status(i, stopped_by_us.contains(&i.name))
            },
            instance_type: i.spec.name(),
            zone: Some(i.zone.clone()),
            spot: i.spot,
            public_ip: i.public_ip.clone(),
            private_ip: i.private_ip.clone(),
            ssh_port: 22,
            ssh_user: Some(user.clone()),
            extra: i
                .host_key
                .iter()
                .map(|key| (settings::HOST_KEY.to_string(), key.clone()))
                .collect(),
        })
        .collect()
}

/// An instance's status. A stopped spot instance that aloft did not stop was
/// reclaimed by Google (spot instances are created to stop when preempted).
pub fn status(i: &GceInstance, stopped_by_us: bool) -> InstanceStatus {
    let preempted = i.spot && !stopped_by_us;
    match i.status.as_str() {
        "PROVISIONING" | "STAGING" | "REPAIRING" => InstanceStatus::Pending,
        "RUNNING" => InstanceStatus::Running,
        "STOPPING" | "SUSPENDING" | "TERMINATED" | "SUSPENDED" if preempted => {
            InstanceStatus::Preempted
        }
        "STOPPING" | "SUSPENDING" => InstanceStatus::Stopping,
        "TERMINATED" | "SUSPENDED" => InstanceStatus::Stopped,
        _ => InstanceStatus::Unknown,
    }
}

/// Every cluster's instances, one `aggregatedList` (all zones) for all of them.
pub fn query(
    clusters: &[ClusterRef],
    settings: &BTreeMap<String, String>,
) -> Result<Vec<ClusterInstances>, ProviderError> {
    if clusters.is_empty() {
        return Ok(Vec::new());
    }
    let project = project(settings)?;
    let names: Vec<String> = clusters.iter().map(|c| c.cluster.clone()).collect();
    let all = list(&project, &names)?;
    Ok(clusters
        .iter()
        .map(|c| {
            let label = gce::label_value(&c.cluster);
            let stem = gce::stem(&c.cluster);
            let mine: Vec<GceInstance> = all
                .iter()
                .filter(|i| in_region(&i.zone, &c.region))
                .filter(|i| i.cluster_label() == Some(label.as_str()) && i.name.starts_with(&stem))
                .cloned()
                .collect();
            ClusterInstances {
                cluster: c.clone(),
                instances: to_instances(
                    &mine,
                    settings,
                    &names_in(&stopped_key(&project, &c.cluster)),
                    &names_in(&deleted_key(&project, &c.cluster)),
                ),
            }
        })
        .collect())
}

/// Stops the cluster's running instances (remembered first, so they are not
/// mistaken for preempted ones).
pub fn stop(
    cluster: &ClusterRef,
    settings: &BTreeMap<String, String>,
) -> Result<(), ProviderError> {
    let project = project(settings)?;
    let live: Vec<GceInstance> = cluster_instances(&project, cluster)?
        .into_iter()
        .filter(|i| matches!(i.status.as_str(), "PROVISIONING" | "STAGING" | "RUNNING"))
        .collect();
    if live.is_empty() {
        return Ok(());
    }
    let key = stopped_key(&project, &cluster.cluster);
    let mut ours = names_in(&key);
    ours.extend(live.iter().map(|i| i.name.clone()));
    set_names(&key, ours);
    let mut ops = Vec::new();
    for i in &live {
        let path = format!("zones/{}/instances/{}/stop", i.zone, uri_encode(&i.name));
        ops.push(Pending::new(
            &project,
            api::call("POST", &project, &path, &[], None)?,
        ));
    }
    api::wait_all(ops)
}

/// Deletes the cluster's instances and its firewall rule.
pub fn terminate(
    cluster: &ClusterRef,
    settings: &BTreeMap<String, String>,
) -> Result<(), ProviderError> {
    let project = project(settings)?;
    let all = cluster_instances(&project, cluster)?;
    let key = deleted_key(&project, &cluster.cluster);
    let mut ours = names_in(&key);
    ours.extend(all.iter().map(|i| i.name.clone()));
    set_names(&key, ours);
    let mut ops = Vec::new();
    for i in &all {
        let path = format!("zones/{}/instances/{}", i.zone, uri_encode(&i.name));
        match api::call("DELETE", &project, &path, &[], None) {
            Ok(op) => ops.push(Pending::new(&project, op)),
            Err(e) if api::is_not_found(&e) => {}
            Err(e) => return Err(e),
        }
    }
    api::wait_all(ops)?;
    kv::delete(&stopped_key(&project, &cluster.cluster));
    delete_firewall(&project, &cluster.cluster)
}

/// The cluster's firewall rule, created or widened to include `ports`.
pub fn ensure_firewall(
    project: &str,
    cluster: &str,
    ports: &[PortRange],
    settings: &BTreeMap<String, String>,
) -> Result<(), ProviderError> {
    if ports.is_empty() {
        return Ok(());
    }
    let name = gce::stem(cluster);
    let path = format!("global/firewalls/{name}");
    let op = match api::call("GET", project, &path, &[], None) {
        Ok(rule) => {
            let mut have: Vec<String> = rule["allowed"][0]["ports"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|p| p.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let want = gce::port_strings(ports);
            if want.iter().all(|p| have.contains(p)) {
                return Ok(());
            }
            have.extend(want);
            have.sort();
            have.dedup();
            let patch = serde_json::json!({"allowed": [{"IPProtocol": "tcp", "ports": have}]});
            api::call("PATCH", project, &path, &[], Some(&patch))?
        }
        Err(e) if api::is_not_found(&e) => {
            let body = gce::firewall_body(&name, cluster, &network(settings), ports);
            api::call("POST", project, "global/firewalls", &[], Some(&body))?
        }
        Err(e) => return Err(e),
    };
    api::wait_all(vec![Pending::new(project, op)])
}

/// Deletes the cluster's firewall rule (gone already is fine).
pub fn delete_firewall(project: &str, cluster: &str) -> Result<(), ProviderError> {
    let path = format!("global/firewalls/{}", gce::stem(cluster));
    match api::call("DELETE", project, &path, &[], None) {
        Ok(op) => api::wait_all(vec![Pending::new(project, op)]),
        Err(e) if api::is_not_found(&e) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The project's regions and their zones.
pub fn regions(settings: &BTreeMap<String, String>) -> Result<Vec<Region>, ProviderError> {
    let project = project(settings)?;
    let page = api::call("GET", &project, "regions", &[], None)?;
    let items = page["items"].as_array().cloned().unwrap_or_default();
    Ok(items
        .iter()
        .filter_map(|r| {
            Some(Region {
                name: r["name"].as_str()?.to_string(),
                zones: r["zones"]
                    .as_array()
                    .map(|z| {
                        z.iter()
                            .filter_map(Value::as_str)
                            .map(|z| last(z).to_string())
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect())
}

/// Who the credentials are and which project they reach (`projects.get`).
pub fn identity(settings: &BTreeMap<String, String>) -> Result<Identity, ProviderError> {
    let creds = auth::lent()?;
    let project = project(settings)?;
    let answer = api::call("GET", &project, "", &[], None)?;
    let mut details = vec![("principal".to_string(), creds.principal())];
    if let Some(number) = answer["id"].as_str() {
        details.push(("project_number".into(), number.to_string()));
    }
    Ok(Identity {
        account: answer["name"].as_str().unwrap_or(&project).to_string(),
        details,
    })
}

/// aloft's (SkyPilot's) name for a Compute Engine accelerator type.
pub fn accelerator_name(gcp: &str) -> String {
    match gcp {
        "nvidia-tesla-t4" => "T4",
        "nvidia-tesla-v100" => "V100",
        "nvidia-tesla-p100" => "P100",
        "nvidia-tesla-p4" => "P4",
        "nvidia-tesla-k80" => "K80",
        "nvidia-l4" => "L4",
        "nvidia-tesla-a100" => "A100",
        "nvidia-a100-80gb" => "A100-80GB",
        "nvidia-h100-80gb" => "H100",
        "nvidia-h100-mega-80gb" => "H100-MEGA",
        "nvidia-h200-141gb" => "H200",
        other => other,
    }
    .to_string()
}

/// Every item of a paginated zonal list.
fn list_all(project: &str, path: &str) -> Result<Vec<Value>, ProviderError> {
    let mut all = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let query: Vec<(&str, String)> = token.iter().map(|t| ("pageToken", t.clone())).collect();
        let page = api::call("GET", project, path, &query, None)?;
        all.extend(page["items"].as_array().cloned().unwrap_or_default());
        token = page["nextPageToken"]
            .as_str()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            return Ok(all);
        }
    }
}

/// What `region` offers, per zone: one row per machine type (A2/A3/G2 types with
/// their built-in GPUs), and one row per attachable accelerator type with an empty
/// instance type, as aloft's GCP catalog lists them. Compute Engine's API has no
/// prices (they live in the Cloud Billing Catalog API), so `price` and
/// `spot-price` are left empty for the catalog tools to carry over.
pub fn offers(
    region: &str,
    settings: &BTreeMap<String, String>,
) -> Result<Vec<aloft_provider_sdk::types::Offer>, ProviderError> {
    use aloft_provider_sdk::types::Offer;
    let project = project(settings)?;
    let zones = list_all(&project, "zones")?;
    let mut out = Vec::new();
    for zone in zones
        .iter()
        .filter_map(|z| z["name"].as_str())
        .filter(|z| in_region(z, region))
    {
        for m in list_all(&project, &format!("zones/{zone}/machineTypes"))? {
            let Some(name) = m["name"].as_str() else {
                continue;
            };
            let gpu = &m["accelerators"][0];
            out.push(Offer {
                instance_type: name.to_string(),
                accelerator_name: gpu["guestAcceleratorType"].as_str().map(accelerator_name),
                accelerator_count: gpu["guestAcceleratorCount"].as_f64().unwrap_or(0.0),
                vcpus: m["guestCpus"].as_f64().unwrap_or(0.0),
                memory_gib: m["memoryMb"].as_f64().unwrap_or(0.0) / 1024.0,
                gpu_memory_mib: None,
                price: None,
                spot_price: None,
                region: region.to_string(),
                zone: Some(zone.to_string()),
            });
        }
        for a in list_all(&project, &format!("zones/{zone}/acceleratorTypes"))? {
            let Some(name) = a["name"].as_str() else {
                continue;
            };
            out.push(Offer {
                instance_type: String::new(),
                accelerator_name: Some(accelerator_name(name)),
                accelerator_count: 1.0,
                vcpus: 0.0,
                memory_gib: 0.0,
                gpu_memory_mib: None,
                price: None,
                spot_price: None,
                region: region.to_string(),
                zone: Some(zone.to_string()),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(status: &str, spot: bool) -> GceInstance {
        GceInstance {
            name: "i".into(),
            status: status.into(),
            spec: MachineSpec::parse("e2-standard-4"),
            zone: "us-central1-a".into(),
            public_ip: None,
            private_ip: None,
            spot,
            labels: BTreeMap::new(),
            host_key: None,
        }
    }

    #[test]
    fn a_stopped_spot_instance_is_preempted_unless_aloft_stopped_it() {
        assert_eq!(
            status(&instance("TERMINATED", true), false),
            InstanceStatus::Preempted
        );
        assert_eq!(
            status(&instance("TERMINATED", true), true),
            InstanceStatus::Stopped
        );
        assert_eq!(
            status(&instance("TERMINATED", false), false),
            InstanceStatus::Stopped
        );
        assert_eq!(
            status(&instance("STOPPING", false), false),
            InstanceStatus::Stopping
        );
        assert_eq!(
            status(&instance("STAGING", true), false),
            InstanceStatus::Pending
        );
        assert_eq!(
            status(&instance("RUNNING", true), false),
            InstanceStatus::Running
        );
        assert!(in_region("us-central1-a", "us-central1"));
        assert!(!in_region("us-central1-a", "us-central"));
    }
}
