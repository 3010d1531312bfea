//! The provider's verbs over Azure Resource Manager: a resource group per cluster
//! (`aloft-<cluster>-<region>`) holding its network security group, virtual
//! network and subnet, and per node a public IP, a NIC and the VM; a cluster's
//! state read from three listings of its group; stop = deallocate, terminate =
//! delete the group, each awaited through ARM's operation headers.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use aloft_provider_sdk::nodes::{self, Role};
use aloft_provider_sdk::types::{
    ClusterInstances, ClusterRef, Identity, Instance, InstanceStatus, PortRange, ProviderError,
    Region, RunRequest, RunResult,
};
use aloft_provider_sdk::{errors, kv, log, settings};

use crate::arm::{self, COMPUTE_API, NETWORK_API, RESOURCES_API};
use crate::{auth, offers};

/// The tag naming a resource's cluster.
pub const CLUSTER_TAG: &str = "aloft-cluster";
/// The tag naming the public SSH host key a VM was created with (cloud-init
/// installs it from `osProfile.customData`, which ARM never reads back).
pub const HOST_KEY_TAG: &str = "aloft-host-key";
/// The default SSH user (Azure refuses `root` as an admin user name).
const DEFAULT_USER: &str = "azureuser";

/// The resource group of `cluster` in `region`.
pub fn group_name(cluster: &str, region: &str) -> String {
    format!("aloft-{cluster}-{region}")
}

fn subscription(settings: &BTreeMap<String, String>) -> Result<String, ProviderError> {
    auth::subscription(settings.get("subscription_id"))
}

/// `resourceGroups/{group}/providers/{provider}/{path}` as a relative ARM path.
fn in_group(group: &str, provider: &str, path: &str) -> String {
    format!("resourceGroups/{group}/providers/{provider}/{path}")
}

/// The full resource id of a relative path.
fn id_of(subscription: &str, path: &str) -> String {
    format!("/subscriptions/{subscription}/{path}")
}

/// Whether `s` is a plain Azure name (region, size): letters, digits, `_`.
fn is_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 80 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Whether `s` can name a cluster's resources.
fn is_cluster_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 50
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The kv key noting that aloft deallocated the cluster in `group` (a spot VM
/// deallocated without it was evicted).
fn stop_note(group: &str) -> String {
    format!("stopped/{group}")
}

/// The NSG rules: SSH, then the task's ports.
fn security_rules(ports: &[PortRange]) -> Vec<Value> {
    let rule = |name: String, range: String, priority: u32| {
        json!({
            "name": name,
            "properties": {
                "protocol": "Tcp",
                "sourcePortRange": "*",
                "destinationPortRange": range,
                "sourceAddressPrefix": "*",
                "destinationAddressPrefix": "*",
                "access": "Allow",
                "priority": priority,
                "direction": "Inbound",
            }
        })
    };
    let mut rules = vec![rule("ssh".into(), "22".into(), 1000)];
    for (i, p) in ports.iter().enumerate().take(100) {
        let range = if p.start == p.end {
            p.start.to_string()
        } else {
            format!("{}-{}", p.start, p.end)
        };
        rules.push(rule(
            format!("port-{}-{}", p.start, p.end),
            range,
            1001 + i as u32,
        ));
    }
    rules
}

/// The image reference: a `publisher:offer:sku:version` URN or an image id.
fn image_reference(image: &str) -> Result<Value, ProviderError> {
    if image.starts_with("/subscriptions/") {
        return Ok(json!({"id": image}));
    }
    let parts: Vec<&str> = image.split(':').collect();
    match parts.as_slice() {
        [publisher, offer, sku, version] if parts.iter().all(|p| !p.is_empty()) => Ok(json!({
            "publisher": publisher, "offer": offer, "sku": sku, "version": version,
        })),
        _ => Err(errors::invalid(
            "BadImage",
            &format!(
                "{image:?} is not an Azure image URN (publisher:offer:sku:version) nor an image id"
            ),
        )),
    }
}

/// The default image: Ubuntu 22.04 with NVIDIA's drivers (Microsoft's HPC
/// image) on GPU sizes, Ubuntu 24.04 otherwise.
fn default_image(size: &str) -> &'static str {
    if offers::is_gpu(size) {
        "microsoft-dsvm:ubuntu-hpc:2204:latest"
    } else {
        "Canonical:ubuntu-24_04-lts:server:latest"
    }
}

