//! The provider's verbs over Cudo's API: create a VM for each missing node
//! (named by role, its cluster in `metadata`, the cluster's key in
//! `customSshKeys`, the cluster's security group when the task has ports), start
//! stopped ones, list every cluster in one listing, stop, terminate (and delete
//! the security group), and the catalog from live machine types.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use aloft_provider_sdk::nodes::{self, Role};
use aloft_provider_sdk::types::{
    ClusterInstances, ClusterRef, Identity, Instance, InstanceStatus, Offer, PortRange,
    ProviderError, Region, RunRequest, RunResult,
};
use aloft_provider_sdk::{errors, log};

use crate::api;
use crate::model::{self, CLUSTER_KEY, InstanceType, MachineType, ROLE_KEY, Vm};

/// The boot disk unless the task or the settings say (GiB).
const DEFAULT_DISK_GIB: u32 = 100;

/// Every VM of the project (`GET /v1/projects/{projectId}/vms`), gone ones left
/// out.
fn all_vms(project: &str) -> Result<Vec<Vm>, ProviderError> {
    let answer = api::get(&format!("/v1/projects/{project}/vms"))?;
    // A missing list is empty; a malformed one is an error (never "nothing
    // there": that would create a cluster's nodes twice).
    let vms: Vec<Vm> = match answer.get("VMs") {
        None | Some(Value::Null) => Vec::new(),
        Some(list) => api::decode(list.clone())?,
    };
    Ok(vms.into_iter().filter(|v| !v.is_gone()).collect())
}

/// The cluster's VMs with their roles, head first.
fn members(all: &[Vm], cluster: &str) -> Vec<(Role, Vm)> {
    let mut found: Vec<(Role, Vm)> = all
        .iter()
        .filter_map(|v| v.role_in(cluster).map(|r| (r, v.clone())))
        .collect();
    found.sort_by_key(|(r, _)| *r);
    found
}

/// Every machine type of every data center (`GET /v1/vms/machine-types-2`); one
/// malformed entry does not hide the others.
fn machine_types() -> Result<Vec<MachineType>, ProviderError> {
    let answer = api::get("/v1/vms/machine-types-2")?;
    let list = answer
        .get("machineTypes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    Ok(list
        .into_iter()
        .filter_map(|m| serde_json::from_value(m).ok())
        .collect())
}

/// Fails with a capacity error unless `count` VMs of `t` fit in `region` now.
fn check_capacity(t: &InstanceType, region: &str, count: u32) -> Result<(), ProviderError> {
    let types = machine_types()?;
    let Some(mt) = types
        .iter()
        .find(|m| m.data_center_id == region && m.machine_type == t.machine_type)
    else {
        return Err(errors::unsupported(
            "UnknownMachineType",
            &format!("Cudo has no machine type {} in {region}", t.machine_type),
        ));
    };
    if !mt.fits(t.gpus, count) {
        return Err(errors::capacity(
            "NoCapacity",
            &format!(
                "Cudo has no room for {count} × {} in {region} now (one host has {} GPUs \
                 free, the data center {})",
                t.name(),
                mt.max_gpu_free.unwrap_or(0),
                mt.total_gpu_free.unwrap_or(0)
            ),
        ));
    }
    Ok(())
}

/// The id of `cluster`'s security group (Cudo's ids are chosen by the caller).
pub fn group_id(cluster: &str) -> String {
    format!("{}-ports", model::vm_prefix(cluster))
}

/// The rules of a cluster's security group: SSH and `ports` in from anywhere,
/// everything out.
fn group_rules(ports: &[(u16, u16)]) -> Vec<Value> {
    let mut ranges = vec![(22, 22)];
    ranges.extend(ports.iter().copied());
    ranges.sort_unstable();
    ranges.dedup();
    let mut rules: Vec<Value> = ranges
        .into_iter()
        .map(|(a, b)| {
            let ports = if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            };
            json!({"protocol": "PROTOCOL_TCP", "ports": ports, "ruleType": "RULE_TYPE_INBOUND",
                   "ipRangeCidr": "0.0.0.0/0"})
        })
        .collect();
    rules.push(
        json!({"protocol": "PROTOCOL_ALL", "ruleType": "RULE_TYPE_OUTBOUND",
                      "ipRangeCidr": "0.0.0.0/0"}),
    );
    rules
}

