//! The provider trust boundary against a hostile component (`tests/components/
//! hostile`, whose manifest asks for whatever the test seeds into its kv
//! namespace): bad host patterns and credential names do not load, a permitted name
//! that resolves to loopback is not connected to, a guest cannot set `Host` or
//! hop-by-hop headers, an installed provider gets only its grant, and compiled code
//! is taken only from aloft's own private cache.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aloft::plugin::{HostConfig, InstallGrant, PluginError, PluginHost};
use aloft::state::StateDb;
use aloft_tests::components::test_component;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Seeds what the hostile component's manifest will ask for when loaded from
/// `origin` (its kv namespace while `info` runs).
fn seed(home: &Path, origin: &str, key: &str, value: &str) {
    let db = StateDb::open(&home.join("state.db")).unwrap();
    db.kv_set(origin, key, value).unwrap();
}

fn config(home: &Path, mode: &str) -> HostConfig {
    let mut config = HostConfig::new(home);
    config.call_timeout = Duration::from_secs(5);
    config
        .settings
        .insert("hostile".into(), vec![("mode".into(), mode.into())]);
    config
}

/// A loopback HTTP server that answers 200 `pong`, counts connections and keeps
/// the last request.
fn server() -> (u16, Arc<AtomicUsize>, Arc<Mutex<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(String::new()));
    let (h, s) = (hits.clone(), seen.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            h.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).unwrap_or(0);
            *s.lock().unwrap() = String::from_utf8_lossy(&buf[..n]).into_owned();
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\nconnection: close\r\n\r\npong",
            );
        }
    });
    (port, hits, seen)
}

/// Calls `regions` of the hostile component (loaded as first-party) in `mode`.
fn call(
    home: &Path,
    mode: &str,
    extra: impl FnOnce(&mut HostConfig),
) -> Result<Vec<aloft::plugin::Region>, PluginError> {
    runtime().block_on(async {
        let mut cfg = config(home, mode);
        extra(&mut cfg);
        let mut host = PluginHost::new(cfg).unwrap();
        host.load_bytes("hostile", &test_component("hostile"))
            .await
            .unwrap();
        let mut hostile = host.instance("hostile").await.unwrap();
        hostile.regions().await
    })
}

fn provider_error(result: Result<Vec<aloft::plugin::Region>, PluginError>) -> (String, String) {
    match result {
        Err(PluginError::Provider { error, .. }) => (error.code, error.message),
        other => panic!("expected a provider error, got {other:?}"),
    }
}

#[test]
fn ip_literals_localhost_and_bad_wildcards_do_not_load() {
    let home = tempfile::tempdir().unwrap();
    let wasm = test_component("hostile");
    runtime().block_on(async {
        let mut host = PluginHost::new(HostConfig::new(home.path())).unwrap();
        for (i, pattern) in [
            "localhost",
            "169.254.169.254",
            "*.0.1",
            "*",
            "foo*.x.com",
            "metadata",
            "::1",
            "*.co.uk",
            "*.amazonaws.com",
        ]
        .into_iter()
        .enumerate()
        {
            let origin = format!("bad-{i}.wasm");
            seed(home.path(), &origin, "manifest.hosts", pattern);
            let err = host.load_bytes(&origin, &wasm).await.unwrap_err();
            let text = err.to_string();
            assert!(matches!(err, PluginError::Load { .. }), "{text}");
            assert!(
                text.contains("refused manifest") && text.contains(&format!("`{pattern}`")),
                "{pattern}: {text}"
            );
        }
        assert!(host.manifests().is_empty(), "a bad manifest was loaded");
        // The same component asking for DNS names loads.
        seed(
            home.path(),
            "good.wasm",
            "manifest.hosts",
            "*.good.example,ec2.us-east-1.amazonaws.com",
        );
        host.load_bytes("good.wasm", &wasm).await.unwrap();
    });
}

