//! The provider's verbs over OCI's API: a cluster's network (VCN, internet
//! gateway, route table, security list, subnet), its instances by role in one
//! availability domain (each domain tried in turn when OCI is out of host
//! capacity), stop/start by instance action, terminate (instances, then the
//! network), and the catalog of GPU shapes.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use aloft_provider_sdk::nodes;
use aloft_provider_sdk::types::{
    ClusterInstances, ClusterRef, ErrorKind, Identity, Instance as WitInstance, InstanceStatus,
    PortRange, ProviderError, Region, RunRequest, RunResult,
};
use aloft_provider_sdk::{errors, kv, log, settings};

use crate::api::{Ctx, Service, enc, is_not_found};
use crate::model::{self, CLUSTER_TAG, Instance, Resource, Role, Vnic, VnicAttachment};

/// How long stop and terminate wait for instances to stop or be gone.
const TERMINATE_WAIT_SECS: u64 = 45;

/// Where the ids of the instances aloft terminated for `cluster` are noted: any
/// other instance of the cluster found terminated was preempted (or removed
/// behind aloft's back).
fn gone_key(region: &str, cluster: &str) -> String {
    format!("terminated/{region}/{cluster}")
}

fn terminated_by_us(region: &str, cluster: &str) -> Vec<String> {
    kv::get(&gone_key(region, cluster))
        .and_then(|v| serde_json::from_str(&v).ok())
        .unwrap_or_default()
}

/// The most terminated ids kept per cluster (the newest).
const GONE_KEPT: usize = 200;

fn tags(cluster: &str) -> Value {
    json!({ CLUSTER_TAG: cluster })
}

/// Every instance of the compartment in `region` (terminated ones included).
fn all_instances(ctx: &Ctx, region: &str) -> Result<Vec<Instance>, ProviderError> {
    ctx.list(
        Service::Iaas,
        region,
        &format!(
            "/instances?compartmentId={}&limit=100",
            enc(&ctx.compartment)
        ),
    )
}

/// The cluster's VCN.
fn find_vcn(ctx: &Ctx, region: &str, cluster: &str) -> Result<Option<Resource>, ProviderError> {
    let vcns: Vec<Resource> = ctx.list(
        Service::Iaas,
        region,
        &format!(
            "/vcns?compartmentId={}&displayName={}",
            enc(&ctx.compartment),
            enc(&model::network_name(cluster))
        ),
    )?;
    Ok(vcns.into_iter().find(|v| v.is_of(cluster)))
}

/// The cluster's `kind` resources (`subnets`, `routeTables`, ...) in `vcn`.
fn in_vcn(
    ctx: &Ctx,
    region: &str,
    kind: &str,
    vcn: &str,
    cluster: &str,
) -> Result<Vec<Resource>, ProviderError> {
    let all: Vec<Resource> = ctx.list(
        Service::Iaas,
        region,
        &format!(
            "/{kind}?compartmentId={}&vcnId={}",
            enc(&ctx.compartment),
            enc(vcn)
        ),
    )?;
    Ok(all.into_iter().filter(|r| r.is_of(cluster)).collect())
}

