//! The provider's verbs over Prime Intellect's API: register the cluster's key
//! as an account SSH key, create a pod for each missing node (named by role)
//! from the cheapest in-stock offer, list every cluster in one listing, delete,
//! and the catalog from the availability API.

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
use crate::model::{self, Availability, Pod, Role};

/// Rows per page (what `prime_cli` asks for).
const PAGE: u32 = 100;
/// The most pages a listing follows.
const MAX_PAGES: u32 = 40;
/// Offers tried per node before the region counts as out of capacity.
const TRIES: usize = 4;

/// Every pod of the account (`GET /api/v1/pods`, page by page).
fn all_pods() -> Result<Vec<Pod>, ProviderError> {
    let mut out = Vec::new();
    for page in 0..MAX_PAGES {
        let offset = page * PAGE;
        let answer = api::get(&format!("/pods?offset={offset}&limit={PAGE}"))?;
        // A malformed list is an error (never "nothing there": that would create
        // a cluster's pods twice).
        let list: Vec<Pod> = match answer.get("data") {
            None | Some(Value::Null) => Vec::new(),
            Some(list) => api::decode(list.clone())?,
        };
        let n = list.len() as u64;
        out.extend(list);
        let total = answer
            .get("total_count")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        if n == 0 || out.len() as u64 >= total {
            break;
        }
    }
    Ok(out)
}

/// The cluster's pods with their roles (by name), head first; terminated ones
/// left out.
fn members(all: &[Pod], cluster: &str) -> Vec<(Role, Pod)> {
    let mut found: Vec<(Role, Pod)> = all
        .iter()
        .filter(|p| p.status() != InstanceStatus::Terminated)
        .filter_map(|p| p.role_in(cluster).map(|r| (r, p.clone())))
        .collect();
    found.sort_by_key(|(r, _)| *r);
    found
}

/// Offers of `GET /api/v1/availability/gpus` (page by page, with `prime_cli`'s
/// filters `gpu_type` and `gpu_count` when given); one malformed row does not
/// hide the others.
fn availability(filter: Option<(&str, u32)>) -> Result<Vec<Availability>, ProviderError> {
    let mut out = Vec::new();
    let mut seen = 0u64;
    for page in 1..=MAX_PAGES {
        let mut path = format!("/availability/gpus?page={page}&page_size={PAGE}");
        if let Some((gpu, count)) = filter {
            path.push_str(&format!("&gpu_type={gpu}&gpu_count={count}"));
        }
        let answer = api::get(&path)?;
        let items = answer
            .get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        seen += items.len() as u64;
        let empty = items.is_empty();
        out.extend(
            items
                .into_iter()
                .filter_map(|i| serde_json::from_value::<Availability>(i).ok()),
        );
        let total = answer
            .get("totalCount")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        if empty || seen >= total {
            break;
        }
    }
    Ok(out)
}

/// The account's SSH keys (`GET /api/v1/ssh_keys/`): `(id, name, public key)`.
fn ssh_keys() -> Result<Vec<(String, String, String)>, ProviderError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Key {
        id: String,
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        public_key: Option<String>,
    }
    let answer = api::get(&format!("/ssh_keys/?offset=0&limit={PAGE}"))?;
    let keys: Vec<Key> = match answer.get("data") {
        None | Some(Value::Null) => Vec::new(),
        Some(list) => api::decode(list.clone())?,
    };
    Ok(keys
        .into_iter()
        .map(|k| {
            (
                k.id,
                k.name.unwrap_or_default(),
                k.public_key.unwrap_or_default(),
            )
        })
        .collect())
}

