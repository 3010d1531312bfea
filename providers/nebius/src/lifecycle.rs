//! The verbs on Nebius's compute API (`compute.api.nebius.cloud`,
//! `nebius.compute.v1.InstanceService`).

use std::collections::BTreeMap;

use aloft_provider_sdk::nodes::{self, Have, Role};
use aloft_provider_sdk::types::{
    ClusterInstances, ClusterRef, Identity, Instance as Node, InstanceStatus, PortRange,
    ProviderError, Region, RunRequest, RunResult,
};
use aloft_provider_sdk::{errors, settings};

use crate::auth;
use crate::grpc::{self, CallError, code};
use crate::proto::{
    AttachedDiskSpec, CreateInstanceRequest, DiskSpec, Empty, IdRequest, Instance, InstanceSpec,
    ListInstancesRequest, ListInstancesResponse, ManagedDisk, NetworkInterfaceSpec, Operation,
    PreemptibleSpec, ResourceMetadata, ResourcesSpec, SecurityGroupRef, SourceImageFamily, state,
};
use crate::vpc;

/// The compute API's host.
pub const COMPUTE_HOST: &str = "compute.api.nebius.cloud";
/// The label naming an instance's cluster.
pub const CLUSTER_LABEL: &str = "aloft-cluster";
/// The label naming the SSH host key an instance was created with (cloud-init
/// installs it), in the SDK's label form (`nodes::host_key_label`: a label value
/// cannot hold the key line).
pub const HOST_KEY_LABEL: &str = "aloft-host-key";
/// The regions Nebius's catalog prices.
pub const REGIONS: &[&str] = &["eu-north1", "eu-west1", "us-central1"];
/// The boot image family when `image_family` is not set.
pub const DEFAULT_IMAGE_FAMILY: &str = "ubuntu22.04-cuda12";
/// The boot disk size when the task sets none.
const DEFAULT_DISK_GIB: i64 = 100;

const SERVICE: &str = "nebius.compute.v1.InstanceService";

/// A call of `method` (`nebius.vpc.v1.SubnetService/List`) on `host`, with a
/// token; a refused token is forgotten and the call made once more with a new one.
pub(crate) fn call<Q: prost::Message, R: prost::Message + Default>(
    host: &str,
    method: &str,
    request: &Q,
) -> Result<R, CallError> {
    let token = auth::token().map_err(CallError::Transport)?;
    match grpc::call(host, method, Some(&token), request) {
        Err(CallError::Status(s)) if s.code == code::UNAUTHENTICATED => {
            auth::forget();
            let token = auth::token().map_err(CallError::Transport)?;
            grpc::call(host, method, Some(&token), request)
        }
        other => other,
    }
}

/// A call on the instance service.
fn compute<Q: prost::Message, R: prost::Message + Default>(
    method: &str,
    request: &Q,
) -> Result<R, CallError> {
    call(COMPUTE_HOST, &format!("{SERVICE}/{method}"), request)
}

/// `<platform>_<preset>` (`gpu-h100-sxm_8gpu-128vcpu-1600gb`, the catalog's
/// instance types) split in two.
pub fn split_type(instance_type: &str) -> Result<(&str, &str), ProviderError> {
    instance_type
        .split_once('_')
        .filter(|(p, s)| !p.is_empty() && !s.is_empty())
        .ok_or_else(|| {
            errors::invalid(
                "InvalidInstanceType",
                &format!(
                    "`{instance_type}` is not a Nebius instance type (`<platform>_<preset>`, \
                     e.g. gpu-h100-sxm_8gpu-128vcpu-1600gb)"
                ),
            )
        })
}

/// The project instances of `region` go in: `project_id.<region>`, else
/// `project_id`.
pub(crate) fn project(
    settings: &BTreeMap<String, String>,
    region: &str,
) -> Result<String, ProviderError> {
    settings
        .get(&format!("project_id.{region}"))
        .or_else(|| settings.get("project_id"))
        .filter(|p| !p.is_empty())
        .cloned()
        .ok_or_else(|| {
            errors::invalid(
                "NoProject",
                "set providers.nebius.project_id (the project instances are created in; \
                 project_id.<region> for a region's own project)",
            )
        })
}

