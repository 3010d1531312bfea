//! Nebius's VPC API (`vpc.api.nebius.cloud`): the subnet instances attach to,
//! found in the project when `subnet_id` is not set (`SubnetService/List`), and a
//! cluster's security group for the task's ports (`SecurityGroupService`,
//! `SecurityRuleService`).
//!
//! A security group denies what no rule allows, so a cluster's group (named
//! `<cluster>-aloft`, labelled `aloft-cluster=<cluster>`, in the subnet's
//! network) holds: all egress, all traffic from the group's own members (the
//! nodes reach each other), SSH (TCP 22) from anywhere and the task's TCP ports
//! from anywhere. Nebius's rules list single ports, at most eight a rule, so a
//! range is opened port by port (at most [`MAX_PORTS`] in all).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aloft_provider_sdk::errors;
use aloft_provider_sdk::types::{PortRange, ProviderError};

use crate::grpc::{CallError, code};
use crate::lifecycle::{CLUSTER_LABEL, call};
use crate::proto::{
    CreateSecurityGroupRequest, CreateSecurityRuleRequest, IdRequest, ListRequest,
    ListSecurityGroupsResponse, ListSecurityRulesResponse, ListSubnetsResponse, Operation,
    ResourceMetadata, RuleMatch, SecurityGroup, SecurityGroupSpec, SecurityRule, SecurityRuleSpec,
    Subnet, protocol,
};

/// The VPC API's host.
pub const VPC_HOST: &str = "vpc.api.nebius.cloud";
/// The most ports a cluster's group opens (Nebius's rules list single ports).
pub const MAX_PORTS: usize = 64;
/// The most ports one rule lists (Nebius's limit).
const PORTS_PER_RULE: usize = 8;

/// The subnet instances attach to: its id and its network's.
#[derive(Debug, Clone, PartialEq)]
pub struct SubnetChoice {
    /// The subnet's id.
    pub id: String,
    /// Its network's id (empty when not looked up yet).
    pub network_id: String,
}

/// Every item of a listing of `method` under `parent`, page by page.
fn list_all<R: prost::Message + Default, T>(
    method: &str,
    parent: &str,
    what: &str,
    page: impl Fn(R) -> (Vec<T>, String),
) -> Result<Vec<T>, ProviderError> {
    let mut all = Vec::new();
    let mut token = String::new();
    loop {
        let answer: R = call(
            VPC_HOST,
            method,
            &ListRequest {
                parent_id: parent.to_string(),
                page_size: 100,
                page_token: token.clone(),
            },
        )
        .map_err(|e| e.into_error(what))?;
        let (items, next) = page(answer);
        all.extend(items);
        if next.is_empty() || next == token {
            return Ok(all);
        }
        token = next;
    }
}

fn id_of(metadata: &Option<ResourceMetadata>) -> String {
    metadata.as_ref().map(|m| m.id.clone()).unwrap_or_default()
}

/// The one subnet among `subnets` of `project`, or an error naming the setting.
pub fn only_subnet(project: &str, subnets: &[Subnet]) -> Result<SubnetChoice, ProviderError> {
    let ids: Vec<String> = subnets
        .iter()
        .map(|s| id_of(&s.metadata))
        .filter(|id| !id.is_empty())
        .collect();
    match ids.as_slice() {
        [] => Err(errors::invalid(
            "NoSubnet",
            &format!(
                "project {project} has no VPC subnet: create one, or set \
                 providers.nebius.subnet_id (the subnet instances attach to)"
            ),
        )),
        [id] => Ok(SubnetChoice {
            id: id.clone(),
            network_id: subnets
                .iter()
                .find(|s| id_of(&s.metadata) == *id)
                .and_then(|s| s.spec.as_ref())
                .map(|s| s.network_id.clone())
                .unwrap_or_default(),
        }),
        several => Err(errors::invalid(
            "SeveralSubnets",
            &format!(
                "project {project} has {} VPC subnets ({}): set providers.nebius.subnet_id \
                 to the one instances attach to",
                several.len(),
                several.join(", ")
            ),
        )),
    }
}

