//! `aloft serve` on the `local` provider: replicas are real processes (a small
//! Python HTTP server) behind the controller's load balancer, reached over
//! loopback. Each test brings a service up in a home of its own, drives it
//! through the CLI and checks what a user sees: answers through the endpoint,
//! replicas replaced, scaled, updated, and nothing left after `serve down`.

use crate::common;

use common::{aloft_env, text};

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const FAST: [(&str, &str); 4] = [
    ("ALOFT_SERVE_POLL_MS", "300"),
    ("ALOFT_SERVE_IDLE_MS", "2000"),
    ("ALOFT_SERVE_RETRY_MS", "500"),
    ("ALOFT_SERVE_WINDOW_MS", "2000"),
];

/// Answers `WORD REPLICA_ID` on every path (`/slow` after 300 ms).
const SERVER: &str = r#"
import http.server, os, sys, time
port = int(os.environ["ALOFT_SERVE_PORT"])
rid = os.environ["ALOFT_SERVE_REPLICA_ID"]
word = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        if self.path.startswith("/slow"):
            time.sleep(0.3)
        body = ("%s %s\n" % (word, rid)).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
"#;

struct World {
    home: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        let home = tempfile::tempdir().unwrap();
        std::fs::write(home.path().join("server.py"), SERVER).unwrap();
        World { home }
    }

    fn path(&self) -> &Path {
        self.home.path()
    }

    fn aloft(&self, args: &[&str]) -> std::process::Output {
        aloft_env(self.path(), args, &FAST)
    }

    /// A service task: `word` is what its replicas answer; `service` the body of
    /// its `service:` section; `resources` its resources.
    fn task(&self, file: &str, word: &str, resources: &str, service: &str) -> PathBuf {
        let path = self.path().join(file);
        std::fs::write(
            &path,
            format!(
                "resources: {resources}\nservice:\n{service}\n\
                 run: exec python3 {} {word}\n",
                self.path().join("server.py").display()
            ),
        )
        .unwrap();
        path
    }

    fn up(&self, name: &str, task: &Path) -> String {
        let out = self.aloft(&["serve", "up", "-y", "-n", name, task.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let url = self.service(name)["endpoint"]
            .as_str()
            .expect("an endpoint")
            .to_string();
        // `--endpoint` prints the same URL, for scripts (`curl $(... --endpoint)`).
        let out = self.aloft(&["serve", "status", name, "--endpoint"]);
        assert_eq!(text(&out.stdout).trim(), url);
        url.strip_prefix("http://").expect("plain HTTP").to_string()
    }

    fn service(&self, name: &str) -> serde_json::Value {
        let out = self.aloft(&["serve", "status", name, "-o", "json"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let all: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        all[0].clone()
    }

    fn wait_for(
        &self,
        name: &str,
        what: &str,
        ok: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let s = self.service(name);
            if ok(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "{what} never happened: {s:#}\n{}",
                self.controller_log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn controller_log(&self) -> String {
        std::fs::read_to_string(self.path().join("serve-controller.log")).unwrap_or_default()
    }

    fn down_leaves_nothing(&self, name: &str, endpoint: &str) {
        let out = self.aloft(&["serve", "down", "-y", name]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let out = self.aloft(&["serve", "status", "-o", "json"]);
        assert_eq!(text(&out.stdout).trim(), "[]");
        let out = self.aloft(&["status", "-o", "json"]);
        assert_eq!(text(&out.stdout).trim(), "[]", "no cluster left");
        // The balancer closed its port before the service left the database (the
        // port itself may be taken again at once by another test's service).
        let log = self.controller_log();
        assert!(
            log.contains(&format!("[lb {name}] closed")),
            "the endpoint {endpoint} is closed: {log}"
        );
        let servers = std::process::Command::new("pgrep")
            .args(["-f", &self.path().join("server.py").display().to_string()])
            .output()
            .unwrap();
        assert!(
            text(&servers.stdout).trim().is_empty(),
            "no replica process left"
        );
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // Whatever a failed test left: replicas and the controller.
        let _ = self.aloft(&["serve", "down", "-a", "-y"]);
        let _ = std::process::Command::new("pkill")
            .args(["-f", &self.path().display().to_string()])
            .status();
    }
}

/// One GET through `endpoint`; the status code and body.
fn get(endpoint: &str, path: &str) -> Result<(u16, String), String> {
    let mut stream = TcpStream::connect(endpoint).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {endpoint}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| e.to_string())?;
    let code = response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("not an HTTP response: {response:?}"))?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.trim().to_string())
        .unwrap_or_default();
    Ok((code, body))
}

fn ready(s: &serde_json::Value) -> usize {
    replicas(s, |r| r["status"] == "READY")
}

fn replicas(s: &serde_json::Value, pick: impl Fn(&serde_json::Value) -> bool) -> usize {
    s["replicas"]
        .as_array()
        .map_or(0, |a| a.iter().filter(|r| pick(r)).count())
}

/// Sends requests from a thread until stopped; counts answers and failures.
struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failed: Arc<std::sync::Mutex<Vec<String>>>,
    bodies: Arc<std::sync::Mutex<Vec<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(endpoint: &str, pause: Duration) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(std::sync::Mutex::new(Vec::new()));
        let bodies = Arc::new(std::sync::Mutex::new(Vec::new()));
        let endpoint = endpoint.to_string();
        let (s, o, f, b) = (stop.clone(), ok.clone(), failed.clone(), bodies.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match get(&endpoint, "/") {
                    Ok((200, body)) => {
                        o.fetch_add(1, Ordering::SeqCst);
                        b.lock().unwrap().push(body);
                    }
                    Ok((code, body)) => f.lock().unwrap().push(format!("{code} {body}")),
                    Err(e) => f.lock().unwrap().push(e),
                }
                std::thread::sleep(pause);
            }
        });
        Load {
            stop,
            ok,
            failed,
            bodies,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> (u64, Vec<String>, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        (
            self.ok.load(Ordering::SeqCst),
            self.failed.lock().unwrap().clone(),
            self.bodies.lock().unwrap().clone(),
        )
    }
}

const PROBE: &str =
    "  readiness_probe: {path: /, initial_delay_seconds: 60, endpoint_probe_interval_seconds: 1}\n";

#[test]
fn two_replicas_answer_heal_and_leave_nothing_after_down() {
    let w = World::new();
    let task = w.task(
        "web.yaml",
        "one",
        "{infra: local}",
        &format!("{PROBE}  replicas: 2\n  ports: 8080\n  load_balancing_policy: least_load"),
    );
    let endpoint = w.up("web", &task);
    let s = w.wait_for("web", "two ready replicas", |s| ready(s) == 2);
    assert_eq!(s["status"], "READY", "{s}");
    // Both replicas answer through the endpoint.
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..20 {
        let (code, body) = get(&endpoint, "/").unwrap();
        assert_eq!(code, 200, "{body}");
        seen.insert(body);
    }
    assert_eq!(seen.len(), 2, "both replicas answered: {seen:?}");
    // One replica's server dies: it is replaced while the other keeps answering.
    let load = Load::start(&endpoint, Duration::from_millis(20));
    let server = format!("{}/server.py one", w.path().display());
    let killed = std::process::Command::new("pkill")
        .args(["--newest", "-f", &server])
        .status()
        .unwrap();
    assert!(killed.success());
    let healed = w.wait_for("web", "a replacement", |s| {
        ready(s) == 2
            && replicas(s, |_| true) == 2
            && replicas(s, |r| r["id"].as_u64() == Some(3)) == 1
    });
    let (ok, failed, _) = load.finish();
    // A request the dying server was answering at the kill is lost (502: it had
    // been sent, so it is not retried); every other one is answered, by the
    // survivor or, once the balancer sees the refused connection, after a retry.
    assert!(
        failed.len() <= 1 && failed.iter().all(|f| f.starts_with("502")),
        "{ok} answered, failed: {failed:?}\n{healed}"
    );
    assert!(ok > 10, "{ok}");
    let log = w.aloft(&["serve", "logs", "web", "--controller", "--no-follow"]);
    let history = text(&log.stdout);
    assert!(history.contains("FAILED: its job ended"), "{history}");
    w.down_leaves_nothing("web", &endpoint);
}

#[test]
fn a_rolling_update_drops_no_request_and_ends_on_the_new_version() {
    let w = World::new();
    let service = format!("{PROBE}  replicas: 2\n  ports: 8080");
    let v1 = w.task("v1.yaml", "one", "{infra: local}", &service);
    let endpoint = w.up("roll", &v1);
    w.wait_for("roll", "version 1 ready", |s| ready(s) == 2);
    let load = Load::start(&endpoint, Duration::from_millis(10));
    let v2 = w.task("v2.yaml", "two", "{infra: local}", &service);
    let out = w.aloft(&["serve", "update", "-y", "roll", v2.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let done = w.wait_for("roll", "every replica on version 2", |s| {
        s["version"] == 2
            && ready(s) == 2
            && replicas(s, |_| true) == 2
            && replicas(s, |r| r["version"] == 2) == 2
    });
    // Answers from version 2 only, once the old replicas are gone.
    std::thread::sleep(Duration::from_millis(300));
    let (ok, failed, bodies) = load.finish();
    assert!(
        failed.is_empty(),
        "{ok} answered; failed: {failed:?}\n{done}"
    );
    assert!(bodies.iter().any(|b| b.starts_with("one")), "{bodies:?}");
    assert!(
        bodies.last().is_some_and(|b| b.starts_with("two")),
        "{bodies:?}"
    );
    w.down_leaves_nothing("roll", &endpoint);
}

#[test]
fn a_quiet_service_scales_to_zero_and_a_request_brings_a_replica_back() {
    let w = World::new();
    let task = w.task(
        "zero.yaml",
        "zero",
        "{infra: local}",
        &format!(
            "{PROBE}  ports: 8080\n  replica_policy:\n    min_replicas: 0\n    max_replicas: 1\n    \
             target_qps_per_replica: 5\n    upscale_delay_seconds: 60\n    downscale_delay_seconds: 1"
        ),
    );
    let endpoint = w.up("zero", &task);
    let s = w.service("zero");
    assert_eq!(
        s["replicas"],
        serde_json::json!([]),
        "nothing runs while nothing asks"
    );
    assert_eq!(s["status"], "NO_REPLICA", "{s}");
    // The first requests are answered 503 while a replica starts at once (not
    // after the 60 s upscale delay), then the replica answers.
    let deadline = Instant::now() + Duration::from_secs(50);
    let mut statuses = Vec::new();
    let body = loop {
        match get(&endpoint, "/") {
            Ok((200, body)) => break body,
            Ok((status, _)) => statuses.push(status),
            Err(e) => panic!("the endpoint answers: {e}"),
        }
        assert!(
            Instant::now() < deadline,
            "no replica came up: {statuses:?}\n{}",
            w.controller_log()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(body, "zero 1");
    assert_eq!(statuses.first(), Some(&503), "{statuses:?}");
    // Quiet again: back to zero replicas, and no cluster left running.
    w.wait_for("zero", "no replica", |s| replicas(s, |_| true) == 0);
    let out = w.aloft(&["status", "-o", "json"]);
    assert_eq!(text(&out.stdout).trim(), "[]", "no cluster left");
    w.down_leaves_nothing("zero", &endpoint);
}

#[test]
fn the_request_rate_scales_replicas_up_and_back_down() {
    let w = World::new();
    let task = w.task(
        "auto.yaml",
        "one",
        "{infra: local}",
        &format!(
            "{PROBE}  ports: 8080\n  replica_policy:\n    min_replicas: 1\n    max_replicas: 3\n    \
             target_qps_per_replica: 5\n    upscale_delay_seconds: 1\n    downscale_delay_seconds: 2"
        ),
    );
    let endpoint = w.up("auto", &task);
    w.wait_for("auto", "one ready replica", |s| ready(s) == 1);
    // About 20-40 requests a second over a 2 s window: 3 replicas at 5 each.
    let load = Load::start(&endpoint, Duration::from_millis(5));
    w.wait_for("auto", "three ready replicas", |s| ready(s) == 3);
    let (ok, failed, _) = load.finish();
    assert!(failed.is_empty(), "{ok} answered; failed: {failed:?}");
    w.wait_for("auto", "back to one replica", |s| {
        replicas(s, |_| true) == 1
    });
    let history = text(
        &w.aloft(&["serve", "logs", "auto", "--controller", "--no-follow"])
            .stdout,
    );
    assert!(history.contains("scaled down"), "{history}");
    w.down_leaves_nothing("auto", &endpoint);
}

#[test]
fn a_preempted_spot_replica_brings_an_on_demand_fallback() {
    let w = World::new();
    let task = w.task(
        "spot.yaml",
        "one",
        "{infra: local, use_spot: true}",
        &format!(
            "{PROBE}  ports: 8080\n  replica_policy:\n    min_replicas: 1\n    dynamic_ondemand_fallback: true"
        ),
    );
    let endpoint = w.up("spot", &task);
    // While the spot replica starts, an on-demand one covers it; it leaves once
    // the spot replica is ready.
    let s = w.wait_for("spot", "the spot replica alone, ready", |s| {
        replicas(s, |_| true) == 1
            && replicas(s, |r| r["use_spot"] == true && r["status"] == "READY") == 1
    });
    let history = text(
        &w.aloft(&["serve", "logs", "spot", "--controller", "--no-follow"])
            .stdout,
    );
    assert!(
        history.contains("on-demand, version 1) to launch"),
        "{history}"
    );
    assert_eq!(s["replicas"][0]["cluster"], "spot-1", "{s}");
    // Spot capacity is gone: the cloud takes back every spot node (this one and
    // every replacement), so an on-demand replica serves meanwhile.
    let all: Vec<String> = (1..=40).map(|i| format!("spot-{i}")).collect();
    std::fs::write(
        w.path().join("config.yaml"),
        format!("providers:\n  local:\n    preempt: [{}]\n", all.join(", ")),
    )
    .unwrap();
    w.wait_for("spot", "an on-demand fallback", |s| {
        replicas(s, |r| r["use_spot"] == false && r["status"] == "READY") == 1
    });
    let history = text(
        &w.aloft(&["serve", "logs", "spot", "--controller", "--no-follow"])
            .stdout,
    );
    assert!(history.contains("replica 1: PREEMPTED"), "{history}");
    // Spot capacity is back: a spot replica serves again, the fallback leaves.
    std::fs::write(w.path().join("config.yaml"), "").unwrap();
    w.wait_for("spot", "a spot replica alone again", |s| {
        replicas(s, |_| true) == 1
            && replicas(s, |r| r["use_spot"] == true && r["status"] == "READY") == 1
    });
    std::fs::write(w.path().join("config.yaml"), "").unwrap();
    w.down_leaves_nothing("spot", &endpoint);
}

#[test]
fn bad_services_are_refused_with_the_field_and_nothing_runs() {
    let w = World::new();
    let cases = [
        (
            "  readiness_probe: health\n  replicas: 1\n  ports: 8080",
            "must start with `/`",
        ),
        (
            "  ports: 8080\n  replica_policy: {min_replicas: 3, max_replicas: 1, target_qps_per_replica: 1}",
            "max_replicas",
        ),
        (
            "  replicas: 1\n  ports: 8080\n  tls: {keyfile: /nonexistent/k.pem, certfile: /nonexistent/c.pem}",
            "/nonexistent/k.pem",
        ),
        ("  replicas: 1", "service.ports"),
    ];
    for (service, expected) in cases {
        let task = w.task("bad.yaml", "one", "{infra: local}", service);
        let out = w.aloft(&["serve", "up", "-y", "-n", "bad", task.to_str().unwrap()]);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{service}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains(expected),
            "{service}: {}",
            text(&out.stderr)
        );
    }
    let out = w.aloft(&["serve", "down", "-y", "nosuch"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("no service named `nosuch`"),
        "{}",
        text(&out.stderr)
    );
    // A service task given to `launch` says where it goes.
    let task = w.task(
        "svc.yaml",
        "one",
        "{infra: local}",
        "  replicas: 1\n  ports: 8080",
    );
    let out = w.aloft(&["launch", "-y", task.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("aloft serve up"),
        "{}",
        text(&out.stderr)
    );
    let out = w.aloft(&["serve", "status", "-o", "json"]);
    assert_eq!(text(&out.stdout).trim(), "[]");
    let out = w.aloft(&["status", "-o", "json"]);
    assert_eq!(text(&out.stdout).trim(), "[]");
    // A cluster named like a replica-to-be is not taken over.
    let plain = w.path().join("plain.yaml");
    std::fs::write(&plain, "resources: {infra: local}\nrun: echo hi\n").unwrap();
    let out = w.aloft(&["launch", "-y", "-c", "svc-1", plain.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let task = w.task(
        "svc.yaml",
        "one",
        "{infra: local}",
        "  replicas: 1\n  ports: 8080",
    );
    let out = w.aloft(&["serve", "up", "-y", "-n", "svc", task.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("cluster `svc-1` exists"),
        "{}",
        text(&out.stderr)
    );
    let out = w.aloft(&["serve", "status", "-o", "json"]);
    assert_eq!(text(&out.stdout).trim(), "[]");
    let out = w.aloft(&["down", "-y", "svc-1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn a_killed_controller_is_restarted_and_adopts_its_replicas() {
    let w = World::new();
    let task = w.task(
        "k.yaml",
        "one",
        "{infra: local}",
        &format!("{PROBE}  replicas: 2\n  ports: 8080"),
    );
    let endpoint = w.up("k", &task);
    let before = w.wait_for("k", "two ready replicas", |s| ready(s) == 2);
    let pids = std::process::Command::new("pgrep")
        .args([
            "-f",
            &format!("serve-controller --home {}", w.path().display()),
        ])
        .output()
        .unwrap();
    let pids: Vec<i32> = text(&pids.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    assert_eq!(pids.len(), 1, "one controller: {pids:?}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pids[0]),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    // The next look at the services starts a controller, which opens the same
    // endpoint and keeps the replicas it finds (no second launch).
    let after = w.wait_for("k", "the endpoint back", |s| {
        ready(s) == 2 && get(&endpoint, "/").is_ok_and(|(code, _)| code == 200)
    });
    let ids = |s: &serde_json::Value| -> Vec<u64> {
        s["replicas"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["id"].as_u64())
            .collect()
    };
    assert_eq!(ids(&after), ids(&before), "{after}");
    assert_eq!(after["endpoint"], before["endpoint"]);
    let log = w.controller_log();
    let starts = log.lines().filter(|l| l.ends_with(" started")).count();
    assert_eq!(starts, 2, "{log}");
    w.down_leaves_nothing("k", &endpoint);
}

#[test]
fn a_tls_service_answers_on_https_only() {
    let w = World::new();
    let (cert, key) = (w.path().join("cert.pem"), w.path().join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("the openssl command makes the test certificate");
    assert!(made.status.success(), "{}", text(&made.stderr));
    let task = w.task(
        "tls.yaml",
        "one",
        "{infra: local}",
        &format!(
            "{PROBE}  replicas: 1\n  ports: 8080\n  tls: {{keyfile: {}, certfile: {}}}",
            key.display(),
            cert.display()
        ),
    );
    let out = w.aloft(&["serve", "up", "-y", "-n", "tls", task.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    w.wait_for("tls", "a ready replica", |s| ready(s) == 1);
    let url = w.service("tls")["endpoint"].as_str().unwrap().to_string();
    let port = url
        .strip_prefix("https://127.0.0.1:")
        .expect("an https endpoint");
    let curl = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(&cert)
        .arg(format!("https://localhost:{port}/"))
        .output()
        .expect("curl");
    assert_eq!(text(&curl.stdout).trim(), "one 1", "{}", text(&curl.stderr));
    // Plain HTTP on the TLS port is not answered as a service request.
    let plain = get(&format!("127.0.0.1:{port}"), "/");
    assert!(!plain.is_ok_and(|(code, _)| code == 200));
    w.down_leaves_nothing("tls", &format!("127.0.0.1:{port}"));
}

#[test]
fn a_blue_green_update_switches_all_traffic_at_once_without_dropping_a_request() {
    let w = World::new();
    let service =
        format!("{PROBE}  replicas: 2\n  ports: 8080\n  load_balancing_policy: round_robin");
    let v1 = w.task("v1.yaml", "one", "{infra: local}", &service);
    let endpoint = w.up("bg", &v1);
    w.wait_for("bg", "version 1 ready", |s| ready(s) == 2);
    // Round robin: both replicas answer, in turn.
    let bodies: Vec<String> = (0..4).map(|_| get(&endpoint, "/").unwrap().1).collect();
    assert_ne!(bodies[0], bodies[1], "{bodies:?}");
    assert_eq!(bodies[0], bodies[2], "{bodies:?}");
    let load = Load::start(&endpoint, Duration::from_millis(10));
    let v2 = w.task("v2.yaml", "two", "{infra: local}", &service);
    let out = w.aloft(&[
        "serve",
        "update",
        "-y",
        "--mode",
        "blue_green",
        "bg",
        v2.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "2");
    w.wait_for("bg", "only version 2 left", |s| {
        replicas(s, |_| true) == 2
            && replicas(s, |r| r["version"] == 2 && r["status"] == "READY") == 2
    });
    std::thread::sleep(Duration::from_millis(300));
    let (ok, failed, bodies) = load.finish();
    assert!(failed.is_empty(), "{ok} answered; failed: {failed:?}");
    // Blue-green: once a request reached version 2, none reached version 1 again.
    let first_two = bodies
        .iter()
        .position(|b| b.starts_with("two"))
        .expect("version 2 answered");
    assert!(first_two > 0, "version 1 answered first: {bodies:?}");
    assert!(
        bodies[first_two..].iter().all(|b| b.starts_with("two")),
        "traffic went back to version 1 after the switch"
    );
    w.down_leaves_nothing("bg", &endpoint);
}
