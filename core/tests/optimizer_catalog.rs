//! The optimizer on the shipped catalogs, with answers checked by hand.
//!
//! Each expected answer was derived independently of aloft's code: a short Python
//! script (csv module) over `core/catalogs/<cloud>/vms.csv` filtered the rows as the
//! comment says and sorted them by price (ties: cloud, region, zone, instance type).
//! GCP GPU prices were summed by hand the same way: host row + count × accelerator
//! row in the same zone.

use aloft::catalog::Catalog;
use aloft::optimizer::{
    BlockedSpec, Blocklist, Dag, Edge, OptTask, OptimizeError, OptimizeOptions, optimize_dag,
    optimize_task,
};
use aloft::task::{Overrides, TaskChain};

fn all_clouds(catalog: &Catalog) -> OptimizeOptions {
    OptimizeOptions {
        enabled_clouds: catalog.clouds(),
        ..OptimizeOptions::default()
    }
}

/// The task of a one-document YAML.
fn task(yaml: &str) -> OptTask {
    let chain = TaskChain::from_yaml_str(yaml, "test.yaml", &Overrides::default()).unwrap();
    let t = &chain.tasks()[0];
    OptTask {
        name: t.name.clone(),
        num_nodes: t.num_nodes,
        resources: t.resources.clone(),
        estimated_hours: None,
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

#[test]
fn cheapest_a100_8_on_demand_is_lambda() {
    // AcceleratorName == A100, count 8, Price set: lambda gpu_8x_a100 $10.32 (every
    // Lambda region charges the same; asia-northeast-1 sorts first), then GCP
    // a2-highgpu-8g in europe-west4-a ($19.42171), then AWS p4d.24xlarge ($32.7726).
    let catalog = Catalog::embedded().unwrap();
    let plan = optimize_task(
        &catalog,
        &task("resources: {accelerators: A100:8}"),
        &all_clouds(&catalog),
    )
    .unwrap();
    let c = &plan.chosen;
    assert_eq!(
        (c.cloud.as_str(), c.instance_type.as_str()),
        ("lambda", "gpu_8x_a100")
    );
    assert_eq!(c.region, "asia-northeast-1");
    assert!(close(c.hourly_price, 10.32), "{c:?}");
    let groups: Vec<(&str, f64)> = plan
        .candidates
        .iter()
        .map(|c| (c.cloud.as_str(), c.hourly_price))
        .collect();
    assert_eq!(groups.len(), 3, "{groups:?}");
    assert_eq!(groups[1].0, "gcp");
    assert!(close(groups[1].1, 19.42171), "{groups:?}");
    assert_eq!(groups[2].0, "aws");
    assert!(close(groups[2].1, 32.7726));
}

#[test]
fn cheapest_spot_h100_8_is_nebius() {
    // H100 count 8 with a SpotPrice: nebius gpu-h100-sxm_8gpu-128vcpu-1600gb in
    // eu-north1 at $10.00, ahead of AWS p5.48xlarge in us-east-2 (use2-az1) $12.1195.
    let catalog = Catalog::embedded().unwrap();
    let plan = optimize_task(
        &catalog,
        &task("resources: {accelerators: H100:8, use_spot: true}"),
        &all_clouds(&catalog),
    )
    .unwrap();
    let c = &plan.chosen;
    assert_eq!(c.cloud, "nebius");
    assert_eq!(c.instance_type, "gpu-h100-sxm_8gpu-128vcpu-1600gb");
    assert_eq!(c.region, "eu-north1");
    assert!(c.use_spot);
    assert!(close(c.hourly_price, 10.0));
    let aws = plan.candidates.iter().find(|c| c.cloud == "aws").unwrap();
    assert_eq!(aws.zone.as_deref(), Some("use2-az1"));
    assert!(close(aws.hourly_price, 12.1195));
}

#[test]
fn t4_in_us_west_2_on_any_cloud() {
    // T4 count 1, Region us-west-2: only AWS names a region so; g4dn.xlarge $0.526
    // in usw2-az1 (az2 and az3 tie and sort after).
    let catalog = Catalog::embedded().unwrap();
    let plan = optimize_task(
        &catalog,
        &task("resources: {accelerators: T4:1, infra: '*/us-west-2'}"),
        &all_clouds(&catalog),
    )
    .unwrap();
    let c = &plan.chosen;
    assert_eq!(
        (
            c.cloud.as_str(),
            c.instance_type.as_str(),
            c.zone.as_deref()
        ),
        ("aws", "g4dn.xlarge", Some("usw2-az1"))
    );
    assert!(close(c.hourly_price, 0.526));
    assert!(plan.ranked.iter().all(|c| c.region == "us-west-2"));
}

#[test]
fn the_default_cpu_instance_per_cloud_and_overall() {
    // No resources. On AWS and GCP, SkyPilot's default: 8+ vCPUs, >= 4 GiB per vCPU,
    // CPU-only, AWS from m6i/m7i/r6i/c6i, GCP from e2/n2-standard. Elsewhere the
    // cheapest CPU-only row with a price. Per cloud: nebius cpu-e2_2vcpu-8gb $0.0496,
    // runpod cpu3c-2-4 $0.06 (CA-MTL-1), lambda cpu_4x_general $0.20,
    // gcp e2-standard-8 $0.26805 (us-central1-a), aws m6i.2xlarge $0.384 (use1-az1).
    let catalog = Catalog::embedded().unwrap();
    let plan = optimize_task(&catalog, &task("run: echo hi"), &all_clouds(&catalog)).unwrap();
    let per_cloud: Vec<(&str, &str, f64)> = plan
        .candidates
        .iter()
        .map(|c| (c.cloud.as_str(), c.instance_type.as_str(), c.hourly_price))
        .collect();
    let expected = [
        ("nebius", "cpu-e2_2vcpu-8gb", 0.0496),
        ("runpod", "cpu3c-2-4", 0.06),
        ("lambda", "cpu_4x_general", 0.2),
        ("gcp", "e2-standard-8", 0.26805),
        ("aws", "m6i.2xlarge", 0.384),
    ];
    assert_eq!(per_cloud.len(), expected.len(), "{per_cloud:?}");
    for (got, want) in per_cloud.iter().zip(expected) {
        assert_eq!((got.0, got.1), (want.0, want.1), "{per_cloud:?}");
        assert!(close(got.2, want.2), "{per_cloud:?}");
    }
    assert_eq!(plan.chosen.cloud, "nebius");
    let aws = plan.candidates.iter().find(|c| c.cloud == "aws").unwrap();
    assert_eq!(aws.zone.as_deref(), Some("use1-az1"));
}

#[test]
fn any_of_takes_the_cheapest_and_ordered_the_first_feasible() {
    // any_of [gcp L4:1, aws/us-west-2 A10G:1]: gcp g2-standard-4 + 1 L4 in us-east4-a
    // = $0.70452 beats aws g5.xlarge $1.006.
    let catalog = Catalog::embedded().unwrap();
    let yaml = "resources:\n  any_of:\n    - {infra: aws/us-west-2, accelerators: A10G:1}\n    - {infra: gcp, accelerators: L4:1}\n";
    let plan = optimize_task(&catalog, &task(yaml), &all_clouds(&catalog)).unwrap();
    assert_eq!(plan.chosen.cloud, "gcp");
    assert_eq!(plan.chosen.instance_type, "g2-standard-4");
    assert!(close(plan.chosen.hourly_price, 0.70452));
    // ordered: the A10G comes first because the user said so.
    let yaml = yaml.replace("any_of", "ordered");
    let plan = optimize_task(&catalog, &task(&yaml), &all_clouds(&catalog)).unwrap();
    assert_eq!(plan.chosen.cloud, "aws");
    assert_eq!(plan.chosen.instance_type, "g5.xlarge");
    assert!(close(plan.chosen.hourly_price, 1.006));
    assert_eq!(plan.candidates[0].cloud, "aws", "user order in the table");
    // An accelerator list is ordered too: H100:8 first even though A100:8 is cheaper
    // (cheapest on-demand H100:8 outside GCP: runpod 8x_H100_SECURE $19.12).
    let plan = optimize_task(
        &catalog,
        &task("resources: {accelerators: [H100:8, A100:8], infra: runpod}"),
        &all_clouds(&catalog),
    )
    .unwrap();
    assert_eq!(plan.chosen.instance_type, "8x_H100_SECURE");
    assert!(close(plan.chosen.hourly_price, 19.12));
}

#[test]
fn a_price_cap_below_every_offer_is_explained() {
    let catalog = Catalog::embedded().unwrap();
    let err = optimize_task(
        &catalog,
        &task("name: capped\nresources: {accelerators: A100:8, max_hourly_cost: 1.0}"),
        &all_clouds(&catalog),
    )
    .unwrap_err();
    let OptimizeError::NoResources { task, explanation } = &err else {
        panic!("{err}");
    };
    assert_eq!(task, "task `capped`");
    assert!(
        explanation.contains("max_hourly_cost $1.00 excluded")
            && explanation.contains("closest: lambda gpu_8x_a100 in asia-northeast-1 at $10.32/h"),
        "{explanation}"
    );
    assert!(explanation.contains("hint:"), "{explanation}");
}

#[test]
fn memory_based_accelerators_take_any_big_enough_gpu() {
    // 80GB+ = every GPU in metadata.csv with MemoryGB >= 80, count 1; cheapest is
    // lambda gpu_1x_gh200 (GH200, 96 GB) at $1.49.
    let catalog = Catalog::embedded().unwrap();
    let plan = optimize_task(
        &catalog,
        &task("resources: {accelerators: 80GB+}"),
        &all_clouds(&catalog),
    )
    .unwrap();
    assert_eq!(plan.chosen.instance_type, "gpu_1x_gh200");
    assert!(close(plan.chosen.hourly_price, 1.49));
    assert!(
        plan.ranked
            .iter()
            .all(|c| c.accelerators.keys().all(|n| n != "A100" && n != "T4"))
    );
}

#[test]
fn accelerator_names_are_case_insensitive_and_typos_get_suggestions() {
    let catalog = Catalog::embedded().unwrap();
    let plan = optimize_task(
        &catalog,
        &task("resources: {accelerators: a100:8}"),
        &all_clouds(&catalog),
    )
    .unwrap();
    assert_eq!(plan.chosen.accelerators.get("A100"), Some(&8.0));
    let err = optimize_task(
        &catalog,
        &task("resources: {accelerators: A1000:8}"),
        &all_clouds(&catalog),
    )
    .unwrap_err();
    assert!(err.to_string().contains("did you mean A100"), "{err}");
}

#[test]
fn the_blocklist_moves_the_choice_to_the_next_zone() {
    let catalog = Catalog::embedded().unwrap();
    let t = task("resources: {accelerators: T4:1, infra: aws/us-west-2}");
    let mut options = all_clouds(&catalog);
    options.blocklist = Blocklist::new();
    options.blocklist.block(BlockedSpec {
        cloud: Some("aws".into()),
        zone: Some("usw2-az1".into()),
        ..BlockedSpec::default()
    });
    let plan = optimize_task(&catalog, &t, &options).unwrap();
    assert_eq!(plan.chosen.zone.as_deref(), Some("usw2-az2"));
    options.blocklist.block(BlockedSpec {
        cloud: Some("aws".into()),
        ..BlockedSpec::default()
    });
    let err = optimize_task(&catalog, &t, &options).unwrap_err();
    assert!(err.to_string().contains("blocklist"), "{err}");
}

#[test]
fn egress_keeps_a_chain_on_one_cloud() {
    // Task 1 must run on GCP (L4), task 3 on GCP (infra). Task 2 alone would go to
    // nebius ($0.0496 vs gcp e2-standard-8 $0.26805), but 500 GB in and out costs
    // $60 (GCP egress) + ~$45 (nebius, AWS tiers): it stays on GCP.
    let catalog = Catalog::embedded().unwrap();
    let tasks = vec![
        task("resources: {infra: gcp, accelerators: L4:1}"),
        task("run: echo middle"),
        task("resources: {infra: gcp}"),
    ];
    let with_data = |gb: f64| Dag {
        tasks: tasks.clone(),
        edges: vec![
            Edge {
                from: 0,
                to: 1,
                gigabytes: gb,
            },
            Edge {
                from: 1,
                to: 2,
                gigabytes: gb,
            },
        ],
    };
    let options = all_clouds(&catalog);
    let free = optimize_dag(&catalog, &with_data(0.0), &options).unwrap();
    assert_eq!(free.tasks[1].chosen.cloud, "nebius");
    let heavy = optimize_dag(&catalog, &with_data(500.0), &options).unwrap();
    assert_eq!(heavy.tasks[1].chosen.cloud, "gcp");
    assert_eq!(heavy.egress_cost, 0.0);
    // The same problem as a general DAG (an extra 0 -> 2 edge) goes through the ILP
    // and must agree.
    let mut dag = with_data(500.0);
    dag.edges.push(Edge {
        from: 0,
        to: 2,
        gigabytes: 1.0,
    });
    let ilp = optimize_dag(&catalog, &dag, &options).unwrap();
    assert_eq!(ilp.tasks[1].chosen.cloud, "gcp");
    assert!(close(ilp.total_cost, heavy.total_cost));
}

#[test]
fn override_files_replace_a_cloud_and_add_new_ones() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("aws")).unwrap();
    std::fs::write(
        dir.path().join("aws/vms.csv"),
        "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,SpotPrice,Region,AvailabilityZone\n\
         p4d.24xlarge,A100,8.0,96.0,1152.0,,1.00,,us-east-1,use1-az1\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("azure")).unwrap();
    std::fs::write(
        dir.path().join("azure/vms.csv"),
        "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,SpotPrice,Region,Generation\n\
         Standard_NV6ads_A10_v5,A10,0.167,6,55,,0.45,0.09,eastus,V2\n",
    )
    .unwrap();
    let catalog = Catalog::load(Some(dir.path())).unwrap();
    assert!(catalog.clouds().contains(&"azure".to_string()));
    assert_eq!(catalog.offers("aws").unwrap().len(), 1);
    let plan = optimize_task(
        &catalog,
        &task("resources: {accelerators: A100:8}"),
        &all_clouds(&catalog),
    )
    .unwrap();
    assert_eq!(
        plan.chosen.cloud, "aws",
        "the override's $1.00 beats every other A100:8"
    );
    let plan = optimize_task(
        &catalog,
        &task("resources: {accelerators: A10:0.167}"),
        &all_clouds(&catalog),
    )
    .unwrap();
    assert_eq!(plan.chosen.instance_type, "Standard_NV6ads_A10_v5");
}

#[test]
fn a_malformed_override_names_its_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("lambda")).unwrap();
    let file = dir.path().join("lambda/vms.csv");
    std::fs::write(&file, "InstanceType,Region,Price\nok,r,1\nbad,r,free\n").unwrap();
    let catalog = Catalog::load(Some(dir.path())).unwrap();
    let err = catalog.offers("lambda").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:3: Price `free` is not a non-negative number",
            file.display()
        )
    );
    // The other clouds still work.
    assert!(!catalog.offers("aws").unwrap().is_empty());
}

