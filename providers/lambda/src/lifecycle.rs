//! The provider's verbs over Lambda Cloud's API: launch a cluster's missing nodes,
//! list many clusters in one call, terminate, and the catalog.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::json;

use aloft_provider_sdk::nodes;
use aloft_provider_sdk::signing::sha256_hex;
use aloft_provider_sdk::types::{
    ClusterInstances, ClusterRef, Identity, Instance, Offer, ProviderError, Region, RunRequest,
    RunResult,
};
use aloft_provider_sdk::{errors, kv, log};

use crate::api;
use crate::model::{self, LambdaInstance, MAX_NAME, Role, TypeEntry};

/// Ids aloft itself terminated for a cluster: history, not preemptions.
fn gone_key(region: &str, cluster: &str) -> String {
    format!("terminated/{region}/{cluster}")
}

fn terminated_by_us(region: &str, cluster: &str) -> Vec<String> {
    kv::get(&gone_key(region, cluster))
        .and_then(|v| serde_json::from_str(&v).ok())
        .unwrap_or_default()
}

/// Every instance of the account (one call answers for every cluster).
fn list() -> Result<Vec<LambdaInstance>, ProviderError> {
    api::get("instances")
}

/// The instance types, with where each has capacity now.
fn instance_types() -> Result<BTreeMap<String, TypeEntry>, ProviderError> {
    api::get("instance-types")
}

/// The nodes of `cluster`, with their roles.
fn members<'a>(
    all: &'a [LambdaInstance],
    cluster: &str,
) -> impl Iterator<Item = (Role, &'a LambdaInstance)> {
    all.iter()
        .filter_map(move |i| i.role_in(cluster).map(|role| (role, i)))
}

/// The name of the account's SSH key holding `public_key`, registered as
/// `aloft-<hash>` when missing; without a key, the account's first key (Lambda
/// launches need exactly one).
fn ssh_key_name(public_key: Option<&str>, cluster: &str) -> Result<String, ProviderError> {
    let keys: Vec<SshKey> = api::get("ssh-keys")?;
    let Some(public_key) = public_key.map(str::trim) else {
        return keys.into_iter().next().map(|k| k.name).ok_or_else(|| {
            errors::invalid(
                "NoSshKey",
                "Lambda Cloud launches need an SSH key: add one to the account",
            )
        });
    };
    // Compare key type and body only: the comment may differ.
    let body = |k: &str| k.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    if let Some(k) = keys
        .iter()
        .find(|k| body(&k.public_key) == body(public_key))
    {
        return Ok(k.name.clone());
    }
    let name = format!("aloft-{}", &sha256_hex(body(public_key).as_bytes())[..12]);
    // Noted before the call: a crash after it must not leave the key unowned.
    kv::set(&key_note(cluster), &name);
    let _: serde_json::Value =
        api::post("ssh-keys", &json!({"name": name, "public_key": public_key}))?;
    Ok(name)
}

/// An SSH key of the account.
#[derive(Deserialize)]
struct SshKey {
    #[serde(default)]
    id: String,
    name: String,
    #[serde(default)]
    public_key: String,
}

/// Where the name of the SSH key registered for `cluster` is noted (each cluster
/// has a key of its own; it goes with the cluster).
fn key_note(cluster: &str) -> String {
    format!("ssh-key/{cluster}")
}

/// Deletes the SSH key registered for `cluster`, if any (a key that was in the
/// account already is never noted, so it stays).
fn delete_ssh_key(cluster: &str) -> Result<(), ProviderError> {
    let Some(name) = kv::get(&key_note(cluster)) else {
        return Ok(());
    };
    let keys: Vec<SshKey> = api::get("ssh-keys")?;
    for key in keys.iter().filter(|k| k.name == name) {
        match api::delete::<serde_json::Value>(&format!("ssh-keys/{}", key.id)) {
            Err(e) if e.code != "global/object-does-not-exist" => return Err(e),
            _ => {}
        }
    }
    kv::delete(&key_note(cluster));
    Ok(())
}