/// Every instance of `project`.
fn list(project: &str) -> Result<Vec<Instance>, ProviderError> {
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let page: ListInstancesResponse = compute(
            "List",
            &ListInstancesRequest {
                parent_id: project.to_string(),
                page_size: 100,
                page_token: page_token.clone(),
            },
        )
        .map_err(|e| e.into_error("list instances"))?;
        all.extend(page.items);
        if page.next_page_token.is_empty() || page.next_page_token == page_token {
            return Ok(all);
        }
        page_token = page.next_page_token;
    }
}

/// `cluster`'s instances among `all`, with their roles.
fn members<'a>(all: &'a [Instance], cluster: &str) -> Vec<(Role, &'a Instance)> {
    all.iter()
        .filter_map(|i| {
            let m = i.metadata.as_ref()?;
            if m.labels.get(CLUSTER_LABEL).map(String::as_str) != Some(cluster) {
                return None;
            }
            Some((nodes::role_of(cluster, &m.name)?, i))
        })
        .collect()
}

fn state_of(i: &Instance) -> i32 {
    i.status.as_ref().map_or(0, |s| s.state)
}

fn type_of(i: &Instance) -> Option<String> {
    let r = i.spec.as_ref()?.resources.as_ref()?;
    Some(format!("{}_{}", r.platform, r.preset.as_deref()?))
}

/// An address without its prefix length (`1.2.3.4/32`).
fn bare(address: &str) -> Option<String> {
    let a = address.split('/').next().unwrap_or_default().trim();
    (!a.is_empty()).then(|| a.to_string())
}

fn node(role: Role, i: &Instance, ssh_user: &str) -> Node {
    let status = match state_of(i) {
        state::RUNNING => InstanceStatus::Running,
        state::CREATING | state::STARTING | state::UPDATING => InstanceStatus::Pending,
        state::STOPPING => InstanceStatus::Stopping,
        state::STOPPED => InstanceStatus::Stopped,
        state::DELETING => InstanceStatus::Terminating,
        _ => InstanceStatus::Unknown,
    };
    let nic = i.status.as_ref().and_then(|s| s.network_interfaces.first());
    let public_ip = nic
        .and_then(|n| n.public_ip_address.as_ref())
        .and_then(|a| bare(&a.address));
    let private_ip = nic
        .and_then(|n| n.ip_address.as_ref())
        .and_then(|a| bare(&a.address));
    Node {
        id: i
            .metadata
            .as_ref()
            .map(|m| m.id.clone())
            .unwrap_or_default(),
        is_head: role == Role::Head,
        status,
        instance_type: type_of(i).unwrap_or_default(),
        zone: None,
        spot: i.spec.as_ref().is_some_and(|s| s.preemptible.is_some()),
        public_ip,
        private_ip,
        ssh_port: 22,
        ssh_user: Some(ssh_user.to_string()),
        extra: i
            .metadata
            .as_ref()
            .and_then(|m| m.labels.get(HOST_KEY_LABEL))
            .and_then(|v| nodes::host_key_of_label(v))
            .map(|key| (settings::HOST_KEY.to_string(), key))
            .into_iter()
            .collect(),
    }
}

fn ssh_user(settings: &BTreeMap<String, String>) -> String {
    settings
        .get("ssh_user")
        .filter(|u| !u.is_empty())
        .cloned()
        .unwrap_or_else(|| "ubuntu".into())
}

/// The cloud-init user data that authorizes `key` for `user`, and with
/// `host_key` (private, public) makes the node answer SSH with that host key.
fn cloud_init(user: &str, key: Option<&str>, host_key: Option<(&str, &str)>) -> String {
    let mut out = format!(
        "#cloud-config\nusers:\n  - name: {user}\n    sudo: ALL=(ALL) NOPASSWD:ALL\n    shell: /bin/bash\n"
    );
    if let Some(key) = key {
        out.push_str(&format!(
            "    ssh_authorized_keys:\n      - {}\n",
            key.trim()
        ));
    }
    if let Some((private, public)) = host_key {
        // One document: the SDK's `ssh_keys` part without its own header.
        let document = nodes::cloud_init_host_key(private, public);
        out.push_str(
            document
                .strip_prefix("#cloud-config\n")
                .unwrap_or(&document),
        );
    }
    out
}

