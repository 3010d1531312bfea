//! Whether a task fits an existing cluster, as SkyPilot decides it
//! (`Resources.less_demanding_than`): every field the task leaves out fits, and
//! each field it gives must be met by what the cluster was launched with. A launch
//! that reuses a cluster and an `exec` both refuse a task that does not fit, naming
//! the field in words.
//!
//! A cluster's record holds the resources it was launched with
//! ([`launched_resources`]: the request, narrowed to the offer it got). Records
//! written before that hold only the request; what they leave open is taken to fit.

use crate::optimizer::Candidate;
use crate::state::ClusterRecord;
use crate::task::units::format_number;
use crate::task::{AcceleratorSpec, Quantity, ResourceSet, Resources};

/// The resources a cluster launched on `c` for a request of `resources` has: the
/// first request candidate on `c`'s cloud (ports, image, disk, labels), with
/// everything the offer fixes filled in.
pub fn launched_resources(resources: &ResourceSet, c: &Candidate) -> ResourceSet {
    let candidates = resources.candidates();
    let mut r = candidates
        .iter()
        .find(|r| {
            r.infra
                .cloud
                .as_deref()
                .is_none_or(|cloud| cloud == c.cloud)
        })
        .or(candidates.first())
        .cloned()
        .unwrap_or_default();
    r.infra.cloud = Some(c.cloud.clone());
    r.infra.region = Some(c.region.clone());
    r.infra.zone = c.zone.clone();
    r.instance_type = Some(c.instance_type.clone());
    r.accelerators = c
        .accelerators
        .iter()
        .next()
        .map(|(name, count)| AcceleratorSpec::Named {
            name: name.clone(),
            count: *count,
        });
    r.cpus = Some(Quantity::Exact(c.vcpus));
    r.memory = Some(Quantity::Exact(c.memory_gib));
    r.use_spot = c.use_spot;
    ResourceSet::AnyOf(vec![r])
}

/// Why a task of `resources` on `num_nodes` nodes does not fit the cluster of
/// `record`, in words (`None`: it fits). With several resource candidates, one
/// that fits is enough; otherwise the first candidate's reason is given.
pub fn misfit(resources: &ResourceSet, num_nodes: u32, record: &ClusterRecord) -> Option<String> {
    if num_nodes > record.num_nodes {
        return Some(format!(
            "num_nodes: the task needs {num_nodes} node(s); the cluster has {}",
            record.num_nodes
        ));
    }
    let cluster = cluster_resources(record);
    let reasons: Vec<String> = resources
        .candidates()
        .iter()
        .map(|want| candidate_misfit(want, &cluster))
        .collect::<Option<Vec<String>>>()?;
    reasons.into_iter().next()
}

/// What the cluster of `record` has: its launched resources, with the record's
/// own fields (which every record has) on top.
fn cluster_resources(record: &ClusterRecord) -> Resources {
    let mut r = serde_json::from_str::<ResourceSet>(&record.resources_json)
        .ok()
        .and_then(|set| set.candidates().first().cloned())
        .unwrap_or_default();
    r.infra.cloud = Some(record.provider.clone());
    r.infra.region = Some(record.region.clone());
    r.infra.zone = record.zone.clone();
    r.instance_type = Some(record.instance_type.clone());
    r.use_spot = record.use_spot;
    r
}

/// The first field of `want` that `have` does not meet, in words.
fn candidate_misfit(want: &Resources, have: &Resources) -> Option<String> {
    let text = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".into());
    for (field, wanted, had) in [
        ("infra", &want.infra.cloud, &have.infra.cloud),
        ("region", &want.infra.region, &have.infra.region),
        ("zone", &want.infra.zone, &have.infra.zone),
        ("instance_type", &want.instance_type, &have.instance_type),
    ] {
        if wanted.is_some() && wanted != had {
            return Some(format!(
                "{field}: the task asks for {}; the cluster has {}",
                text(wanted),
                text(had)
            ));
        }
    }
    if let Some(acc) = &want.accelerators
        && !accelerators_fit(acc, have.accelerators.as_ref())
    {
        return Some(format!(
            "accelerators: the task asks for {acc}; the cluster has {}",
            have.accelerators
                .as_ref()
                .map_or_else(|| "none".to_string(), ToString::to_string)
        ));
    }
    for (field, wanted, had) in [
        ("cpus", want.cpus, have.cpus),
        ("memory", want.memory, have.memory),
    ] {
        if let Some(q) = wanted
            && !quantity_fits(q, had)
        {
            return Some(format!(
                "{field}: the task asks for {}; the cluster's nodes have {}",
                quantity(q),
                had.map_or_else(|| "an unknown amount".into(), quantity)
            ));
        }
    }
    if want.use_spot && !have.use_spot {
        return Some("use_spot: the task asks for spot instances; the cluster is on-demand".into());
    }
    let open = |p: u16| have.ports.iter().any(|r| r.start <= p && p <= r.end);
    if let Some(port) = want
        .ports
        .iter()
        .flat_map(|r| r.start..=r.end)
        .find(|p| !open(*p))
    {
        return Some(format!(
            "ports: the task opens port {port}; the cluster does not"
        ));
    }
    if want.image_id.is_some() && want.image_id != have.image_id {
        return Some("image_id: the task asks for another image than the cluster's".into());
    }
    let disk = |r: &Resources| r.disk_size_gib.unwrap_or(DEFAULT_DISK_GIB);
    if want.disk_size_gib.is_some() && disk(want) > disk(have) {
        return Some(format!(
            "disk_size: the task asks for {} GiB; the cluster's disks have {} GiB",
            disk(want),
            disk(have)
        ));
    }
    None
}