/// The inbound TCP port ranges of a security group's rules.
fn inbound_ranges(group: &Value) -> Vec<(u16, u16)> {
    let rules = group.get("rules").and_then(Value::as_array).cloned();
    rules
        .unwrap_or_default()
        .iter()
        .filter(|r| r.get("ruleType").and_then(Value::as_str) == Some("RULE_TYPE_INBOUND"))
        .filter_map(|r| {
            r.get("ports")
                .and_then(Value::as_str)
                .and_then(model::port_range)
        })
        .collect()
}

/// Makes `cluster`'s security group in `region` let `ports` in (creating it, or
/// adding the missing ranges); its id.
fn ensure_group(
    project: &str,
    cluster: &str,
    region: &str,
    ports: &[PortRange],
) -> Result<String, ProviderError> {
    let id = group_id(cluster);
    let wanted: Vec<(u16, u16)> = ports
        .iter()
        .map(|p| (p.start, p.end.max(p.start)))
        .collect();
    let path = format!("/v1/projects/{project}/networks/security-groups/{id}");
    let description = format!(
        "aloft cluster {}",
        cluster.chars().take(100).collect::<String>()
    );
    match api::get(&path) {
        Ok(answer) => {
            let group = answer.get("securityGroup").cloned().unwrap_or(answer);
            let mut have = inbound_ranges(&group);
            let missing: Vec<(u16, u16)> = wanted
                .iter()
                .filter(|w| !have.iter().any(|h| h.0 <= w.0 && w.1 <= h.1))
                .copied()
                .collect();
            if !missing.is_empty() {
                have.extend(missing);
                api::patch(
                    &path,
                    &json!({"dataCenterId": region, "description": description,
                            "rules": group_rules(&have)}),
                )?;
            }
        }
        Err(e) if e.code == "NotFound" => {
            let body = json!({"id": id, "dataCenterId": region, "description": description,
                              "rules": group_rules(&wanted)});
            match api::post(
                &format!("/v1/projects/{project}/networks/security-groups"),
                &body,
            ) {
                Ok(_) => {}
                Err(e) if e.code == "AlreadyExists" => {}
                Err(e) => return Err(e),
            }
        }
        Err(e) => return Err(e),
    }
    Ok(id)
}

/// Attaches security group `group` to the VMs of `vms` that lack it.
fn attach_group(project: &str, vms: &[(Role, Vm)], group: &str) -> Result<(), ProviderError> {
    for (_, v) in vms {
        if !v.security_group_ids.iter().any(|g| g == group) {
            api::patch(
                &format!(
                    "/v1/projects/{project}/vm/{}/security-group/attach?securityGroupId={group}",
                    v.id
                ),
                &json!({}),
            )?;
        }
    }
    Ok(())
}

/// Lets `ports` in to the cluster's VMs (its security group, attached to each).
pub fn open_ports(
    cluster: &ClusterRef,
    ports: &[PortRange],
    settings: &BTreeMap<String, String>,
) -> Result<(), ProviderError> {
    if ports.is_empty() {
        return Ok(());
    }
    let project = api::project(settings)?;
    let group = ensure_group(&project, &cluster.cluster, &cluster.region, ports)?;
    attach_group(
        &project,
        &members(&all_vms(&project)?, &cluster.cluster),
        &group,
    )
}

/// Deletes the cluster's security group (none is success).
pub fn cleanup_ports(
    cluster: &ClusterRef,
    settings: &BTreeMap<String, String>,
) -> Result<(), ProviderError> {
    let project = api::project(settings)?;
    let path = format!(
        "/v1/projects/{project}/networks/security-groups/{}",
        group_id(&cluster.cluster)
    );
    match api::call("DELETE", &path) {
        Ok(_) => Ok(()),
        Err(e) if e.code == "NotFound" => Ok(()),
        Err(e) => Err(e),
    }
}

