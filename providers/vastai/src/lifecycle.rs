//! The provider's verbs over Vast.ai's API: rent an offer for each missing node
//! (labelled by role), attach the cluster's SSH key, start stopped instances,
//! list every cluster in one listing, stop, destroy, and the catalog from live
//! offer searches.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use aloft_provider_sdk::nodes;
use aloft_provider_sdk::signing::sha256_hex;
use aloft_provider_sdk::types::{
    ClusterInstances, ClusterRef, Identity, Instance, InstanceStatus, Offer, PortRange,
    ProviderError, Region, RunRequest, RunResult,
};
use aloft_provider_sdk::{errors, kv, log};

use crate::api::{self, query_value};
use crate::model::{self, Ask, Role, VastInstance};

/// Instances per listing page (what Vast.ai's SDK asks for).
const PAGE: u32 = 25;
/// The most pages a listing follows (a runaway `next_token` ends here).
const MAX_PAGES: u32 = 40;
/// Offers tried per node before the region counts as out of capacity.
const TRIES: usize = 4;
/// The disk an instance gets unless the task or the settings say (GiB).
const DEFAULT_DISK_GIB: u32 = 32;

/// Every instance of the account (`GET /api/v1/instances/`, page by page).
fn all_instances() -> Result<Vec<VastInstance>, ProviderError> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut path = format!(
            "/api/v1/instances/?select_filters={}&order_by={}&limit={PAGE}",
            query_value("{}"),
            query_value(r#"[{"col": "id", "dir": "asc"}]"#),
        );
        if let Some(token) = &after {
            path.push_str(&format!("&after_token={}", query_value(token)));
        }
        let answer = api::get(&path)?;
        // A missing list is empty; a malformed one is an error (never "nothing
        // there": that would rent a cluster's nodes twice).
        let page: Vec<VastInstance> = match answer.get("instances") {
            None | Some(Value::Null) => Vec::new(),
            Some(list) => api::decode(list.clone())?,
        };
        out.extend(page);
        after = match answer.get("next_token") {
            Some(Value::String(t)) if !t.is_empty() => Some(t.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        if after.is_none() {
            break;
        }
    }
    Ok(out)
}

/// The cluster's instances with their roles (by label), head first.
fn members(all: &[VastInstance], cluster: &str) -> Vec<(Role, VastInstance)> {
    let mut found: Vec<(Role, VastInstance)> = all
        .iter()
        .filter_map(|i| i.role_in(cluster).map(|r| (r, i.clone())))
        .collect();
    found.sort_by_key(|(r, _)| *r);
    found
}

/// `PUT /api/v0/instances/{id}/` with `{"state": state}`.
fn set_state(id: u64, state: &str) -> Result<(), ProviderError> {
    api::call(
        "PUT",
        &format!("/api/v0/instances/{id}/"),
        &json!({"state": state}),
    )?;
    Ok(())
}

/// Where the key attached to an instance is noted (so a relaunch does not attach
/// it again).
fn key_note(id: u64) -> String {
    format!("ssh-key/{id}")
}

/// Attaches `public_key` to the instance (`POST /api/v0/instances/{id}/ssh/`),
/// unless it was attached already.
fn attach_key(id: u64, public_key: &str) -> Result<(), ProviderError> {
    let digest = sha256_hex(public_key.as_bytes());
    if kv::get(&key_note(id)).as_deref() == Some(digest.as_str()) {
        return Ok(());
    }
    match api::call(
        "POST",
        &format!("/api/v0/instances/{id}/ssh/"),
        &json!({"ssh_key": public_key}),
    ) {
        Ok(_) => {}
        Err(e) if e.message.to_ascii_lowercase().contains("already") => {}
        Err(e) => return Err(e),
    }
    kv::set(&key_note(id), &digest);
    Ok(())
}

/// The search body for offers of `count` × `gpu` (`type`: `on-demand` or `bid`),
/// cheapest first, with the defaults Vast.ai's CLI applies.
fn search_body(gpu: Option<(u32, &str)>, offer_type: &str, limit: u32, disk_gib: u32) -> Value {
    let mut q = json!({
        "verified": {"eq": true},
        "external": {"eq": false},
        "rentable": {"eq": true},
        "rented": {"eq": false},
        "order": [["dph_total", "asc"]],
        "type": offer_type,
        "limit": limit,
        "allocated_storage": disk_gib,
    });
    if let Some((count, name)) = gpu {
        q["gpu_name"] = json!({"eq": name});
        q["num_gpus"] = json!({"eq": count});
    }
    q
}

/// Offers matching a search body (`POST /api/v0/bundles/`).
fn search(body: &Value) -> Result<Vec<Ask>, ProviderError> {
    let answer = api::call("POST", "/api/v0/bundles/", body)?;
    match answer.get("offers") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(list) => {
            // One malformed offer does not hide the others.
            let list = list.as_array().cloned().unwrap_or_default();
            Ok(list
                .into_iter()
                .filter_map(|o| serde_json::from_value(o).ok())
                .collect())
        }
    }
}