#[test]
fn environment_names_are_not_credentials() {
    let home = tempfile::tempdir().unwrap();
    let wasm = test_component("hostile");
    runtime().block_on(async {
        let mut host = PluginHost::new(HostConfig::new(home.path())).unwrap();
        for name in ["HOME", "PATH", "LD_PRELOAD", "SSH_AUTH_SOCK"] {
            let origin = format!("{name}.wasm");
            seed(
                home.path(),
                &origin,
                "manifest.credentials",
                &format!("HOSTILE_TOKEN,{name}"),
            );
            let err = host.load_bytes(&origin, &wasm).await.unwrap_err();
            let text = err.to_string();
            assert!(
                text.contains(&format!("credential `{name}`")),
                "{name}: {text}"
            );
        }
        assert!(host.manifests().is_empty());
    });
}

#[test]
fn a_permitted_name_that_resolves_to_loopback_is_not_connected_to() {
    let (port, hits, _) = server();
    let asked = Arc::new(Mutex::new(Vec::<String>::new()));
    for (target, kind) in [
        (IpAddr::V4(Ipv4Addr::LOCALHOST), "loopback"),
        (IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)), "link-local"),
        (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), "private"),
        ("::1".parse().unwrap(), "loopback"),
    ] {
        let home = tempfile::tempdir().unwrap();
        let asked2 = asked.clone();
        let result = call(
            home.path(),
            &format!("http:https://api.hostile.example:{port}/steal"),
            |c| {
                c.resolver = Arc::new(move |name: &str| {
                    asked2.lock().unwrap().push(name.to_string());
                    Ok(vec![target])
                });
            },
        );
        let (code, message) = provider_error(result);
        assert_eq!(code, "HostNotAllowed", "{message}");
        assert!(
            message.contains(kind) && message.contains(&target.to_string()),
            "{message}"
        );
    }
    assert_eq!(
        asked.lock().unwrap().first().map(String::as_str),
        Some("api.hostile.example"),
        "the injected resolver was asked"
    );
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(hits.load(Ordering::SeqCst), 0, "the server was contacted");
}

#[test]
fn plain_http_is_refused_without_a_user_set_endpoint() {
    let (port, hits, _) = server();
    let home = tempfile::tempdir().unwrap();
    let result = call(
        home.path(),
        &format!("http:http://api.hostile.example:{port}/"),
        |c| c.resolver = Arc::new(|_: &str| Ok(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)])),
    );
    let (code, message) = provider_error(result);
    assert_eq!(code, "BadRequest", "{message}");
    assert!(message.contains("https"), "{message}");
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}

#[test]
fn a_guest_cannot_set_host_or_hop_by_hop_headers() {
    let (port, hits, seen) = server();
    let endpoint = |c: &mut HostConfig| {
        c.endpoints
            .insert("hostile".into(), format!("http://127.0.0.1:{port}"));
    };
    // `Host` is dropped: the server sees the URL's (granted) host, once.
    let home = tempfile::tempdir().unwrap();
    let regions = call(
        home.path(),
        "header:Host=evil.example|http://allowed.example/ping",
        endpoint,
    )
    .unwrap();
    assert_eq!(regions[0].name, "status-200");
    let request = seen.lock().unwrap().to_lowercase();
    assert!(!request.contains("evil.example"), "{request}");
    assert_eq!(
        request.matches("\r\nhost: ").count(),
        1,
        "one Host header: {request}"
    );
    assert!(request.contains("\r\nhost: allowed.example"), "{request}");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    // Hop-by-hop headers are refused before anything is sent.
    for header in [
        "Connection=Upgrade",
        "Transfer-Encoding=chunked",
        "Proxy-Authorization=Basic eA==",
        "Upgrade=websocket",
    ] {
        let home = tempfile::tempdir().unwrap();
        let result = call(
            home.path(),
            &format!("header:{header}|http://allowed.example/ping"),
            endpoint,
        );
        let (code, message) = provider_error(result);
        assert_eq!(code, "BadRequest", "{header}: {message}");
        assert!(message.contains("may not be set"), "{message}");
    }
    assert_eq!(hits.load(Ordering::SeqCst), 1, "a refused request was sent");
}

/// Lends every name it is asked for, so only the host's grants decide.
struct Everything;

impl aloft::plugin::CredentialSource for Everything {
    fn get(&self, name: &str) -> Option<String> {
        Some(format!("value-of-{name}"))
    }
}

fn grant(credentials: &[&str], replaces_bundled: bool) -> InstallGrant {
    InstallGrant {
        version: "0.0.1".into(),
        hosts: vec!["allowed.example".into(), "*.hostile.example".into()],
        credentials: credentials.iter().map(|c| c.to_string()).collect(),
        replaces_bundled,
    }
}

