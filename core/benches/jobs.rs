//! Managed-jobs benchmarks (run by hand: `cargo bench -p aloft --bench jobs`).
//!
//! The real [`Controller`] (database, driver per job, polling, recovery) over a
//! backend whose clusters cost nothing: `launch` returns at once, `poll` says the
//! job runs until the bench "preempts" its cluster. This measures the controller
//! itself, not the provider calls a real backend makes per poll.
//!
//! 1. submit 1,000 jobs into a fresh `jobs.db` (the rate of `JobsDb::submit`);
//! 2. the controller holds the 1,000 jobs RUNNING for a while at the default poll
//!    interval: peak RSS of this process and CPU per job per minute;
//! 3. preemption → relaunch: clusters of 20 jobs are preempted at random moments;
//!    the time from the preemption (the cloud's answer changing) to the backend's
//!    `launch` call for the replacement, with the default settings;
//! 4. with `ALOFT_BENCH_QUEUE_HOME=DIR`: writes 10,000 job records into
//!    `DIR/jobs.db` for timing `aloft jobs queue` by hand (see docs/benchmarks.md).
//!
//! `ALOFT_BENCH_JOBS` (default 1000) and `ALOFT_BENCH_HOLD_SECS` (default 60)
//! change the size and the length of step 2.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aloft::jobs::{
    ClusterRef, Controller, ControllerSettings, JobBackend, JobId, JobProbe, JobsDb, LaunchError,
    LaunchRequest, Launched, Location, NewJob, Reconciled, TeardownError,
};
use aloft::task::{Overrides, TaskChain};

/// What the bench's cloud knows about each job's cluster.
#[derive(Default)]
struct World {
    /// Launches per job.
    launches: HashMap<JobId, u32>,
    /// When each job's cluster was preempted (cleared by the next launch).
    preempted_at: HashMap<JobId, Instant>,
    /// Preemption → replacement launch, per recovery.
    recoveries: Vec<Duration>,
}

#[derive(Default)]
struct CheapBackend {
    world: Mutex<World>,
}

impl CheapBackend {
    fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl JobBackend for CheapBackend {
    fn launch(&self, req: &LaunchRequest) -> Result<Launched, LaunchError> {
        let mut w = self.world();
        *w.launches.entry(req.job_id).or_default() += 1;
        if let Some(at) = w.preempted_at.remove(&req.job_id) {
            w.recoveries.push(at.elapsed());
        }
        Ok(Launched {
            location: Location {
                cloud: "aws".into(),
                region: "us-east-1".into(),
                zone: None,
            },
            cluster_job_id: Some(1),
        })
    }

    fn poll(&self, cluster: &ClusterRef) -> JobProbe {
        if self.world().preempted_at.contains_key(&cluster.job_id) {
            JobProbe::ClusterGone
        } else {
            JobProbe::Running
        }
    }

    fn save_output(
        &self,
        _cluster: &ClusterRef,
        out: &mut dyn std::io::Write,
    ) -> Result<(), String> {
        out.write_all(b"done\n").map_err(|e| e.to_string())
    }

    fn teardown(&self, _cluster: &ClusterRef) -> Result<(), TeardownError> {
        Ok(())
    }

    fn reconcile(&self, _cluster: &ClusterRef) -> Reconciled {
        Reconciled::Absent
    }
}

fn new_job() -> NewJob {
    let yaml = "name: train\nresources:\n  infra: aws\n  use_spot: true\n  \
                job_recovery: {strategy: EAGER_NEXT_REGION, max_restarts_on_errors: 1}\n\
                run: python train.py --checkpoint s3://bucket/$SKYPILOT_TASK_ID\n";
    let chain = TaskChain::from_yaml_str(yaml, "job.yaml", &Overrides::default())
        .expect("the bench's task is valid");
    NewJob::from_chain(&chain, None).expect("the bench's recovery is valid")
}

/// (peak RSS KiB, current RSS KiB) of this process.
fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// CPU time (user + system) this process has used.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after ')'.
    let rest = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    // The kernel's USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn submit_many(db_path: &Path, n: u64) -> Duration {
    let db = JobsDb::open(db_path).expect("open jobs.db");
    let job = new_job();
    let start = Instant::now();
    for _ in 0..n {
        db.submit(&job).expect("submit");
    }
    start.elapsed()
}