fn ssh_user(settings: &BTreeMap<String, String>) -> String {
    settings
        .get("ssh_user")
        .filter(|u| !u.is_empty())
        .cloned()
        .unwrap_or_else(|| DEFAULT_USER.into())
}

/// Creates (or re-applies) the cluster's group, NSG and virtual network.
fn ensure_network(
    sub: &str,
    group: &str,
    region: &str,
    cluster: &str,
    ports: &[PortRange],
) -> Result<String, ProviderError> {
    let tags = json!({ CLUSTER_TAG: cluster });
    arm::call(
        "PUT",
        &arm::url(sub, &format!("resourcegroups/{group}"), RESOURCES_API),
        Some(&json!({"location": region, "tags": tags})),
        "resource group",
    )?;
    let nsg = in_group(
        group,
        "Microsoft.Network",
        &format!("networkSecurityGroups/{cluster}-nsg"),
    );
    let made = arm::call(
        "PUT",
        &arm::url(sub, &nsg, NETWORK_API),
        Some(&json!({
            "location": region,
            "tags": tags,
            "properties": {"securityRules": security_rules(ports)},
        })),
        "network security group",
    )?;
    arm::finish(made)?;
    let vnet = in_group(
        group,
        "Microsoft.Network",
        &format!("virtualNetworks/{cluster}-vnet"),
    );
    let made = arm::call(
        "PUT",
        &arm::url(sub, &vnet, NETWORK_API),
        Some(&json!({
            "location": region,
            "tags": tags,
            "properties": {
                "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
                "subnets": [{
                    "name": "default",
                    "properties": {
                        "addressPrefix": "10.0.0.0/24",
                        "networkSecurityGroup": {"id": id_of(sub, &nsg)},
                    },
                }],
            },
        })),
        "virtual network",
    )?;
    arm::finish(made)?;
    Ok(id_of(sub, &format!("{vnet}/subnets/default")))
}

/// The VMs of `group` with their instance views.
fn vms(sub: &str, group: &str) -> Result<Vec<Value>, ProviderError> {
    arm::list(
        &arm::url(
            sub,
            &in_group(
                group,
                "Microsoft.Compute",
                "virtualMachines?$expand=instanceView",
            ),
            COMPUTE_API,
        ),
        "virtual machines",
    )
}

fn name(v: &Value) -> &str {
    v["name"].as_str().unwrap_or_default()
}

/// The power state of a VM from its instance view (`PowerState/running` → `running`).
fn power_state(vm: &Value) -> Option<String> {
    vm["properties"]["instanceView"]["statuses"]
        .as_array()?
        .iter()
        .filter_map(|s| s["code"].as_str())
        .find_map(|c| c.strip_prefix("PowerState/"))
        .map(str::to_string)
}

fn is_spot(vm: &Value) -> bool {
    vm["properties"]["priority"]
        .as_str()
        .is_some_and(|p| p.eq_ignore_ascii_case("spot"))
}