/// Loads the hostile component as an installed provider under `grant` and asks it
/// whether it was lent `credential`.
fn installed_lends(grant: Option<&InstallGrant>, credential: &str) -> Result<String, PluginError> {
    let home = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let mut cfg = config(home.path(), &format!("cred:{credential}"));
        cfg.credentials = Arc::new(Everything);
        let mut host = PluginHost::new(cfg).unwrap();
        host.load_installed("hostile.wasm", &test_component("hostile"), grant)
            .await?;
        let mut hostile = host.instance("hostile").await?;
        match hostile.regions().await {
            Err(PluginError::Provider { error, .. }) => Ok(error.message),
            other => panic!("{other:?}"),
        }
    })
}

#[test]
fn an_installed_provider_gets_only_its_grant() {
    // It asks for HOSTILE_TOKEN and AWS_SECRET_ACCESS_KEY (the bundled aws
    // provider's secret).
    let all = grant(&["HOSTILE_TOKEN", "AWS_SECRET_ACCESS_KEY"], false);
    assert_eq!(
        installed_lends(Some(&all), "AWS_SECRET_ACCESS_KEY").unwrap(),
        "AWS_SECRET_ACCESS_KEY lent=true"
    );
    assert_eq!(
        installed_lends(Some(&all), "OTHER_SECRET").unwrap(),
        "OTHER_SECRET lent=false"
    );
    // Without consent for the aws secret, it is not loaded at all.
    let err =
        installed_lends(Some(&grant(&["HOSTILE_TOKEN"], false)), "HOSTILE_TOKEN").unwrap_err();
    assert!(matches!(err, PluginError::NotGranted { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("AWS_SECRET_ACCESS_KEY") && text.contains("aloft providers install"),
        "{text}"
    );
    assert!(!text.contains("value-of"), "a secret in an error: {text}");
    // Without any grant, neither.
    let err = installed_lends(None, "HOSTILE_TOKEN").unwrap_err();
    assert!(err.to_string().contains("no install grant"), "{err}");
    // More hosts than granted: not loaded.
    let mut narrow = all.clone();
    narrow.hosts = vec!["allowed.example".into()];
    let err = installed_lends(Some(&narrow), "HOSTILE_TOKEN").unwrap_err();
    assert!(err.to_string().contains("*.hostile.example"), "{err}");
}

#[test]
fn an_installed_provider_cannot_shadow_a_bundled_one_without_consent() {
    let home = tempfile::tempdir().unwrap();
    let wasm = test_component("hostile");
    runtime().block_on(async {
        let mut host = PluginHost::new(HostConfig::new(home.path())).unwrap();
        // "bundled:hostile" plays the bundled provider; an installed file claims
        // its name.
        host.load_bytes("bundled:hostile", &wasm).await.unwrap();
        let grants = grant(&["HOSTILE_TOKEN", "AWS_SECRET_ACCESS_KEY"], false);
        let err = host
            .load_installed("impostor.wasm", &wasm, Some(&grants))
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("would replace the bundled provider"),
            "{err}"
        );
        assert_eq!(host.origin("hostile"), Some("bundled:hostile"));
        let replacing = grant(&["HOSTILE_TOKEN", "AWS_SECRET_ACCESS_KEY"], true);
        host.load_installed("impostor.wasm", &wasm, Some(&replacing))
            .await
            .unwrap();
        assert_eq!(host.origin("hostile"), Some("impostor.wasm"));
    });
}

#[test]
fn installed_files_are_loaded_only_under_their_recorded_grant() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("providers");
    std::fs::create_dir_all(&dir).unwrap();
    let wasm = test_component("hostile");
    std::fs::write(dir.join("hostile.wasm"), &wasm).unwrap();
    // A file named unlike the provider it holds.
    std::fs::write(dir.join("innocent.wasm"), &wasm).unwrap();
    let mut grants = std::collections::BTreeMap::new();
    grants.insert(
        "hostile".to_string(),
        grant(&["HOSTILE_TOKEN", "AWS_SECRET_ACCESS_KEY"], false),
    );
    grants.insert(
        "innocent".to_string(),
        grant(&["HOSTILE_TOKEN", "AWS_SECRET_ACCESS_KEY"], false),
    );
    aloft::plugin::trust::write_grants(&dir, &grants).unwrap();
    runtime().block_on(async {
        let mut host = PluginHost::new(HostConfig::new(home.path())).unwrap();
        let results = host.load_dir(&dir).await;
        assert_eq!(results.len(), 2);
        assert_eq!(results[0].as_ref().unwrap().name, "hostile");
        let err = results[1].as_ref().unwrap_err().to_string();
        assert!(err.contains("declares provider `hostile`"), "{err}");
        assert_eq!(
            host.origin("hostile"),
            Some(dir.join("hostile.wasm").to_str().unwrap())
        );
    });
}

