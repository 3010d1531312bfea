//! EC2 resources aloft uses: instances (tagged with their cluster and role), the
//! user's key pair, and one security group per cluster.

use std::collections::BTreeMap;

use aloft_provider_sdk::errors;
use aloft_provider_sdk::signing::sha256_hex;
use aloft_provider_sdk::types::{PortRange, ProviderError};
use base64::Engine;

use crate::api::{self, Answer, child_text, filters, p};

/// Tag naming an instance's cluster.
pub const CLUSTER_TAG: &str = "aloft-cluster";
/// Tag naming an instance's role (`head` or `worker`).
pub const ROLE_TAG: &str = "aloft-role";

/// One instance as EC2 describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Ec2Instance {
    /// Instance id.
    pub id: String,
    /// `pending`, `running`, `stopping`, `stopped`, `shutting-down`, `terminated`.
    pub state: String,
    /// Instance type.
    pub instance_type: String,
    /// Zone name.
    pub zone: Option<String>,
    /// Public IP.
    pub public_ip: Option<String>,
    /// Private IP.
    pub private_ip: Option<String>,
    /// A spot instance.
    pub spot: bool,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Why it changed state last (`Server.SpotInstanceTermination`, ...).
    pub state_reason: Option<String>,
}

impl Ec2Instance {
    /// Its cluster.
    pub fn cluster(&self) -> Option<&str> {
        self.tags.get(CLUSTER_TAG).map(String::as_str)
    }

    /// Whether it is its cluster's head.
    pub fn is_head(&self) -> bool {
        self.tags.get(ROLE_TAG).is_some_and(|r| r == "head")
    }

    /// Gone or going.
    pub fn is_gone(&self) -> bool {
        matches!(self.state.as_str(), "shutting-down" | "terminated")
    }
}

/// Every instance in an answer (`instancesSet/item`, at any depth).
pub fn parse_instances(answer: &Answer) -> Result<Vec<Ec2Instance>, ProviderError> {
    answer.with(|root| {
        root.descendants()
            .filter(|n| {
                n.has_tag_name("item") && n.parent().is_some_and(|p| p.has_tag_name("instancesSet"))
            })
            .filter_map(|item| {
                let sub = |parent: &str, name: &str| {
                    item.children()
                        .find(|n| n.has_tag_name(parent))
                        .and_then(|n| child_text(n, name))
                };
                let tags = item
                    .children()
                    .find(|n| n.has_tag_name("tagSet"))
                    .map(|set| {
                        set.children()
                            .filter(|n| n.has_tag_name("item"))
                            .filter_map(|t| Some((child_text(t, "key")?, child_text(t, "value")?)))
                            .collect()
                    })
                    .unwrap_or_default();
                Some(Ec2Instance {
                    id: child_text(item, "instanceId")?,
                    state: sub("instanceState", "name").unwrap_or_default(),
                    instance_type: child_text(item, "instanceType").unwrap_or_default(),
                    zone: sub("placement", "availabilityZone"),
                    public_ip: child_text(item, "ipAddress"),
                    private_ip: child_text(item, "privateIpAddress"),
                    spot: child_text(item, "instanceLifecycle").is_some_and(|l| l == "spot"),
                    tags,
                    state_reason: sub("stateReason", "code"),
                })
            })
            .collect()
    })
}

/// The instances of `clusters` in `region` (one call, all clusters; paginated).
pub fn describe(region: &str, clusters: &[String]) -> Result<Vec<Ec2Instance>, ProviderError> {
    let mut found = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut params = Vec::new();
        filters(
            &mut params,
            &[(&format!("tag:{CLUSTER_TAG}"), clusters.to_vec())],
        );
        if let Some(t) = &token {
            params.push(p("NextToken", t.clone()));
        }
        let answer = api::ec2(region, "DescribeInstances", &params)?;
        found.extend(parse_instances(&answer)?);
        token = answer.with(|root| child_text(root, "nextToken"))?;
        if token.is_none() {
            return Ok(found);
        }
    }
}

/// Maps a zone id (`use1-az1`, as catalogs name zones) to the account's zone name
/// (`us-east-1b`); a zone name passes through.
pub fn zone_name(region: &str, zone: &str) -> Result<String, ProviderError> {
    if zone.starts_with(region) {
        return Ok(zone.to_string());
    }
    let mut params = Vec::new();
    filters(&mut params, &[("zone-id", vec![zone.to_string()])]);
    let answer = api::ec2(region, "DescribeAvailabilityZones", &params)?;
    answer
        .with(|root| {
            root.descendants()
                .find(|n| n.has_tag_name("zoneName"))
                .and_then(|n| n.text())
                .map(str::to_string)
        })?
        .ok_or_else(|| {
            errors::in_zone(
                errors::unsupported("UnknownZone", &format!("no zone {zone} in {region}")),
                region,
                Some(zone),
            )
        })
}

/// Imports the public key of `cluster` (each cluster has its own) once per region,
/// tagged with the cluster so that [`delete_key_pairs`] finds it (the name derives
/// from the key); returns the key pair's name.
pub fn ensure_key_pair(
    region: &str,
    public_key: &str,
    cluster: &str,
) -> Result<String, ProviderError> {
    let hash = sha256_hex(public_key.trim().as_bytes());
    let name = format!("aloft-{}", &hash[..12]);
    let mut params = Vec::new();
    filters(&mut params, &[("key-name", vec![name.clone()])]);
    let answer = api::ec2(region, "DescribeKeyPairs", &params)?;
    let exists = answer.with(|root| root.descendants().any(|n| n.has_tag_name("keyName")))?;
    if !exists {
        let material = base64::engine::general_purpose::STANDARD.encode(public_key.trim());
        api::ec2(
            region,
            "ImportKeyPair",
            &[
                p("KeyName", name.clone()),
                p("PublicKeyMaterial", material),
                p("TagSpecification.1.ResourceType", "key-pair"),
                p("TagSpecification.1.Tag.1.Key", CLUSTER_TAG),
                p("TagSpecification.1.Tag.1.Value", cluster),
            ],
        )?;
    }
    Ok(name)
}