#[test]
fn disabled_clouds_are_not_considered() {
    let catalog = Catalog::embedded().unwrap();
    let options = OptimizeOptions {
        enabled_clouds: vec!["aws".into()],
        ..OptimizeOptions::default()
    };
    let plan = optimize_task(
        &catalog,
        &task("resources: {accelerators: A100:8}"),
        &options,
    )
    .unwrap();
    assert_eq!(plan.chosen.cloud, "aws");
    let err = optimize_task(
        &catalog,
        &task("resources: {accelerators: A100:8, infra: lambda}"),
        &options,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("cloud lambda: not enabled"),
        "{err}"
    );
}

#[test]
fn a_negative_or_nan_price_never_wins() {
    let mut catalog = Catalog::embedded().unwrap();
    let offer = |instance_type: &str, price: f64| aloft::catalog::Offer {
        cloud: "odd".into(),
        instance_type: instance_type.into(),
        accelerator: None,
        vcpus: 2.0,
        memory_gib: 8.0,
        gpu_memory_mib: None,
        price: Some(price),
        spot_price: None,
        region: "odd-1".into(),
        zone: None,
    };
    catalog.insert_offers(
        "odd",
        vec![
            offer("negative", -1.0),
            offer("nan", f64::NAN),
            offer("fair", 0.5),
        ],
    );
    let plan = optimize_task(
        &catalog,
        &task("resources: {cpus: 2, infra: odd}"),
        &all_clouds(&catalog),
    )
    .unwrap();
    assert_eq!(plan.chosen.instance_type, "fair", "{plan:?}");
    assert!(
        plan.candidates.iter().all(|c| c.hourly_price >= 0.0),
        "{plan:?}"
    );
}

