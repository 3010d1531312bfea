//! Azure Blob Storage as a store, against Azurite (Microsoft's storage emulator,
//! installed by `scripts/test.sh` into `.npm-tools/`), one per test on a free
//! loopback port with a storage account of its own and a random key. aloft finds
//! the account as the `az` CLI does (`AZURE_STORAGE_CONNECTION_STRING`, whose
//! `BlobEndpoint` points at Azurite); tasks run on the bundled `local` provider;
//! every fact about containers is read back with `azure-storage-blob`, Microsoft's
//! own client, and every request is in Azurite's access log.

use crate::common;

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::text;

/// The storage account each Azurite serves.
const ACCOUNT: &str = "aloftstore";

/// Azurite's blob service on a free loopback port, its access log in a folder
/// of its own; stopped when dropped.
struct Azurite {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    key: String,
}

impl Azurite {
    fn start() -> Azurite {
        let bin = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../.npm-tools/node_modules/.bin/azurite-blob");
        assert!(
            bin.exists(),
            "{} is missing: run scripts/test.sh once (it installs Azurite)",
            bin.display()
        );
        // 64 hex digits are valid base64 too: a fresh key of 48 random bytes.
        let mut random = [0u8; 32];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut random))
            .unwrap();
        let key: String = random.iter().map(|b| format!("{b:02x}")).collect();
        let dir = tempfile::tempdir().unwrap();
        let port = common::free_port();
        let log = std::fs::File::create(dir.path().join("access.log")).unwrap();
        let child = Command::new(bin)
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .arg("--location")
            .arg(dir.path().join("data"))
            .args(["--skipApiVersionCheck", "--loose", "--disableTelemetry"])
            .env("AZURITE_ACCOUNTS", format!("{ACCOUNT}:{key}"))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start azurite-blob");
        let azurite = Azurite {
            child,
            port,
            dir,
            key,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "Azurite did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        azurite
    }

    fn connection_string(&self) -> String {
        format!(
            "DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={};BlobEndpoint=http://127.0.0.1:{}/{ACCOUNT};",
            self.key, self.port
        )
    }

    /// Runs `code` with `svc`, a `BlobServiceClient` of the account, and
    /// returns the JSON it prints.
    fn python(&self, code: &str) -> serde_json::Value {
        let script = format!(
            "import json, sys\nfrom azure.storage.blob import BlobServiceClient\n\
             svc = BlobServiceClient.from_connection_string(sys.argv[1])\n{code}\n"
        );
        let out = Command::new(aloft_tests::fakes::venv_python())
            .arg("-c")
            .arg(script)
            .arg(self.connection_string())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_str(text(&out.stdout).trim()).unwrap()
    }

    fn containers(&self) -> serde_json::Value {
        self.python("print(json.dumps(sorted(c.name for c in svc.list_containers())))")
    }

    /// The request lines of Azurite's access log (`GET /account/c/b?... HTTP/1.1`)
    /// of every request answered so far. Azurite writes a line once its answer
    /// is sent, so a request of our own goes last and its line is waited for.
    fn requests(&self) -> Vec<String> {
        use std::io::Write as _;
        let barrier = format!(
            "/aloft-barrier-{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        );
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            stream,
            "GET {barrier} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let _ = stream.read_to_end(&mut Vec::new());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let log =
                std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default();
            if log.contains(&barrier) {
                return log
                    .lines()
                    .filter_map(|l| l.split('"').nth(1))
                    .filter(|r| !r.contains("/aloft-barrier-"))
                    .map(str::to_string)
                    .collect();
            }
            assert!(
                Instant::now() < deadline,
                "Azurite logged no line for {barrier}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How a run of aloft finds Azure storage credentials.
#[derive(Clone, Copy)]
enum Creds {
    /// `AZURE_STORAGE_CONNECTION_STRING` with Azurite's endpoint.
    ConnectionString,
    /// None anywhere.
    None,
}

struct World {
    home: tempfile::TempDir,
    /// `AZURE_CONFIG_DIR`: empty, so no `~/.azure/config` is read.
    azure_config: tempfile::TempDir,
    azurite: Azurite,
}

impl World {
    fn new() -> World {
        let home = tempfile::tempdir().unwrap();
        let upload = home.path().join("upload");
        std::fs::create_dir_all(&upload).unwrap();
        std::fs::write(upload.join("u.txt"), "uploaded").unwrap();
        World {
            home,
            azure_config: tempfile::tempdir().unwrap(),
            azurite: Azurite::start(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_aloft"));
        command
            .args(args)
            .env("ALOFT_HOME", self.home.path())
            .env("AZURE_CONFIG_DIR", self.azure_config.path())
            .env_remove("AZURE_STORAGE_CONNECTION_STRING")
            .env_remove("AZURE_STORAGE_ACCOUNT")
            .env_remove("AZURE_STORAGE_KEY")
            .env("ALOFT_LOG", "trace");
        command
    }

    fn aloft(&self, creds: Creds, args: &[&str]) -> Output {
        let mut command = self.command(args);
        if let Creds::ConnectionString = creds {
            command.env(
                "AZURE_STORAGE_CONNECTION_STRING",
                self.azurite.connection_string(),
            );
        }
        command.output().expect("run aloft")
    }

    fn task(&self, name: &str, body: &str) -> PathBuf {
        let path = self.home.path().join(name);
        std::fs::write(&path, body).unwrap();
        path
    }

    /// Fails unless `out` succeeded and shows no key; its stdout.
    fn ok(&self, out: &Output) -> String {
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert!(out.status.success(), "{stdout}\n{stderr}");
        self.assert_no_key(&format!("{stdout}\n{stderr}"));
        stdout
    }

    /// Fails unless `out` exited with `code` saying `says`, showing no key.
    fn fails(&self, out: &Output, code: i32, says: &str) {
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{says}:\n{stderr}");
        assert!(stderr.contains(says), "{says}:\n{stderr}");
        self.assert_no_key(&format!("{}\n{stderr}", text(&out.stdout)));
    }

    fn assert_no_key(&self, output: &str) {
        assert!(
            !output.contains(&self.azurite.key),
            "the account key leaked: {output}"
        );
    }

    fn storage_ls(&self) -> serde_json::Value {
        serde_json::from_str(&self.ok(&self.aloft(Creds::None, &["storage", "ls", "-o", "json"])))
            .unwrap()
    }

    fn nothing_provisioned(&self) {
        assert_eq!(
            text(&self.aloft(Creds::None, &["status", "-o", "json"]).stdout).trim(),
            "[]",
            "nothing was provisioned"
        );
    }
}

/// A blob URL in the test account.
fn blob_url(path: &str) -> String {
    format!("https://{ACCOUNT}.blob.core.windows.net/{path}")
}

#[test]
fn an_azure_container_reaches_both_nodes_by_sas_and_storage_objects_are_created_listed_and_deleted()
{
    let world = World::new();
    let seeded = world.azurite.python(
        "c = svc.create_container('az-data')\n\
         data = [('train/a.txt', b'alpha'), ('train/sub/b.txt', b'beta'), ('train/z/c.txt', b'gamma'), ('other/x.txt', b'not this')]\n\
         [c.upload_blob(name, body) for name, body in data]\n\
         print(json.dumps(True))",
    );
    assert_eq!(seeded, true);
    let task = world.task(
        "azure.yaml",
        &format!(
            "num_nodes: 2\n\
             resources: {{infra: local}}\n\
             file_mounts:\n  ~/data: {}\n  ~/one.txt: {}\n  \
             ~/up:\n    name: az-up\n    source: ./upload\n    store: azure\n    mode: COPY\n  \
             ~/tmp:\n    name: az-scratch\n    source: ./upload\n    store: azure\n    mode: COPY\n    persistent: false\n\
             run: echo \"rank $SKYPILOT_NODE_RANK got $(cat ~/data/a.txt ~/data/sub/b.txt ~/data/z/c.txt ~/up/u.txt ~/tmp/u.txt ~/one.txt)\"; ls ~/data\n",
            blob_url("az-data/train"),
            blob_url("az-data/train/a.txt"),
        ),
    );
    let stdout = world.ok(&world.aloft(
        Creds::ConnectionString,
        &["launch", "-y", "-c", "azc", task.to_str().unwrap()],
    ));
    for rank in 0..2 {
        assert!(
            stdout.contains(&format!(
                "rank {rank} got alphabetagammauploadeduploadedalpha"
            )),
            "rank {rank}: {stdout}"
        );
    }
    assert!(!stdout.contains("x.txt"), "only the prefix: {stdout}");

    // Every blob was read by the nodes with a SAS URL (`sig=` in the query):
    // each of the two nodes read each of the six blobs (three under train/,
    // train/a.txt, u.txt of both new containers) once. No blob was read with the
    // account key: the launcher only listed containers and uploaded.
    let requests = world.azurite.requests();
    let blob_gets: Vec<&String> = requests
        .iter()
        .filter(|r| r.starts_with(&format!("GET /{ACCOUNT}/")) && !r.contains("restype="))
        .collect();
    assert_eq!(blob_gets.len(), 2 * 6, "{requests:#?}");
    assert!(
        blob_gets
            .iter()
            .all(|r| r.contains("sig=") && r.contains("sp=r")),
        "{blob_gets:#?}"
    );
    // The local source went up once to each container, not once per node.
    for container in ["az-up", "az-scratch"] {
        let puts = requests
            .iter()
            .filter(|r| r.starts_with(&format!("PUT /{ACCOUNT}/{container}/u.txt ")))
            .count();
        assert_eq!(puts, 1, "{container}: {requests:#?}");
    }
    let read = world.azurite.python(
        "print(json.dumps({n: svc.get_blob_client(n, 'u.txt').download_blob().readall().decode() \
         for n in ['az-up', 'az-scratch']}))",
    );
    assert_eq!(
        read,
        serde_json::json!({"az-up": "uploaded", "az-scratch": "uploaded"})
    );

    // `storage ls` shows the two containers aloft made (not az-data), with their
    // account where other stores show a region.
    let listed = world.storage_ls();
    let rows: Vec<(&str, &str, &str)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["name"].as_str().unwrap(),
                b["store"].as_str().unwrap(),
                b["region"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("az-scratch", "AZURE", ACCOUNT),
            ("az-up", "AZURE", ACCOUNT)
        ]
    );
    assert_eq!(listed[0]["cluster"], "azc", "scratch goes with the cluster");
    assert!(listed[1]["cluster"].is_null(), "persistent by default");
    let table = world.ok(&world.aloft(Creds::None, &["storage", "ls"]));
    assert!(
        table
            .lines()
            .any(|l| l.contains("az-up") && l.contains("AZURE")),
        "{table}"
    );

    // Deleting needs the credentials, and names where they go.
    world.fails(
        &world.aloft(Creds::None, &["storage", "delete", "-y", "az-up"]),
        1,
        "no Azure storage credentials",
    );
    world.ok(&world.aloft(
        Creds::ConnectionString,
        &["storage", "delete", "-y", "az-up"],
    ));
    assert_eq!(
        world.azurite.containers(),
        serde_json::json!(["az-data", "az-scratch"])
    );
    // `down` finds the account in the az CLI's config file (`[storage]`
    // `connection_string`), as `az storage` would.
    std::fs::write(
        world.azure_config.path().join("config"),
        format!(
            "[storage]\nconnection_string = {}\n",
            world.azurite.connection_string()
        ),
    )
    .unwrap();
    world.ok(&world.aloft(Creds::None, &["down", "-y", "azc"]));
    assert_eq!(
        world.azurite.containers(),
        serde_json::json!(["az-data"]),
        "persistent: false goes at down"
    );
    assert_eq!(world.storage_ls(), serde_json::json!([]));
    common::assert_secret_in_no_file(world.home.path(), &world.azurite.key);
}

#[test]
fn bad_azure_input_and_missing_credentials_stop_before_anything_is_provisioned() {
    let world = World::new();
    let data_url = blob_url("az-data/train");
    // Without credentials: a blob URL mount and an Azure storage object both stop
    // the launch, naming where credentials go; the dry run passes (it contacts no
    // store).
    for (i, body) in [
        format!("resources: {{infra: local}}\nfile_mounts:\n  ~/data: {data_url}\nrun: ls ~/data\n"),
        "resources: {infra: local}\nfile_mounts:\n  ~/up:\n    name: az-up\n    source: ./upload\n    \
         store: azure\n    mode: COPY\nrun: ls ~/up\n"
            .to_string(),
    ]
    .iter()
    .enumerate()
    {
        let task = world.task(&format!("t{i}.yaml"), body);
        let task = task.to_str().unwrap();
        world.ok(&world.aloft(Creds::None, &["launch", "--dryrun", task]));
        world.fails(
            &world.aloft(Creds::None, &["launch", "-y", "-c", "nocreds", task]),
            1,
            "no Azure storage credentials: set AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY",
        );
    }
    // An account name without a key, and a key that is not base64, are named as
    // such (never quoting the key).
    let task = world.task(
        "t.yaml",
        &format!(
            "resources: {{infra: local}}\nfile_mounts:\n  ~/data: {data_url}\nrun: ls ~/data\n"
        ),
    );
    let task = task.to_str().unwrap();
    let out = world
        .command(&["launch", "-y", "-c", "nokey", task])
        .env("AZURE_STORAGE_ACCOUNT", ACCOUNT)
        .output()
        .unwrap();
    world.fails(&out, 1, &format!("(account `{ACCOUNT}` has no key)"));
    let out = world
        .command(&["launch", "-y", "-c", "badkey", task])
        .env("AZURE_STORAGE_ACCOUNT", ACCOUNT)
        .env("AZURE_STORAGE_KEY", "not base64: a secret!")
        .output()
        .unwrap();
    world.fails(
        &out,
        1,
        &format!("the key of Azure storage account `{ACCOUNT}` is not base64"),
    );
    assert!(!text(&out.stderr).contains("a secret!"));
    world.nothing_provisioned();
    assert_eq!(
        world.azurite.requests(),
        Vec::<String>::new(),
        "no request yet"
    );

    // A store that does not match the source's URL is bad input: the dry run and
    // the launch both refuse it before any store is contacted.
    for (body, says) in [
        (
            format!(
                "resources: {{infra: local}}\nfile_mounts:\n  ~/d:\n    source: {data_url}\n    store: s3\n    mode: COPY\nrun: ls\n"
            ),
            format!("store S3 does not match source `{data_url}` (AZURE)"),
        ),
        (
            "resources: {infra: local}\nfile_mounts:\n  ~/d:\n    source: gs://b/x\n    store: azure\n    mode: COPY\nrun: ls\n"
                .to_string(),
            "store AZURE does not match source `gs://b/x` (GCS)".to_string(),
        ),
    ] {
        let task = world.task("bad.yaml", &body);
        let task = task.to_str().unwrap();
        for args in [
            vec!["launch", "--dryrun", task],
            vec!["launch", "-y", "-c", "bad", task],
        ] {
            world.fails(&world.aloft(Creds::ConnectionString, &args), 2, &says);
        }
    }
    assert_eq!(world.azurite.requests(), Vec::<String>::new());

    // A blob URL in another account than the credentials' is refused without a
    // request; a container that does not exist, with `persistent: false` and no
    // `source` to make it from, stops the launch with one listing, saying so.
    let other = world.task(
        "other.yaml",
        "resources: {infra: local}\nfile_mounts:\n  ~/d: https://someoneelse.blob.core.windows.net/az-data/train\nrun: ls\n",
    );
    world.fails(
        &world.aloft(
            Creds::ConnectionString,
            &["launch", "-y", "-c", "other", other.to_str().unwrap()],
        ),
        1,
        &format!(
            "`https://someoneelse.blob.core.windows.net/az-data/train` is in Azure storage account \
             `someoneelse`, and the credentials are for `{ACCOUNT}`"
        ),
    );
    assert_eq!(world.azurite.requests(), Vec::<String>::new());
    let missing = world.task(
        "missing.yaml",
        "resources: {infra: local}\nfile_mounts:\n  ~/d:\n    name: az-missing\n    store: azure\n    \
         mode: COPY\n    persistent: false\nrun: ls\n",
    );
    world.fails(
        &world.aloft(
            Creds::ConnectionString,
            &["launch", "-y", "-c", "missing", missing.to_str().unwrap()],
        ),
        1,
        &format!(
            "{} does not exist (aloft makes a bucket only for a storage object with a local `source`)",
            blob_url("az-missing")
        ),
    );
    assert_eq!(
        world.azurite.requests(),
        [format!(
            "GET /{ACCOUNT}/az-missing?restype=container&comp=list HTTP/1.1"
        )]
    );
    // A key Azure does not know is its answer, AuthorizationFailure, not a leak.
    let out = world
        .command(&["launch", "-y", "-c", "wrongkey", task])
        .env(
            "AZURE_STORAGE_CONNECTION_STRING",
            world
                .azurite
                .connection_string()
                .replace(&world.azurite.key, &"ab".repeat(32)),
        )
        .output()
        .unwrap();
    world.fails(&out, 1, "AuthorizationFailure (HTTP 403)");
    world.nothing_provisioned();
    assert_eq!(world.azurite.containers(), serde_json::json!([]));
}

#[test]
fn service_sas_urls_are_the_ones_microsofts_own_client_signs() {
    let key = "ab".repeat(32);
    let credentials = aloft::storage::azure::AzureCredentials::new(ACCOUNT, &key, None).unwrap();
    let ours = aloft::storage::azure::service_sas(
        &credentials,
        "az-data",
        "train/a b+c~.txt",
        "2026-12-08T01:02:03Z",
        aloft::storage::azure::API_VERSION,
    );
    let script = "import sys\n\
         from azure.storage.blob._shared_access_signature import BlobSharedAccessSignature\n\
         sas = BlobSharedAccessSignature(sys.argv[1], sys.argv[2])\n\
         sas.x_ms_version = sys.argv[3]\n\
         print(sas.generate_blob('az-data', 'train/a b+c~.txt', permission='r', expiry='2026-12-08T01:02:03Z'))\n\
         print(sas.generate_container('az-data', permission='racwdl', expiry='2026-12-08T01:02:03Z'))\n";
    let out = Command::new(aloft_tests::fakes::venv_python())
        .arg("-c")
        .arg(script)
        .args([ACCOUNT, &key, aloft::storage::azure::API_VERSION])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let mut lines = stdout.lines();
    let theirs = lines.next().unwrap_or_default();
    let theirs_container = lines.next().unwrap_or_default();
    // Each parameter, percent-decoded (the two quote `/` differently).
    let params = |query: &str| {
        let mut params: Vec<String> = query.trim().split('&').map(percent_decode).collect();
        params.sort();
        params
    };
    assert_eq!(params(&ours), params(theirs));
    let ours_container = aloft::storage::azure::container_sas(
        &credentials,
        "az-data",
        "racwdl",
        "2026-12-08T01:02:03Z",
        aloft::storage::azure::API_VERSION,
    );
    assert_eq!(params(&ours_container), params(theirs_container));
}

/// `text` with its `%XX` escapes decoded.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], text.get(i + 1..i + 3)) {
            (b'%', Some(hex)) if u8::from_str_radix(hex, 16).is_ok() => {
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn the_blob_client_pages_listings_keeps_odd_names_and_signs_gets_azurite_serves() {
    use aloft::storage::ObjectStore as _;
    let azurite = Azurite::start();
    let credentials = aloft::storage::azure::AzureCredentials::from_connection_string(
        &azurite.connection_string(),
    )
    .unwrap();
    let client = aloft::storage::Azure::new(credentials)
        .unwrap()
        .with_page_size(2);
    assert!(!client.bucket_exists("odd").unwrap());
    let err = client.list("odd", "").unwrap_err();
    assert!(err.is_no_such_bucket(), "{err}");
    client.create_bucket("odd").unwrap();
    assert!(client.bucket_exists("odd").unwrap());
    // Names Shared Key must canonicalize as Azure does: spaces, `+`, `%`, `~`,
    // non-ASCII.
    let names = [
        "d/a b.txt",
        "d/p+q%r~.bin",
        "d/ünï.txt",
        "d/sub/x",
        "e/outside",
    ];
    for (i, name) in names.iter().enumerate() {
        client
            .put("odd", name, format!("body {i}").into_bytes())
            .unwrap();
    }
    let listed = client.list("odd", "d").unwrap();
    let keys: Vec<&str> = listed.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["d/a b.txt", "d/p+q%r~.bin", "d/sub/x", "d/ünï.txt"]);
    assert!(
        listed.iter().all(|o| o.size == 6 && o.md5.is_some()),
        "{listed:?}"
    );
    // Four blobs at two a page: the listing followed Azure's NextMarker.
    let pages: Vec<String> = azurite
        .requests()
        .into_iter()
        .filter(|r| r.contains("comp=list") && r.contains("prefix=d"))
        .collect();
    assert!(
        pages.len() >= 2
            && pages.iter().all(|r| r.contains("maxresults=2"))
            && pages.iter().skip(1).all(|r| r.contains("marker=")),
        "{pages:#?}"
    );
    assert_eq!(client.get("odd", "d/ünï.txt").unwrap(), b"body 2");
    // Microsoft's client reads what aloft wrote, under the same names.
    let read = azurite.python(
        "c = svc.get_container_client('odd')\n\
         print(json.dumps({b.name: c.download_blob(b.name).readall().decode() for b in c.list_blobs()}))",
    );
    assert_eq!(read["d/p+q%r~.bin"], "body 1");
    assert_eq!(read["e/outside"], "body 4");
    // A SAS GET of an odd name is served without the key; a tampered one is not.
    let get = client
        .signed_get("odd", "d/p+q%r~.bin", Duration::from_secs(600))
        .unwrap();
    assert!(get.header.is_none());
    let fetch = |url: &str| {
        Command::new("curl")
            .args(["-s", "-o", "-", "-w", "\n%{http_code}", url])
            .output()
            .map(|o| text(&o.stdout))
            .unwrap()
    };
    assert_eq!(fetch(&get.url), "body 1\n200");
    assert!(fetch(&get.url.replace("sp=r", "sp=rw")).ends_with("403"));
    // rclone (what MOUNT runs on the nodes) reaches the one container with a
    // container SAS URL, without the key: it lists, and writes a blob.
    let sas_url = client.container_sas_url("odd", "racwdl", Duration::from_secs(600));
    let rclone = |args: &[&str], input: &str| {
        let mut child = Command::new("rclone")
            .args(args)
            .env("RCLONE_CONFIG", "/dev/null")
            .env("RCLONE_AZUREBLOB_SAS_URL", &sas_url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("rclone (scripts/test.sh installs it)");
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    assert_eq!(
        rclone(&["lsf", "-R", "--files-only", ":azureblob:odd/d"], ""),
        "a b.txt\np+q%r~.bin\nsub/x\nünï.txt\n"
    );
    rclone(
        &["rcat", ":azureblob:odd/d/from-rclone"],
        "written by rclone",
    );
    assert_eq!(
        client.get("odd", "d/from-rclone").unwrap(),
        b"written by rclone"
    );
    client.delete("odd", "d/from-rclone").unwrap();
    for name in names {
        client.delete("odd", name).unwrap();
    }
    client.delete_bucket("odd").unwrap();
    assert_eq!(azurite.containers(), serde_json::json!([]));
}

/// Takes a cluster down when dropped (a failed assertion too), so no bucket
/// mount outlives its test.
struct DownOnDrop<'a>(&'a World, &'static str);

impl Drop for DownOnDrop<'_> {
    fn drop(&mut self) {
        self.0
            .aloft(Creds::ConnectionString, &["down", "-y", self.1]);
    }
}

#[test]
fn two_nodes_mount_an_azure_container_and_cached_writes_reach_it_when_the_job_ends() {
    let world = World::new();
    let seeded = world.azurite.python(
        "c = svc.create_container('az-mnt')\n\
         [c.upload_blob(n, body) for n, body in [('train/a.txt', b'alpha'), ('train/sub/b.txt', b'beta')]]\n\
         svc.create_container('az-ckpt')\n\
         print(json.dumps(True))",
    );
    assert_eq!(seeded, true);
    // What the test itself sent (with the account key, through Microsoft's client).
    let seeding = world.azurite.requests().len();
    let task = world.task(
        "mount.yaml",
        &format!(
            "num_nodes: 2\n\
             resources: {{infra: local}}\n\
             file_mounts:\n  \
             ~/data:\n    source: {}\n    mode: MOUNT\n  \
             ~/ckpt:\n    name: az-ckpt\n    store: azure\n    mode: MOUNT_CACHED\n    \
             config:\n      mount_cached:\n        vfs_write_back: 5s\n\
             run: |\n  \
             echo \"read $(cat ~/data/a.txt ~/data/sub/b.txt)\"\n  \
             echo \"weights of $SKYPILOT_NODE_RANK\" > ~/ckpt/rank-$SKYPILOT_NODE_RANK.bin\n",
            blob_url("az-mnt/train"),
        ),
    );
    let launched = world.aloft(
        Creds::ConnectionString,
        &["launch", "-y", "-c", "azm", task.to_str().unwrap()],
    );
    // Whatever happens next, the mounts go before the test's folders do.
    let _down = DownOnDrop(&world, "azm");
    let stdout = world.ok(&launched);
    for rank in 0..2 {
        assert!(
            stdout.contains(&format!("(rank {rank}) read alphabeta")),
            "{stdout}"
        );
    }
    // The nodes reached the containers by SAS links only: no blob was read or
    // written with the account key.
    let keyed: Vec<String> = world
        .azurite
        .requests()
        .into_iter()
        .skip(seeding)
        .filter(|r| r.contains("/az-mnt/") || r.contains("/az-ckpt/"))
        .filter(|r| !r.contains("sig="))
        .filter(|r| !r.contains("restype=container"))
        .collect();
    assert!(keyed.is_empty(), "requests without a SAS link: {keyed:#?}");
    // The cached writes of both nodes are in the container once the launch has
    // returned (the job waits for its uploads), read with Microsoft's client.
    let written = world.azurite.python(
        "c = svc.get_container_client('az-ckpt')\n\
         print(json.dumps(sorted([b.name, c.download_blob(b.name).readall().decode()] for b in c.list_blobs())))",
    );
    assert_eq!(
        written,
        serde_json::json!([
            ["rank-0.bin", "weights of 0\n"],
            ["rank-1.bin", "weights of 1\n"]
        ]),
        "{stdout}"
    );
    world.ok(&world.aloft(Creds::ConnectionString, &["down", "-y", "azm"]));
    let left = world
        .azurite
        .python("print(json.dumps(sorted(b.name for b in svc.get_container_client('az-mnt').list_blobs())))");
    assert_eq!(
        left,
        serde_json::json!(["train/a.txt", "train/sub/b.txt"]),
        "down unmounts and keeps the bucket's objects"
    );
}