/// Launches the cluster's missing nodes, one launch per node, named by role.
pub fn run(
    req: &RunRequest,
    settings: &BTreeMap<String, String>,
) -> Result<RunResult, ProviderError> {
    let region = req.cluster.region.as_str();
    let cluster = req.cluster.cluster.as_str();
    let here = |e: ProviderError| errors::in_zone(e, region, None);
    if req.use_spot {
        return Err(here(errors::unsupported(
            "NoSpot",
            "Lambda Cloud has no spot instances",
        )));
    }
    if req.image_id.is_some() {
        return Err(here(errors::unsupported(
            "NoCustomImages",
            "this provider launches Lambda's default image (Lambda Stack); image_id is not supported",
        )));
    }
    if !req.ports.is_empty() {
        log::info(&format!(
            "lambda: ports are not opened for {cluster}: Lambda Cloud's firewall is account-wide, set its rules in the Lambda dashboard"
        ));
    }
    let longest = model::name_of(cluster, Role::Worker(req.count.max(1)));
    if longest.len() > MAX_NAME {
        return Err(errors::invalid(
            "NameTooLong",
            &format!(
                "instance name {longest} is longer than Lambda's {MAX_NAME} characters: use a shorter cluster name"
            ),
        ));
    }
    let all = list()?;
    let existing: Vec<(Role, &LambdaInstance)> = members(&all, cluster)
        .filter(|(_, i)| !i.is_gone())
        .collect();
    nodes::refuse_unlike(
        cluster,
        &req.instance_type,
        region,
        existing.iter().map(|(_, i)| nodes::Have {
            node: &i.id,
            instance_type: Some(i.type_name()),
            region: Some(i.region_name().unwrap_or("another region")),
        }),
    )?;
    let roles: Vec<Role> = existing.iter().map(|(r, _)| *r).collect();
    let to_launch = model::roles_to_launch(&roles, req.count);
    let mut created = Vec::new();
    if !to_launch.is_empty() {
        // Capacity is checked on the cheap, lightly rate-limited list first: a
        // launch costs one of the ~6 launches a minute Lambda allows.
        let types = instance_types()?;
        let Some(entry) = types.get(&req.instance_type) else {
            return Err(here(errors::unsupported(
                "UnknownInstanceType",
                &format!("Lambda Cloud does not offer {}", req.instance_type),
            )));
        };
        if !entry.has_capacity_in(region) {
            let elsewhere: Vec<&str> = entry
                .regions_with_capacity_available
                .iter()
                .map(|r| r.name.as_str())
                .collect();
            return Err(here(errors::capacity(
                "instance-operations/launch/insufficient-capacity",
                &format!(
                    "no capacity for {} in {region} (regions with capacity: {})",
                    req.instance_type,
                    if elsewhere.is_empty() {
                        "none".to_string()
                    } else {
                        elsewhere.join(", ")
                    }
                ),
            )));
        }
        let key = ssh_key_name(req.ssh_public_key.as_deref(), cluster)?;
        #[derive(Deserialize)]
        struct Launched {
            instance_ids: Vec<String>,
        }
        for role in to_launch {
            let launched: Launched = api::post(
                "instance-operations/launch",
                &json!({
                    "region_name": region,
                    "instance_type_name": req.instance_type,
                    "ssh_key_names": [key],
                    "quantity": 1,
                    "name": model::name_of(cluster, role),
                }),
            )
            .map_err(here)?;
            created.extend(launched.instance_ids);
        }
    }
    let all = list()?;
    let mine: Vec<LambdaInstance> = members(&all, cluster)
        .filter(|(_, i)| !i.is_gone())
        .map(|(_, i)| i.clone())
        .collect();
    Ok(RunResult {
        instances: to_instances(cluster, &mine, settings, &[]),
        created,
        resumed: Vec::new(),
    })
}

fn to_instances(
    cluster: &str,
    found: &[LambdaInstance],
    settings: &BTreeMap<String, String>,
    ours: &[String],
) -> Vec<Instance> {
    let user = settings
        .get("ssh_user")
        .cloned()
        .unwrap_or_else(|| "ubuntu".into());
    found
        .iter()
        .filter_map(|i| {
            let role = i.role_in(cluster)?;
            let by_us = ours.contains(&i.id);
            // What aloft terminated itself is history once it is gone.
            if by_us && i.status == "terminated" {
                return None;
            }
            Some(Instance {
                id: i.id.clone(),
                is_head: role == Role::Head,
                status: model::status(&i.status, by_us),
                instance_type: i.type_name().to_string(),
                zone: None,
                spot: false,
                public_ip: i.ip.clone().filter(|ip| !ip.is_empty()),
                private_ip: i.private_ip.clone().filter(|ip| !ip.is_empty()),
                ssh_port: 22,
                ssh_user: Some(user.clone()),
                extra: Vec::new(),
            })
        })
        .collect()
}