#[test]
fn inferentia_and_trainium_plan_under_the_names_gpus_list_shows() {
    // SkyPilot's AWS catalog names these accelerators in its offers only (not in
    // common/accelerators.csv): inf1.xlarge is Inferentia:1, inf2.24xlarge
    // Inferentia2:6, trn1.32xlarge and trn1n.32xlarge Trainium:16.
    let catalog = Catalog::embedded().unwrap();
    assert_eq!(
        catalog.canonical_accelerator("INFERENTIA2").unwrap(),
        "Inferentia2"
    );
    let plan_of = |yaml: &str| optimize_task(&catalog, &task(yaml), &all_clouds(&catalog));
    let plan = plan_of("resources: {accelerators: inferentia:1}").unwrap();
    assert_eq!(plan.chosen.instance_type, "inf1.xlarge", "{plan:?}");
    assert_eq!(plan.chosen.accelerators.get("Inferentia"), Some(&1.0));
    let plan = plan_of("resources: {accelerators: Inferentia2:6}").unwrap();
    assert_eq!(plan.chosen.instance_type, "inf2.24xlarge", "{plan:?}");
    let plan = plan_of("resources: {accelerators: Trainium:16}").unwrap();
    assert!(plan.chosen.instance_type.starts_with("trn1"), "{plan:?}");
    assert_eq!(plan.chosen.accelerators.get("Trainium"), Some(&16.0));
    // No instance has 6 Inferentia (v1) chips: no plan, but not an unknown name.
    let err = plan_of("resources: {accelerators: Inferentia:6}").unwrap_err();
    assert!(matches!(err, OptimizeError::NoResources { .. }), "{err}");
    // ... and it says which counts are offered, as SkyPilot does.
    assert!(
        err.to_string().contains(
            "try one of these offered accelerators: Inferentia:1, Inferentia:4, Inferentia:16"
        ),
        "{err}"
    );
    // Typos still get suggestions, from the offers' names too.
    let err = plan_of("resources: {accelerators: Inferentai2:1}").unwrap_err();
    assert!(
        err.to_string().contains("did you mean Inferentia2"),
        "{err}"
    );
}

