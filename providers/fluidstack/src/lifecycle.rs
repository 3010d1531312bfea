//! The provider's verbs over Fluidstack's API: register the cluster's key as an
//! account SSH key, create an instance for each missing node (named by role) of
//! a configuration offered in the region, start stopped ones, list every cluster
//! in one listing, stop, delete, and the catalog from the available
//! configurations.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use aloft_provider_sdk::nodes;
use aloft_provider_sdk::types::{
    ClusterInstances, ClusterRef, Identity, Instance, InstanceStatus, Offer, PortRange,
    ProviderError, Region, RunRequest, RunResult,
};
use aloft_provider_sdk::{errors, log};

use crate::api;
use crate::model::{self, Configuration, FsInstance, Role};

/// The operating systems the package's `SupportedOperatingSystem` names.
const OPERATING_SYSTEMS: &[&str] = &["ubuntu_20_04_lts_nvidia", "ubuntu_22_04_lts_nvidia"];

/// Every instance of the account (`GET /instances`, as the package's
/// `instances.list()` asks, without a page). A malformed row is an error, never
/// "nothing there" (that would create a cluster's instances twice).
fn all_instances() -> Result<Vec<FsInstance>, ProviderError> {
    api::decode(api::get("instances")?)
}

/// The cluster's instances with their roles (by name), head first; terminated
/// ones left out.
fn members(all: &[FsInstance], cluster: &str) -> Vec<(Role, FsInstance)> {
    let mut found: Vec<(Role, FsInstance)> = all
        .iter()
        .filter(|i| i.status() != InstanceStatus::Terminated)
        .filter_map(|i| i.role_in(cluster).map(|r| (r, i.clone())))
        .collect();
    found.sort_by_key(|(r, _)| *r);
    found
}

/// `GET /list_available_configurations`; one malformed row does not hide the
/// others.
fn configurations() -> Result<Vec<Configuration>, ProviderError> {
    let rows: Vec<Value> = api::decode(api::get("list_available_configurations")?)?;
    Ok(rows
        .into_iter()
        .filter_map(|r| serde_json::from_value::<Configuration>(r).ok())
        .collect())
}

/// The account's SSH keys (`GET /ssh_keys`): `(name, public key)`.
fn ssh_keys() -> Result<Vec<(String, String)>, ProviderError> {
    #[derive(Deserialize)]
    struct Key {
        name: String,
        #[serde(default)]
        public_key: Option<String>,
    }
    let keys: Vec<Key> = api::decode(api::get("ssh_keys")?)?;
    Ok(keys
        .into_iter()
        .map(|k| (k.name, k.public_key.unwrap_or_default()))
        .collect())
}

