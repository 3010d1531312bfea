//! The provider's verbs over EC2: create or resume a cluster, describe many
//! clusters at once, stop, terminate, and what the account offers.

use std::collections::BTreeMap;

use base64::Engine;

use aloft_provider_sdk::errors;
use aloft_provider_sdk::kv;
use aloft_provider_sdk::nodes;
use aloft_provider_sdk::settings;
use aloft_provider_sdk::types::{
    ClusterInstances, ClusterRef, Identity, Instance, InstanceStatus, Offer, ProviderError, Region,
    RunRequest, RunResult,
};

use crate::api::{self, child_text, filters, p};
use crate::ec2::{self, CLUSTER_TAG, Ec2Instance, ROLE_TAG};

/// Canonical's account, owner of the official Ubuntu images.
const CANONICAL: &str = "099720109477";

/// Instance ids aloft itself terminated for a cluster: they are history, not
/// preemptions, when a later cluster of the same name is queried.
fn gone_key(region: &str, cluster: &str) -> String {
    format!("terminated/{region}/{cluster}")
}

fn terminated_by_us(region: &str, cluster: &str) -> Vec<String> {
    kv::get(&gone_key(region, cluster))
        .and_then(|v| serde_json::from_str(&v).ok())
        .unwrap_or_default()
}