/// The subnet of `project` instances attach to: `subnet_id` when set (its
/// network looked up only when `need_network`), else the project's only one.
pub fn subnet(
    settings: &BTreeMap<String, String>,
    project: &str,
    need_network: bool,
) -> Result<SubnetChoice, ProviderError> {
    if let Some(id) = settings.get("subnet_id").filter(|s| !s.is_empty()) {
        let mut choice = SubnetChoice {
            id: id.clone(),
            network_id: String::new(),
        };
        if need_network {
            let subnet: Subnet = call(
                VPC_HOST,
                "nebius.vpc.v1.SubnetService/Get",
                &IdRequest { id: id.clone() },
            )
            .map_err(|e| e.into_error("get subnet"))?;
            choice.network_id = subnet.spec.map(|s| s.network_id).unwrap_or_default();
        }
        return Ok(choice);
    }
    let subnets = list_all(
        "nebius.vpc.v1.SubnetService/List",
        project,
        "list subnets",
        |r: ListSubnetsResponse| (r.items, r.next_page_token),
    )?;
    only_subnet(project, &subnets)
}

/// The name of `cluster`'s security group.
pub fn group_name(cluster: &str) -> String {
    format!("{cluster}-aloft")
}

/// `cluster`'s security groups in `project` (by label and name).
fn groups(project: &str, cluster: &str) -> Result<Vec<SecurityGroup>, ProviderError> {
    let all = list_all(
        "nebius.vpc.v1.SecurityGroupService/List",
        project,
        "list security groups",
        |r: ListSecurityGroupsResponse| (r.items, r.next_page_token),
    )?;
    let name = group_name(cluster);
    Ok(all
        .into_iter()
        .filter(|g| {
            g.metadata.as_ref().is_some_and(|m| {
                m.name == name && m.labels.get(CLUSTER_LABEL).map(String::as_str) == Some(cluster)
            })
        })
        .collect())
}

fn rules(group: &str) -> Result<Vec<SecurityRule>, ProviderError> {
    list_all(
        "nebius.vpc.v1.SecurityRuleService/List",
        group,
        "list security rules",
        |r: ListSecurityRulesResponse| (r.items, r.next_page_token),
    )
}

/// The single ports of `ranges`, sorted; more than [`MAX_PORTS`] (or port 0)
/// is refused.
pub fn single_ports(ranges: &[PortRange]) -> Result<Vec<u16>, ProviderError> {
    let mut ports = BTreeSet::new();
    for r in ranges {
        if r.start == 0 || r.end < r.start {
            return Err(errors::invalid(
                "InvalidPorts",
                &format!(
                    "ports {}-{} are not a range of ports from 1",
                    r.start, r.end
                ),
            ));
        }
        for p in r.start..=r.end {
            ports.insert(p);
            if ports.len() > MAX_PORTS {
                return Err(errors::invalid(
                    "TooManyPorts",
                    &format!(
                        "Nebius's security rules list single ports: the nebius provider \
                         opens at most {MAX_PORTS} ports per cluster"
                    ),
                ));
            }
        }
    }
    Ok(ports.into_iter().collect())
}

/// The rules a cluster's group needs, by name, for `ports` (SSH is always one).
pub fn wanted_rules(group_id: &str, ports: &[u16]) -> Vec<(String, SecurityRuleSpec)> {
    let allow =
        |protocol: i32, ingress: Option<RuleMatch>, egress: Option<RuleMatch>| SecurityRuleSpec {
            access: 1,
            priority: 0,
            protocol,
            ingress,
            egress,
        };
    let from_anywhere = |ports: Vec<i32>| RuleMatch {
        security_group_id: String::new(),
        cidrs: vec!["0.0.0.0/0".into()],
        destination_ports: ports,
    };
    let mut out = vec![
        (
            "egress".to_string(),
            allow(
                protocol::ANY,
                None,
                Some(RuleMatch {
                    security_group_id: String::new(),
                    cidrs: vec!["0.0.0.0/0".into()],
                    destination_ports: Vec::new(),
                }),
            ),
        ),
        (
            "cluster".to_string(),
            allow(
                protocol::ANY,
                Some(RuleMatch {
                    security_group_id: group_id.to_string(),
                    cidrs: Vec::new(),
                    destination_ports: Vec::new(),
                }),
                None,
            ),
        ),
        (
            "ssh".to_string(),
            allow(protocol::TCP, Some(from_anywhere(vec![22])), None),
        ),
    ];
    for chunk in ports.chunks(PORTS_PER_RULE) {
        let (first, last) = (chunk[0], chunk[chunk.len() - 1]);
        out.push((
            format!("ports-{first}-{last}"),
            allow(
                protocol::TCP,
                Some(from_anywhere(chunk.iter().map(|p| i32::from(*p)).collect())),
                None,
            ),
        ));
    }
    out
}