/// `TYPE BODY` of a public key line (its comment dropped).
fn key_body(key: &str) -> String {
    key.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

/// Registers `public_key` as the account SSH key `aloft-<cluster>` (an
/// instance is created with the name of an account key); the name to create
/// instances with.
fn register_key(cluster: &str, public_key: &str) -> Result<String, ProviderError> {
    let want = key_body(public_key);
    let name = model::key_name_of(cluster);
    let keys = ssh_keys()?;
    if keys.iter().any(|(n, k)| *n == name && key_body(k) == want) {
        return Ok(name);
    }
    // A key of this cluster's name that is not its key now (an older
    // incarnation's) goes first.
    if keys.iter().any(|(n, _)| *n == name) {
        log::debug(&format!("fluidstack: replacing account key {name}"));
        api::delete(&format!("ssh_keys/{name}"))?;
    }
    api::post("ssh_keys", &json!({"name": name, "public_key": want}))?;
    Ok(name)
}

/// Deletes the account SSH key `aloft-<cluster>` (idempotent).
fn unregister_key(cluster: &str) -> Result<(), ProviderError> {
    let name = model::key_name_of(cluster);
    if ssh_keys()?.iter().any(|(n, _)| *n == name) {
        api::delete(&format!("ssh_keys/{name}"))?;
    }
    Ok(())
}

/// Creates the cluster's missing instances, in order, after checking that the
/// region offers the configuration now (else a capacity error before any
/// create).
fn create_all(
    req: &RunRequest,
    names: &[String],
    key_name: &str,
    settings: &BTreeMap<String, String>,
) -> Result<(), ProviderError> {
    let region = req.cluster.region.as_str();
    let Some((count, gpu)) = model::parse_instance_type(&req.instance_type) else {
        return Err(errors::unsupported(
            "UnknownInstanceType",
            "not a Fluidstack instance type (such as 8x_H100_SXM5_80GB)",
        ));
    };
    if !configurations()?
        .iter()
        .any(|c| c.offers(&gpu, count, region))
    {
        return Err(errors::capacity(
            "OutOfStock",
            &format!(
                "Fluidstack offers no {} in {region} now (not among its available \
                 configurations)",
                req.instance_type
            ),
        ));
    }
    let os = settings
        .get("os")
        .map(String::as_str)
        .unwrap_or(model::DEFAULT_OS);
    if !OPERATING_SYSTEMS.contains(&os) {
        return Err(errors::invalid(
            "UnknownOperatingSystem",
            &format!(
                "providers.fluidstack.os must be one of {}",
                OPERATING_SYSTEMS.join(", ")
            ),
        ));
    }
    for name in names {
        // The package's create answers nothing (no id): the instance is found
        // by its name in the listing afterwards.
        api::post(
            "instances",
            &json!({
                "name": name,
                "gpu_type": gpu,
                "gpu_count": count,
                "ssh_key": key_name,
                "operating_system_label": os,
                "region": region,
            }),
        )?;
    }
    Ok(())
}

/// Registers the cluster's key, deletes failed nodes, starts stopped ones and
/// creates the missing ones (idempotent by name).
pub fn run(
    req: &RunRequest,
    settings: &BTreeMap<String, String>,
) -> Result<RunResult, ProviderError> {
    let region = req.cluster.region.as_str();
    let cluster = req.cluster.cluster.as_str();
    let here = |e: ProviderError| errors::in_zone(e, region, None);
    if model::parse_instance_type(&req.instance_type).is_none() {
        return Err(here(errors::unsupported(
            "UnknownInstanceType",
            &format!(
                "{:?} is not a Fluidstack instance type (such as 8x_H100_SXM5_80GB)",
                req.instance_type
            ),
        )));
    }
    if req.use_spot {
        return Err(here(errors::unsupported(
            "NoSpot",
            "Fluidstack offers no spot or interruptible instances",
        )));
    }
    if !model::is_region(region) {
        return Err(here(errors::unsupported(
            "UnknownRegion",
            "not a Fluidstack region (such as NORWAY or TEXAS_USA)",
        )));
    }
    let mut all = all_instances()?;
    // A failed node is deleted and made again.
    let failed: Vec<String> = members(&all, cluster)
        .into_iter()
        .filter(|(_, i)| i.failed())
        .map(|(_, i)| i.id)
        .collect();
    for id in &failed {
        log::info(&format!("fluidstack: deleting failed instance {id}"));
        api::delete(&format!("instances/{id}")).map_err(here)?;
    }
    if !failed.is_empty() {
        all = all_instances()?;
    }
    let existing: Vec<(Role, FsInstance)> = members(&all, cluster)
        .into_iter()
        .filter(|(_, i)| !i.failed())
        .collect();
    let types: Vec<_> = existing
        .iter()
        .map(|(_, i)| (i, i.instance_type()))
        .collect();
    nodes::refuse_unlike(
        cluster,
        &req.instance_type,
        region,
        types.iter().map(|(i, t)| nodes::Have {
            node: &i.id,
            instance_type: t.as_deref(),
            region: None,
        }),
    )?;
    let mut resumed = Vec::new();
    for (_, i) in existing
        .iter()
        .filter(|(_, i)| i.status() == InstanceStatus::Stopped)
    {
        api::put(&format!("instances/{}/start", i.id)).map_err(here)?;
        resumed.push(i.id.clone());
    }
    let roles: Vec<Role> = existing.iter().map(|(r, _)| *r).collect();
    let missing: Vec<String> = model::roles_to_launch(&roles, req.count)
        .into_iter()
        .map(|r| model::name_of(cluster, r))
        .collect();
    let mut created = Vec::new();
    if !missing.is_empty() {
        let key = req
            .ssh_public_key
            .as_deref()
            .map(str::trim)
            .filter(|k| !k.is_empty());
        let key_name = match key {
            Some(key) => register_key(cluster, key).map_err(here)?,
            // No key of the cluster's own: the create call still names an
            // account key, so the account's first one (by name) is used.
            None => {
                let mut names: Vec<String> = ssh_keys()?.into_iter().map(|(n, _)| n).collect();
                names.sort();
                names.into_iter().next().ok_or_else(|| {
                    here(errors::invalid(
                        "NoSshKey",
                        "Fluidstack creates an instance with an account SSH key: the \
                         request has no public key and the account holds none",
                    ))
                })?
            }
        };
        create_all(req, &missing, &key_name, settings).map_err(here)?;
        all = all_instances()?;
        created = members(&all, cluster)
            .into_iter()
            .filter(|(_, i)| i.name.as_ref().is_some_and(|n| missing.contains(n)))
            .map(|(_, i)| i.id)
            .collect();
    } else if !resumed.is_empty() {
        all = all_instances()?;
    }
    Ok(RunResult {
        instances: to_instances(cluster, &all, settings),
        created,
        resumed,
    })
}

fn to_instances(
    cluster: &str,
    all: &[FsInstance],
    settings: &BTreeMap<String, String>,
) -> Vec<Instance> {
    let default_user = settings
        .get("ssh_user")
        .cloned()
        .unwrap_or_else(|| "ubuntu".into());
    members(all, cluster)
        .into_iter()
        .map(|(role, i)| Instance {
            id: i.id.clone(),
            is_head: role == Role::Head,
            status: i.status(),
            instance_type: i.instance_type().unwrap_or_default(),
            zone: None,
            spot: false,
            public_ip: i.address(),
            private_ip: None,
            ssh_port: i.port(),
            ssh_user: Some(i.user().unwrap_or_else(|| default_user.clone())),
            extra: Vec::new(),
        })
        .collect()
}

/// Every cluster's instances, from one listing.
pub fn query(
    clusters: &[ClusterRef],
    settings: &BTreeMap<String, String>,
) -> Result<Vec<ClusterInstances>, ProviderError> {
    let all = all_instances()?;
    Ok(clusters
        .iter()
        .map(|c| ClusterInstances {
            cluster: c.clone(),
            instances: to_instances(&c.cluster, &all, settings),
        })
        .collect())
}

/// Stops the cluster's running instances (`PUT /instances/{id}/stop`).
pub fn stop(cluster: &ClusterRef) -> Result<(), ProviderError> {
    for (_, i) in members(&all_instances()?, &cluster.cluster) {
        if matches!(
            i.status(),
            InstanceStatus::Running | InstanceStatus::Pending
        ) {
            api::put(&format!("instances/{}/stop", i.id))?;
        }
    }
    Ok(())
}

/// Deletes the cluster's instances, then its account key (idempotent: nothing
/// left is success).
pub fn terminate(cluster: &ClusterRef) -> Result<(), ProviderError> {
    for (_, i) in members(&all_instances()?, &cluster.cluster) {
        api::delete(&format!("instances/{}", i.id))?;
    }
    unregister_key(&cluster.cluster)
}

/// The instance API takes no firewall or port configuration: nothing can be
/// opened.
pub fn open_ports(_cluster: &ClusterRef, ports: &[PortRange]) -> Result<(), ProviderError> {
    if ports.is_empty() {
        return Ok(());
    }
    Err(errors::unsupported(
        "NoPorts",
        "Fluidstack's instance API takes no ports to open",
    ))
}

/// Regions: those of today's configurations.
pub fn regions() -> Result<Vec<Region>, ProviderError> {
    let mut names: Vec<String> = configurations()?
        .into_iter()
        .flat_map(|c| c.regions)
        .filter(|r| model::is_region(r))
        .collect();
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

/// The key is valid when `GET /ssh_keys` answers (the API has no account
/// call); the identity says how many account keys it holds.
pub fn check_credentials() -> Result<Identity, ProviderError> {
    let keys = ssh_keys()?;
    Ok(Identity {
        account: "fluidstack".into(),
        details: vec![("ssh_keys".into(), keys.len().to_string())],
    })
}

/// Catalog rows from the available configurations, for `region` or every
/// region.
pub fn offers(region: Option<&str>) -> Result<Vec<Offer>, ProviderError> {
    Ok(model::offers(&configurations()?, region))
}
