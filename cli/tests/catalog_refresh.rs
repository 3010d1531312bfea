//! Catalogs kept whole and current (issue 26, item 13): refreshed from
//! `catalog.url` into the home with an age limit, the snapshot in the binary as the
//! offline fallback. The catalog server is a real HTTP server on the loopback
//! interface; no test reaches the internet.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::common::text;

/// A catalog server: serves `files` (URL path → body) and counts the requests per
/// path; anything else is a 404.
struct CatalogServer {
    base: String,
    hits: Arc<Mutex<BTreeMap<String, usize>>>,
}

impl CatalogServer {
    fn start(files: BTreeMap<String, String>) -> CatalogServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
        let counted = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                if reader.read_line(&mut request).is_err() {
                    continue;
                }
                // Skip the headers.
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let path = request.split_whitespace().nth(1).unwrap_or("").to_string();
                *counted.lock().unwrap().entry(path.clone()).or_default() += 1;
                let (status, body) = match files.get(&path) {
                    Some(body) => ("200 OK", body.as_str()),
                    None => ("404 Not Found", "404: Not Found"),
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        CatalogServer {
            base: format!("http://127.0.0.1:{port}/catalogs/v8/"),
            hits,
        }
    }

    fn hits(&self, file: &str) -> usize {
        let path = format!("/catalogs/v8/{file}");
        self.hits.lock().unwrap().get(&path).copied().unwrap_or(0)
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `aloft` with `ALOFT_HOME=home` and the catalog URL of `config.yaml` (the test
/// suites' `ALOFT_CATALOG_URL=off` removed).
fn aloft(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aloft"))
        .args(args)
        .env("ALOFT_HOME", home)
        .env_remove("ALOFT_CATALOG_URL")
        .output()
        .expect("run aloft")
}

fn write_config(home: &Path, catalog: &str) {
    std::fs::create_dir_all(home).unwrap();
    std::fs::write(home.join("config.yaml"), format!("catalog:\n{catalog}")).unwrap();
}

fn task(dir: &Path, name: &str, yaml: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, yaml).unwrap();
    path.to_str().unwrap().to_string()
}

fn set_age(path: &Path, age: Duration) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - age).unwrap();
}

/// SkyPilot's AWS catalog has every family; the snapshot in aloft only some (no
/// m5). A served catalog with m5.2xlarge plans it, and is fetched again only
/// once older than the age limit.
#[test]
fn a_type_only_in_the_served_catalog_plans_and_is_refetched_only_when_stale() {
    let header = "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,SpotPrice,Region,AvailabilityZone,Arch";
    let aws = format!(
        "{header}\nm5.2xlarge,,,8.0,32.0,,0.384,0.1592,us-east-1,use1-az1,x86_64\n\
         m5.2xlarge,,,8.0,32.0,,0.384,0.1601,us-east-1,use1-az2,x86_64\n"
    );
    let common = repo().join("core/catalogs/common");
    let files: BTreeMap<String, String> = [
        ("/catalogs/v8/aws/vms.csv".to_string(), aws.clone()),
        (
            "/catalogs/v8/common/accelerators.csv".to_string(),
            std::fs::read_to_string(common.join("accelerators.csv")).unwrap(),
        ),
    ]
    .into_iter()
    .collect();
    let server = CatalogServer::start(files);
    let home = tempfile::tempdir().unwrap();
    write_config(
        home.path(),
        &format!("  url: {}\n  max_age_hours: 2\n", server.base),
    );
    let t = task(
        home.path(),
        "storage.yaml",
        "resources:\n  infra: aws\n  instance_type: m5.2xlarge\nrun: echo hi\n",
    );
    let plan = || aloft(home.path(), &["launch", "--dryrun", "--all-clouds", &t]);

    let out = plan();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(
        shown.contains("m5.2xlarge") && shown.contains("us-east-1"),
        "{shown}"
    );
    assert!(
        !text(&out.stderr).contains("not refreshed"),
        "{}",
        text(&out.stderr)
    );
    let fetched = home.path().join("catalogs/aws/vms.csv");
    assert_eq!(std::fs::read_to_string(&fetched).unwrap(), aws);
    assert_eq!(server.hits("aws/vms.csv"), 1);
    assert_eq!(server.hits("common/accelerators.csv"), 1);
    // Only the cloud the task names (and the common files) is fetched.
    assert_eq!(server.hits("gcp/vms.csv"), 0);

    // Fresh: planned from the fetched file, not fetched again.
    set_age(&fetched, Duration::from_secs(3600));
    let out = plan();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("m5.2xlarge"));
    assert_eq!(
        server.hits("aws/vms.csv"),
        1,
        "a fresh file is not refetched"
    );

    // Older than max_age_hours (2): fetched again.
    set_age(&fetched, Duration::from_secs(3 * 3600));
    let out = plan();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(server.hits("aws/vms.csv"), 2, "a stale file is refetched");

    // A file the user edited is theirs: never replaced, however old.
    let edited = format!("{aws}m5.4xlarge,,,16.0,64.0,,0.768,0.3,us-east-1,use1-az1,x86_64\n");
    std::fs::write(&fetched, &edited).unwrap();
    set_age(&fetched, Duration::from_secs(30 * 3600));
    let out = plan();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        server.hits("aws/vms.csv"),
        2,
        "the user's file is not refetched"
    );
    assert_eq!(std::fs::read_to_string(&fetched).unwrap(), edited);
}

