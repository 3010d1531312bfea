//! `resources:` from YAML, with SkyPilot's `any_of` / `ordered` override semantics.
//!
//! A candidate of `any_of`/`ordered` is the base mapping overlaid with the
//! candidate mapping (labels merged), then parsed like a plain `resources:` block,
//! so several accelerators in a candidate expand too. Overlaid fields keep their
//! own paths, so an error in a candidate points into `resources.any_of[i]`.

use std::collections::BTreeMap;

use super::error::TaskError;
use super::resources::{
    AcceleratorSpec, Autostop, DiskVolume, ImageId, JobRecovery, PortRange, Quantity, ResourceSet,
    Resources,
};
use super::units;
use super::walk::{At, Field, check_known, get_some, to_json};
use super::yaml::Value;

/// Fields of one resources candidate.
pub(crate) const SINGLE_FIELDS: &[&str] = &[
    "infra",
    "cloud",
    "region",
    "zone",
    "cpus",
    "memory",
    "accelerators",
    "gpus",
    "instance_type",
    "use_spot",
    "job_recovery",
    "spot_recovery",
    "disk_size",
    "ephemeral_storage",
    "disk_tier",
    "network_tier",
    "local_disk",
    "max_hourly_cost",
    "ports",
    "labels",
    "accelerator_args",
    "image_id",
    "autostop",
    "priority",
    "priority_class",
    "volumes",
];

/// Idle minutes used by `autostop: true` and an object without `idle_minutes`.
pub const DEFAULT_AUTOSTOP_IDLE_MINUTES: u64 = 5;

const DISK_TIERS: &[&str] = &["low", "medium", "high", "ultra", "best", "none"];
const NETWORK_TIERS: &[&str] = &["standard", "best"];
const RECOVERY_STRATEGIES: &[&str] = &["EAGER_NEXT_REGION", "FAILOVER"];

/// Parses a `resources:` block.
pub(crate) fn parse_resource_set(at: &At<'_>) -> Result<ResourceSet, TaskError> {
    if at.is_null() {
        return Ok(ResourceSet::default());
    }
    let fields = at.fields()?;
    let mut allowed = SINGLE_FIELDS.to_vec();
    allowed.extend(["any_of", "ordered"]);
    check_known(&fields, &allowed)?;
    let (ordered, candidates) = expand(&fields)?;
    Ok(if ordered {
        ResourceSet::Ordered(candidates)
    } else {
        ResourceSet::AnyOf(candidates)
    })
}

/// Accelerator alternatives as written: strings with where they came from.
struct AccList<'a> {
    ordered: bool,
    items: Vec<(String, At<'a>)>,
}

fn accelerator_field<'a, 'f>(fields: &'f [Field<'a>]) -> Result<Option<&'f At<'a>>, TaskError> {
    match (get_some(fields, "accelerators"), get_some(fields, "gpus")) {
        (Some(_), Some(g)) => Err(g.err("`gpus` is an alias of `accelerators`; use only one")),
        (a, g) => Ok(a.or(g)),
    }
}

fn acc_list<'a>(at: &At<'a>) -> Result<AccList<'a>, TaskError> {
    match &at.node.value {
        Value::Str(s) => Ok(AccList {
            ordered: false,
            items: vec![(s.clone(), at.clone())],
        }),
        Value::Map(_) => {
            let mut items = Vec::new();
            for f in at.fields()? {
                let key_at = At {
                    node: f.key_node,
                    path: f.value.path.clone(),
                    file: at.file,
                };
                let text = match &f.value.node.value {
                    // `{A100:1, V100:1}`: YAML keys with null values, each a full spec.
                    Value::Null => f.key.clone(),
                    Value::Int(_) | Value::Float(_) | Value::Str(_) => {
                        let count = f.value.python_str()?.unwrap_or_default();
                        format!("{}:{count}", f.key)
                    }
                    _ => return Err(f.value.err("expected an accelerator count")),
                };
                items.push((text, key_at));
            }
            Ok(AccList {
                ordered: false,
                items,
            })
        }
        Value::Seq(_) => {
            let mut items = Vec::new();
            for item in at.seq()? {
                items.push((item.string()?, item));
            }
            Ok(AccList {
                ordered: true,
                items,
            })
        }
        _ => Err(at.err(format!(
            "expected an accelerator string, mapping or list, found {}",
            at.node.value.type_name()
        ))),
    }
}