fn main() {
    let n = env_num("ALOFT_BENCH_JOBS", 1000);
    let hold = Duration::from_secs(env_num("ALOFT_BENCH_HOLD_SECS", 60));
    let dir = tempfile::tempdir().expect("a temp dir");
    let db_path = dir.path().join("jobs.db");

    let took = submit_many(&db_path, n);
    println!(
        "submit {n} jobs (JobsDb::submit)          {took:>10.2?}  ({:.0} jobs/s)",
        n as f64 / took.as_secs_f64()
    );

    let settings = ControllerSettings::default();
    println!(
        "controller settings: poll {:?}, scan {:?}, {} launches at once",
        settings.poll_interval, settings.scan_interval, settings.max_concurrent_launches
    );
    let backend = Arc::new(CheapBackend::default());
    let controller =
        Controller::open(&db_path, Arc::clone(&backend), settings).expect("open the controller");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let (rss_before, _) = rss_kib();
    rt.block_on(async {
        let run = controller.run();
        tokio::pin!(run);
        // Every job launched.
        let started = Instant::now();
        loop {
            tokio::select! {
                r = &mut run => panic!("the controller stopped early: {r:?}"),
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
            if backend.world().launches.len() as u64 >= n {
                break;
            }
        }
        println!(
            "all {n} jobs launched after              {:>10.2?}",
            started.elapsed()
        );
        // Hold them: RSS and CPU while the controller polls every job.
        let cpu0 = cpu_time();
        let t0 = Instant::now();
        tokio::select! {
            r = &mut run => panic!("the controller stopped early: {r:?}"),
            _ = tokio::time::sleep(hold) => {}
        }
        let cpu = cpu_time().saturating_sub(cpu0);
        let wall = t0.elapsed();
        let (peak, now) = rss_kib();
        println!(
            "holding {n} RUNNING jobs for {wall:.0?}: peak RSS {:.1} MiB (now {:.1} MiB, {:.1} MiB before the controller), CPU {cpu:.2?} = {:.2} ms per job per minute ({:.1} % of one core)",
            peak as f64 / 1024.0,
            now as f64 / 1024.0,
            rss_before as f64 / 1024.0,
            cpu.as_secs_f64() * 1000.0 / n as f64 / (wall.as_secs_f64() / 60.0),
            100.0 * cpu.as_secs_f64() / wall.as_secs_f64(),
        );
        // Preemptions at random moments relative to the poll cycle.
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let victims: Vec<JobId> = (1..=20).map(|i| (i * n as i64 / 21).max(1)).collect();
        for id in &victims {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let pause = Duration::from_millis(seed % 1500);
            tokio::select! {
                r = &mut run => panic!("the controller stopped early: {r:?}"),
                _ = tokio::time::sleep(pause) => {}
            }
            backend.world().preempted_at.insert(*id, Instant::now());
        }
        loop {
            tokio::select! {
                r = &mut run => panic!("the controller stopped early: {r:?}"),
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
            if backend.world().recoveries.len() >= victims.len() {
                break;
            }
        }
    });
    let mut times = backend.world().recoveries.clone();
    times.sort();
    let mean = times.iter().sum::<Duration>() / times.len().max(1) as u32;
    println!(
        "preemption -> relaunch requested ({} recoveries): min {:.2?}, median {:.2?}, mean {mean:.2?}, max {:.2?}",
        times.len(),
        times.first().copied().unwrap_or_default(),
        times[times.len() / 2],
        times.last().copied().unwrap_or_default(),
    );
    drop(rt);

    if let Some(home) = std::env::var_os("ALOFT_BENCH_QUEUE_HOME") {
        let home = Path::new(&home);
        std::fs::create_dir_all(home).expect("create the queue bench home");
        let path = home.join("jobs.db");
        let took = submit_many(&path, 10_000);
        println!(
            "wrote 10,000 job records into {} in {took:.2?}",
            path.display()
        );
    }
}