/// The regions.
pub fn regions() -> Vec<Region> {
    REGIONS
        .iter()
        .map(|r| Region {
            name: r.to_string(),
            zones: Vec::new(),
        })
        .collect()
}

/// The credentials work: a token is minted and the project listed.
pub fn check_credentials(settings: &BTreeMap<String, String>) -> Result<Identity, ProviderError> {
    let principal = auth::principal()?;
    let project = project(settings, REGIONS[0])?;
    let _: ListInstancesResponse = compute(
        "List",
        &ListInstancesRequest {
            parent_id: project.clone(),
            page_size: 1,
            page_token: String::new(),
        },
    )
    .map_err(|e| e.into_error("list instances"))?;
    Ok(Identity {
        account: principal,
        details: vec![("project".into(), project)],
    })
}

/// Creates (or starts) the cluster's missing nodes.
pub fn run(
    req: &RunRequest,
    settings: &BTreeMap<String, String>,
) -> Result<RunResult, ProviderError> {
    let cluster = &req.cluster.cluster;
    let region = &req.cluster.region;
    let (platform, preset) = split_type(&req.instance_type)?;
    let project = project(settings, region)?;
    let user = ssh_user(settings);
    let host_key = settings::host_key(settings)?;
    let host_key_label = match host_key {
        Some((_, public)) => Some(nodes::host_key_label(public).ok_or_else(|| {
            errors::invalid(
                "InvalidSetting",
                &format!("{} is not an ed25519 public key", settings::HOST_KEY_PUBLIC),
            )
        })?),
        None => None,
    };
    let all = list(&project)?;
    let have = members(&all, cluster);
    nodes::refuse_unlike(
        cluster,
        &req.instance_type,
        region,
        have.iter().map(|(_, i)| Have {
            node: i.metadata.as_ref().map_or("", |m| m.name.as_str()),
            instance_type: None,
            region: None,
        }),
    )?;
    if let Some((_, other)) = have
        .iter()
        .find(|(_, i)| type_of(i).is_some_and(|t| t != req.instance_type))
    {
        return Err(errors::invalid(
            "ClusterExists",
            &format!(
                "cluster {cluster} already has node {} of type {}; a cluster's nodes are all \
                 of one type: launch it with that type, or take it down first",
                other.metadata.as_ref().map_or("", |m| m.name.as_str()),
                type_of(other).unwrap_or_default()
            ),
        ));
    }
    let mut resumed = Vec::new();
    for (_, i) in &have {
        if matches!(state_of(i), state::STOPPED | state::STOPPING) {
            let id = i
                .metadata
                .as_ref()
                .map(|m| m.id.clone())
                .unwrap_or_default();
            let op: Operation = compute("Start", &IdRequest { id: id.clone() })
                .map_err(|e| errors::in_zone(e.into_error("start instance"), region, None))?;
            operation_ok(&op, "start instance", region)?;
            resumed.push(id);
        }
    }
    let roles: Vec<Role> = have.iter().map(|(r, _)| *r).collect();
    let to_launch = nodes::roles_to_launch(&roles, req.count);
    // The subnet (found in the project when not set) and, for a task with
    // ports, the cluster's security group: only when a node is to be made.
    let mut subnet = String::new();
    let mut security_groups = Vec::new();
    if !to_launch.is_empty() {
        let here = |e| errors::in_zone(e, region, None);
        let choice = vpc::subnet(settings, &project, !req.ports.is_empty()).map_err(here)?;
        if !req.ports.is_empty() {
            let id = vpc::ensure_group(&project, cluster, &choice.network_id, &req.ports)
                .map_err(here)?;
            security_groups.push(SecurityGroupRef { id });
        }
        subnet = choice.id;
    }
    let mut created = Vec::new();
    for role in to_launch {
        let name = nodes::name_of(cluster, role);
        let mut labels = std::collections::HashMap::new();
        labels.insert(CLUSTER_LABEL.to_string(), cluster.clone());
        for (k, v) in &req.labels {
            labels.insert(k.clone(), v.clone());
        }
        // cloud-init installs the host key at first boot; the label tells later
        // queries which key the instance was given.
        if let Some(value) = &host_key_label {
            labels.insert(HOST_KEY_LABEL.to_string(), value.clone());
        }
        let family = settings
            .get("image_family")
            .cloned()
            .unwrap_or_else(|| DEFAULT_IMAGE_FAMILY.into());
        let (source_image_id, source_image_family) = match &req.image_id {
            Some(id) => (Some(id.clone()), None),
            None => (
                None,
                Some(SourceImageFamily {
                    image_family: family,
                }),
            ),
        };
        let request = CreateInstanceRequest {
            metadata: Some(ResourceMetadata {
                parent_id: project.clone(),
                name: name.clone(),
                labels,
                ..Default::default()
            }),
            spec: Some(InstanceSpec {
                resources: Some(ResourcesSpec {
                    platform: platform.to_string(),
                    preset: Some(preset.to_string()),
                }),
                network_interfaces: vec![NetworkInterfaceSpec {
                    subnet_id: subnet.clone(),
                    name: "eth0".into(),
                    ip_address: Some(Empty {}),
                    public_ip_address: Some(Empty {}),
                    security_groups: security_groups.clone(),
                }],
                boot_disk: Some(AttachedDiskSpec {
                    attach_mode: 2,
                    managed_disk: Some(ManagedDisk {
                        name: format!("{name}-boot"),
                        spec: Some(DiskSpec {
                            size_gibibytes: Some(
                                req.disk_size_gib.map_or(DEFAULT_DISK_GIB, i64::from),
                            ),
                            r#type: 1,
                            source_image_id,
                            source_image_family,
                        }),
                    }),
                }),
                cloud_init_user_data: cloud_init(&user, req.ssh_public_key.as_deref(), host_key),
                stopped: false,
                preemptible: req.use_spot.then_some(PreemptibleSpec {
                    on_preemption: 1,
                    priority: 3,
                }),
                hostname: name.clone(),
            }),
        };
        let op: Operation = compute("Create", &request)
            .map_err(|e| errors::in_zone(e.into_error("create instance"), region, None))?;
        operation_ok(&op, "create instance", region)?;
        created.push(op.resource_id.clone());
    }
    let all = list(&project)?;
    let instances = members(&all, cluster)
        .into_iter()
        .map(|(role, i)| node(role, i, &user))
        .collect();
    Ok(RunResult {
        instances,
        created,
        resumed,
    })
}