/// A VM's status; a spot VM deallocated without aloft stopping it was evicted.
fn status_of(vm: &Value, stopped_by_aloft: bool) -> InstanceStatus {
    let provisioning = vm["properties"]["provisioningState"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if provisioning == "deleting" {
        return InstanceStatus::Terminating;
    }
    match power_state(vm).as_deref() {
        Some("running") => InstanceStatus::Running,
        Some("starting") => InstanceStatus::Pending,
        Some("stopping") | Some("deallocating") => InstanceStatus::Stopping,
        Some("stopped") | Some("deallocated") => {
            if is_spot(vm) && !stopped_by_aloft {
                InstanceStatus::Preempted
            } else {
                InstanceStatus::Stopped
            }
        }
        _ if provisioning == "failed" => InstanceStatus::Unknown,
        _ => InstanceStatus::Pending,
    }
}

/// The cluster's nodes in `group`, head first.
fn instances(
    sub: &str,
    group: &str,
    cluster: &str,
    settings: &BTreeMap<String, String>,
) -> Result<Vec<Instance>, ProviderError> {
    let vms = vms(sub, group)?;
    if vms.is_empty() {
        return Ok(Vec::new());
    }
    let nics = arm::list(
        &arm::url(
            sub,
            &in_group(group, "Microsoft.Network", "networkInterfaces"),
            NETWORK_API,
        ),
        "network interfaces",
    )?;
    let ips = arm::list(
        &arm::url(
            sub,
            &in_group(group, "Microsoft.Network", "publicIPAddresses"),
            NETWORK_API,
        ),
        "public IP addresses",
    )?;
    let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    let stopped = kv::get(&stop_note(group)).is_some();
    let user = ssh_user(settings);
    let mut found: Vec<(Role, Instance)> = Vec::new();
    for vm in &vms {
        let Some(role) = nodes::role_of(cluster, name(vm)) else {
            continue;
        };
        let nic_id = vm["properties"]["networkProfile"]["networkInterfaces"][0]["id"]
            .as_str()
            .unwrap_or_default();
        let config = nics
            .iter()
            .find(|n| same(n["id"].as_str().unwrap_or_default(), nic_id))
            .map(|n| n["properties"]["ipConfigurations"][0]["properties"].clone())
            .unwrap_or(Value::Null);
        let private_ip = config["privateIPAddress"].as_str().map(str::to_string);
        let ip_id = config["publicIPAddress"]["id"].as_str().unwrap_or_default();
        let public_ip = ips
            .iter()
            .find(|i| !ip_id.is_empty() && same(i["id"].as_str().unwrap_or_default(), ip_id))
            .and_then(|i| i["properties"]["ipAddress"].as_str())
            .map(str::to_string);
        found.push((
            role,
            Instance {
                id: name(vm).to_string(),
                is_head: role == Role::Head,
                status: status_of(vm, stopped),
                instance_type: vm["properties"]["hardwareProfile"]["vmSize"]
                    .as_str()
                    .filter(|s| is_name(s))
                    .unwrap_or_default()
                    .to_string(),
                zone: None,
                spot: is_spot(vm),
                public_ip,
                private_ip,
                ssh_port: 22,
                ssh_user: Some(user.clone()),
                extra: vm["tags"][HOST_KEY_TAG]
                    .as_str()
                    .map(|key| (settings::HOST_KEY.to_string(), key.to_string()))
                    .into_iter()
                    .collect(),
            },
        ));
    }
    found.sort_by_key(|(r, _)| *r);
    Ok(found.into_iter().map(|(_, i)| i).collect())
}

/// The VM body of one node.
#[allow(clippy::too_many_arguments)]
fn vm_body(
    req: &RunRequest,
    vm: &str,
    role: Role,
    nic_id: &str,
    image: &Value,
    user: &str,
    public_key: Option<&str>,
    host_key: Option<(&str, &str)>,
) -> Value {
    let mut linux = json!({"disablePasswordAuthentication": true});
    if let Some(key) = public_key {
        linux["ssh"] = json!({"publicKeys": [{
            "path": format!("/home/{user}/.ssh/authorized_keys"),
            "keyData": key,
        }]});
    }
    let mut os_disk = json!({
        "createOption": "FromImage",
        "deleteOption": "Delete",
        "managedDisk": {"storageAccountType": "Premium_LRS"},
    });
    if let Some(gib) = req.disk_size_gib {
        os_disk["diskSizeGB"] = json!(gib);
    }
    let mut properties = json!({
        "hardwareProfile": {"vmSize": req.instance_type},
        "storageProfile": {"imageReference": image, "osDisk": os_disk},
        "osProfile": {
            "computerName": vm,
            "adminUsername": user,
            "linuxConfiguration": linux,
        },
        "networkProfile": {"networkInterfaces": [{
            "id": nic_id,
            "properties": {"primary": true, "deleteOption": "Delete"},
        }]},
    });
    if req.use_spot {
        properties["priority"] = json!("Spot");
        properties["evictionPolicy"] = json!("Deallocate");
        // -1: pay up to the on-demand price, evicted only for capacity.
        properties["billingProfile"] = json!({"maxPrice": -1});
    }
    let role = match role {
        Role::Head => "head".to_string(),
        Role::Worker(n) => format!("worker-{n}"),
    };
    let mut tags = json!({CLUSTER_TAG: req.cluster.cluster, "aloft-role": role});
    // cloud-init installs the host key at first boot; the tag tells later
    // queries which key the VM was given.
    if let Some((private, public)) = host_key {
        use base64::Engine;
        properties["osProfile"]["customData"] = json!(
            base64::engine::general_purpose::STANDARD
                .encode(nodes::cloud_init_host_key(private, public))
        );
        let line: Vec<&str> = public.split_whitespace().take(2).collect();
        tags[HOST_KEY_TAG] = json!(line.join(" "));
    }
    json!({
        "location": req.cluster.region,
        "tags": tags,
        "properties": properties,
    })
}

/// Creates the cluster's missing nodes (and its network) and starts deallocated
/// ones; idempotent.
pub fn run(
    req: &RunRequest,
    settings: &BTreeMap<String, String>,
) -> Result<RunResult, ProviderError> {
    let region = req.cluster.region.as_str();
    let cluster = req.cluster.cluster.as_str();
    let here = |e: ProviderError| errors::in_zone(e, region, None);
    let host_key = settings::host_key(settings)?;
    if !is_name(region) {
        return Err(here(errors::unsupported(
            "UnknownRegion",
            "not an Azure region name (such as eastus)",
        )));
    }
    if !is_name(&req.instance_type) || !req.instance_type.starts_with("Standard_") {
        return Err(here(errors::unsupported(
            "UnknownSize",
            &format!(
                "{:?} is not an Azure VM size (such as Standard_NC24ads_A100_v4)",
                req.instance_type
            ),
        )));
    }
    if !is_cluster_name(cluster) {
        return Err(errors::invalid(
            "BadClusterName",
            "the cluster's name does not fit an Azure resource group name",
        ));
    }
    let sub = subscription(settings)?;
    let group = group_name(cluster, region);
    kv::delete(&stop_note(&group));
    let existing = vms(&sub, &group).map_err(here)?;
    let mine: Vec<(Role, &Value)> = existing
        .iter()
        .filter_map(|v| nodes::role_of(cluster, name(v)).map(|r| (r, v)))
        .collect();
    nodes::refuse_unlike(
        cluster,
        &req.instance_type,
        region,
        mine.iter().map(|(_, v)| nodes::Have {
            node: name(v),
            instance_type: v["properties"]["hardwareProfile"]["vmSize"].as_str(),
            region: None,
        }),
    )?;
    let roles: Vec<Role> = mine.iter().map(|(r, _)| *r).collect();
    let to_create = nodes::roles_to_launch(&roles, req.count);
    let mut created = Vec::new();
    let mut resumed = Vec::new();
    let mut ops = Vec::new();
    for (_, vm) in &mine {
        if matches!(power_state(vm).as_deref(), Some("deallocated" | "stopped")) {
            let path = in_group(
                &group,
                "Microsoft.Compute",
                &format!("virtualMachines/{}/start", name(vm)),
            );
            let answer = arm::call("POST", &arm::url(&sub, &path, COMPUTE_API), None, "start")
                .map_err(here)?;
            ops.extend(answer.operation);
            resumed.push(name(vm).to_string());
        }
    }
    if !to_create.is_empty() {
        let subnet = ensure_network(&sub, &group, region, cluster, &req.ports).map_err(here)?;
        let user = ssh_user(settings);
        let image = req
            .image_id
            .clone()
            .or_else(|| settings.get("image").cloned())
            .unwrap_or_else(|| default_image(&req.instance_type).to_string());
        let image = image_reference(&image)?;
        let key = req
            .ssh_public_key
            .as_deref()
            .map(str::trim)
            .filter(|k| !k.is_empty());
        let tags = json!({ CLUSTER_TAG: cluster });
        for role in to_create {
            let vm = nodes::name_of(cluster, role);
            let ip = in_group(
                &group,
                "Microsoft.Network",
                &format!("publicIPAddresses/{vm}-ip"),
            );
            let made = arm::call(
                "PUT",
                &arm::url(&sub, &ip, NETWORK_API),
                Some(&json!({
                    "location": region,
                    "tags": tags,
                    "sku": {"name": "Standard"},
                    "properties": {"publicIPAllocationMethod": "Static"},
                })),
                "public IP address",
            )
            .map_err(here)?;
            arm::finish(made).map_err(here)?;
            let nic = in_group(
                &group,
                "Microsoft.Network",
                &format!("networkInterfaces/{vm}-nic"),
            );
            let made = arm::call(
                "PUT",
                &arm::url(&sub, &nic, NETWORK_API),
                Some(&json!({
                    "location": region,
                    "tags": tags,
                    "properties": {"ipConfigurations": [{
                        "name": "ipconfig1",
                        "properties": {
                            "subnet": {"id": subnet},
                            "privateIPAllocationMethod": "Dynamic",
                            "publicIPAddress": {
                                "id": id_of(&sub, &ip),
                                "properties": {"deleteOption": "Delete"},
                            },
                        },
                    }]},
                })),
                "network interface",
            )
            .map_err(here)?;
            arm::finish(made).map_err(here)?;
            let path = in_group(
                &group,
                "Microsoft.Compute",
                &format!("virtualMachines/{vm}"),
            );
            let body = vm_body(
                req,
                &vm,
                role,
                &id_of(&sub, &nic),
                &image,
                &user,
                key,
                host_key,
            );
            let made = arm::call(
                "PUT",
                &arm::url(&sub, &path, COMPUTE_API),
                Some(&body),
                &format!("creating VM {vm}"),
            )
            .map_err(here)?;
            ops.extend(made.operation);
            created.push(vm);
        }
    }
    arm::wait_all(ops).map_err(here)?;
    Ok(RunResult {
        instances: instances(&sub, &group, cluster, settings)?,
        created,
        resumed,
    })
}

/// Every cluster's nodes, from its resource group.
pub fn query(
    clusters: &[ClusterRef],
    settings: &BTreeMap<String, String>,
) -> Result<Vec<ClusterInstances>, ProviderError> {
    let sub = subscription(settings)?;
    clusters
        .iter()
        .map(|c| {
            let found = if is_cluster_name(&c.cluster) && is_name(&c.region) {
                instances(
                    &sub,
                    &group_name(&c.cluster, &c.region),
                    &c.cluster,
                    settings,
                )?
            } else {
                Vec::new()
            };
            Ok(ClusterInstances {
                cluster: c.clone(),
                instances: found,
            })
        })
        .collect()
}

/// Deallocates the cluster's VMs (disks kept, compute no longer billed).
pub fn stop(
    cluster: &ClusterRef,
    settings: &BTreeMap<String, String>,
) -> Result<(), ProviderError> {
    if !is_cluster_name(&cluster.cluster) || !is_name(&cluster.region) {
        return Ok(());
    }
    let sub = subscription(settings)?;
    let group = group_name(&cluster.cluster, &cluster.region);
    // Noted first: a spot VM deallocated by this stop is not an eviction.
    kv::set(&stop_note(&group), "1");
    let mut ops = Vec::new();
    for vm in vms(&sub, &group)? {
        if nodes::role_of(&cluster.cluster, name(&vm)).is_none()
            || matches!(power_state(&vm).as_deref(), Some("deallocated"))
        {
            continue;
        }
        let path = in_group(
            &group,
            "Microsoft.Compute",
            &format!("virtualMachines/{}/deallocate", name(&vm)),
        );
        let answer = arm::call(
            "POST",
            &arm::url(&sub, &path, COMPUTE_API),
            None,
            "deallocate",
        )?;
        ops.extend(answer.operation);
    }
    arm::wait_all(ops).map(|_| ())
}

/// Deletes the cluster's resource group (everything in it), awaiting the
/// deletion; a group already gone is success.
pub fn terminate(
    cluster: &ClusterRef,
    settings: &BTreeMap<String, String>,
) -> Result<(), ProviderError> {
    if !is_cluster_name(&cluster.cluster) || !is_name(&cluster.region) {
        return Ok(());
    }
    let sub = subscription(settings)?;
    let group = group_name(&cluster.cluster, &cluster.region);
    let url = arm::url(&sub, &format!("resourcegroups/{group}"), RESOURCES_API);
    match arm::call("DELETE", &url, None, &format!("deleting {group}")) {
        Ok(answer) => {
            if let Some(op) = answer.operation
                && !arm::wait_all(vec![op])?
            {
                log::info(&format!("azure: {group} is still being deleted"));
            }
        }
        Err(e) if crate::classify::is_not_found(&e.code) || e.code == "Http404" => {}
        Err(e) => return Err(e),
    }
    kv::delete(&stop_note(&group));
    Ok(())
}

/// Opens `ports` on the cluster's network security group (a rule per range).
pub fn open_ports(
    cluster: &ClusterRef,
    ports: &[PortRange],
    settings: &BTreeMap<String, String>,
) -> Result<(), ProviderError> {
    if !is_cluster_name(&cluster.cluster) || !is_name(&cluster.region) {
        return Ok(());
    }
    let sub = subscription(settings)?;
    let group = group_name(&cluster.cluster, &cluster.region);
    let mut ops = Vec::new();
    // Past SSH (1000) and the launch's own rules.
    for (i, rule) in security_rules(ports).into_iter().skip(1).enumerate() {
        let mut rule = rule;
        rule["properties"]["priority"] = json!(2000 + i as u32);
        let path = in_group(
            &group,
            "Microsoft.Network",
            &format!(
                "networkSecurityGroups/{}-nsg/securityRules/{}",
                cluster.cluster,
                rule["name"].as_str().unwrap_or("port")
            ),
        );
        let answer = arm::call(
            "PUT",
            &arm::url(&sub, &path, NETWORK_API),
            Some(&json!({"properties": rule["properties"]})),
            "security rule",
        )?;
        ops.extend(answer.operation);
    }
    arm::wait_all(ops).map(|_| ())
}

/// Azure's regions aloft offers (no zones: nodes are placed regionally).
pub fn regions() -> Vec<Region> {
    offers::REGIONS
        .iter()
        .map(|r| Region {
            name: r.to_string(),
            zones: Vec::new(),
        })
        .collect()
}

/// Mints a token and lists one resource group: the principal can act on the
/// subscription.
pub fn identity(settings: &BTreeMap<String, String>) -> Result<Identity, ProviderError> {
    let sub = subscription(settings)?;
    arm::call(
        "GET",
        &arm::url(&sub, "resourcegroups?$top=1", RESOURCES_API),
        None,
        "resource groups",
    )?;
    let principal: String = auth::client_id()?.chars().take(100).collect();
    Ok(Identity {
        account: format!("service principal {principal} in subscription {sub}"),
        details: vec![
            ("tenant".to_string(), auth::tenant()?),
            ("subscription".to_string(), sub),
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spot_vms_deallocated_behind_aloft_read_as_preempted() {
        let vm = |priority: &str, power: &str| {
            json!({"name": "c-head", "properties": {"priority": priority,
                "provisioningState": "Succeeded",
                "instanceView": {"statuses": [
                    {"code": "ProvisioningState/succeeded"},
                    {"code": format!("PowerState/{power}")}]}}})
        };
        assert_eq!(
            status_of(&vm("Spot", "deallocated"), false),
            InstanceStatus::Preempted
        );
        assert_eq!(
            status_of(&vm("Spot", "deallocated"), true),
            InstanceStatus::Stopped
        );
        assert_eq!(
            status_of(&vm("Regular", "deallocated"), false),
            InstanceStatus::Stopped
        );
        assert_eq!(
            status_of(&vm("Regular", "running"), false),
            InstanceStatus::Running
        );
        assert_eq!(
            status_of(&json!({"properties": {}}), false),
            InstanceStatus::Pending
        );
    }

    #[test]
    fn rules_images_and_names() {
        let rules = security_rules(&[
            PortRange {
                start: 8080,
                end: 8080,
            },
            PortRange {
                start: 9000,
                end: 9010,
            },
        ]);
        let ranges: Vec<&str> = rules
            .iter()
            .map(|r| r["properties"]["destinationPortRange"].as_str().unwrap())
            .collect();
        assert_eq!(ranges, ["22", "8080", "9000-9010"]);
        assert_eq!(
            image_reference("Canonical:ubuntu-24_04-lts:server:latest").unwrap()["offer"],
            "ubuntu-24_04-lts"
        );
        assert!(image_reference("ubuntu").is_err());
        assert_eq!(group_name("t", "eastus"), "aloft-t-eastus");
        assert!(!is_name("east us"));
    }
}