/// A node's OS disk when the task gives no `disk_size` (SkyPilot's default).
const DEFAULT_DISK_GIB: u64 = 256;

/// Whether a cluster with `have` meets an accelerator request: the same name (a
/// by-memory request: any accelerator) and at least as many per node.
fn accelerators_fit(want: &AcceleratorSpec, have: Option<&AcceleratorSpec>) -> bool {
    let count = |a: &AcceleratorSpec| match a {
        AcceleratorSpec::Named { count, .. } | AcceleratorSpec::ByMemory { count, .. } => *count,
    };
    let Some(have) = have else {
        return false;
    };
    let named = match (want, have) {
        (AcceleratorSpec::Named { name: w, .. }, AcceleratorSpec::Named { name: h, .. }) => {
            w.eq_ignore_ascii_case(h)
        }
        _ => true,
    };
    named && count(want) <= count(have) + 1e-9
}

/// Whether nodes with `have` meet `want`; an amount a record leaves open (`None`,
/// or only a lower bound that could be enough) is taken to fit.
fn quantity_fits(want: Quantity, have: Option<Quantity>) -> bool {
    match (want, have) {
        (want, Some(Quantity::Exact(n))) => want.accepts(n),
        (Quantity::AtLeast(w), Some(Quantity::AtLeast(h))) => w <= h + 1e-6,
        _ => true,
    }
}

/// `8` or `8+`, as the task writes it.
fn quantity(q: Quantity) -> String {
    match q {
        Quantity::Exact(n) => format_number(n),
        Quantity::AtLeast(n) => format!("{}+", format_number(n)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(resources: &ResourceSet) -> ClusterRecord {
        ClusterRecord {
            zone: Some("local-c".into()),
            resources_json: serde_json::to_string(resources).unwrap(),
            ..ClusterRecord::sample("dev", crate::state::ClusterStatus::Up)
        }
    }

    fn task(yaml: &str) -> ResourceSet {
        let chain = crate::task::TaskChain::from_yaml_str(
            yaml,
            "t.yaml",
            &crate::task::Overrides::default(),
        )
        .unwrap();
        chain.tasks()[0].resources.clone()
    }

    #[test]
    fn unspecified_fields_fit_and_a_misfit_is_named_in_words() {
        let offer = Candidate {
            cloud: "local".into(),
            region: "local".into(),
            zone: Some("local-c".into()),
            instance_type: "local-2cpu".into(),
            accelerators: Default::default(),
            use_spot: false,
            vcpus: 2.0,
            memory_gib: 4.0,
            hourly_price: 0.0,
        };
        let launched = launched_resources(
            &task("resources: {infra: local, ports: 8080}\nrun: x\n"),
            &offer,
        );
        let dev = record(&launched);
        for fits in [
            "run: x\n",
            "resources: {infra: local, cpus: 2, memory: 4+}\nrun: x\n",
            "resources: {ports: 8080}\nrun: x\n",
            "resources: {any_of: [{accelerators: A100}, {cpus: 1+}]}\nrun: x\n",
        ] {
            assert_eq!(misfit(&task(fits), 1, &dev), None, "{fits}");
        }
        for (yaml, nodes, reason) in [
            (
                "run: x\n",
                2,
                "num_nodes: the task needs 2 node(s); the cluster has 1",
            ),
            (
                "resources: {accelerators: A100}\nrun: x\n",
                1,
                "accelerators: the task asks for A100:1; the cluster has none",
            ),
            (
                "resources: {infra: aws}\nrun: x\n",
                1,
                "infra: the task asks for aws; the cluster has local",
            ),
            (
                "resources: {cpus: 8+}\nrun: x\n",
                1,
                "cpus: the task asks for 8+; the cluster's nodes have 2",
            ),
            (
                "resources: {ports: 9000}\nrun: x\n",
                1,
                "ports: the task opens port 9000",
            ),
            ("resources: {use_spot: true}\nrun: x\n", 1, "use_spot"),
        ] {
            let said = misfit(&task(yaml), nodes, &dev).unwrap_or_default();
            assert!(said.starts_with(reason), "{yaml}: {said}");
        }
    }
}