/// An operation answered with a failed status is that status's error.
fn operation_ok(op: &Operation, what: &str, region: &str) -> Result<(), ProviderError> {
    match &op.status {
        Some(s) if s.code != code::OK => Err(errors::in_zone(
            grpc::to_error(
                &grpc::Status {
                    code: s.code,
                    message: s.message.clone(),
                },
                what,
            ),
            region,
            None,
        )),
        _ => Ok(()),
    }
}

/// The instances of each cluster (one listing per project).
pub fn query(
    clusters: &[ClusterRef],
    settings: &BTreeMap<String, String>,
) -> Result<Vec<ClusterInstances>, ProviderError> {
    let user = ssh_user(settings);
    let mut listings: BTreeMap<String, Vec<Instance>> = BTreeMap::new();
    let mut out = Vec::new();
    for c in clusters {
        let project = project(settings, &c.region)?;
        if !listings.contains_key(&project) {
            listings.insert(project.clone(), list(&project)?);
        }
        let all = listings
            .get(&project)
            .map(Vec::as_slice)
            .unwrap_or_default();
        out.push(ClusterInstances {
            cluster: c.clone(),
            instances: members(all, &c.cluster)
                .into_iter()
                .filter(|(_, i)| state_of(i) != state::DELETING)
                .map(|(role, i)| node(role, i, &user))
                .collect(),
        });
    }
    Ok(out)
}