/// The cluster's subnet, making its VCN, internet gateway, route table, security
/// list and subnet where missing (each found again by name, so a launch killed
/// half-way is finished, not repeated).
fn ensure_network(
    ctx: &Ctx,
    region: &str,
    cluster: &str,
    ports: &[PortRange],
) -> Result<String, ProviderError> {
    let name = model::network_name(cluster);
    let base = |extra: Value| {
        let mut body = json!({
            "compartmentId": ctx.compartment,
            "displayName": name,
            "freeformTags": tags(cluster),
        });
        if let (Some(b), Value::Object(e)) = (body.as_object_mut(), extra) {
            b.extend(e);
        }
        body
    };
    let vcn = match find_vcn(ctx, region, cluster)? {
        Some(v) => v.id,
        None => {
            let made: Resource = ctx.post(
                region,
                "/vcns",
                &base(json!({"cidrBlocks": [model::VCN_CIDR]})),
            )?;
            made.id
        }
    };
    let first = |kind: &str| -> Result<Option<String>, ProviderError> {
        Ok(in_vcn(ctx, region, kind, &vcn, cluster)?
            .into_iter()
            .next()
            .map(|r| r.id))
    };
    let gateway = match first("internetGateways")? {
        Some(id) => id,
        None => {
            let made: Resource = ctx.post(
                region,
                "/internetGateways",
                &base(json!({"vcnId": vcn, "isEnabled": true})),
            )?;
            made.id
        }
    };
    let routes = match first("routeTables")? {
        Some(id) => id,
        None => {
            let made: Resource = ctx.post(
                region,
                "/routeTables",
                &base(json!({"vcnId": vcn, "routeRules": [{
                    "destination": "0.0.0.0/0",
                    "destinationType": "CIDR_BLOCK",
                    "networkEntityId": gateway,
                }]})),
            )?;
            made.id
        }
    };
    let security = match first("securityLists")? {
        Some(id) => id,
        None => {
            let made: Resource = ctx.post(
                region,
                "/securityLists",
                &base(json!({
                    "vcnId": vcn,
                    "ingressSecurityRules": model::ingress_rules(ports),
                    "egressSecurityRules": model::egress_rules(),
                })),
            )?;
            made.id
        }
    };
    match first("subnets")? {
        Some(id) => Ok(id),
        None => {
            let made: Resource = ctx.post(
                region,
                "/subnets",
                &base(json!({
                    "vcnId": vcn,
                    "cidrBlock": model::SUBNET_CIDR,
                    "routeTableId": routes,
                    "securityListIds": [security],
                    "prohibitPublicIpOnVnic": false,
                })),
            )?;
            Ok(made.id)
        }
    }
}

/// The availability domains of `region` (names such as `Uocm:US-ASHBURN-AD-1`),
/// only the one matching `zone` when the request names one.
fn availability_domains(
    ctx: &Ctx,
    region: &str,
    zone: Option<&str>,
) -> Result<Vec<String>, ProviderError> {
    #[derive(Deserialize)]
    struct Ad {
        name: String,
    }
    let ads: Vec<Ad> = ctx.get(
        Service::Identity,
        region,
        &format!("/availabilityDomains?compartmentId={}", enc(&ctx.tenancy)),
    )?;
    let names: Vec<String> = ads
        .into_iter()
        .map(|a| a.name)
        .filter(|n| zone.is_none_or(|z| n == z || n.ends_with(&format!(":{z}")) || n.ends_with(z)))
        .collect();
    if names.is_empty() {
        return Err(errors::unsupported(
            "UnknownAvailabilityDomain",
            &format!(
                "no availability domain {} in {region}",
                zone.unwrap_or("at all")
            ),
        ));
    }
    Ok(names)
}

/// The image to boot: the request's, the `image_id` setting, else the newest
/// Canonical Ubuntu 22.04 image for `shape` in `region` (remembered).
fn image(
    ctx: &Ctx,
    req: &RunRequest,
    settings: &BTreeMap<String, String>,
) -> Result<String, ProviderError> {
    if let Some(id) = req
        .image_id
        .clone()
        .or_else(|| settings.get("image_id").cloned())
    {
        return Ok(id);
    }
    let region = req.cluster.region.as_str();
    let key = format!("image/{region}/{}", req.instance_type);
    if let Some(id) = kv::get(&key) {
        return Ok(id);
    }
    let found: Vec<Resource> = ctx.get(
        Service::Iaas,
        region,
        &format!(
            "/images?compartmentId={}&operatingSystem={}&operatingSystemVersion=22.04&shape={}\
             &sortBy=TIMECREATED&sortOrder=DESC&limit=1",
            enc(&ctx.compartment),
            enc("Canonical Ubuntu"),
            enc(&req.instance_type)
        ),
    )?;
    let id = found.into_iter().next().map(|i| i.id).ok_or_else(|| {
        errors::unsupported(
            "NoImage",
            &format!(
                "no Canonical Ubuntu 22.04 image for {} in {region}: name one with \
                 `image_id`",
                req.instance_type
            ),
        )
    })?;
    kv::set(&key, &id);
    Ok(id)
}

