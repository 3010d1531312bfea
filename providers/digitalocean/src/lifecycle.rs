//! The provider's verbs over DigitalOcean's API: create a cluster's missing
//! droplets (with its SSH key and firewall), power stopped ones on, list every
//! cluster in one call, power off, destroy by tag, and the catalog from the live
//! sizes.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::json;

use aloft_provider_sdk::nodes;
use aloft_provider_sdk::settings;
use aloft_provider_sdk::signing::sha256_hex;
use aloft_provider_sdk::types::{
    ClusterInstances, ClusterRef, Identity, Instance, InstanceStatus, Offer, PortRange,
    ProviderError, Region, RunRequest, RunResult,
};
use aloft_provider_sdk::{errors, kv, log};

use crate::api::{self, query_value};
use crate::model::{self, Droplet, MANAGED_TAG, Role, Size};

/// The droplets tagged `tag` (not yet destroyed).
fn tagged(tag: &str) -> Result<Vec<Droplet>, ProviderError> {
    let all: Vec<Droplet> = api::list(
        &format!("droplets?tag_name={}", query_value(tag)),
        "droplets",
    )?;
    Ok(all.into_iter().filter(|d| d.status != "archive").collect())
}

/// The cluster's droplets with their roles (by tag, then name), head first.
fn members(all: &[Droplet], cluster: &str) -> Vec<(Role, Droplet)> {
    let mut found: Vec<(Role, Droplet)> = all
        .iter()
        .filter_map(|d| d.role_in(cluster).map(|r| (r, d.clone())))
        .collect();
    found.sort_by_key(|(r, _)| *r);
    found
}

/// An SSH key of the account.
#[derive(Deserialize)]
struct SshKey {
    id: u64,
    #[serde(default)]
    name: String,
    #[serde(default)]
    public_key: String,
}

/// Where the name of the SSH key registered for `cluster` is noted (a key that
/// was in the account already is never noted, so it stays).
fn key_note(cluster: &str) -> String {
    format!("ssh-key/{cluster}")
}

/// The id of the account key holding `public_key`, registered as `aloft-<hash>`
/// when missing.
fn ssh_key_id(public_key: &str, cluster: &str) -> Result<u64, ProviderError> {
    let keys: Vec<SshKey> = api::list("account/keys", "ssh_keys")?;
    // Compare key type and body only: the comment may differ.
    let body = |k: &str| k.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    let name = format!("aloft-{}", &sha256_hex(body(public_key).as_bytes())[..12]);
    if let Some(k) = keys
        .iter()
        .find(|k| body(&k.public_key) == body(public_key))
    {
        if k.name == name {
            // Ours (made by an earlier try of this launch): it goes with the cluster.
            kv::set(&key_note(cluster), &name);
        }
        return Ok(k.id);
    }
    // Noted before the call: a crash after it must not leave the key unowned.
    kv::set(&key_note(cluster), &name);
    #[derive(Deserialize)]
    struct Created {
        ssh_key: SshKey,
    }
    let created: Created = api::post(
        "account/keys",
        &json!({"name": name, "public_key": public_key.trim()}),
    )?;
    Ok(created.ssh_key.id)
}

/// Deletes the SSH key registered for `cluster`, if aloft made it.
fn delete_ssh_key(cluster: &str) -> Result<(), ProviderError> {
    let Some(name) = kv::get(&key_note(cluster)) else {
        return Ok(());
    };
    let keys: Vec<SshKey> = api::list("account/keys", "ssh_keys")?;
    for key in keys.iter().filter(|k| k.name == name) {
        api::delete(&format!("account/keys/{}", key.id))?;
    }
    kv::delete(&key_note(cluster));
    Ok(())
}

/// A cloud firewall.
#[derive(Deserialize)]
struct Firewall {
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    tags: Vec<String>,
}

/// The cluster's firewall: named after it and applied to its tag.
fn find_firewall(cluster: &str) -> Result<Option<Firewall>, ProviderError> {
    let all: Vec<Firewall> = api::list("firewalls", "firewalls")?;
    let (name, tag) = (model::firewall_name(cluster), model::cluster_tag(cluster));
    Ok(all
        .into_iter()
        .find(|f| f.name == name && f.tags.contains(&tag)))
}

/// Creates the cluster's firewall (SSH, the task's ports, the cluster's own
/// traffic) unless it exists; it applies to every droplet with the cluster's tag.
fn ensure_firewall(cluster: &str, ports: &[PortRange]) -> Result<(), ProviderError> {
    if find_firewall(cluster)?.is_some() {
        return Ok(());
    }
    let tag = model::cluster_tag(cluster);
    let _: serde_json::Value = api::post(
        "firewalls",
        &json!({
            "name": model::firewall_name(cluster),
            "inbound_rules": model::inbound_rules(&tag, ports),
            "outbound_rules": model::outbound_rules(),
            "tags": [tag],
        }),
    )?;
    Ok(())
}