/// Calls `method` on every node of `cluster` whose state `wanted` accepts;
/// `NOT_FOUND` (gone meanwhile) is done.
fn each(
    cluster: &ClusterRef,
    settings: &BTreeMap<String, String>,
    method: &str,
    what: &str,
    wanted: impl Fn(i32) -> bool,
) -> Result<(), ProviderError> {
    let project = project(settings, &cluster.region)?;
    let all = list(&project)?;
    for (_, i) in members(&all, &cluster.cluster) {
        if !wanted(state_of(i)) {
            continue;
        }
        let id = i
            .metadata
            .as_ref()
            .map(|m| m.id.clone())
            .unwrap_or_default();
        match compute::<_, Operation>(method, &IdRequest { id }) {
            Ok(op) => operation_ok(&op, what, &cluster.region)?,
            Err(CallError::Status(s)) if s.code == code::NOT_FOUND => {}
            Err(e) => return Err(e.into_error(what)),
        }
    }
    Ok(())
}

/// Stops the cluster's nodes (disks kept).
pub fn stop(
    cluster: &ClusterRef,
    settings: &BTreeMap<String, String>,
) -> Result<(), ProviderError> {
    each(cluster, settings, "Stop", "stop instance", |s| {
        !matches!(s, state::STOPPED | state::STOPPING | state::DELETING)
    })
}

/// Deletes the cluster's nodes (their managed boot disks go with them), then its
/// security group.
pub fn terminate(
    cluster: &ClusterRef,
    settings: &BTreeMap<String, String>,
) -> Result<(), ProviderError> {
    each(cluster, settings, "Delete", "delete instance", |s| {
        s != state::DELETING
    })?;
    let project = project(settings, &cluster.region)?;
    vpc::delete_groups(&project, &cluster.cluster)
}

/// Opens `ports` on the cluster's security group. Nebius attaches security
/// groups when an instance is made, so a cluster launched without ports (no
/// group) cannot open any: that is unsupported.
pub fn open_ports(
    cluster: &ClusterRef,
    ports: &[PortRange],
    settings: &BTreeMap<String, String>,
) -> Result<(), ProviderError> {
    if ports.is_empty() {
        return Ok(());
    }
    let project = project(settings, &cluster.region)?;
    if vpc::group_id(&project, &cluster.cluster)?.is_none() {
        return Err(errors::unsupported(
            "NoSecurityGroup",
            &format!(
                "cluster {} was launched without ports: Nebius attaches security groups \
                 when instances are made, so launch it with its ports",
                cluster.cluster
            ),
        ));
    }
    vpc::ensure_group(&project, &cluster.cluster, "", ports).map(|_| ())
}