#[test]
fn disk_and_network_tiers_leave_out_clouds_that_cannot_choose_them() {
    // SkyPilot leaves a cloud out when the task needs CUSTOM_DISK_TIER (a
    // disk_tier other than best) or CUSTOM_NETWORK_TIER (network_tier: best) and
    // the cloud lacks it; Lambda has neither. A100:8 is cheapest on Lambda
    // (gpu_8x_a100, $10.32), then GCP a2-highgpu-8g in europe-west4-a ($19.42171).
    let catalog = Catalog::embedded().unwrap();
    let options = all_clouds(&catalog);
    let plan = optimize_task(
        &catalog,
        &task("resources: {accelerators: A100:8, disk_tier: best}"),
        &options,
    )
    .unwrap();
    assert_eq!(
        plan.chosen.cloud, "lambda",
        "disk_tier: best fits every cloud"
    );
    let plan = optimize_task(
        &catalog,
        &task("resources: {accelerators: A100:8, disk_tier: high}"),
        &options,
    )
    .unwrap();
    assert_eq!(
        (
            plan.chosen.cloud.as_str(),
            plan.chosen.instance_type.as_str()
        ),
        ("gcp", "a2-highgpu-8g")
    );
    assert!(close(plan.chosen.hourly_price, 19.42171), "{plan:?}");
    assert!(
        plan.excluded.contains(&(
            "lambda".to_string(),
            "cannot choose a disk tier (disk_tier: high)".to_string()
        )),
        "{:?}",
        plan.excluded
    );
    let plan = optimize_task(
        &catalog,
        &task("resources: {accelerators: A100:8, network_tier: best}"),
        &options,
    )
    .unwrap();
    assert!(
        ["aws", "gcp", "nebius"].contains(&plan.chosen.cloud.as_str()),
        "{plan:?}"
    );
    assert!(
        plan.excluded.contains(&(
            "lambda".to_string(),
            "has no high-bandwidth networking (network_tier: best)".to_string()
        )),
        "{:?}",
        plan.excluded
    );
    // Asked on Lambda alone, the plan fails and says why.
    let err = optimize_task(
        &catalog,
        &task("resources: {accelerators: A100:8, disk_tier: medium, infra: lambda}"),
        &options,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("cloud lambda: cannot choose a disk tier (disk_tier: medium)"),
        "{err}"
    );
}