/// Posts a power action to a droplet; "already done" answers are success.
fn power(droplet: &Droplet, action: &str) -> Result<(), ProviderError> {
    let answer: Result<serde_json::Value, ProviderError> = api::post(
        &format!("droplets/{}/actions", droplet.id),
        &json!({"type": action}),
    );
    match answer {
        Ok(_) => Ok(()),
        Err(e) if e.code == "AlreadyDone" || e.code == "NotFound" => {
            log::debug(&format!(
                "digitalocean: {action} of droplet {}: {}",
                droplet.id, e.message
            ));
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Creates the cluster's missing droplets (named by role) and powers on stopped
/// ones.
pub fn run(
    req: &RunRequest,
    settings: &BTreeMap<String, String>,
) -> Result<RunResult, ProviderError> {
    let region = req.cluster.region.as_str();
    let cluster = req.cluster.cluster.as_str();
    let here = |e: ProviderError| errors::in_zone(e, region, None);
    let host_key = settings::host_key(settings)?;
    if req.use_spot {
        return Err(here(errors::unsupported(
            "NoSpot",
            "DigitalOcean has no spot or interruptible droplets",
        )));
    }
    if !model::is_slug(&req.instance_type) {
        return Err(here(errors::unsupported(
            "UnknownSize",
            &format!(
                "{:?} is not a DigitalOcean size slug (such as gpu-h100x1-80gb)",
                req.instance_type
            ),
        )));
    }
    if !model::is_slug(region) {
        return Err(here(errors::unsupported(
            "UnknownRegion",
            "not a DigitalOcean region slug (such as nyc2)",
        )));
    }
    let tag = model::cluster_tag(cluster);
    let existing = members(&tagged(&tag)?, cluster);
    let ids: Vec<String> = existing.iter().map(|(_, d)| d.id.to_string()).collect();
    nodes::refuse_unlike(
        cluster,
        &req.instance_type,
        region,
        existing.iter().zip(&ids).map(|((_, d), id)| nodes::Have {
            node: id,
            instance_type: d.size_slug.as_deref(),
            region: d.region_slug(),
        }),
    )?;
    let roles: Vec<Role> = existing.iter().map(|(r, _)| *r).collect();
    let to_create = model::roles_to_launch(&roles, req.count);
    // The firewall first: a droplet is never up without it.
    ensure_firewall(cluster, &req.ports).map_err(here)?;
    let mut resumed = Vec::new();
    for (_, d) in &existing {
        if d.status() == InstanceStatus::Stopped {
            power(d, "power_on").map_err(here)?;
            resumed.push(d.id.to_string());
        }
    }
    let mut created = Vec::new();
    if !to_create.is_empty() {
        let key = match req.ssh_public_key.as_deref().map(str::trim) {
            Some(k) if !k.is_empty() => Some(ssh_key_id(k, cluster).map_err(here)?),
            _ => None,
        };
        let image = req
            .image_id
            .clone()
            .or_else(|| settings.get("image").cloned())
            .unwrap_or_else(|| model::default_image(&req.instance_type).to_string());
        // A numeric image is an image id, anything else a slug.
        let image = match image.parse::<u64>() {
            Ok(id) => json!(id),
            Err(_) => json!(image),
        };
        // cloud-init installs the host key at first boot (`user_data`); a tag
        // tells later queries which key the droplet was given.
        let host_key = match host_key {
            Some((private, public)) => {
                let named = model::host_key_tag(public).ok_or_else(|| {
                    errors::invalid(
                        "InvalidSetting",
                        &format!("{} is not an ed25519 public key", settings::HOST_KEY_PUBLIC),
                    )
                })?;
                Some((nodes::cloud_init_host_key(private, public), named))
            }
            None => None,
        };
        for role in to_create {
            let mut tags = vec![MANAGED_TAG.to_string(), tag.clone()];
            if let Some((_, named)) = &host_key {
                tags.push(named.clone());
            }
            let mut body = json!({
                "name": model::name_of(cluster, role),
                "region": region,
                "size": req.instance_type,
                "image": image,
                "tags": tags,
                "ipv6": false,
                "monitoring": false,
            });
            if let Some(id) = key {
                body["ssh_keys"] = json!([id]);
            }
            if let Some((user_data, _)) = &host_key {
                body["user_data"] = json!(user_data);
            }
            #[derive(Deserialize)]
            struct Created {
                droplet: Droplet,
            }
            let made: Created = api::post("droplets", &body).map_err(here)?;
            created.push(made.droplet.id.to_string());
        }
    }
    let all = if created.is_empty() && resumed.is_empty() {
        existing.into_iter().map(|(_, d)| d).collect()
    } else {
        tagged(&tag)?
    };
    Ok(RunResult {
        instances: to_instances(cluster, &all, settings),
        created,
        resumed,
    })
}

fn to_instances(
    cluster: &str,
    all: &[Droplet],
    settings: &BTreeMap<String, String>,
) -> Vec<Instance> {
    let user = settings
        .get("ssh_user")
        .cloned()
        .unwrap_or_else(|| "root".into());
    members(all, cluster)
        .into_iter()
        .map(|(role, d)| Instance {
            id: d.id.to_string(),
            is_head: role == Role::Head,
            status: d.status(),
            instance_type: d
                .size_slug
                .clone()
                .filter(|s| model::is_slug(s))
                .unwrap_or_default(),
            zone: None,
            spot: false,
            public_ip: d.public_ip(),
            private_ip: d.private_ip(),
            ssh_port: 22,
            ssh_user: Some(user.clone()),
            extra: d
                .host_key()
                .map(|key| (settings::HOST_KEY.to_string(), key))
                .into_iter()
                .collect(),
        })
        .collect()
}

/// Every cluster's droplets, from one listing of the droplets aloft made.
pub fn query(
    clusters: &[ClusterRef],
    settings: &BTreeMap<String, String>,
) -> Result<Vec<ClusterInstances>, ProviderError> {
    let all = tagged(MANAGED_TAG)?;
    Ok(clusters
        .iter()
        .map(|c| ClusterInstances {
            cluster: c.clone(),
            instances: to_instances(&c.cluster, &all, settings),
        })
        .collect())
}

/// Powers off the cluster's droplets (disks kept; DigitalOcean still bills a
/// powered-off droplet).
pub fn stop(cluster: &ClusterRef) -> Result<(), ProviderError> {
    let all = tagged(&model::cluster_tag(&cluster.cluster))?;
    for (_, d) in members(&all, &cluster.cluster) {
        if matches!(d.status.as_str(), "new" | "active") {
            power(&d, "power_off")?;
        }
    }
    Ok(())
}

/// Destroys the cluster's droplets (by tag), its firewall, the SSH key aloft
/// registered for it and the tags that named its droplets' host keys
/// (idempotent: nothing left is success).
pub fn terminate(cluster: &ClusterRef) -> Result<(), ProviderError> {
    let tag = model::cluster_tag(&cluster.cluster);
    let droplets = tagged(&tag)?;
    let mut host_key_tags: Vec<&String> = droplets
        .iter()
        .flat_map(|d| &d.tags)
        .filter(|t| model::host_key_of_tag(t).is_some())
        .collect();
    host_key_tags.sort();
    host_key_tags.dedup();
    if !droplets.is_empty() {
        api::delete(&format!("droplets?tag_name={}", query_value(&tag)))?;
    }
    if let Some(f) = find_firewall(&cluster.cluster)? {
        api::delete(&format!("firewalls/{}", query_value(&f.id)))?;
    }
    // A tag outlives its droplets at DigitalOcean (one already gone is done).
    for t in host_key_tags {
        api::delete(&format!("tags/{}", query_value(t)))?;
    }
    delete_ssh_key(&cluster.cluster)
}

/// Opens `ports` on the cluster's firewall (creating it when missing).
pub fn open_ports(cluster: &ClusterRef, ports: &[PortRange]) -> Result<(), ProviderError> {
    match find_firewall(&cluster.cluster)? {
        None => ensure_firewall(&cluster.cluster, ports),
        Some(f) => {
            let rules = model::port_rules(ports);
            if rules.is_empty() {
                return Ok(());
            }
            let _: serde_json::Value = api::post(
                &format!("firewalls/{}/rules", query_value(&f.id)),
                &json!({"inbound_rules": rules}),
            )?;
            Ok(())
        }
    }
}

/// Deletes the cluster's firewall.
pub fn cleanup_ports(cluster: &ClusterRef) -> Result<(), ProviderError> {
    if let Some(f) = find_firewall(&cluster.cluster)? {
        api::delete(&format!("firewalls/{}", query_value(&f.id)))?;
    }
    Ok(())
}

/// DigitalOcean's regions (no zones).
pub fn regions() -> Result<Vec<Region>, ProviderError> {
    Ok(model::REGIONS
        .iter()
        .map(|r| Region {
            name: r.to_string(),
            zones: Vec::new(),
        })
        .collect())
}

/// The token is valid when `GET /v2/account` answers.
pub fn check_credentials() -> Result<Identity, ProviderError> {
    #[derive(Deserialize)]
    struct Account {
        #[serde(default)]
        email: Option<String>,
        #[serde(default)]
        uuid: Option<String>,
        #[serde(default)]
        status: Option<String>,
    }
    #[derive(Deserialize)]
    struct Answer {
        account: Account,
    }
    let answer: Answer = api::get("account")?;
    let a = answer.account;
    let account = a
        .email
        .or(a.uuid)
        .map(|s| s.chars().take(200).collect())
        .unwrap_or_else(|| "digitalocean".into());
    let mut details = Vec::new();
    if let Some(status) = a.status {
        details.push(("status".to_string(), status.chars().take(40).collect()));
    }
    Ok(Identity { account, details })
}

/// Catalog rows from the live sizes (`GET /v2/sizes`), for `region` or every
/// region.
pub fn offers(region: Option<&str>) -> Result<Vec<Offer>, ProviderError> {
    let sizes: Vec<Size> = api::list("sizes", "sizes")?;
    Ok(model::offers(&sizes, region))
}