/// The ports the group's TCP ingress rules open to anywhere already.
fn open_already(rules: &[SecurityRule]) -> BTreeSet<u16> {
    rules
        .iter()
        .filter_map(|r| r.spec.as_ref())
        .filter(|s| s.protocol == protocol::TCP)
        .filter_map(|s| s.ingress.as_ref())
        .flat_map(|i| i.destination_ports.iter())
        .filter_map(|p| u16::try_from(*p).ok())
        .collect()
}

fn operation_ok(op: &Operation, what: &str) -> Result<(), ProviderError> {
    match &op.status {
        Some(s) if s.code != code::OK => Err(crate::grpc::to_error(
            &crate::grpc::Status {
                code: s.code,
                message: s.message.clone(),
            },
            what,
        )),
        _ => Ok(()),
    }
}

/// `cluster`'s security group in `project` with SSH, the cluster's own traffic
/// and `ports` open: made (in `network_id`) when missing, its missing rules
/// added. Returns the group's id.
pub fn ensure_group(
    project: &str,
    cluster: &str,
    network_id: &str,
    ports: &[PortRange],
) -> Result<String, ProviderError> {
    let ports = single_ports(ports)?;
    let id = match groups(project, cluster)?.first() {
        Some(g) => id_of(&g.metadata),
        None => {
            if network_id.is_empty() {
                return Err(errors::invalid(
                    "NoNetwork",
                    "the subnet's network is unknown: the security group cannot be made",
                ));
            }
            let mut labels = HashMap::new();
            labels.insert(CLUSTER_LABEL.to_string(), cluster.to_string());
            let op: Operation = call(
                VPC_HOST,
                "nebius.vpc.v1.SecurityGroupService/Create",
                &CreateSecurityGroupRequest {
                    metadata: Some(ResourceMetadata {
                        parent_id: project.to_string(),
                        name: group_name(cluster),
                        labels,
                        ..Default::default()
                    }),
                    spec: Some(SecurityGroupSpec {
                        network_id: network_id.to_string(),
                    }),
                },
            )
            .map_err(|e| e.into_error("create security group"))?;
            operation_ok(&op, "create security group")?;
            if op.resource_id.is_empty() {
                return Err(errors::transient(
                    "NoGroupId",
                    "creating the security group answered no id",
                ));
            }
            op.resource_id
        }
    };
    let have = rules(&id)?;
    let names: BTreeSet<String> = have
        .iter()
        .filter_map(|r| r.metadata.as_ref().map(|m| m.name.clone()))
        .collect();
    let open = open_already(&have);
    let missing: Vec<u16> = ports.into_iter().filter(|p| !open.contains(p)).collect();
    for (name, spec) in wanted_rules(&id, &missing) {
        if names.contains(&name) {
            continue;
        }
        let op: Operation = call(
            VPC_HOST,
            "nebius.vpc.v1.SecurityRuleService/Create",
            &CreateSecurityRuleRequest {
                metadata: Some(ResourceMetadata {
                    parent_id: id.clone(),
                    name,
                    ..Default::default()
                }),
                spec: Some(spec),
            },
        )
        .map_err(|e| e.into_error("create security rule"))?;
        operation_ok(&op, "create security rule")?;
    }
    Ok(id)
}