#[test]
fn compiled_code_is_taken_only_from_the_private_cache() {
    let home = tempfile::tempdir().unwrap();
    let hostile = test_component("hostile");
    let future_free = aloft_tests::components::provider("local");
    let rt = runtime();
    // Fill the cache with both components' compiled code.
    let (hostile_cwasm, local_cwasm) = rt.block_on(async {
        let mut host = PluginHost::new(HostConfig::new(home.path())).unwrap();
        host.load_bytes("hostile", &hostile).await.unwrap();
        host.load_bytes("local", &future_free).await.unwrap();
        (
            host.cache_path(&hostile).unwrap(),
            host.cache_path(&future_free).unwrap(),
        )
    });
    let cache = local_cwasm.parent().unwrap().to_path_buf();
    let mode = std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "the cache folder is owner-only");
    // Plant the hostile code under the local component's key.
    std::fs::copy(&hostile_cwasm, &local_cwasm).unwrap();
    let load_local = |cfg: HostConfig| {
        rt.block_on(async {
            let mut host = PluginHost::new(cfg).unwrap();
            host.load_bytes("local", &future_free).await.unwrap().name
        })
    };
    // A cache others may write is not used: the real component is compiled.
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
    assert_eq!(load_local(HostConfig::new(home.path())), "local");
    // No cache at all (how `providers install` validates): nothing is read.
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o700)).unwrap();
    let mut no_cache = HostConfig::new(home.path());
    no_cache.cache_dir = None;
    assert_eq!(load_local(no_cache), "local");
    // A `.cwasm` planted in the system temp folder is never a cache: the cache is
    // always below aloft's home, so a host whose home is elsewhere ignores it.
    let other_home = tempfile::tempdir().unwrap();
    let tmp_plant = std::env::temp_dir().join(local_cwasm.file_name().unwrap());
    std::fs::copy(&hostile_cwasm, &tmp_plant).unwrap();
    assert_eq!(load_local(HostConfig::new(other_home.path())), "local");
    let _ = std::fs::remove_file(&tmp_plant);
    // Control: the private cache is trusted, so the swap above would have been
    // loaded had the folder been left private (the checks are what stopped it).
    assert_eq!(load_local(HostConfig::new(home.path())), "hostile");
}

#[test]
fn the_state_folder_and_database_are_owner_only() {
    let base = tempfile::tempdir().unwrap();
    let home = base.path().join("aloft-home");
    let db = home.join("state.db");
    drop(StateDb::open(&db).unwrap());
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&home), 0o700);
    assert_eq!(mode(&db), 0o600);
    // An existing database readable by others is tightened.
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    drop(StateDb::open(&db).unwrap());
    assert_eq!(mode(&db), 0o600);
}

#[test]
fn a_cluster_name_cannot_escape_the_lock_folder() {
    let base = tempfile::tempdir().unwrap();
    let locks = base.path().join("locks");
    for name in ["../../x", "a/b", "", "-x", "1abc"] {
        let err = aloft::state::ClusterLock::try_acquire(&locks, name).unwrap_err();
        assert!(
            matches!(err, aloft::state::StateError::BadName(_)),
            "{name}: {err}"
        );
    }
    assert!(aloft::state::validate_cluster_name("my-cluster_1.a").is_ok());
    let entries: Vec<_> = std::fs::read_dir(base.path()).unwrap().collect();
    assert!(
        entries.len() <= 1,
        "something was created outside the locks folder"
    );
}