/// `TYPE BODY` of a public key line (its comment dropped).
fn key_body(key: &str) -> String {
    key.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

/// Registers `public_key` as the account SSH key `aloft-<cluster>` unless the
/// account has it already (Prime Intellect's pod API takes no key: pods get the
/// account's keys).
fn register_key(cluster: &str, public_key: &str) -> Result<(), ProviderError> {
    let want = key_body(public_key);
    let name = model::key_name_of(cluster);
    let keys = ssh_keys()?;
    if keys.iter().any(|(_, _, k)| key_body(k) == want) {
        return Ok(());
    }
    // A key of this cluster's name that is not its key now (an older
    // incarnation's) goes first.
    for (id, n, _) in keys.iter().filter(|(_, n, _)| *n == name) {
        log::debug(&format!("primeintellect: replacing account key {n} ({id})"));
        api::delete(&format!("/ssh_keys/{id}"))?;
    }
    api::post("/ssh_keys/", &json!({"name": name, "publicKey": want}))?;
    Ok(())
}

/// Deletes the account SSH key `aloft-<cluster>` (idempotent).
fn unregister_key(cluster: &str) -> Result<(), ProviderError> {
    let name = model::key_name_of(cluster);
    for (id, _, _) in ssh_keys()?.into_iter().filter(|(_, n, _)| *n == name) {
        api::delete(&format!("/ssh_keys/{id}"))?;
    }
    Ok(())
}

/// Creates the pod named `name` from the cheapest in-stock offer of `req`'s
/// instance type in its region; the new pod's id.
fn create(
    req: &RunRequest,
    name: &str,
    settings: &BTreeMap<String, String>,
) -> Result<String, ProviderError> {
    let region = req.cluster.region.as_str();
    let Some((count, gpu, socket)) = model::parse_instance_type(&req.instance_type) else {
        return Err(errors::unsupported(
            "UnknownInstanceType",
            "not a Prime Intellect instance type (such as 1x_RTX4090_24GB_PCIe)",
        ));
    };
    let mut rows: Vec<Availability> = availability(Some((&gpu, count)))?
        .into_iter()
        .filter(|a| {
            a.region().as_deref() == Some(region)
                && a.instance_type().as_deref() == Some(req.instance_type.as_str())
                && a.spot() == req.use_spot
                && a.in_stock()
                && a.price().is_some()
        })
        .collect();
    let kind = if req.use_spot { "spot" } else { "on-demand" };
    if rows.is_empty() {
        return Err(errors::capacity(
            "NoStock",
            &format!(
                "Prime Intellect has no {kind} {} in stock in {region} now",
                req.instance_type
            ),
        ));
    }
    rows.sort_by(|a, b| {
        a.price()
            .partial_cmp(&b.price())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut last = None;
    for row in rows.into_iter().take(TRIES) {
        let image = settings
            .get("image")
            .cloned()
            .or_else(|| row.images.as_ref().and_then(|i| i.first().cloned()));
        let disk = req
            .disk_size_gib
            .or_else(|| settings.get("disk_gib").and_then(|d| d.parse().ok()))
            .or_else(|| Availability::count_of(&row.disk));
        let mut pod = json!({
            "name": name,
            "cloudId": row.cloud_id,
            "gpuType": row.gpu_type,
            "socket": socket,
            "gpuCount": count,
        });
        let optional = [
            ("diskSize", disk.map(Value::from)),
            ("vcpus", Availability::count_of(&row.vcpu).map(Value::from)),
            (
                "memory",
                Availability::count_of(&row.memory).map(Value::from),
            ),
            ("image", image.map(Value::from)),
            ("dataCenterId", row.data_center.clone().map(Value::from)),
            ("country", row.country.clone().map(Value::from)),
            ("security", row.security.clone().map(Value::from)),
        ];
        for (key, value) in optional {
            if let Some(v) = value {
                pod[key] = v;
            }
        }
        let provider = match &row.provider {
            Some(p) => json!({"type": p}),
            None => json!({}),
        };
        match api::post("/pods", &json!({"pod": pod, "provider": provider})) {
            Ok(answer) => {
                return answer
                    .get("id")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .ok_or_else(|| {
                        errors::invalid("ResponseDecoding", "Prime Intellect's pod has no id")
                    });
            }
            Err(e) if e.kind == aloft_provider_sdk::types::ErrorKind::Capacity => {
                log::debug(&format!(
                    "primeintellect: offer {} refused: {}",
                    row.cloud_id, e.message
                ));
                last = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        errors::capacity(
            "NoStock",
            &format!(
                "Prime Intellect has no {} in {region} now",
                req.instance_type
            ),
        )
    }))
}

/// Registers the cluster's key, then creates the cluster's missing pods (one
/// each; the manifest declares no multi-node, since pods of different offers
/// share no network).
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
                "{:?} is not a Prime Intellect instance type (such as 1x_RTX4090_24GB_PCIe)",
                req.instance_type
            ),
        )));
    }
    if model::region_of(region).as_deref() != Some(region) {
        return Err(here(errors::unsupported(
            "UnknownRegion",
            "not a Prime Intellect region (a country code such as US)",
        )));
    }
    let all = all_pods()?;
    let existing = members(&all, cluster);
    let types: Vec<_> = existing
        .iter()
        .map(|(_, p)| (p, p.instance_type()))
        .collect();
    nodes::refuse_unlike(
        cluster,
        &req.instance_type,
        region,
        types.iter().map(|(p, t)| nodes::Have {
            node: &p.id,
            instance_type: t.as_deref(),
            region: None,
        }),
    )?;
    let roles: Vec<Role> = existing.iter().map(|(r, _)| *r).collect();
    let missing = model::roles_to_launch(&roles, req.count);
    if let Some(key) = req
        .ssh_public_key
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty())
    {
        // Before any pod: a pod gets the keys the account has when it is made.
        if !missing.is_empty() {
            register_key(cluster, key).map_err(here)?;
        }
    }
    let mut created = Vec::new();
    for role in missing {
        created.push(create(req, &model::name_of(cluster, role), settings).map_err(here)?);
    }
    let all = if created.is_empty() { all } else { all_pods()? };
    Ok(RunResult {
        instances: to_instances(cluster, &all, settings),
        created,
        resumed: Vec::new(),
    })
}