#[test]
fn kubernetes_matches_a_name_no_catalog_knows_against_its_nodes_labels() {
    // The kubernetes provider's offers name each node's GPU from its label, as
    // SkyPilot names it; a GPU no catalog lists is matched against them.
    let mut catalog = Catalog::embedded().unwrap();
    let node = |gpu: &str| aloft::catalog::Offer {
        cloud: "kubernetes".into(),
        instance_type: format!("4CPU--16GB--{gpu}:1"),
        accelerator: Some((gpu.into(), 1.0)),
        vcpus: 4.0,
        memory_gib: 16.0,
        gpu_memory_mib: None,
        price: Some(0.0),
        spot_price: None,
        region: "kind-dev".into(),
        zone: None,
    };
    catalog.insert_offers("kubernetes", vec![node("RTXPRO6000")]);
    let options = all_clouds(&catalog);
    let plan = optimize_task(
        &catalog,
        &task("resources: {accelerators: rtxpro6000:1, infra: k8s}"),
        &options,
    )
    .unwrap();
    assert_eq!(plan.chosen.cloud, "kubernetes");
    assert_eq!(plan.chosen.accelerators.get("RTXPRO6000"), Some(&1.0));
    // A name no node carries either: planning on Kubernetes finds no node with
    // it (SkyPilot's answer), instead of refusing the name.
    let err = optimize_task(
        &catalog,
        &task("resources: {accelerators: MI355X:1, infra: k8s}"),
        &options,
    )
    .unwrap_err();
    assert!(matches!(err, OptimizeError::NoResources { .. }), "{err}");
    assert!(err.to_string().contains("accelerators MI355X:1"), "{err}");
    // Without Kubernetes in the plan, an unknown name is still refused by name.
    let mut no_kube = options.clone();
    no_kube.enabled_clouds.retain(|c| c != "kubernetes");
    let err = optimize_task(
        &catalog,
        &task("resources: {accelerators: MI355X:1}"),
        &no_kube,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("unknown accelerator `MI355X`"),
        "{err}"
    );
}