/// Posts an instance action (`STOP`, `START`); "already in that state" answers are
/// success.
fn action(ctx: &Ctx, region: &str, id: &str, action: &str) -> Result<(), ProviderError> {
    // No body: InstancePowerActionDetails is optional (and only for resets).
    let answer = ctx.send(
        Service::Iaas,
        region,
        "POST",
        &format!("/instances/{}?action={action}", enc(id)),
        None,
    );
    match answer {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) || e.code == "IncorrectState" => {
            log::debug(&format!("oci: {action} of {id}: {}", e.message));
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Creates the cluster's missing instances (its network first) and starts stopped
/// ones.
pub fn run(
    req: &RunRequest,
    settings: &BTreeMap<String, String>,
) -> Result<RunResult, ProviderError> {
    let ctx = Ctx::load(settings)?;
    let host_key = settings::host_key(settings)?;
    let region = req.cluster.region.as_str();
    let cluster = req.cluster.cluster.as_str();
    let here = |e: ProviderError| {
        if e.region.is_some() {
            e
        } else {
            errors::in_zone(e, region, None)
        }
    };
    if !model::is_shape(&req.instance_type) {
        return Err(here(errors::unsupported(
            "UnknownShape",
            &format!(
                "{:?} is not an OCI shape (such as VM.GPU.A10.1)",
                req.instance_type
            ),
        )));
    }
    let existing = model::members(&all_instances(&ctx, region).map_err(here)?, cluster);
    nodes::refuse_unlike(
        cluster,
        &req.instance_type,
        region,
        existing.iter().map(|(_, i)| nodes::Have {
            node: &i.display_name,
            instance_type: Some(&i.shape),
            region: None,
        }),
    )?;
    let roles: Vec<Role> = existing.iter().map(|(r, _)| *r).collect();
    let to_create = model::roles_to_launch(&roles, req.count);
    // The network first: an instance is never up without its security list.
    let subnet = ensure_network(&ctx, region, cluster, &req.ports).map_err(here)?;
    let mut resumed = Vec::new();
    for (_, i) in &existing {
        if matches!(i.lifecycle_state.as_str(), "STOPPED" | "STOPPING") {
            action(&ctx, region, &i.id, "START")
                .map_err(|e| errors::in_zone(e, region, Some(&i.availability_domain)))?;
            resumed.push(i.id.clone());
        }
    }
    let mut created = Vec::new();
    if !to_create.is_empty() {
        // A cluster's nodes share one availability domain: the one it has, else
        // each in turn while OCI is out of host capacity.
        let ads = match existing.first() {
            Some((_, i)) => vec![i.availability_domain.clone()],
            None => {
                availability_domains(&ctx, region, req.cluster.zone.as_deref()).map_err(here)?
            }
        };
        let image = image(&ctx, req, settings).map_err(here)?;
        let mut refused = Vec::new();
        for ad in &ads {
            let launched = launch_all(
                &ctx,
                req,
                ad,
                &subnet,
                &image,
                &to_create,
                host_key,
                &mut created,
            );
            match launched {
                Ok(()) => {
                    refused.clear();
                    break;
                }
                Err(e) if e.kind == ErrorKind::Capacity && created.is_empty() => {
                    refused.push(format!("{ad}: {}", e.message));
                }
                Err(e) => return Err(errors::in_zone(e, region, Some(ad))),
            }
        }
        if !refused.is_empty() {
            return Err(here(errors::capacity(
                "OutOfHostCapacity",
                &format!(
                    "OCI is out of host capacity for {} in every availability domain of \
                     {region} ({})",
                    req.instance_type,
                    refused.join("; ")
                ),
            )));
        }
    }
    let members = model::members(&all_instances(&ctx, region).map_err(here)?, cluster);
    Ok(RunResult {
        instances: to_instances(&ctx, region, &members, settings)?,
        created,
        resumed,
    })
}

/// Launches `roles` in `ad` (given `host_key`, the host key pair, when aloft
/// made one), pushing each new id to `created`.
#[allow(clippy::too_many_arguments)]
fn launch_all(
    ctx: &Ctx,
    req: &RunRequest,
    ad: &str,
    subnet: &str,
    image: &str,
    roles: &[Role],
    host_key: Option<(&str, &str)>,
    created: &mut Vec<String>,
) -> Result<(), ProviderError> {
    let cluster = req.cluster.cluster.as_str();
    for role in roles {
        let mut source = json!({"sourceType": "image", "imageId": image});
        if let Some(gib) = req.disk_size_gib {
            source["bootVolumeSizeInGBs"] = json!(gib.max(50));
        }
        let mut body = json!({
            "availabilityDomain": ad,
            "compartmentId": ctx.compartment,
            "shape": req.instance_type,
            "displayName": model::name_of(cluster, *role),
            "freeformTags": tags(cluster),
            "sourceDetails": source,
            "createVnicDetails": {"subnetId": subnet, "assignPublicIp": true},
        });
        if let Some(key) = req
            .ssh_public_key
            .as_deref()
            .map(str::trim)
            .filter(|k| !k.is_empty())
        {
            body["metadata"] = json!({"ssh_authorized_keys": key});
        }
        // cloud-init installs the host key at first boot; the tag tells later
        // queries which key the instance was given.
        if let Some((private, public)) = host_key {
            use base64::Engine;
            body["metadata"]["user_data"] = json!(
                base64::engine::general_purpose::STANDARD
                    .encode(nodes::cloud_init_host_key(private, public))
            );
            let line: Vec<&str> = public.split_whitespace().take(2).collect();
            body["freeformTags"][model::HOST_KEY_TAG] = json!(line.join(" "));
        }
        if req.use_spot {
            body["preemptibleInstanceConfig"] =
                json!({"preemptionAction": {"type": "TERMINATE", "preserveBootVolume": false}});
        }
        let made: Instance = ctx.post(&req.cluster.region, "/instances", &body)?;
        created.push(made.id);
    }
    Ok(())
}

/// The addresses of a running or stopped instance, from its primary VNIC.
fn vnic_of(ctx: &Ctx, region: &str, instance: &Instance) -> Result<Vnic, ProviderError> {
    let attachments: Vec<VnicAttachment> = ctx.list(
        Service::Iaas,
        region,
        &format!(
            "/vnicAttachments?compartmentId={}&instanceId={}",
            enc(&ctx.compartment),
            enc(&instance.id)
        ),
    )?;
    let Some(vnic) = attachments
        .iter()
        .filter(|a| a.instance_id == instance.id && a.lifecycle_state == "ATTACHED")
        .find_map(|a| a.vnic_id.clone())
    else {
        return Ok(Vnic::default());
    };
    match ctx.get(Service::Iaas, region, &format!("/vnics/{}", enc(&vnic))) {
        Ok(v) => Ok(v),
        Err(e) if is_not_found(&e) => Ok(Vnic::default()),
        Err(e) => Err(e),
    }
}

fn to_instances(
    ctx: &Ctx,
    region: &str,
    members: &[(Role, Instance)],
    settings: &BTreeMap<String, String>,
) -> Result<Vec<WitInstance>, ProviderError> {
    let user = settings
        .get("ssh_user")
        .cloned()
        .unwrap_or_else(|| "ubuntu".into());
    let mut out = Vec::new();
    for (role, i) in members {
        let vnic = if i.status() == InstanceStatus::Running {
            vnic_of(ctx, region, i)?
        } else {
            Vnic::default()
        };
        out.push(WitInstance {
            id: i.id.clone(),
            is_head: *role == Role::Head,
            status: i.status(),
            instance_type: i.shape.clone(),
            zone: Some(i.availability_domain.clone()).filter(|z| !z.is_empty()),
            spot: i
                .preemptible_instance_config
                .as_ref()
                .is_some_and(|c| !c.is_null()),
            public_ip: model::address(&vnic.public_ip),
            private_ip: model::address(&vnic.private_ip),
            ssh_port: 22,
            ssh_user: Some(user.clone()),
            extra: i
                .freeform_tags
                .get(model::HOST_KEY_TAG)
                .map(|key| (settings::HOST_KEY.to_string(), key.clone()))
                .into_iter()
                .collect(),
        });
    }
    Ok(out)
}

/// Every cluster's instances, from one listing per region.
pub fn query(
    clusters: &[ClusterRef],
    settings: &BTreeMap<String, String>,
) -> Result<Vec<ClusterInstances>, ProviderError> {
    let ctx = Ctx::load(settings)?;
    let mut by_region: BTreeMap<&str, Vec<Instance>> = BTreeMap::new();
    let mut out = Vec::new();
    for c in clusters {
        if !by_region.contains_key(c.region.as_str()) {
            let all = all_instances(&ctx, &c.region)?;
            by_region.insert(&c.region, all);
        }
        let all = by_region
            .get(c.region.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut instances =
            to_instances(&ctx, &c.region, &model::members(all, &c.cluster), settings)?;
        instances.extend(preempted(all, &c.region, &c.cluster, settings));
        out.push(ClusterInstances {
            cluster: c.clone(),
            instances,
        });
    }
    Ok(out)
}

/// The cluster's instances that are gone though aloft did not terminate them:
/// preempted (a preemptible instance OCI reclaimed) or removed behind aloft's back.
fn preempted(
    all: &[Instance],
    region: &str,
    cluster: &str,
    settings: &BTreeMap<String, String>,
) -> Vec<WitInstance> {
    let ours = terminated_by_us(region, cluster);
    let user = settings
        .get("ssh_user")
        .cloned()
        .unwrap_or_else(|| "ubuntu".into());
    all.iter()
        .filter(|i| i.is_gone() && !ours.contains(&i.id))
        .filter_map(|i| i.role_in(cluster).map(|role| (role, i)))
        .map(|(role, i)| WitInstance {
            id: i.id.clone(),
            is_head: role == Role::Head,
            status: InstanceStatus::Preempted,
            instance_type: i.shape.clone(),
            zone: Some(i.availability_domain.clone()).filter(|z| !z.is_empty()),
            spot: i
                .preemptible_instance_config
                .as_ref()
                .is_some_and(|c| !c.is_null()),
            public_ip: None,
            private_ip: None,
            ssh_port: 22,
            ssh_user: Some(user.clone()),
            extra: Vec::new(),
        })
        .collect()
}

/// Stops the cluster's instances (boot volumes kept) and waits (bounded) until
/// OCI says they are stopped.
pub fn stop(
    cluster: &ClusterRef,
    settings: &BTreeMap<String, String>,
) -> Result<(), ProviderError> {
    let ctx = Ctx::load(settings)?;
    let region = cluster.region.as_str();
    for (_, i) in model::members(&all_instances(&ctx, region)?, &cluster.cluster) {
        if matches!(
            i.lifecycle_state.as_str(),
            "RUNNING" | "STARTING" | "PROVISIONING"
        ) {
            action(&ctx, region, &i.id, "STOP")?;
        }
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(TERMINATE_WAIT_SECS);
    loop {
        let members = model::members(&all_instances(&ctx, region)?, &cluster.cluster);
        if members.iter().all(|(_, i)| i.lifecycle_state == "STOPPED") {
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            return Err(errors::transient(
                "Stopping",
                &format!("the instances of {} are still stopping", cluster.cluster),
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// Terminates the cluster's instances (boot volumes too), waits for them to be
/// gone, then removes its network (idempotent: nothing left is success).
pub fn terminate(
    cluster: &ClusterRef,
    settings: &BTreeMap<String, String>,
) -> Result<(), ProviderError> {
    let ctx = Ctx::load(settings)?;
    let region = cluster.region.as_str();
    let name = cluster.cluster.as_str();
    let of_cluster = |all: Vec<Instance>| -> Vec<Instance> {
        all.into_iter()
            .filter(|i| i.role_in(name).is_some() && i.lifecycle_state != "TERMINATED")
            .collect()
    };
    let all = all_instances(&ctx, region)?;
    // Noted first: a crash after the calls must not turn these into "preempted".
    // Those already terminated too (a reclaimed instance OCI still lists): once
    // the cluster is torn down they are its past, not a preemption of the
    // cluster relaunched under the same name.
    let mut ours = terminated_by_us(region, name);
    ours.extend(
        all.iter()
            .filter(|i| i.role_in(name).is_some())
            .map(|i| i.id.clone()),
    );
    let found = of_cluster(all);
    let mut seen = std::collections::BTreeSet::new();
    ours.retain(|id| seen.insert(id.clone()));
    let skip = ours.len().saturating_sub(GONE_KEPT);
    if let Ok(text) = serde_json::to_string(&ours[skip..]) {
        kv::set(&gone_key(region, name), &text);
    }
    for i in found {
        if i.lifecycle_state != "TERMINATING" {
            ctx.delete(
                region,
                &format!("/instances/{}?preserveBootVolume=false", enc(&i.id)),
            )?;
        }
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(TERMINATE_WAIT_SECS);
    loop {
        let left = of_cluster(all_instances(&ctx, region)?);
        if left.is_empty() {
            break;
        }
        if std::time::Instant::now() >= deadline {
            // An error, not a log line: the cluster's record must stay for the
            // next `down` to find and finish.
            return Err(errors::transient(
                "Terminating",
                &format!(
                    "{} instance(s) of {name} are still terminating; `aloft down {name}` \
                     again removes its network",
                    left.len()
                ),
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    delete_network(&ctx, region, name)
}

/// Deletes `path`, waiting (bounded) while OCI answers 409 (still referenced).
fn delete_when_free(ctx: &Ctx, region: &str, path: &str) -> Result<(), ProviderError> {
    let mut tries = 0;
    loop {
        match ctx.delete(region, path) {
            Err(e) if e.code == "Conflict" && tries < 30 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
            other => return other,
        }
    }
}

/// Removes the cluster's subnet, route table, internet gateway, security list and
/// VCN, in the order OCI requires.
fn delete_network(ctx: &Ctx, region: &str, cluster: &str) -> Result<(), ProviderError> {
    let Some(vcn) = find_vcn(ctx, region, cluster)? else {
        return Ok(());
    };
    for kind in [
        "subnets",
        "routeTables",
        "internetGateways",
        "securityLists",
    ] {
        for r in in_vcn(ctx, region, kind, &vcn.id, cluster)? {
            delete_when_free(ctx, region, &format!("/{kind}/{}", enc(&r.id)))?;
        }
    }
    delete_when_free(ctx, region, &format!("/vcns/{}", enc(&vcn.id)))
}

/// Opens `ports` in the cluster's security list (its rules so far kept).
pub fn open_ports(
    cluster: &ClusterRef,
    ports: &[PortRange],
    settings: &BTreeMap<String, String>,
) -> Result<(), ProviderError> {
    let ctx = Ctx::load(settings)?;
    let region = cluster.region.as_str();
    let Some(vcn) = find_vcn(&ctx, region, &cluster.cluster)? else {
        return Err(errors::invalid(
            "NoNetwork",
            &format!("cluster {} has no VCN in {region}", cluster.cluster),
        ));
    };
    for list in in_vcn(&ctx, region, "securityLists", &vcn.id, &cluster.cluster)? {
        let path = format!("/securityLists/{}", enc(&list.id));
        let current: Value = ctx.get(Service::Iaas, region, &path)?;
        let mut all: Vec<PortRange> = current["ingressSecurityRules"]
            .as_array()
            .map(|rules| {
                rules
                    .iter()
                    .filter_map(|r| {
                        let range = r.pointer("/tcpOptions/destinationPortRange")?;
                        Some(PortRange {
                            start: u16::try_from(range["min"].as_u64()?).ok()?,
                            end: u16::try_from(range["max"].as_u64()?).ok()?,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        for p in ports {
            if !all.iter().any(|q| q.start == p.start && q.end == p.end) {
                all.push(*p);
            }
        }
        ctx.put(
            region,
            &path,
            &json!({"ingressSecurityRules": model::ingress_rules(&all)}),
        )?;
    }
    Ok(())
}

/// OCI's regions aloft offers (availability domains are the tenancy's, found at
/// launch).
pub fn regions() -> Vec<Region> {
    model::REGIONS
        .iter()
        .map(|r| Region {
            name: r.to_string(),
            zones: Vec::new(),
        })
        .collect()
}

/// The credentials are valid when Identity answers `GetUser` for the profile's
/// user: that user, its tenancy and the compartment aloft uses.
pub fn check_credentials(settings: &BTreeMap<String, String>) -> Result<Identity, ProviderError> {
    let ctx = Ctx::load(settings)?;
    #[derive(Deserialize)]
    struct User {
        #[serde(default)]
        name: String,
        #[serde(default)]
        email: Option<String>,
    }
    let region = if ctx.home_region.is_empty() {
        model::REGIONS[0]
    } else {
        ctx.home_region.as_str()
    };
    let user: User = ctx.get(
        Service::Identity,
        region,
        &format!("/users/{}", enc(&ctx.user)),
    )?;
    let account = if user.name.is_empty() {
        user.email.unwrap_or_else(|| ctx.user.clone())
    } else {
        user.name
    };
    let short = |s: &str| s.chars().take(200).collect::<String>();
    let mut details = vec![
        ("user".to_string(), short(&ctx.user)),
        ("tenancy".to_string(), short(&ctx.tenancy)),
        ("region".to_string(), short(region)),
    ];
    if ctx.compartment != ctx.tenancy {
        details.push(("compartment".to_string(), short(&ctx.compartment)));
    }
    Ok(Identity {
        account: short(&account),
        details,
    })
}