fn to_instances(cluster: &str, all: &[Pod], settings: &BTreeMap<String, String>) -> Vec<Instance> {
    let default_user = settings
        .get("ssh_user")
        .cloned()
        .unwrap_or_else(|| "root".into());
    members(all, cluster)
        .into_iter()
        .map(|(role, p)| {
            let ssh = p.ssh();
            Instance {
                id: p.id.clone(),
                is_head: role == Role::Head,
                status: p.status(),
                instance_type: p.instance_type().unwrap_or_default(),
                zone: None,
                spot: p.is_spot == Some(true),
                public_ip: ssh.as_ref().map(|(_, host, _)| host.clone()),
                private_ip: None,
                ssh_port: ssh.as_ref().map_or(22, |(_, _, port)| *port),
                ssh_user: Some(
                    ssh.and_then(|(user, _, _)| user)
                        .unwrap_or_else(|| default_user.clone()),
                ),
                extra: Vec::new(),
            }
        })
        .collect()
}

/// Every cluster's pods, from one listing.
pub fn query(
    clusters: &[ClusterRef],
    settings: &BTreeMap<String, String>,
) -> Result<Vec<ClusterInstances>, ProviderError> {
    let all = all_pods()?;
    Ok(clusters
        .iter()
        .map(|c| ClusterInstances {
            cluster: c.clone(),
            instances: to_instances(&c.cluster, &all, settings),
        })
        .collect())
}

/// Deletes the cluster's pods, then its account key (idempotent: nothing left is
/// success).
pub fn terminate(cluster: &ClusterRef) -> Result<(), ProviderError> {
    for (_, p) in members(&all_pods()?, &cluster.cluster) {
        api::delete(&format!("/pods/{}", p.id))?;
    }
    unregister_key(&cluster.cluster)
}

/// Prime Intellect's pod API has no stop.
pub fn stop(_cluster: &ClusterRef) -> Result<(), ProviderError> {
    Err(errors::unsupported(
        "NoStop",
        "Prime Intellect pods cannot be stopped (its API has no stop): `aloft down` \
         deletes them",
    ))
}

/// The pod API takes no port configuration: nothing can be opened.
pub fn open_ports(_cluster: &ClusterRef, ports: &[PortRange]) -> Result<(), ProviderError> {
    if ports.is_empty() {
        return Ok(());
    }
    Err(errors::unsupported(
        "NoPorts",
        "Prime Intellect's pod API takes no ports to open",
    ))
}

/// Regions: the countries of today's offers.
pub fn regions() -> Result<Vec<Region>, ProviderError> {
    let mut names: Vec<String> = availability(None)?
        .iter()
        .filter_map(Availability::region)
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

/// The key is valid when `GET /api/v1/user/whoami` answers.
pub fn check_credentials() -> Result<Identity, ProviderError> {
    #[derive(Deserialize)]
    struct Me {
        #[serde(default)]
        id: Option<String>,
        #[serde(default)]
        email: Option<String>,
        #[serde(default)]
        name: Option<String>,
    }
    let answer = api::get("/user/whoami")?;
    let me: Me = api::decode(answer.get("data").cloned().unwrap_or(Value::Null))?;
    let account = me
        .email
        .filter(|e| !e.is_empty())
        .or(me.name)
        .or(me.id)
        .map(|s| s.chars().take(200).collect())
        .unwrap_or_else(|| "primeintellect".into());
    Ok(Identity {
        account,
        details: Vec::new(),
    })
}

/// Catalog rows from the availability API, for `region` or every region.
pub fn offers(region: Option<&str>) -> Result<Vec<Offer>, ProviderError> {
    Ok(model::offers(&availability(None)?, region))
}