/// The create body of the VM `vm_id` of `cluster` with `role`.
fn create_body(
    req: &RunRequest,
    t: &InstanceType,
    vm_id: &str,
    role: Role,
    group: Option<&str>,
    settings: &BTreeMap<String, String>,
) -> Value {
    let disk = req
        .disk_size_gib
        .or_else(|| settings.get("disk_gib").and_then(|d| d.parse().ok()))
        .unwrap_or(DEFAULT_DISK_GIB)
        .clamp(10, 16_384);
    let image = req
        .image_id
        .clone()
        .or_else(|| settings.get("image").cloned())
        .unwrap_or_else(|| model::DEFAULT_IMAGE.to_string());
    let role_name = if role == Role::Head { "head" } else { "worker" };
    let mut body = json!({
        "dataCenterId": req.cluster.region,
        "machineType": t.machine_type,
        "vmId": vm_id,
        "bootDiskImageId": image,
        "vcpus": t.vcpus,
        "memoryGib": t.memory_gib,
        "gpus": t.gpus,
        "bootDisk": {"storageClass": "STORAGE_CLASS_NETWORK", "sizeGib": disk},
        "metadata": {CLUSTER_KEY: req.cluster.cluster, ROLE_KEY: role_name},
    });
    match req
        .ssh_public_key
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty())
    {
        Some(key) => {
            body["sshKeySource"] = json!("SSH_KEY_SOURCE_NONE");
            body["customSshKeys"] = json!([key]);
        }
        None => body["sshKeySource"] = json!("SSH_KEY_SOURCE_PROJECT"),
    }
    if let Some(group) = group {
        body["securityGroupIds"] = json!([group]);
    }
    body
}

/// Creates the cluster's missing VMs (head first, then the lowest free worker
/// numbers), starts stopped ones.
pub fn run(
    req: &RunRequest,
    settings: &BTreeMap<String, String>,
) -> Result<RunResult, ProviderError> {
    let region = req.cluster.region.as_str();
    let cluster = req.cluster.cluster.as_str();
    let here = |e: ProviderError| errors::in_zone(e, region, None);
    let Some(t) = InstanceType::parse(&req.instance_type) else {
        return Err(here(errors::unsupported(
            "UnknownInstanceType",
            &format!(
                "{:?} is not a Cudo instance type (such as epyc-milan-rtx-a4000_1x8v32gb)",
                req.instance_type
            ),
        )));
    };
    if req.use_spot {
        return Err(here(errors::unsupported(
            "NoSpot",
            "Cudo Compute offers no spot or interruptible VMs",
        )));
    }
    if !model::is_vm_id(region) {
        return Err(here(errors::unsupported(
            "UnknownRegion",
            "not a Cudo data center (such as se-smedjebacken-1)",
        )));
    }
    let project = api::project(settings)?;
    let all = all_vms(&project)?;
    let existing = members(&all, cluster);
    let types: Vec<_> = existing
        .iter()
        .map(|(_, v)| (v, v.instance_type()))
        .collect();
    nodes::refuse_unlike(
        cluster,
        &req.instance_type,
        region,
        types.iter().map(|(v, t)| nodes::Have {
            node: &v.id,
            instance_type: t.as_deref(),
            region: None,
        }),
    )?;
    let mut resumed = Vec::new();
    for (_, v) in &existing {
        if matches!(v.status(), InstanceStatus::Stopped) {
            api::call(
                "POST",
                &format!("/v1/projects/{project}/vms/{}/start", v.id),
            )
            .map_err(here)?;
            resumed.push(v.id.clone());
        }
    }
    let roles: Vec<Role> = existing.iter().map(|(r, _)| *r).collect();
    let missing = nodes::roles_to_launch(&roles, req.count);
    if !missing.is_empty() {
        let count = u32::try_from(missing.len()).unwrap_or(u32::MAX);
        check_capacity(&t, region, count).map_err(here)?;
    }
    // The task's ports: the cluster's security group, on every VM.
    let group = if req.ports.is_empty() {
        None
    } else {
        let group = ensure_group(&project, cluster, region, &req.ports).map_err(here)?;
        attach_group(&project, &existing, &group).map_err(here)?;
        Some(group)
    };
    let mut created = Vec::new();
    for role in missing {
        let vm_id = model::vm_id_of(cluster, role);
        let body = create_body(req, &t, &vm_id, role, group.as_deref(), settings);
        match api::post(&format!("/v1/projects/{project}/vm"), &body) {
            Ok(_) => created.push(vm_id),
            // Made by an earlier, interrupted call after this one listed.
            Err(e) if e.code == "AlreadyExists" => {
                log::debug(&format!("cudo: {vm_id} exists already"));
            }
            Err(e) => return Err(here(e)),
        }
    }
    let all = if created.is_empty() && resumed.is_empty() {
        all
    } else {
        all_vms(&project)?
    };
    Ok(RunResult {
        instances: to_instances(cluster, &all, settings),
        created,
        resumed,
    })
}