/// Rents an offer of `req`'s instance type in its region for the node labelled
/// `label`; the new instance's id.
fn rent(
    req: &RunRequest,
    label: &str,
    settings: &BTreeMap<String, String>,
) -> Result<u64, ProviderError> {
    let region = req.cluster.region.as_str();
    let Some((count, gpu)) = model::parse_instance_type(&req.instance_type) else {
        return Err(errors::unsupported(
            "UnknownInstanceType",
            "not a Vast.ai instance type (such as 1x_RTX_4090)",
        ));
    };
    let disk = req
        .disk_size_gib
        .or_else(|| settings.get("disk_gib").and_then(|d| d.parse().ok()))
        .unwrap_or(DEFAULT_DISK_GIB)
        .clamp(8, 4096);
    let offer_type = if req.use_spot { "bid" } else { "on-demand" };
    let asks = search(&search_body(Some((count, &gpu)), offer_type, 64, disk))?;
    let here: Vec<&Ask> = asks
        .iter()
        .filter(|a| {
            a.region().as_deref() == Some(region)
                && a.instance_type().as_deref() == Some(req.instance_type.as_str())
        })
        .collect();
    if here.is_empty() {
        return Err(errors::capacity(
            "NoOffer",
            &format!(
                "Vast.ai has no {offer_type} offer of {} in {region} now",
                req.instance_type
            ),
        ));
    }
    let image = match req.image_id.as_deref() {
        Some(id) => model::image_of(id).ok_or_else(|| {
            errors::invalid(
                "BadImage",
                "image_id must be a Docker image (docker:repo:tag)",
            )
        })?,
        None => settings
            .get("image")
            .and_then(|i| model::image_of(i))
            .unwrap_or_else(|| model::DEFAULT_IMAGE.to_string()),
    };
    let ports: Vec<(u16, u16)> = req
        .ports
        .iter()
        .map(|p| (p.start, p.end.max(p.start)))
        .collect();
    let env: serde_json::Map<String, Value> = model::port_env(&ports)
        .into_iter()
        .map(|k| (k, json!("1")))
        .collect();
    let mut last = None;
    for ask in here.into_iter().take(TRIES) {
        let mut body = json!({
            "client_id": "me",
            "image": image,
            "disk": disk,
            "label": label,
            "env": env,
            "runtype": "ssh_direc ssh_proxy",
            "cancel_unavail": true,
        });
        if req.use_spot {
            let Some(bid) = ask.bid() else { continue };
            body["price"] = json!(bid);
        }
        match api::call("PUT", &format!("/api/v0/asks/{}/", ask.id), &body) {
            Ok(answer) => {
                return answer
                    .get("new_contract")
                    .and_then(Value::as_u64)
                    .ok_or_else(|| {
                        errors::invalid(
                            "ResponseDecoding",
                            "Vast.ai's create answer has no new_contract",
                        )
                    });
            }
            Err(e) if e.code == "OfferUnavailable" => {
                log::debug(&format!("vastai: offer {} is gone: {}", ask.id, e.message));
                last = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        errors::capacity(
            "NoOffer",
            &format!(
                "Vast.ai has no offer of {} in {region} now",
                req.instance_type
            ),
        )
    }))
}

/// Rents the cluster's missing nodes (one instance each; the manifest declares
/// no multi-node, so aloft never plans more than one, as their hosts share no
/// network), starts stopped ones and attaches the cluster's key.
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
                "{:?} is not a Vast.ai instance type (such as 1x_RTX_4090)",
                req.instance_type
            ),
        )));
    }
    if model::region_of(region).as_deref() != Some(region) {
        return Err(here(errors::unsupported(
            "UnknownRegion",
            "not a Vast.ai region (a country code such as US)",
        )));
    }
    let all = all_instances()?;
    let existing = members(&all, cluster);
    let types: Vec<_> = existing
        .iter()
        .map(|(_, i)| (i, i.instance_type()))
        .collect();
    let ids: Vec<String> = types.iter().map(|(i, _)| i.id.to_string()).collect();
    nodes::refuse_unlike(
        cluster,
        &req.instance_type,
        region,
        types.iter().zip(&ids).map(|((_, t), id)| nodes::Have {
            node: id,
            instance_type: t.as_deref(),
            region: None,
        }),
    )?;
    let mut resumed = Vec::new();
    for (_, i) in &existing {
        if matches!(
            i.status(),
            InstanceStatus::Stopped | InstanceStatus::Preempted
        ) {
            set_state(i.id, "running").map_err(here)?;
            resumed.push(i.id.to_string());
        }
    }
    let roles: Vec<Role> = existing.iter().map(|(r, _)| *r).collect();
    let mut created = Vec::new();
    for role in model::roles_to_launch(&roles, req.count) {
        let id = rent(req, &model::label_of(cluster, role), settings).map_err(here)?;
        created.push(id);
    }
    if let Some(key) = req
        .ssh_public_key
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty())
    {
        let ids = existing
            .iter()
            .map(|(_, i)| i.id)
            .chain(created.iter().copied());
        for id in ids {
            attach_key(id, key).map_err(here)?;
        }
    }
    let all = if created.is_empty() && resumed.is_empty() {
        all
    } else {
        all_instances()?
    };
    Ok(RunResult {
        instances: to_instances(cluster, &all, settings),
        created: created.iter().map(u64::to_string).collect(),
        resumed,
    })
}