#[test]
fn the_default_cpu_instance_comes_from_skypilots_default_families() {
    // SkyPilot's AWS default families are m6i, m6id, m7i, r6i, r6id, r7i, c6i, c6id
    // and c7i; a whole (refreshed) catalog has them all. Of these rows the cheapest
    // with 8+ vCPUs and 4 GiB per vCPU is m6id.2xlarge; m5.2xlarge (cheaper still)
    // is not a default family.
    let mut catalog = Catalog::embedded().unwrap();
    let row =
        |instance_type: &str, vcpus: f64, memory_gib: f64, price: f64| aloft::catalog::Offer {
            cloud: "aws".into(),
            instance_type: instance_type.into(),
            accelerator: None,
            vcpus,
            memory_gib,
            gpu_memory_mib: None,
            price: Some(price),
            spot_price: None,
            region: "us-east-1".into(),
            zone: Some("use1-az1".into()),
        };
    catalog.insert_offers(
        "aws",
        vec![
            row("m5.2xlarge", 8.0, 32.0, 0.30),
            row("m6i.2xlarge", 8.0, 32.0, 0.384),
            row("m6id.2xlarge", 8.0, 32.0, 0.35),
            row("c7i.2xlarge", 8.0, 16.0, 0.20),
        ],
    );
    let plan = optimize_task(
        &catalog,
        &task("resources: {infra: aws}"),
        &all_clouds(&catalog),
    )
    .unwrap();
    assert_eq!(plan.chosen.instance_type, "m6id.2xlarge", "{plan:?}");
}