fn to_instances(cluster: &str, all: &[Vm], settings: &BTreeMap<String, String>) -> Vec<Instance> {
    let user = settings
        .get("ssh_user")
        .cloned()
        .unwrap_or_else(|| "root".into());
    members(all, cluster)
        .into_iter()
        .map(|(role, v)| Instance {
            id: v.id.clone(),
            is_head: role == Role::Head,
            status: v.status(),
            instance_type: v.instance_type().unwrap_or_default(),
            zone: None,
            spot: false,
            public_ip: v.public_ip(),
            private_ip: v.private_ip(),
            ssh_port: 22,
            ssh_user: Some(user.clone()),
            extra: Vec::new(),
        })
        .collect()
}

/// Every cluster's VMs, from one listing.
pub fn query(
    clusters: &[ClusterRef],
    settings: &BTreeMap<String, String>,
) -> Result<Vec<ClusterInstances>, ProviderError> {
    let all = all_vms(&api::project(settings)?)?;
    Ok(clusters
        .iter()
        .map(|c| ClusterInstances {
            cluster: c.clone(),
            instances: to_instances(&c.cluster, &all, settings),
        })
        .collect())
}

/// Stops the cluster's VMs (their disks stay, and are billed).
pub fn stop(
    cluster: &ClusterRef,
    settings: &BTreeMap<String, String>,
) -> Result<(), ProviderError> {
    let project = api::project(settings)?;
    for (_, v) in members(&all_vms(&project)?, &cluster.cluster) {
        if !matches!(
            v.status(),
            InstanceStatus::Stopped | InstanceStatus::Stopping
        ) {
            api::call("POST", &format!("/v1/projects/{project}/vms/{}/stop", v.id))?;
        }
    }
    Ok(())
}

/// Terminates the cluster's VMs and deletes its security group (idempotent:
/// nothing left is success).
pub fn terminate(
    cluster: &ClusterRef,
    settings: &BTreeMap<String, String>,
) -> Result<(), ProviderError> {
    let project = api::project(settings)?;
    terminate_vms(cluster, &project)?;
    cleanup_ports(cluster, settings)
}

/// Terminates the cluster's VMs.
fn terminate_vms(cluster: &ClusterRef, project: &str) -> Result<(), ProviderError> {
    for (_, v) in members(&all_vms(project)?, &cluster.cluster) {
        match api::call(
            "POST",
            &format!("/v1/projects/{project}/vms/{}/terminate", v.id),
        ) {
            Ok(_) => {}
            Err(e) if e.code == "NotFound" => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Cudo's data centers that run VMs (`GET /v1/vms/data-centers`).
pub fn regions() -> Result<Vec<Region>, ProviderError> {
    #[derive(Deserialize)]
    struct DataCenter {
        id: String,
    }
    let answer = api::get("/v1/vms/data-centers")?;
    let list: Vec<DataCenter> = match answer.get("dataCenters") {
        None | Some(Value::Null) => Vec::new(),
        Some(list) => api::decode(list.clone())?,
    };
    Ok(list
        .into_iter()
        .filter(|d| model::is_vm_id(&d.id))
        .map(|d| Region {
            name: d.id,
            zones: Vec::new(),
        })
        .collect())
}

/// The key and project are valid when `GET /v1/projects/{id}` answers.
pub fn check_credentials(settings: &BTreeMap<String, String>) -> Result<Identity, ProviderError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Project {
        #[serde(default)]
        id: Option<String>,
        #[serde(default)]
        billing_account_id: Option<String>,
    }
    let project = api::project(settings)?;
    let found: Project = api::decode(api::get(&format!("/v1/projects/{project}"))?)?;
    let mut details = Vec::new();
    if let Some(b) = found.billing_account_id.filter(|b| !b.is_empty()) {
        details.push(("billing account".to_string(), b.chars().take(100).collect()));
    }
    Ok(Identity {
        account: found.id.unwrap_or(project).chars().take(100).collect(),
        details,
    })
}

/// Catalog rows from the live machine types, for `region` or every data center.
pub fn offers(region: Option<&str>) -> Result<Vec<Offer>, ProviderError> {
    Ok(model::offers(&machine_types()?, region))
}
