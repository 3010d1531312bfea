//! A provider that misbehaves on purpose, to prove the host contains it. The
//! `mode` setting picks the misbehaviour, carried out by `regions()`:
//! `loop` (never returns), `grow` (allocates until it is stopped), `trap`
//! (panics), `peek` (tries to read a file and an env var, and reports what it got),
//! `http:<url>` (sends a request), `secret` (logs and returns its secret),
//! `header:<name>=<value>|<url>` (sends a request with that header),
//! `cred:<NAME>` (reports whether it was lent credential NAME),
//! `kube:<context>|<path>` (a GET through the `kube` import of WIT 0.2.0, which the
//! host answers only for a component granted Kubernetes access).
//!
//! Its description holds terminal escapes. Its manifest asks for whatever the kv
//! store holds under `manifest.name`, `manifest.hosts` and `manifest.credentials`
//! (comma-separated) when `info` is called, so one component can ask for many
//! things: a test seeds the kv namespace (the load origin) first.

use std::sync::Mutex;

use aloft_provider_sdk::types::{
    Capabilities, ClusterInstances, ClusterRef, Identity, Offer, Pair, PortRange, ProviderError,
    ProviderInfo, Region, RunRequest, RunResult,
};
use aloft_provider_sdk::{Provider, credentials, errors, http, kv, log};

#[allow(clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit/since_v0.2.0",
        world: "kube-imports",
    });
}

use bindings::aloft::provider::kube;

static MODE: Mutex<String> = Mutex::new(String::new());

struct Hostile;

fn unsupported<T>() -> Result<T, ProviderError> {
    Err(errors::unsupported("Hostile", "not implemented"))
}

impl Provider for Hostile {
    fn info() -> ProviderInfo {
        let list = |key: &str, default: &[&str]| match kv::get(key) {
            Some(v) => v
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            None => default.iter().map(|s| s.to_string()).collect(),
        };
        ProviderInfo {
            name: kv::get("manifest.name").unwrap_or_else(|| "hostile".into()),
            version: kv::get("manifest.version").unwrap_or_else(|| "0.0.1".into()),
            // Terminal escapes (set the window title, clear the screen): aloft
            // must show them escaped, never send them to a terminal.
            description: "misbehaves on purpose\u{1b}]0;pwned\u{7}\u{1b}[2J".into(),
            capabilities: Capabilities::empty(),
            credentials: list(
                "manifest.credentials",
                &["HOSTILE_TOKEN", "AWS_SECRET_ACCESS_KEY"],
            ),
            hosts: list("manifest.hosts", &["allowed.example", "*.hostile.example"]),
        }
    }

    fn configure(settings: Vec<Pair>) -> Result<(), ProviderError> {
        if let Some((_, mode)) = settings.into_iter().find(|(k, _)| k == "mode") {
            if let Ok(mut m) = MODE.lock() {
                *m = mode;
            }
        }
        Ok(())
    }

    fn regions() -> Result<Vec<Region>, ProviderError> {
        let mode = MODE.lock().map(|m| m.clone()).unwrap_or_default();
        match mode.as_str() {
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "grow" => {
                let mut kept: Vec<Vec<u8>> = Vec::new();
                for _ in 0..64 {
                    // 64 MiB at a time, touched so it is really committed: 4 GiB in all.
                    let mut chunk = vec![0u8; 64 << 20];
                    chunk[0] = 1;
                    kept.push(std::hint::black_box(chunk));
                }
                Err(errors::invalid(
                    "Grew",
                    &format!("kept {} chunks", kept.len()),
                ))
            }
            "trap" => panic!("hostile provider panics on purpose"),
            "peek" => {
                let file = std::fs::read("/etc/passwd").map(|b| b.len());
                let env = std::env::var("HOME");
                let all_env = std::env::vars().count();
                Err(errors::invalid(
                    "Peek",
                    &format!("file={file:?} env={env:?} vars={all_env}"),
                ))
            }
            "secret" => {
                let token = credentials::get("HOSTILE_TOKEN").unwrap_or_default();
                let undeclared = credentials::get("OTHER_SECRET");
                log::info(&format!("the token is {token}"));
                Err(errors::invalid(
                    "Secret",
                    &format!("token={token} undeclared={undeclared:?}"),
                ))
            }
            other if other.starts_with("cred:") => {
                let name = &other["cred:".len()..];
                let lent = credentials::get(name).is_some();
                Err(errors::invalid("Cred", &format!("{name} lent={lent}")))
            }
            other if other.starts_with("kube:") => {
                let rest = &other["kube:".len()..];
                let (context, path) = rest.split_once('|').unwrap_or((rest, "/"));
                let answer = kube::send(&kube::Request {
                    context: context.into(),
                    method: "GET".into(),
                    path: path.into(),
                    headers: Vec::new(),
                    body: Vec::new(),
                });
                match answer {
                    Ok(r) => Ok(vec![Region {
                        name: format!("status-{}", r.status),
                        zones: vec![String::from_utf8_lossy(&r.body).into_owned()],
                    }]),
                    Err(e) => Err(errors::invalid("Kube", &format!("{e:?}"))),
                }
            }
            other if other.starts_with("header:") => {
                let rest = &other["header:".len()..];
                let (header, url) = rest.split_once('|').unwrap_or((rest, ""));
                let (name, value) = header.split_once('=').unwrap_or((header, ""));
                let response = http::Request::get(url).header(name, value).send()?;
                Ok(vec![Region {
                    name: format!("status-{}", response.status),
                    zones: vec![response.text()],
                }])
            }
            other => match other.strip_prefix("http:") {
                Some(url) => {
                    let response = http::Request::get(url).header("x-probe", "1").send()?;
                    Ok(vec![Region {
                        name: format!("status-{}", response.status),
                        zones: vec![response.text()],
                    }])
                }
                None => Ok(vec![Region {
                    name: "calm".into(),
                    zones: Vec::new(),
                }]),
            },
        }
    }

    fn check_credentials() -> Result<Identity, ProviderError> {
        unsupported()
    }
    fn run_instances(_: RunRequest) -> Result<RunResult, ProviderError> {
        unsupported()
    }
    fn query_instances(_: Vec<ClusterRef>) -> Result<Vec<ClusterInstances>, ProviderError> {
        unsupported()
    }
    fn stop_instances(_: ClusterRef) -> Result<(), ProviderError> {
        unsupported()
    }
    fn terminate_instances(_: ClusterRef) -> Result<(), ProviderError> {
        unsupported()
    }
    fn open_ports(_: ClusterRef, _: Vec<PortRange>) -> Result<(), ProviderError> {
        unsupported()
    }
    fn cleanup_ports(_: ClusterRef) -> Result<(), ProviderError> {
        unsupported()
    }
    fn offers(_: Option<String>) -> Result<Vec<Offer>, ProviderError> {
        unsupported()
    }
}

aloft_provider_sdk::export_provider!(Hostile);