/// Creates the cluster's missing instances and starts its stopped ones. With the
/// [`settings::SHUTDOWN`] setting, every instance of the cluster gets that
/// shutdown behaviour, and says so in its `extra` (`shutdown_behavior`).
pub fn run(
    req: &RunRequest,
    settings: &BTreeMap<String, String>,
) -> Result<RunResult, ProviderError> {
    let shutdown = settings::shutdown(settings)?;
    let host_key = settings::host_key(settings)?;
    let region = req.cluster.region.as_str();
    let cluster = req.cluster.cluster.as_str();
    let zone_tag = |e: ProviderError| errors::in_zone(e, region, req.cluster.zone.as_deref());
    let zone = match &req.cluster.zone {
        Some(z) => Some(ec2::zone_name(region, z)?),
        None => None,
    };
    let existing: Vec<Ec2Instance> = ec2::describe(region, &[cluster.to_string()])?
        .into_iter()
        .filter(|i| !i.is_gone())
        .collect();
    nodes::refuse_unlike(
        cluster,
        &req.instance_type,
        region,
        existing.iter().map(|i| nodes::Have {
            node: &i.id,
            instance_type: Some(&i.instance_type),
            region: None,
        }),
    )?;
    // A count of 0 resumes nothing (aloft asks so to set the shutdown behaviour).
    let stopped: Vec<String> = existing
        .iter()
        .filter(|_| req.count > 0)
        .filter(|i| matches!(i.state.as_str(), "stopped" | "stopping"))
        .map(|i| i.id.clone())
        .collect();
    if !stopped.is_empty() {
        api::ec2(region, "StartInstances", &ec2::id_params(&stopped)).map_err(zone_tag)?;
    }
    let missing = (req.count as usize).saturating_sub(existing.len());
    let mut created = Vec::new();
    if missing > 0 {
        let key_name = match &req.ssh_public_key {
            Some(key) => Some(ec2::ensure_key_pair(region, key, cluster)?),
            None => None,
        };
        let group = ec2::ensure_group(region, cluster)?;
        ec2::authorize(region, &group, &req.ports)?;
        let image = match req
            .image_id
            .clone()
            .or_else(|| settings.get("image_id").cloned())
        {
            Some(image) => image,
            None => default_image(region)?,
        };
        let launch = |count: usize, role: &str| -> Result<Vec<String>, ProviderError> {
            let mut params = vec![
                p("ImageId", image.clone()),
                p("InstanceType", req.instance_type.clone()),
                p("MinCount", count.to_string()),
                p("MaxCount", count.to_string()),
                p("SecurityGroupId.1", group.clone()),
                p("TagSpecification.1.ResourceType", "instance"),
                p("TagSpecification.1.Tag.1.Key", CLUSTER_TAG),
                p("TagSpecification.1.Tag.1.Value", cluster),
                p("TagSpecification.1.Tag.2.Key", ROLE_TAG),
                p("TagSpecification.1.Tag.2.Value", role),
                p("TagSpecification.1.Tag.3.Key", "Name"),
                p(
                    "TagSpecification.1.Tag.3.Value",
                    format!("aloft-{cluster}-{role}"),
                ),
            ];
            let labels = req
                .labels
                .iter()
                .filter(|(k, _)| ![CLUSTER_TAG, ROLE_TAG, "Name"].contains(&k.as_str()));
            let mut tags = 3;
            for (k, v) in labels {
                tags += 1;
                params.push(p(format!("TagSpecification.1.Tag.{tags}.Key"), k.clone()));
                params.push(p(format!("TagSpecification.1.Tag.{tags}.Value"), v.clone()));
            }
            // cloud-init installs the host key at first boot; the tag tells later
            // queries which key the instance was given.
            if let Some((private, public)) = host_key {
                tags += 1;
                params.push(p(
                    format!("TagSpecification.1.Tag.{tags}.Key"),
                    HOST_KEY_TAG,
                ));
                params.push(p(
                    format!("TagSpecification.1.Tag.{tags}.Value"),
                    public_key_of(public),
                ));
                params.push(p(
                    "UserData",
                    base64::engine::general_purpose::STANDARD
                        .encode(nodes::cloud_init_host_key(private, public)),
                ));
            }
            if let Some(key) = &key_name {
                params.push(p("KeyName", key.clone()));
            }
            if let Some(zone) = &zone {
                params.push(p("Placement.AvailabilityZone", zone.clone()));
            }
            if let Some(behavior) = shutdown {
                params.push(p("InstanceInitiatedShutdownBehavior", behavior));
            }
            if let Some(size) = req.disk_size_gib {
                params.push(p("BlockDeviceMapping.1.DeviceName", "/dev/sda1"));
                params.push(p("BlockDeviceMapping.1.Ebs.VolumeSize", size.to_string()));
                params.push(p("BlockDeviceMapping.1.Ebs.VolumeType", "gp3"));
                params.push(p("BlockDeviceMapping.1.Ebs.DeleteOnTermination", "true"));
            }
            if req.use_spot {
                params.push(p("InstanceMarketOptions.MarketType", "spot"));
                params.push(p(
                    "InstanceMarketOptions.SpotOptions.SpotInstanceType",
                    "one-time",
                ));
                params.push(p(
                    "InstanceMarketOptions.SpotOptions.InstanceInterruptionBehavior",
                    "terminate",
                ));
            }
            let answer = api::ec2(region, "RunInstances", &params).map_err(zone_tag)?;
            Ok(ec2::parse_instances(&answer)?
                .into_iter()
                .map(|i| i.id)
                .collect())
        };
        let has_head = existing.iter().any(Ec2Instance::is_head);
        let workers = if has_head { missing } else { missing - 1 };
        if !has_head {
            created.extend(launch(1, "head")?);
        }
        if workers > 0 {
            created.extend(launch(workers, "worker")?);
        }
    }
    let instances = ec2::describe(region, &[cluster.to_string()])?
        .into_iter()
        .filter(|i| !i.is_gone())
        .collect::<Vec<_>>();
    let mut instances = to_instances(&instances, settings, &[]);
    if let Some(behavior) = shutdown {
        for instance in &mut instances {
            if !created.contains(&instance.id) {
                ec2::ensure_shutdown_behavior(region, &instance.id, behavior)?;
            }
            instance
                .extra
                .push((settings::SHUTDOWN.into(), behavior.into()));
        }
    }
    Ok(RunResult {
        instances,
        created,
        resumed: stopped,
    })
}

fn to_instances(
    found: &[Ec2Instance],
    settings: &BTreeMap<String, String>,
    ours: &[String],
) -> Vec<Instance> {
    let user = settings
        .get("ssh_user")
        .cloned()
        .unwrap_or_else(|| "ubuntu".into());
    found
        .iter()
        .filter(|i| !ours.contains(&i.id))
        .map(|i| Instance {
            id: i.id.clone(),
            is_head: i.is_head(),
            status: status(i),
            instance_type: i.instance_type.clone(),
            zone: i.zone.clone(),
            spot: i.spot,
            public_ip: i.public_ip.clone(),
            private_ip: i.private_ip.clone(),
            ssh_port: 22,
            ssh_user: Some(user.clone()),
            extra: i
                .tags
                .get(HOST_KEY_TAG)
                .map(|key| (settings::HOST_KEY.to_string(), key.clone()))
                .into_iter()
                .collect(),
        })
        .collect()
}