/// The id of `cluster`'s security group, if it has one.
pub fn group_id(project: &str, cluster: &str) -> Result<Option<String>, ProviderError> {
    Ok(groups(project, cluster)?
        .first()
        .map(|g| id_of(&g.metadata)))
}

/// Deletes `cluster`'s security groups in `project`, their rules first. A group
/// still attached to instances being deleted is a transient error (`down` again
/// removes it).
pub fn delete_groups(project: &str, cluster: &str) -> Result<(), ProviderError> {
    for group in groups(project, cluster)? {
        let id = id_of(&group.metadata);
        for rule in rules(&id)? {
            let rule_id = id_of(&rule.metadata);
            match call::<_, Operation>(
                VPC_HOST,
                "nebius.vpc.v1.SecurityRuleService/Delete",
                &IdRequest { id: rule_id },
            ) {
                Ok(op) => operation_ok(&op, "delete security rule")?,
                Err(CallError::Status(s)) if s.code == code::NOT_FOUND => {}
                Err(e) => return Err(e.into_error("delete security rule")),
            }
        }
        match call::<_, Operation>(
            VPC_HOST,
            "nebius.vpc.v1.SecurityGroupService/Delete",
            &IdRequest { id },
        ) {
            Ok(op) => operation_ok(&op, "delete security group")?,
            Err(CallError::Status(s)) if s.code == code::NOT_FOUND => {}
            Err(CallError::Status(s)) if s.code == code::FAILED_PRECONDITION => {
                return Err(errors::transient(
                    "FAILED_PRECONDITION",
                    &format!(
                        "delete security group: {} (still attached to instances being \
                         deleted; `aloft down` again removes it)",
                        s.message
                    ),
                ));
            }
            Err(e) => return Err(e.into_error("delete security group")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::SubnetSpec;

    fn subnet(id: &str) -> Subnet {
        Subnet {
            metadata: Some(ResourceMetadata {
                id: id.into(),
                ..Default::default()
            }),
            spec: Some(SubnetSpec {
                network_id: format!("net-of-{id}"),
            }),
        }
    }

    #[test]
    fn the_only_subnet_is_chosen_and_none_or_several_name_the_setting() {
        let one = only_subnet("p", &[subnet("vpcsubnet-a")]).unwrap();
        assert_eq!(one.id, "vpcsubnet-a");
        assert_eq!(one.network_id, "net-of-vpcsubnet-a");
        let none = only_subnet("p", &[]).unwrap_err();
        assert_eq!(none.code, "NoSubnet");
        assert!(none.message.contains("providers.nebius.subnet_id"));
        let two = only_subnet("p", &[subnet("vpcsubnet-a"), subnet("vpcsubnet-b")]).unwrap_err();
        assert_eq!(two.code, "SeveralSubnets");
        assert!(
            two.message.contains("vpcsubnet-a, vpcsubnet-b"),
            "{}",
            two.message
        );
        assert!(two.message.contains("providers.nebius.subnet_id"));
    }

    #[test]
    fn ranges_become_single_ports_eight_a_rule_and_too_many_are_refused() {
        let r = |start, end| PortRange { start, end };
        let ports = single_ports(&[r(8080, 8080), r(9000, 9009), r(8080, 8081)]).unwrap();
        assert_eq!(ports.len(), 12);
        let rules = wanted_rules("sg-1", &ports);
        let names: Vec<&str> = rules.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "egress",
                "cluster",
                "ssh",
                "ports-8080-9005",
                "ports-9006-9009"
            ]
        );
        let first = rules[3].1.ingress.as_ref().unwrap();
        assert_eq!(first.destination_ports.len(), 8);
        assert_eq!(first.cidrs, ["0.0.0.0/0"]);
        assert_eq!(
            rules[1].1.ingress.as_ref().unwrap().security_group_id,
            "sg-1"
        );
        assert!(rules[0].1.egress.is_some() && rules[0].1.ingress.is_none());
        assert_eq!(
            single_ports(&[r(1000, 1064)]).unwrap_err().code,
            "TooManyPorts"
        );
        assert_eq!(single_ports(&[r(0, 1)]).unwrap_err().code, "InvalidPorts");
    }
}