/// Deletes the cluster's security group (after its instances are gone).
pub fn cleanup_ports(
    cluster: &ClusterRef,
    settings: &BTreeMap<String, String>,
) -> Result<(), ProviderError> {
    let project = project(settings, &cluster.region)?;
    vpc::delete_groups(&project, &cluster.cluster)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{IpAddressStatus, NetworkInterfaceStatus};

    fn instance(name: &str, cluster: &str, state: i32) -> Instance {
        let mut labels = std::collections::HashMap::new();
        labels.insert(CLUSTER_LABEL.to_string(), cluster.to_string());
        Instance {
            metadata: Some(ResourceMetadata {
                id: format!("computeinstance-{name}"),
                name: name.into(),
                labels,
                ..Default::default()
            }),
            spec: Some(InstanceSpec {
                resources: Some(ResourcesSpec {
                    platform: "gpu-h100-sxm".into(),
                    preset: Some("1gpu-16vcpu-200gb".into()),
                }),
                ..Default::default()
            }),
            status: Some(crate::proto::InstanceStatus {
                state,
                network_interfaces: vec![NetworkInterfaceStatus {
                    ip_address: Some(IpAddressStatus {
                        address: "10.0.0.5/32".into(),
                    }),
                    public_ip_address: Some(IpAddressStatus {
                        address: "203.0.113.7/32".into(),
                    }),
                }],
                reconciling: false,
            }),
        }
    }

    #[test]
    fn types_split_at_the_first_underscore_and_bad_ones_are_invalid() {
        assert_eq!(
            split_type("gpu-h100-sxm_8gpu-128vcpu-1600gb").unwrap(),
            ("gpu-h100-sxm", "8gpu-128vcpu-1600gb")
        );
        for bad in ["gpu-h100-sxm", "_8gpu", "gpu_"] {
            assert_eq!(split_type(bad).unwrap_err().code, "InvalidInstanceType");
        }
    }

    #[test]
    fn members_are_the_cluster_s_labelled_nodes_by_role_with_bare_addresses() {
        let all = vec![
            instance("nb-head", "nb", state::RUNNING),
            instance("nb-worker-1", "nb", state::STOPPED),
            // Another cluster whose name starts like this one's.
            instance("nb-worker-head", "nb-worker", state::RUNNING),
            // The right name without the label is not ours.
            instance("nb-worker-2", "other", state::RUNNING),
        ];
        let found = members(&all, "nb");
        let roles: Vec<Role> = found.iter().map(|(r, _)| *r).collect();
        assert_eq!(roles, [Role::Head, Role::Worker(1)]);
        let head = node(found[0].0, found[0].1, "ubuntu");
        assert!(head.is_head);
        assert_eq!(head.status, InstanceStatus::Running);
        assert_eq!(head.instance_type, "gpu-h100-sxm_1gpu-16vcpu-200gb");
        assert_eq!(head.public_ip.as_deref(), Some("203.0.113.7"));
        assert_eq!(head.private_ip.as_deref(), Some("10.0.0.5"));
        assert_eq!(
            node(found[1].0, found[1].1, "ubuntu").status,
            InstanceStatus::Stopped
        );
    }

    #[test]
    fn cloud_init_creates_the_user_with_the_cluster_key() {
        let data = cloud_init("ubuntu", Some("ssh-ed25519 AAAAkey aloft\n"), None);
        assert!(data.starts_with("#cloud-config\n"));
        assert!(data.contains("  - name: ubuntu\n"));
        assert!(data.contains("      - ssh-ed25519 AAAAkey aloft\n"));
        assert!(!cloud_init("ubuntu", None, None).contains("ssh_authorized_keys"));
        assert!(!data.contains("ssh_keys"));
    }

    #[test]
    fn cloud_init_with_a_host_key_is_one_document_with_the_user_and_the_key_pair() {
        let private = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEA\nAAAEbm9uZQ==\n-----END OPENSSH PRIVATE KEY-----\n";
        let public = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDgFmdu7iw+MOrLtDD2V+FVKPxmiLhVH1ev5JVPB+mMR aloft";
        let data = cloud_init(
            "ubuntu",
            Some("ssh-ed25519 AAAAkey aloft"),
            Some((private, public)),
        );
        assert!(data.starts_with("#cloud-config\n"), "{data}");
        assert_eq!(data.matches("#cloud-config").count(), 1, "{data}");
        let parsed: serde_yaml::Value = serde_yaml::from_str(&data).unwrap();
        assert_eq!(parsed["users"][0]["name"].as_str(), Some("ubuntu"));
        assert_eq!(
            parsed["users"][0]["ssh_authorized_keys"][0].as_str(),
            Some("ssh-ed25519 AAAAkey aloft")
        );
        assert_eq!(
            parsed["ssh_keys"]["ed25519_private"].as_str(),
            Some(private)
        );
        assert_eq!(parsed["ssh_keys"]["ed25519_public"].as_str(), Some(public));
    }

    #[test]
    fn an_instance_labelled_with_a_host_key_reports_it_and_one_without_does_not() {
        let public =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDgFmdu7iw+MOrLtDD2V+FVKPxmiLhVH1ev5JVPB+mMR";
        let mut labels = std::collections::HashMap::new();
        labels.insert(CLUSTER_LABEL.to_string(), "c".to_string());
        let bare = Instance {
            metadata: Some(ResourceMetadata {
                labels: labels.clone(),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(node(Role::Head, &bare, "ubuntu").extra.is_empty());
        labels.insert(
            HOST_KEY_LABEL.to_string(),
            nodes::host_key_label(public).unwrap(),
        );
        let keyed = Instance {
            metadata: Some(ResourceMetadata {
                labels,
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            node(Role::Head, &keyed, "ubuntu").extra,
            vec![(settings::HOST_KEY.to_string(), public.to_string())]
        );
    }
}