/// Every cluster's instances, from one `GET /instances`.
pub fn query(
    clusters: &[ClusterRef],
    settings: &BTreeMap<String, String>,
) -> Result<Vec<ClusterInstances>, ProviderError> {
    let all = list()?;
    Ok(clusters
        .iter()
        .map(|c| {
            let ours = terminated_by_us(&c.region, &c.cluster);
            let mine: Vec<LambdaInstance> = members(&all, &c.cluster)
                .filter(|(_, i)| i.region_name().is_none_or(|r| r == c.region))
                .map(|(_, i)| i.clone())
                .collect();
            ClusterInstances {
                cluster: c.clone(),
                instances: to_instances(&c.cluster, &mine, settings, &ours),
            }
        })
        .collect())
}

/// Terminates the cluster's nodes (idempotent: nothing left is success).
pub fn terminate(cluster: &ClusterRef) -> Result<(), ProviderError> {
    let all = list()?;
    let mine: Vec<&LambdaInstance> = members(&all, &cluster.cluster)
        .filter(|(_, i)| i.region_name().is_none_or(|r| r == cluster.region))
        .map(|(_, i)| i)
        .collect();
    // Recorded first: a crash after the call must not turn these into "preempted".
    let mut ours = terminated_by_us(&cluster.region, &cluster.cluster);
    ours.extend(mine.iter().map(|i| i.id.clone()));
    ours.sort();
    ours.dedup();
    if let Ok(text) = serde_json::to_string(&ours) {
        kv::set(&gone_key(&cluster.region, &cluster.cluster), &text);
    }
    let live: Vec<&str> = mine
        .iter()
        .filter(|i| !i.is_gone())
        .map(|i| i.id.as_str())
        .collect();
    if !live.is_empty() {
        match api::post::<serde_json::Value>(
            "instance-operations/terminate",
            &json!({ "instance_ids": live }),
        ) {
            // Gone between the list and the call: what was asked is done.
            Err(e) if e.code != "global/object-does-not-exist" => return Err(e),
            _ => {}
        }
    }
    delete_ssh_key(&cluster.cluster)
}

/// Lambda Cloud has no stopped state.
pub fn stop(cluster: &ClusterRef) -> Result<(), ProviderError> {
    Err(errors::unsupported(
        "StopNotSupported",
        &format!(
            "Lambda Cloud cannot stop instances (it has no stopped state); `aloft down {}` terminates the cluster",
            cluster.cluster
        ),
    ))
}

/// Regions: Lambda's known list plus any the API reports capacity in.
pub fn regions() -> Result<Vec<Region>, ProviderError> {
    let mut names: Vec<String> = model::REGIONS.iter().map(|r| r.to_string()).collect();
    for entry in instance_types()?.values() {
        names.extend(
            entry
                .regions_with_capacity_available
                .iter()
                .map(|r| r.name.clone()),
        );
    }
    names.sort();
    names.dedup();
    Ok(names
        .into_iter()
        .map(|name| Region {
            name,
            zones: Vec::new(),
        })
        .collect())
}

/// The key is valid when the account answers (Lambda has no "who am I" call).
pub fn check_credentials() -> Result<Identity, ProviderError> {
    #[derive(Deserialize)]
    struct Key {
        name: String,
    }
    let keys: Vec<Key> = api::get("ssh-keys")?;
    Ok(Identity {
        account: "lambda-cloud".into(),
        details: vec![(
            "ssh_keys".into(),
            keys.iter()
                .map(|k| k.name.as_str())
                .collect::<Vec<_>>()
                .join(","),
        )],
    })
}

/// Catalog rows for `region` (every known region when none).
pub fn offers(region: Option<&str>) -> Result<Vec<Offer>, ProviderError> {
    let types = instance_types()?;
    let regions: Vec<String> = match region {
        Some(r) => vec![r.to_string()],
        None => model::REGIONS.iter().map(|r| r.to_string()).collect(),
    };
    Ok(model::offers(&types, &regions))
}