/// The tag naming the public host key an instance was created with.
const HOST_KEY_TAG: &str = "aloft-host-key";

/// A public key line without its comment (`TYPE DATA`).
fn public_key_of(line: &str) -> String {
    line.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// An instance's status; one gone without aloft asking was preempted (spot
/// reclaim, or terminated behind aloft's back).
fn status(i: &Ec2Instance) -> InstanceStatus {
    let spot_reclaimed = i
        .state_reason
        .as_deref()
        .is_some_and(|r| r.contains("Spot"));
    match i.state.as_str() {
        "pending" => InstanceStatus::Pending,
        "running" => InstanceStatus::Running,
        "stopping" | "stopped" if spot_reclaimed => InstanceStatus::Preempted,
        "stopping" => InstanceStatus::Stopping,
        "stopped" => InstanceStatus::Stopped,
        "shutting-down" | "terminated" => InstanceStatus::Preempted,
        _ => InstanceStatus::Unknown,
    }
}

/// Every cluster's instances, one `DescribeInstances` per region.
pub fn query(
    clusters: &[ClusterRef],
    settings: &BTreeMap<String, String>,
) -> Result<Vec<ClusterInstances>, ProviderError> {
    let mut by_region: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for c in clusters {
        by_region
            .entry(c.region.as_str())
            .or_default()
            .push(c.cluster.clone());
    }
    let mut found: BTreeMap<&str, Vec<Ec2Instance>> = BTreeMap::new();
    for (region, names) in &by_region {
        found.insert(region, ec2::describe(region, names)?);
    }
    Ok(clusters
        .iter()
        .map(|c| {
            let ours = terminated_by_us(&c.region, &c.cluster);
            let mine: Vec<Ec2Instance> = found
                .get(c.region.as_str())
                .map(|all| {
                    all.iter()
                        .filter(|i| i.cluster() == Some(c.cluster.as_str()))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            ClusterInstances {
                cluster: c.clone(),
                instances: to_instances(&mine, settings, &ours),
            }
        })
        .collect())
}

/// Stops the cluster's running instances.
pub fn stop(cluster: &ClusterRef) -> Result<(), ProviderError> {
    let ids: Vec<String> = ec2::describe(&cluster.region, std::slice::from_ref(&cluster.cluster))?
        .into_iter()
        .filter(|i| matches!(i.state.as_str(), "pending" | "running"))
        .map(|i| i.id)
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    api::ec2(&cluster.region, "StopInstances", &ec2::id_params(&ids)).map(|_| ())
}

/// Terminates the cluster's instances and deletes its key pair and security group.
pub fn terminate(cluster: &ClusterRef) -> Result<(), ProviderError> {
    let region = cluster.region.as_str();
    let all = ec2::describe(region, std::slice::from_ref(&cluster.cluster))?;
    let live: Vec<String> = all
        .iter()
        .filter(|i| !i.is_gone())
        .map(|i| i.id.clone())
        .collect();
    // Recorded first: a crash after the call must not turn these into "preempted".
    let mut ours = terminated_by_us(region, &cluster.cluster);
    ours.extend(all.iter().map(|i| i.id.clone()));
    ours.sort();
    ours.dedup();
    if let Ok(text) = serde_json::to_string(&ours) {
        kv::set(&gone_key(region, &cluster.cluster), &text);
    }
    if !live.is_empty() {
        api::ec2(region, "TerminateInstances", &ec2::id_params(&live))?;
    }
    ec2::delete_key_pairs(region, &cluster.cluster)?;
    delete_group(region, &cluster.cluster)
}

/// Deletes the cluster's security group; EC2 refuses while instances still use it,
/// so this waits (bounded, within one call's deadline) for them to go, and fails
/// when they have not.
fn delete_group(region: &str, cluster: &str) -> Result<(), ProviderError> {
    let Some(id) = ec2::find_group(region, cluster)? else {
        return Ok(());
    };
    for _ in 0..10 {
        match api::ec2(region, "DeleteSecurityGroup", &[p("GroupId", id.clone())]) {
            Ok(_) => return Ok(()),
            Err(e) if api::is_not_found(&e) => return Ok(()),
            Err(e) if e.code == "DependencyViolation" => {
                std::thread::sleep(std::time::Duration::from_secs(3));
            }
            Err(e) => return Err(e),
        }
    }
    // An error, not a log line: the cluster's record must stay for the next
    // `down` to find and finish.
    Err(errors::transient(
        "DependencyViolation",
        &format!(
            "the instances of {cluster} are terminated, but its security group {id} is still \
             in use while they shut down; `aloft down {cluster}` again removes it"
        ),
    ))
}

/// The newest Canonical Ubuntu 64-bit server image of the region (cached).
fn default_image(region: &str) -> Result<String, ProviderError> {
    let key = format!("image/{region}");
    if let Some(image) = kv::get(&key) {
        return Ok(image);
    }
    let mut params = vec![p("Owner.1", CANONICAL)];
    filters(
        &mut params,
        &[
            (
                "name",
                vec!["ubuntu/images/hvm-ssd*/ubuntu-*-amd64-server-*".into()],
            ),
            ("state", vec!["available".into()]),
        ],
    );
    let answer = api::ec2(region, "DescribeImages", &params)?;
    let newest = answer.with(|root| {
        root.descendants()
            .filter(|n| n.has_tag_name("item") && child_text(*n, "imageId").is_some())
            .filter_map(|n| {
                Some((
                    child_text(n, "creationDate").unwrap_or_default(),
                    child_text(n, "imageId")?,
                ))
            })
            .max()
            .map(|(_, id)| id)
    })?;
    let image = newest.ok_or_else(|| {
        errors::unsupported(
            "NoImage",
            &format!("no Ubuntu image found in {region}; set providers.aws.image_id or the task's image_id"),
        )
    })?;
    kv::set(&key, &image);
    Ok(image)
}

/// The account's regions.
pub fn regions() -> Result<Vec<Region>, ProviderError> {
    let answer = api::ec2("us-east-1", "DescribeRegions", &[])?;
    answer.with(|root| {
        root.descendants()
            .filter_map(|n| n.has_tag_name("regionName").then(|| n.text()).flatten())
            .map(|name| Region {
                name: name.to_string(),
                zones: Vec::new(),
            })
            .collect()
    })
}

/// Who the credentials belong to (STS `GetCallerIdentity`).
pub fn caller_identity() -> Result<Identity, ProviderError> {
    let answer = api::sts("GetCallerIdentity", &[])?;
    answer.with(|root| {
        let result = root
            .descendants()
            .find(|n| n.has_tag_name("GetCallerIdentityResult"))
            .unwrap_or(root);
        Identity {
            account: child_text(result, "Account").unwrap_or_default(),
            details: ["Arn", "UserId"]
                .iter()
                .filter_map(|k| Some((k.to_lowercase(), child_text(result, k)?)))
                .collect(),
        }
    })
}

/// What `region` offers, one row per instance type and zone (zone ids, as
/// SkyPilot's catalogs name zones): shapes from `DescribeInstanceTypes`, where each
/// type is offered from `DescribeInstanceTypeOfferings`, and the current spot price
/// per zone from `DescribeSpotPriceHistory`. On-demand prices live in AWS's Pricing
/// API, not EC2, so `price` is left empty for the catalog tools to fill.
pub fn offers(region: &str) -> Result<Vec<Offer>, ProviderError> {
    let shapes = instance_types(region)?;
    let zone_ids = zone_ids(region)?;
    let spot = spot_prices(region)?;
    let offerings = offerings(region)?;
    Ok(offerings
        .into_iter()
        .filter_map(|(kind, zone)| {
            let shape = shapes.get(&kind)?;
            let spot_price = zone_ids
                .iter()
                .filter(|(_, id)| **id == zone)
                .find_map(|(name, _)| spot.get(&(kind.clone(), name.clone())))
                .copied();
            Some(Offer {
                zone: Some(zone),
                spot_price,
                ..shape.clone()
            })
        })
        .collect())
}

/// Every page of `action`, each parsed by `page`.
fn paginate<T>(
    region: &str,
    action: &str,
    params: &[(String, String)],
    mut page: impl FnMut(roxmltree::Node<'_, '_>) -> Vec<T>,
) -> Result<Vec<T>, ProviderError> {
    let mut all = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut call = params.to_vec();
        if let Some(t) = &token {
            call.push(p("NextToken", t.clone()));
        }
        let answer = api::ec2(region, action, &call)?;
        let (items, next) = answer.with(|root| (page(root), child_text(root, "nextToken")))?;
        all.extend(items);
        token = next;
        if token.is_none() {
            return Ok(all);
        }
    }
}

/// Instance shapes by type.
fn instance_types(region: &str) -> Result<BTreeMap<String, Offer>, ProviderError> {
    let shapes = paginate(
        region,
        "DescribeInstanceTypes",
        &[p("MaxResults", "100")],
        |root| {
            root.descendants()
                .filter(|n| n.has_tag_name("item") && child_text(*n, "instanceType").is_some())
                .filter_map(|n| {
                    let nested = |parent: &str, name: &str| {
                        n.children()
                            .find(|c| c.has_tag_name(parent))
                            .and_then(|c| child_text(c, name))
                    };
                    let gpu = n
                        .children()
                        .find(|c| c.has_tag_name("gpuInfo"))
                        .and_then(|g| g.descendants().find(|c| c.has_tag_name("item")));
                    Some(Offer {
                        instance_type: child_text(n, "instanceType")?,
                        accelerator_name: gpu.and_then(|g| child_text(g, "name")),
                        accelerator_count: gpu
                            .and_then(|g| child_text(g, "count"))
                            .and_then(|c| c.parse().ok())
                            .unwrap_or(0.0),
                        vcpus: nested("vCpuInfo", "defaultVCpus")
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(0.0),
                        memory_gib: nested("memoryInfo", "sizeInMiB")
                            .and_then(|v| v.parse::<f64>().ok())
                            .unwrap_or(0.0)
                            / 1024.0,
                        gpu_memory_mib: gpu
                            .and_then(|g| g.children().find(|c| c.has_tag_name("memoryInfo")))
                            .and_then(|m| child_text(m, "sizeInMiB"))
                            .and_then(|v| v.parse().ok()),
                        price: None,
                        spot_price: None,
                        region: region.to_string(),
                        zone: None,
                    })
                })
                .collect()
        },
    )?;
    Ok(shapes
        .into_iter()
        .map(|o| (o.instance_type.clone(), o))
        .collect())
}

/// `(zone name, zone id)` of the region's zones.
fn zone_ids(region: &str) -> Result<Vec<(String, String)>, ProviderError> {
    let answer = api::ec2(region, "DescribeAvailabilityZones", &[])?;
    answer.with(|root| {
        root.descendants()
            .filter(|n| n.has_tag_name("item") && child_text(*n, "zoneId").is_some())
            .filter_map(|n| Some((child_text(n, "zoneName")?, child_text(n, "zoneId")?)))
            .collect()
    })
}

/// `(instance type, zone id)` for every type offered in each zone.
fn offerings(region: &str) -> Result<Vec<(String, String)>, ProviderError> {
    paginate(
        region,
        "DescribeInstanceTypeOfferings",
        &[p("LocationType", "availability-zone-id")],
        |root| {
            root.descendants()
                .filter(|n| n.has_tag_name("item"))
                .filter_map(|n| Some((child_text(n, "instanceType")?, child_text(n, "location")?)))
                .collect()
        },
    )
}

/// The newest spot price per `(instance type, zone name)`.
fn spot_prices(region: &str) -> Result<BTreeMap<(String, String), f64>, ProviderError> {
    let items = paginate(
        region,
        "DescribeSpotPriceHistory",
        &[
            p("ProductDescription.1", "Linux/UNIX"),
            p("MaxResults", "1000"),
            // From now: only each zone's current price, not 90 days of history.
            p("StartTime", api::iso_now()),
        ],
        |root| {
            root.descendants()
                .filter(|n| n.has_tag_name("item") && child_text(*n, "spotPrice").is_some())
                .filter_map(|n| {
                    Some((
                        (
                            child_text(n, "instanceType")?,
                            child_text(n, "availabilityZone")?,
                        ),
                        child_text(n, "timestamp").unwrap_or_default(),
                        child_text(n, "spotPrice")?.parse::<f64>().ok()?,
                    ))
                })
                .collect()
        },
    )?;
    let mut newest: BTreeMap<(String, String), (String, f64)> = BTreeMap::new();
    for (key, stamp, price) in items {
        let slot = newest.entry(key).or_insert((stamp.clone(), price));
        if stamp > slot.0 {
            *slot = (stamp, price);
        }
    }
    Ok(newest
        .into_iter()
        .map(|(k, (_, price))| (k, price))
        .collect())
}