/// Deletes the key pairs imported for `cluster` (see [`ensure_key_pair`]); a key
/// pair imported untagged (before keys were per cluster) stays.
pub fn delete_key_pairs(region: &str, cluster: &str) -> Result<(), ProviderError> {
    let mut params = Vec::new();
    filters(
        &mut params,
        &[(&format!("tag:{CLUSTER_TAG}"), vec![cluster.to_string()])],
    );
    let answer = api::ec2(region, "DescribeKeyPairs", &params)?;
    let names: Vec<String> = answer.with(|root| {
        root.descendants()
            .filter(|n| n.has_tag_name("keyName"))
            .filter_map(|n| n.text().map(str::to_string))
            .collect()
    })?;
    for name in names {
        api::ec2(region, "DeleteKeyPair", &[p("KeyName", name)])?;
    }
    Ok(())
}

/// The security group of a cluster.
pub fn group_name(cluster: &str) -> String {
    format!("aloft-{cluster}")
}

/// Finds a cluster's security group id.
pub fn find_group(region: &str, cluster: &str) -> Result<Option<String>, ProviderError> {
    let mut params = Vec::new();
    filters(&mut params, &[("group-name", vec![group_name(cluster)])]);
    let answer = api::ec2(region, "DescribeSecurityGroups", &params)?;
    answer.with(|root| {
        root.descendants()
            .find(|n| n.has_tag_name("groupId"))
            .and_then(|n| n.text())
            .map(str::to_string)
    })
}

/// The cluster's security group, created (SSH open) when missing.
pub fn ensure_group(region: &str, cluster: &str) -> Result<String, ProviderError> {
    if let Some(id) = find_group(region, cluster)? {
        return Ok(id);
    }
    let answer = api::ec2(
        region,
        "CreateSecurityGroup",
        &[
            p("GroupName", group_name(cluster)),
            p("GroupDescription", format!("aloft cluster {cluster}")),
            p("TagSpecification.1.ResourceType", "security-group"),
            p("TagSpecification.1.Tag.1.Key", CLUSTER_TAG),
            p("TagSpecification.1.Tag.1.Value", cluster),
        ],
    )?;
    let id = answer
        .with(|root| child_text(root, "groupId"))?
        .ok_or_else(|| errors::invalid("BadAnswer", "CreateSecurityGroup returned no groupId"))?;
    authorize(region, &id, &[PortRange { start: 22, end: 22 }])?;
    Ok(id)
}

/// Opens TCP `ports` to the world on group `id` (rules that exist already are fine).
pub fn authorize(region: &str, id: &str, ports: &[PortRange]) -> Result<(), ProviderError> {
    if ports.is_empty() {
        return Ok(());
    }
    let mut params = vec![p("GroupId", id)];
    for (i, range) in ports.iter().enumerate() {
        let n = i + 1;
        params.push(p(format!("IpPermissions.{n}.IpProtocol"), "tcp"));
        params.push(p(
            format!("IpPermissions.{n}.FromPort"),
            range.start.to_string(),
        ));
        params.push(p(
            format!("IpPermissions.{n}.ToPort"),
            range.end.to_string(),
        ));
        params.push(p(
            format!("IpPermissions.{n}.IpRanges.1.CidrIp"),
            "0.0.0.0/0",
        ));
    }
    match api::ec2(region, "AuthorizeSecurityGroupIngress", &params) {
        Err(e) if e.code == "InvalidPermission.Duplicate" => Ok(()),
        other => other.map(|_| ()),
    }
}

/// Instance ids as `InstanceId.N` parameters.
pub fn id_params(ids: &[String]) -> Vec<(String, String)> {
    ids.iter()
        .enumerate()
        .map(|(i, id)| p(format!("InstanceId.{}", i + 1), id.clone()))
        .collect()
}

/// Makes a shutdown from inside instance `id` do `behavior` (`stop` or
/// `terminate`), changing the attribute only when it differs (EC2 refuses some
/// changes, e.g. on spot instances, even to the value they already have).
pub fn ensure_shutdown_behavior(
    region: &str,
    id: &str,
    behavior: &str,
) -> Result<(), ProviderError> {
    const ATTRIBUTE: &str = "instanceInitiatedShutdownBehavior";
    let answer = api::ec2(
        region,
        "DescribeInstanceAttribute",
        &[p("InstanceId", id), p("Attribute", ATTRIBUTE)],
    )?;
    let now = answer.with(|root| {
        root.descendants()
            .find(|n| n.has_tag_name(ATTRIBUTE))
            .and_then(|n| child_text(n, "value"))
    })?;
    if now.as_deref() == Some(behavior) {
        return Ok(());
    }
    api::ec2(
        region,
        "ModifyInstanceAttribute",
        &[
            p("InstanceId", id),
            p("Attribute", ATTRIBUTE),
            p("Value", behavior),
        ],
    )
    .map(|_| ())
}