/// Expands one resources mapping into candidates; `true` when they are ordered.
fn expand(fields: &[Field<'_>]) -> Result<(bool, Vec<Resources>), TaskError> {
    let any_of = get_some(fields, "any_of");
    let ordered = get_some(fields, "ordered");
    if let (Some(_), Some(o)) = (any_of, ordered) {
        return Err(o.err("`any_of` and `ordered` cannot be used together"));
    }
    let accs = match accelerator_field(fields)? {
        Some(at) => Some((at, acc_list(at)?)),
        None => None,
    };
    if let Some((at, list)) = &accs {
        if list.items.len() > 1 && ordered.is_some() {
            return Err(at.err("several accelerators cannot be combined with `ordered`"));
        }
        if list.items.len() > 1 && list.ordered && any_of.is_some() {
            return Err(at.err(
                "a list (preference order) of accelerators cannot be combined with `any_of`",
            ));
        }
    }
    if let Some(group) = any_of.or(ordered) {
        let is_ordered = ordered.is_some();
        let base: Vec<Field<'_>> = fields
            .iter()
            .filter(|f| f.key != "any_of" && f.key != "ordered")
            .cloned()
            .collect();
        let mut out = Vec::new();
        let items = group.seq()?;
        if items.is_empty() {
            return Err(group.err("must list at least one candidate"));
        }
        for item in items {
            let cand = item.fields()?;
            for f in &cand {
                if f.key == "any_of" || f.key == "ordered" {
                    let key_at = At {
                        node: f.key_node,
                        path: f.value.path.clone(),
                        file: f.value.file,
                    };
                    return Err(key_at.err("`any_of` / `ordered` cannot be nested"));
                }
            }
            check_known(&cand, SINGLE_FIELDS)?;
            let merged = overlay(&base, &cand);
            let (_, rs) = expand(&merged)?;
            for r in rs {
                push_unique(&mut out, r);
            }
        }
        return Ok((is_ordered, out));
    }
    match accs {
        Some((_, list)) if !list.items.is_empty() => {
            let mut out = Vec::new();
            for (text, at) in &list.items {
                let spec = units::parse_accelerator(text).map_err(|m| at.err(m))?;
                push_unique(&mut out, single(fields, Some(spec))?);
            }
            Ok((list.ordered, out))
        }
        _ => Ok((false, vec![single(fields, None)?])),
    }
}

fn push_unique(out: &mut Vec<Resources>, r: Resources) {
    if !out.contains(&r) {
        out.push(r);
    }
}

/// Base fields overridden by the candidate's; both `labels` are kept (merged later).
fn overlay<'a>(base: &[Field<'a>], cand: &[Field<'a>]) -> Vec<Field<'a>> {
    let overridden = |key: &str| {
        key != "labels"
            && cand.iter().any(|c| {
                c.key == key
                    || (matches!(key, "accelerators" | "gpus")
                        && matches!(c.key.as_str(), "accelerators" | "gpus"))
                    || (key == "spot_recovery" && c.key == "job_recovery")
                    || (key == "job_recovery" && c.key == "spot_recovery")
            })
    };
    base.iter()
        .filter(|f| !overridden(&f.key))
        .chain(cand.iter())
        .cloned()
        .collect()
}

/// One candidate; `acc` replaces the accelerators field (already expanded).
fn single(fields: &[Field<'_>], acc: Option<AcceleratorSpec>) -> Result<Resources, TaskError> {
    let mut r = Resources {
        accelerators: acc,
        ..Resources::default()
    };
    if let Some(infra) = get_some(fields, "infra") {
        if let Some(legacy) = ["cloud", "region", "zone"]
            .iter()
            .find_map(|k| get_some(fields, k))
        {
            return Err(legacy.err("cannot be combined with `infra`; put everything in `infra`"));
        }
        let text = infra.str()?;
        r.infra = units::parse_infra(text).map_err(|m| {
            let cloud = text.split('/').next().unwrap_or_default();
            let hint = units::canonical_cloud(cloud)
                .is_err()
                .then(|| super::error::suggest(cloud, units::CLOUDS.iter().copied()))
                .flatten();
            infra.err_suggest(m, hint)
        })?;
    }
    if let (Some(j), Some(s)) = (
        get_some(fields, "job_recovery"),
        get_some(fields, "spot_recovery"),
    ) {
        let later = if j.mark().line >= s.mark().line { j } else { s };
        return Err(later.err("`spot_recovery` is an alias of `job_recovery`; use only one"));
    }
    for f in fields {
        let at = &f.value;
        if at.is_null() {
            continue;
        }
        match f.key.as_str() {
            "cloud" => {
                r.infra.cloud = Some(units::canonical_cloud(at.str()?).map_err(|m| {
                    at.err_suggest(
                        m,
                        super::error::suggest(
                            at.str().unwrap_or(""),
                            units::CLOUDS.iter().copied(),
                        ),
                    )
                })?)
            }
            "region" | "zone" => {
                let value = at.string()?;
                let cloud = get_some(fields, "cloud")
                    .and_then(|c| c.str().ok())
                    .and_then(|c| units::canonical_cloud(c).ok());
                let is_zone = f.key == "zone";
                units::check_location(cloud.as_deref(), &value, is_zone).map_err(|m| at.err(m))?;
                if is_zone {
                    r.infra.zone = Some(value);
                } else {
                    r.infra.region = Some(value);
                }
            }
            "cpus" => r.cpus = Some(quantity(at, false)?),
            "memory" => r.memory = Some(quantity(at, true)?),
            "instance_type" => r.instance_type = Some(at.string()?),
            "use_spot" => r.use_spot = at.bool()?,
            "job_recovery" | "spot_recovery" => r.job_recovery = Some(job_recovery(at)?),
            "disk_size" => r.disk_size_gib = Some(disk_size(at)?),
            "disk_tier" => r.disk_tier = Some(at.choice(DISK_TIERS)?.to_string()),
            "network_tier" => r.network_tier = Some(at.choice(NETWORK_TIERS)?.to_string()),
            "local_disk" => r.local_disk = Some(local_disk(at)?),
            "max_hourly_cost" => {
                let c = at.number()?;
                if c <= 0.0 {
                    return Err(at.err("must be greater than 0"));
                }
                r.max_hourly_cost = Some(c);
            }
            "ports" => r.ports = ports(at)?,
            "labels" => {
                for l in at.fields()? {
                    r.labels.insert(l.key, l.value.string()?);
                }
            }
            "accelerator_args" => r.accelerator_args = Some(accelerator_args(at)?),
            "image_id" => r.image_id = Some(image_id(at)?),
            "autostop" => r.autostop = Some(autostop(at)?),
            "priority" => r.priority = Some(at.int_in(-1000, 1000)? as i32),
            "priority_class" => r.priority_class = Some(at.string()?),
            "volumes" => {
                for v in at.seq()? {
                    r.volumes.push(disk_volume(&v)?);
                }
            }
            "ephemeral_storage" => {
                return Err(at.err(
                    "deprecated, and ignored by SkyPilot too: remove it (disk_size sets the disk)",
                ));
            }
            // Handled above (infra, cloud/region/zone, accelerators).
            _ => {}
        }
    }
    Ok(r)
}

fn quantity(at: &At<'_>, units: bool) -> Result<Quantity, TaskError> {
    match &at.node.value {
        Value::Int(_) | Value::Float(_) => {
            let n = at.number()?;
            if n <= 0.0 {
                return Err(at.err("must be greater than 0"));
            }
            Ok(Quantity::Exact(n))
        }
        Value::Str(s) => units::parse_quantity(s, units).map_err(|m| at.err(m)),
        _ => Err(at.err(format!(
            "expected a number or a string like \"8+\", found {}",
            at.node.value.type_name()
        ))),
    }
}

pub(crate) fn disk_size(at: &At<'_>) -> Result<u64, TaskError> {
    let gib = match &at.node.value {
        Value::Int(_) => at.int()? as f64,
        Value::Str(s) => units::parse_size_gib(s).map_err(|m| at.err(m))?,
        _ => {
            return Err(at.err(format!(
                "expected an integer (GiB) or a size like \"1Ti\", found {}",
                at.node.value.type_name()
            )));
        }
    };
    if gib < 1.0 || gib.fract() != 0.0 || gib > 1e15 {
        return Err(at.err("must be a positive whole number of GiB"));
    }
    Ok(gib as u64)
}

fn local_disk(at: &At<'_>) -> Result<String, TaskError> {
    let s = at.str()?;
    let ok = s.split_once(':').is_some_and(|(kind, size)| {
        let size = size.strip_suffix('+').unwrap_or(size);
        !kind.is_empty()
            && kind.bytes().all(|b| b.is_ascii_alphanumeric())
            && !size.is_empty()
            && size.bytes().all(|b| b.is_ascii_digit())
    });
    if !ok {
        return Err(at.err(format!(
            "invalid local disk `{s}`; expected KIND:SIZE or KIND:SIZE+ (e.g. nvme:500)"
        )));
    }
    Ok(s.to_string())
}

pub(crate) fn ports(at: &At<'_>) -> Result<Vec<PortRange>, TaskError> {
    let one = |at: &At<'_>| -> Result<Vec<PortRange>, TaskError> {
        match &at.node.value {
            Value::Int(i) => {
                let p = units::parse_port(&i.to_string(), &i.to_string()).map_err(|m| at.err(m))?;
                Ok(vec![PortRange { start: p, end: p }])
            }
            Value::Str(s) => units::parse_ports(s).map_err(|m| at.err(m)),
            _ => Err(at.err(format!(
                "expected a port, a range or a list of them, found {}",
                at.node.value.type_name()
            ))),
        }
    };
    match &at.node.value {
        Value::Null => Ok(Vec::new()),
        Value::Seq(_) => {
            let mut out = Vec::new();
            for item in at.seq()? {
                out.extend(one(&item)?);
            }
            Ok(out)
        }
        _ => one(at),
    }
}

fn job_recovery(at: &At<'_>) -> Result<JobRecovery, TaskError> {
    let mut jr = JobRecovery {
        strategy: None,
        max_restarts_on_errors: 0,
        recover_on_exit_codes: Vec::new(),
    };
    if let Value::Str(_) = at.node.value {
        jr.strategy = Some(at.choice(RECOVERY_STRATEGIES)?.to_string());
        return Ok(jr);
    }
    let fields = at.fields()?;
    check_known(
        &fields,
        &[
            "strategy",
            "max_restarts_on_errors",
            "recover_on_exit_codes",
        ],
    )?;
    if let Some(s) = get_some(&fields, "strategy") {
        jr.strategy = Some(s.choice(RECOVERY_STRATEGIES)?.to_string());
    }
    if let Some(m) = get_some(&fields, "max_restarts_on_errors") {
        jr.max_restarts_on_errors = m.u32()?;
    }
    if let Some(c) = get_some(&fields, "recover_on_exit_codes") {
        let items = match c.node.value {
            Value::Seq(_) => c.seq()?,
            _ => vec![c.clone()],
        };
        for item in items {
            jr.recover_on_exit_codes.push(item.int_in(0, 255)? as u8);
        }
    }
    Ok(jr)
}

fn autostop(at: &At<'_>) -> Result<Autostop, TaskError> {
    let mut a = Autostop {
        idle_minutes: Some(DEFAULT_AUTOSTOP_IDLE_MINUTES),
        down: false,
        wait_for: None,
        hook: None,
        hook_timeout: None,
    };
    match &at.node.value {
        Value::Bool(b) => {
            if !b {
                a.idle_minutes = None;
            }
        }
        Value::Int(_) | Value::Str(_) => a.idle_minutes = Some(minutes(at)?),
        Value::Map(_) => {
            let fields = at.fields()?;
            check_known(
                &fields,
                &["idle_minutes", "down", "wait_for", "hook", "hook_timeout"],
            )?;
            if let Some(m) = get_some(&fields, "idle_minutes") {
                a.idle_minutes = Some(minutes(m)?);
            }
            if let Some(d) = get_some(&fields, "down") {
                a.down = d.bool()?;
            }
            if let Some(w) = get_some(&fields, "wait_for") {
                a.wait_for = Some(w.choice(&["jobs_and_ssh", "jobs", "none"])?.to_string());
            }
            if let Some(h) = get_some(&fields, "hook") {
                a.hook = Some(h.string()?);
            }
            if let Some(t) = get_some(&fields, "hook_timeout") {
                let t = t.int_in(1, i64::MAX)?;
                a.hook_timeout = Some(t as u64);
            }
        }
        other => {
            return Err(at.err(format!(
                "expected a boolean, minutes, a duration like \"2h\" or a mapping, found {}",
                other.type_name()
            )));
        }
    }
    Ok(a)
}

fn minutes(at: &At<'_>) -> Result<u64, TaskError> {
    match &at.node.value {
        Value::Int(_) => at.u64(),
        Value::Str(s) => units::parse_minutes(s).map_err(|m| at.err(m)),
        other => Err(at.err(format!(
            "expected minutes or a duration like \"2h\", found {}",
            other.type_name()
        ))),
    }
}

fn image_id(at: &At<'_>) -> Result<ImageId, TaskError> {
    match &at.node.value {
        Value::Str(s) => match s.strip_prefix("docker:") {
            Some("") => Err(at.err("`docker:` needs an image name")),
            Some(image) => Ok(ImageId::Docker(image.to_string())),
            None if s.is_empty() => Err(at.err("must not be empty")),
            None => Ok(ImageId::Single(s.clone())),
        },
        Value::Map(_) => {
            let mut map = BTreeMap::new();
            for f in at.fields()? {
                map.insert(f.key, f.value.string()?);
            }
            Ok(ImageId::PerRegion(map))
        }
        other => Err(at.err(format!(
            "expected an image id or a mapping of region to image id, found {}",
            other.type_name()
        ))),
    }
}

fn accelerator_args(at: &At<'_>) -> Result<serde_json::Value, TaskError> {
    let fields = at.fields()?;
    check_known(
        &fields,
        &[
            "runtime_version",
            "tpu_name",
            "tpu_vm",
            "gcp_queued_resource",
        ],
    )?;
    for f in &fields {
        if f.value.is_null() {
            continue;
        }
        match f.key.as_str() {
            "tpu_vm" | "gcp_queued_resource" => {
                f.value.bool()?;
            }
            _ => {
                f.value.str()?;
            }
        }
    }
    Ok(to_json(at.node))
}

fn disk_volume(at: &At<'_>) -> Result<DiskVolume, TaskError> {
    let fields = at.fields()?;
    check_known(
        &fields,
        &[
            "disk_size",
            "disk_tier",
            "path",
            "auto_delete",
            "storage_type",
            "name",
            "attach_mode",
        ],
    )?;
    let mut v = DiskVolume::default();
    for f in &fields {
        let at = &f.value;
        if at.is_null() {
            continue;
        }
        match f.key.as_str() {
            "disk_size" => v.disk_size_gib = Some(disk_size(at)?),
            "disk_tier" => v.disk_tier = Some(at.choice(DISK_TIERS)?.to_string()),
            "path" => v.path = Some(at.string()?),
            "auto_delete" => v.auto_delete = Some(at.bool()?),
            "storage_type" => {
                v.storage_type = Some(at.choice(&["network", "instance"])?.to_string())
            }
            "name" => v.name = Some(at.string()?),
            "attach_mode" => {
                v.attach_mode = Some(at.choice(&["read_only", "read_write"])?.to_string())
            }
            _ => {}
        }
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::yaml::load_documents;

    fn parse(src: &str) -> Result<ResourceSet, TaskError> {
        let docs = load_documents(src).expect("yaml");
        parse_resource_set(&At::root(&docs[0], "t.yaml"))
    }

    fn names(set: &ResourceSet) -> Vec<String> {
        set.candidates()
            .iter()
            .map(|r| match &r.accelerators {
                Some(a) => units::format_accelerator(a),
                None => "-".into(),
            })
            .collect()
    }

    #[test]
    fn accelerator_forms_expand() {
        let set = parse("accelerators: {A100: 8, H100: 8}").expect("ok");
        assert!(matches!(set, ResourceSet::AnyOf(_)));
        assert_eq!(names(&set), ["A100:8", "H100:8"]);
        let set = parse("accelerators: [H100:8, A100:8]").expect("ok");
        assert!(matches!(set, ResourceSet::Ordered(_)));
        assert_eq!(names(&set), ["H100:8", "A100:8"]);
        let set = parse("gpus: {A100:1, V100:1}").expect("ok");
        assert_eq!(names(&set), ["A100:1", "V100:1"]);
    }

    #[test]
    fn any_of_overlays_base_and_merges_labels() {
        let set = parse(
            "cpus: 4+\nlabels: {a: '1'}\naccelerators: {A100: 1, H100: 1}\nany_of:\n  - infra: gcp\n    labels: {b: '2'}\n  - infra: aws\n    accelerators: L4\n",
        )
        .expect("ok");
        let c = set.candidates();
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].infra.cloud.as_deref(), Some("gcp"));
        assert_eq!(c[0].labels.len(), 2);
        assert_eq!(c[0].cpus, Some(Quantity::AtLeast(4.0)));
        assert_eq!(names(&set), ["A100:1", "H100:1", "L4:1"]);
        assert_eq!(c[2].labels.len(), 1);
    }

    #[test]
    fn forbidden_combinations() {
        let e =
            parse("accelerators: [A100, H100]\nany_of: [{infra: aws}]").expect_err("list+any_of");
        assert!(
            e.to_string().starts_with("t.yaml:1:15: accelerators:"),
            "{e}"
        );
        let e = parse("accelerators: {A100: 1, H100: 1}\nordered: [{infra: aws}]")
            .expect_err("set+ordered");
        assert!(e.to_string().contains("ordered"), "{e}");
        let e = parse("any_of: [{infra: aws}]\nordered: [{infra: gcp}]").expect_err("both");
        assert!(e.to_string().contains("together"), "{e}");
        let e = parse("any_of:\n  - any_of: [{infra: aws}]").expect_err("nested");
        assert!(
            e.to_string().starts_with("t.yaml:2:5: any_of[0].any_of:"),
            "{e}"
        );
        let e = parse("infra: aws\ncloud: aws").expect_err("mixed");
        assert!(e.to_string().starts_with("t.yaml:2:8: cloud:"), "{e}");
    }
}
