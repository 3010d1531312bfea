//! `aloft-catalog` on real files.

use std::process::Command;

fn run(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_aloft-catalog"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn validate_reports_the_embedded_snapshot_and_names_a_bad_line() {
    let out = run(&["validate".as_ref()]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for cloud in ["aws", "gcp", "lambda", "nebius", "runpod"] {
        assert!(text.contains(cloud), "{text}");
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("lambda")).unwrap();
    std::fs::write(
        dir.path().join("lambda/vms.csv"),
        "InstanceType,Region,Price\nok,r,1\nbad,r,oops\n",
    )
    .unwrap();
    let out = run(&["validate".as_ref(), dir.path().as_os_str()]);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("lambda/vms.csv:3: Price `oops`"), "{err}");
}

#[test]
fn diff_shows_price_changes_and_new_offers() {
    let old = tempfile::tempdir().unwrap();
    let new = tempfile::tempdir().unwrap();
    let header = "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,Price,Region,GpuInfo,SpotPrice\n";
    std::fs::create_dir_all(old.path().join("toy")).unwrap();
    std::fs::create_dir_all(new.path().join("toy")).unwrap();
    std::fs::write(
        old.path().join("toy/vms.csv"),
        format!("{header}a,,,2,8,1.0,r1,,\nb,,,2,8,2.0,r1,,\n"),
    )
    .unwrap();
    std::fs::write(
        new.path().join("toy/vms.csv"),
        format!("{header}a,,,2,8,1.5,r1,,\nc,,,2,8,3.0,r1,,\n"),
    )
    .unwrap();
    let out = run(&[
        "diff".as_ref(),
        old.path().as_os_str(),
        new.path().as_os_str(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("~ toy a r1 $1.0000 -> $1.5000"), "{text}");
    assert!(text.contains("+ toy c r1 $3.0000"), "{text}");
    assert!(text.contains("- toy b r1"), "{text}");
    assert!(text.contains("1 added, 1 removed, 1 changed"), "{text}");
}

#[test]
fn fetch_writes_a_catalog_through_the_aws_provider_against_moto() {
    let moto = aloft_tests::moto::Moto::start();
    let component = aloft_tests::components::provider("aws");
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("aws.wasm");
    std::fs::write(&wasm, component).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aloft-catalog"))
        .args(["fetch", "--provider"])
        .arg(&wasm)
        .args([
            "--region",
            "us-east-1",
            "--endpoint",
            &moto.endpoint(),
            "--out",
        ])
        .arg(dir.path().join("fresh"))
        .env("AWS_ACCESS_KEY_ID", "AKIACATALOG")
        .env("AWS_SECRET_ACCESS_KEY", "catalog-secret")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let file = dir.path().join("fresh/aws/vms.csv");
    let mut reader = csv::Reader::from_path(&file).unwrap();
    let headers = reader.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    // Every type moto offers in each zone, by zone id, as SkyPilot's catalogs have.
    let g4 = rows
        .iter()
        .find(|r| {
            &r[col("InstanceType")] == "g4dn.xlarge" && &r[col("AvailabilityZone")] == "use1-az1"
        })
        .expect("g4dn.xlarge in use1-az1");
    assert_eq!(&g4[col("AcceleratorName")], "T4");
    assert_eq!(&g4[col("AcceleratorCount")], "1");
    assert_eq!(&g4[col("vCPUs")], "4");
    assert!(
        g4[col("GpuInfo")].contains("'SizeInMiB': 16384"),
        "{:?}",
        g4
    );
    // The on-demand price is carried over from the shipped catalog; spot is live.
    assert_eq!(&g4[col("Price")], "0.526");
    assert!(!g4[col("SpotPrice")].is_empty());
    assert!(stderr.contains(&format!("Wrote {} offer(s)", rows.len())));
    // The result is a valid catalog for aloft itself.
    let validate = std::process::Command::new(env!("CARGO_BIN_EXE_aloft-catalog"))
        .arg("validate")
        .arg(dir.path().join("fresh"))
        .output()
        .unwrap();
    assert!(
        validate.status.success(),
        "{}",
        String::from_utf8_lossy(&validate.stderr)
    );
}

#[test]
fn fetch_writes_azure_rows_priced_by_the_retail_prices_api_for_plans_and_gpus_list() {
    use aloft_tests::azure_fake::AzureFake;
    let fake = AzureFake::start("catalog-secret-Azq8Q~", &[]);
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("azure.wasm");
    std::fs::write(&wasm, aloft_tests::components::provider("azure")).unwrap();
    // The prices API is public: no credentials are lent.
    let out = Command::new(env!("CARGO_BIN_EXE_aloft-catalog"))
        .args(["fetch", "--provider"])
        .arg(&wasm)
        .args(["--region", "eastus", "--region", "westus2"])
        .args(["--endpoint", &fake.endpoint(), "--out"])
        .arg(dir.path().join("fresh"))
        .env("AZURE_CONFIG_DIR", "/nonexistent")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // The catalog a plan and `gpus list` read (HOME/catalogs) has Azure's T4 size
    // with the Linux pay-as-you-go and Spot meters, Windows meters left out.
    let catalog = aloft::catalog::Catalog::load(Some(&dir.path().join("fresh"))).unwrap();
    let offers = catalog.offers("azure").unwrap();
    let t4 = offers
        .iter()
        .find(|o| o.instance_type == "Standard_NC4as_T4_v3" && o.region == "eastus")
        .expect("Standard_NC4as_T4_v3 in eastus");
    assert_eq!(t4.accelerator, Some(("T4".to_string(), 1.0)));
    assert_eq!((t4.vcpus, t4.memory_gib), (4.0, 28.0));
    assert_eq!((t4.price, t4.spot_price), (Some(0.526), Some(0.0526)));
    let h100 = offers
        .iter()
        .find(|o| o.instance_type == "Standard_ND96isr_H100_v5")
        .expect("the H100 size");
    assert_eq!(h100.accelerator, Some(("H100".to_string(), 8.0)));
    assert_eq!(h100.spot_price, None);
    assert!(
        offers
            .iter()
            .all(|o| o.region == "eastus" || o.region == "westus2")
    );
    let requests = fake.state()["requests"].clone();
    assert!(
        requests
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r == "GET /api/retail/prices"),
        "{requests}"
    );
}

#[test]
fn fetch_writes_oci_gpu_shapes_as_a_catalog_for_plans_and_gpus_list() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("oci.wasm");
    std::fs::write(&wasm, aloft_tests::components::provider("oci")).unwrap();
    // OCI's sizes are the provider's own table and its prices Oracle's public
    // price list (served by the fake: A10 at 2.0 and H100 at 10.5 per GPU hour):
    // no credentials.
    let fake = aloft_tests::oci_fake::OciFake::start("us-ashburn-1", &[], 0.5);
    let out = Command::new(env!("CARGO_BIN_EXE_aloft-catalog"))
        .args(["fetch", "--provider"])
        .arg(&wasm)
        .args([
            "--region",
            "us-ashburn-1",
            "--region",
            "eu-frankfurt-1",
            "--endpoint",
            &fake.endpoint(),
            "--out",
        ])
        .arg(dir.path().join("fresh"))
        .env("OCI_CONFIG_FILE", "/nonexistent")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let catalog = aloft::catalog::Catalog::load(Some(&dir.path().join("fresh"))).unwrap();
    let offers = catalog.offers("oci").unwrap();
    let a10 = offers
        .iter()
        .find(|o| o.instance_type == "VM.GPU.A10.1" && o.region == "eu-frankfurt-1")
        .expect("VM.GPU.A10.1 in eu-frankfurt-1");
    assert_eq!(a10.accelerator, Some(("A10".to_string(), 1.0)));
    // Preemptible capacity at half price, for VM shapes only.
    assert_eq!((a10.price, a10.spot_price), (Some(2.0), Some(1.0)));
    let h100 = offers
        .iter()
        .find(|o| o.instance_type == "BM.GPU.H100.8")
        .expect("the H100 shape");
    assert_eq!(h100.accelerator, Some(("H100".to_string(), 8.0)));
    assert_eq!((h100.price, h100.spot_price), (Some(84.0), None));
    fake.assert_requests_include(&["PRICES B95909", "PRICES B98415"]);
    assert!(
        offers
            .iter()
            .all(|o| o.region == "us-ashburn-1" || o.region == "eu-frankfurt-1")
    );
}
