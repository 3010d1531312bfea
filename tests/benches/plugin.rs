//! Provider host benchmarks (run by hand: `cargo bench -p aloft-tests --bench plugin`).
//!
//! Medians of many runs, with the bundled `local` provider: cold load (empty
//! compiled cache: Cranelift compiles), warm load (from the cache), instantiation
//! (a fresh sandboxed instance, its `configure` call included), and one trivial
//! call (`regions`).

use std::time::{Duration, Instant};

use aloft::plugin::{HostConfig, PluginHost};
use aloft_tests::components::provider;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn report(name: &str, samples: Vec<Duration>) {
    let n = samples.len();
    println!("{name:<44} median {:>10.3?} over {n} runs", median(samples));
}

fn main() {
    let wasm = provider("local");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut cold = Vec::new();
        for _ in 0..5 {
            let home = tempfile::tempdir().expect("tempdir");
            let start = Instant::now();
            let mut host = PluginHost::new(HostConfig::new(home.path())).expect("host");
            host.load_bytes("local", &wasm).await.expect("load");
            cold.push(start.elapsed());
        }
        report("cold load (compile, empty cache)", cold);

        let home = tempfile::tempdir().expect("tempdir");
        {
            let mut host = PluginHost::new(HostConfig::new(home.path())).expect("host");
            host.load_bytes("local", &wasm).await.expect("load");
        }
        let mut warm = Vec::new();
        for _ in 0..50 {
            let start = Instant::now();
            let mut host = PluginHost::new(HostConfig::new(home.path())).expect("host");
            host.load_bytes("local", &wasm).await.expect("load");
            warm.push(start.elapsed());
        }
        report("warm load (from the compiled cache)", warm);

        let mut host = PluginHost::new(HostConfig::new(home.path())).expect("host");
        host.load_bytes("local", &wasm).await.expect("load");
        let mut inst = Vec::new();
        for _ in 0..2000 {
            let start = Instant::now();
            let instance = host.instance("local").await.expect("instance");
            inst.push(start.elapsed());
            drop(instance);
        }
        report("instantiation (InstancePre + configure)", inst);

        let mut instance = host.instance("local").await.expect("instance");
        let mut calls = Vec::new();
        for _ in 0..20000 {
            let start = Instant::now();
            std::hint::black_box(instance.regions().await.expect("regions"));
            calls.push(start.elapsed());
        }
        report("one trivial call (regions)", calls);
    });
}