/// A catalog server that is down: the plan goes on with the snapshot in the
/// binary, after one warning line, and exits 0.
#[test]
fn a_catalog_server_that_is_down_falls_back_to_the_bundled_snapshot() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let home = tempfile::tempdir().unwrap();
    write_config(
        home.path(),
        &format!("  url: http://127.0.0.1:{port}/catalogs/v8/\n"),
    );
    let t = task(
        home.path(),
        "a100.yaml",
        "resources:\n  infra: aws\n  accelerators: A100:8\nrun: echo hi\n",
    );
    let out = aloft(home.path(), &["launch", "--dryrun", "--all-clouds", &t]);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    // p4d.24xlarge: the snapshot's only AWS offer of 8 A100s.
    assert!(
        text(&out.stdout).contains("p4d.24xlarge"),
        "{}",
        text(&out.stdout)
    );
    let warnings: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("catalog not refreshed"))
        .collect();
    assert_eq!(warnings.len(), 1, "{err}");
    assert!(
        warnings[0].contains(&format!("127.0.0.1:{port}/catalogs/v8/"))
            && warnings[0].contains("(and 1 more)"),
        "{err}"
    );
    assert!(!home.path().join("catalogs/aws/vms.csv").exists());
    // A plan on `local` alone reads no catalog file: nothing is fetched, nothing
    // to warn about (a home of its own, without the failures noted above).
    let fresh = tempfile::tempdir().unwrap();
    write_config(
        fresh.path(),
        &format!("  url: http://127.0.0.1:{port}/catalogs/v8/\n"),
    );
    let t = task(
        fresh.path(),
        "local.yaml",
        "resources:\n  infra: local\nrun: echo hi\n",
    );
    let out = aloft(fresh.path(), &["launch", "--dryrun", &t]);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("catalog not refreshed"), "{err}");
    assert!(!fresh.path().join("catalogs").exists());
}

/// `gpus list` reads the catalogs as a plan does: refreshed first, so an
/// accelerator only the served catalog has (B200 on AWS; the snapshot in aloft
/// predates it) is listed.
#[test]
fn gpus_list_shows_what_the_served_catalog_offers() {
    let header = "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,SpotPrice,Region,AvailabilityZone,Arch";
    let aws = format!(
        "{header}\np6-b200.48xlarge,B200,8.0,192.0,2048.0,,113.9328,,us-east-1,use1-az1,x86_64\n"
    );
    let files: BTreeMap<String, String> = [("/catalogs/v8/aws/vms.csv".to_string(), aws)]
        .into_iter()
        .collect();
    let server = CatalogServer::start(files);
    let home = tempfile::tempdir().unwrap();
    write_config(home.path(), &format!("  url: {}\n", server.base));
    let out = aloft(home.path(), &["gpus", "list", "B200", "--infra", "aws"]);
    let shown = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(shown.contains("p6-b200.48xlarge"), "{shown}");
    assert_eq!(server.hits("aws/vms.csv"), 1);
    // The common file is not served here: one warning, and the listing stands.
    assert!(
        text(&out.stderr).contains("catalog not refreshed"),
        "{}",
        text(&out.stderr)
    );
}
