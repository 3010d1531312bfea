//! Optimizer benchmarks (run by hand: `cargo bench -p aloft --bench optimizer`).
//!
//! Prints the median of many runs for: loading and parsing the embedded catalog
//! (every cloud), one `A100:8` optimization over every cloud, and a 50-task DAG with
//! 200 candidates per task solved as an integer program through good_lp.

use std::hint::black_box;
use std::time::{Duration, Instant};

use aloft::catalog::Catalog;
use aloft::optimizer::ilp::{PlacementProblem, solve};
use aloft::optimizer::{OptTask, OptimizeOptions, optimize_task};
use aloft::task::{AcceleratorSpec, ResourceSet, Resources};

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn measure(name: &str, runs: usize, mut f: impl FnMut()) {
    f(); // warm-up
    let samples = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    println!(
        "{name:<48} median {:>10.3?} over {runs} runs",
        median(samples)
    );
}

/// A deterministic pseudo-random sequence.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

fn dag_problem(tasks: usize, options: usize, clouds: usize) -> PlacementProblem {
    let mut rng = Lcg(42);
    let cost = (0..tasks)
        .map(|_| {
            (0..options)
                .map(|_| (rng.next() % 10_000) as f64 / 100.0)
                .collect()
        })
        .collect();
    let cloud = (0..tasks)
        .map(|_| (0..options).map(|i| i % clouds).collect())
        .collect();
    let mut edges = Vec::new();
    for v in 1..tasks {
        // Each task reads from its predecessor and, often, one earlier task.
        let mut parents = vec![v - 1];
        if v > 1 && rng.next().is_multiple_of(2) {
            parents.push((rng.next() as usize) % (v - 1));
        }
        for u in parents {
            let gb = (rng.next() % 500) as f64;
            let egress = (0..clouds)
                .map(|k| {
                    (0..clouds)
                        .map(|l| if k == l { 0.0 } else { gb * 0.09 })
                        .collect()
                })
                .collect();
            edges.push((u, v, egress));
        }
    }
    PlacementProblem {
        cost,
        cloud,
        clouds,
        edges,
    }
}

fn main() {
    measure("catalog: load + parse every embedded cloud", 30, || {
        let catalog = Catalog::embedded().expect("embedded catalog");
        for cloud in catalog.clouds() {
            black_box(catalog.offers(&cloud).expect("offers").len());
        }
    });

    let catalog = Catalog::embedded().expect("embedded catalog");
    let options = OptimizeOptions {
        enabled_clouds: catalog.clouds(),
        ..OptimizeOptions::default()
    };
    let task = OptTask {
        name: Some("train".into()),
        num_nodes: 1,
        resources: ResourceSet::AnyOf(vec![Resources {
            accelerators: Some(AcceleratorSpec::Named {
                name: "A100".into(),
                count: 8.0,
            }),
            ..Resources::default()
        }]),
        estimated_hours: None,
    };
    measure(
        "optimize: A100:8 over every cloud (warm catalog)",
        200,
        || {
            black_box(optimize_task(&catalog, &task, &options).expect("plan"));
        },
    );

    let problem = dag_problem(50, 200, 5);
    let edges = problem.edges.len();
    measure(
        &format!("ilp: 50 tasks x 200 candidates, {edges} edges (good_lp)"),
        5,
        || {
            black_box(solve(&problem).expect("solution"));
        },
    );
}