fn to_instances(
    cluster: &str,
    all: &[VastInstance],
    settings: &BTreeMap<String, String>,
) -> Vec<Instance> {
    let user = settings
        .get("ssh_user")
        .cloned()
        .unwrap_or_else(|| "root".into());
    members(all, cluster)
        .into_iter()
        .map(|(role, i)| {
            let endpoint = i.ssh_endpoint();
            Instance {
                id: i.id.to_string(),
                is_head: role == Role::Head,
                status: i.status(),
                instance_type: i.instance_type().unwrap_or_default(),
                zone: None,
                spot: i.is_spot(),
                public_ip: endpoint.as_ref().map(|(ip, _)| ip.clone()),
                private_ip: None,
                ssh_port: endpoint.map(|(_, port)| port).unwrap_or(22),
                ssh_user: Some(user.clone()),
                extra: Vec::new(),
            }
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

/// Stops the cluster's instances (their disks stay, and are billed; the GPUs are
/// freed for others to rent).
pub fn stop(cluster: &ClusterRef) -> Result<(), ProviderError> {
    for (_, i) in members(&all_instances()?, &cluster.cluster) {
        if !matches!(
            i.status(),
            InstanceStatus::Stopped | InstanceStatus::Stopping | InstanceStatus::Preempted
        ) {
            set_state(i.id, "stopped")?;
        }
    }
    Ok(())
}

/// Destroys the cluster's instances (idempotent: nothing left is success).
pub fn terminate(cluster: &ClusterRef) -> Result<(), ProviderError> {
    for (_, i) in members(&all_instances()?, &cluster.cluster) {
        api::delete(&format!("/api/v0/instances/{}/", i.id))?;
        kv::delete(&key_note(i.id));
    }
    Ok(())
}

/// Vast.ai maps a container's ports when it is created: ports already mapped are
/// fine, others need a new instance.
pub fn open_ports(cluster: &ClusterRef, ports: &[PortRange]) -> Result<(), ProviderError> {
    let all = all_instances()?;
    for (_, i) in members(&all, &cluster.cluster) {
        for range in ports {
            for port in range.start.max(1)..=range.end.max(range.start) {
                if i.host_port(port).is_none() {
                    return Err(errors::unsupported(
                        "PortsAtCreateOnly",
                        &format!(
                            "Vast.ai maps an instance's ports when it is created and port \
                             {port} was not: relaunch the cluster with the task's `ports`"
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Vast.ai's regions: countries.
pub fn regions() -> Result<Vec<Region>, ProviderError> {
    Ok(model::REGIONS
        .iter()
        .map(|r| Region {
            name: r.to_string(),
            zones: Vec::new(),
        })
        .collect())
}

/// The key is valid when `GET /api/v0/users/current` answers (its `api_key`
/// field is never read).
pub fn check_credentials() -> Result<Identity, ProviderError> {
    #[derive(Deserialize)]
    struct User {
        #[serde(default)]
        email: Option<String>,
        #[serde(default)]
        username: Option<String>,
        #[serde(default)]
        id: Option<u64>,
        #[serde(default)]
        credit: Option<f64>,
    }
    let user: User = api::decode(api::get("/api/v0/users/current")?)?;
    let account = user
        .email
        .filter(|e| !e.is_empty())
        .or(user.username)
        .or(user.id.map(|id| id.to_string()))
        .map(|s| s.chars().take(200).collect())
        .unwrap_or_else(|| "vastai".into());
    let mut details = Vec::new();
    if let Some(credit) = user.credit.filter(|c| c.is_finite()) {
        details.push(("credit".to_string(), format!("{credit:.2}")));
    }
    Ok(Identity { account, details })
}

/// Catalog rows from a live search of rentable offers, for `region` or every
/// region, and rows for the instances aloft holds where the market has none left
/// (their offers are rented: by them).
pub fn offers(region: Option<&str>) -> Result<Vec<Offer>, ProviderError> {
    let asks = search(&search_body(None, "on-demand", 1000, DEFAULT_DISK_GIB))?;
    let mut rows = model::offers(&asks, region);
    let held = all_instances()?;
    rows.extend(model::held_offers(&held, &rows, region));
    Ok(rows)
}
