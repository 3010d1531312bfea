//! `aloft queue`, `aloft logs`, `aloft cancel`: a cluster's job queue, through its
//! head node's agent.

use aloft::runtime::agent::unix_now;
use aloft::runtime::queue::{JobRecord, JobStatus};

use crate::exit::{CliError, CliResult};
use crate::render::{self, Output};

/// Flags of `aloft queue`.
#[derive(Debug, clap::Args)]
pub struct QueueArgs {
    /// The cluster.
    cluster: String,
    /// Leave out finished jobs.
    #[arg(short, long)]
    skip_finished: bool,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    output: Output,
}

/// Flags of `aloft logs`.
#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// The cluster.
    cluster: String,
    /// The job (default: the latest).
    job: Option<u64>,
    /// Keep printing until the job ends.
    #[arg(long, overrides_with = "no_follow")]
    follow: bool,
    /// Print what is there and stop (the default).
    #[arg(long)]
    no_follow: bool,
    /// Only the last N lines.
    #[arg(long)]
    tail: Option<usize>,
    /// Print only the job's status; the exit code is 0 only when it succeeded.
    #[arg(long)]
    status: bool,
}

/// Flags of `aloft cancel`.
#[derive(Debug, clap::Args)]
pub struct CancelArgs {
    /// The cluster.
    cluster: String,
    /// Jobs to cancel.
    jobs: Vec<u64>,
    /// Cancel every unfinished job.
    #[arg(short, long)]
    all: bool,
    /// Do not ask for confirmation (cancel never asks; accepted for scripts).
    #[arg(short, long)]
    yes: bool,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    output: Output,
}

fn print_jobs(jobs: &[JobRecord], output: Output) -> CliResult {
    if output == Output::Json {
        return render::print_json(&jobs);
    }
    let mut table = render::table(["ID", "NAME", "SUBMITTED", "STATUS", "RESOURCES", "EXIT"]);
    for job in jobs {
        let d = &job.spec.demand;
        let gpus = match (&job.spec.accelerator, d.gpus > 0.0) {
            (Some(name), true) => format!(", {name}:{}", render::number(d.gpus)),
            (None, true) => format!(", {} GPU", render::number(d.gpus)),
            _ => String::new(),
        };
        table.add_row(vec![
            job.id.to_string(),
            job.spec.name.clone().unwrap_or_else(|| "-".into()),
            ago(job.submitted_at),
            job.status.to_string(),
            format!("{}x[CPU:{}{gpus}]", d.num_nodes, render::number(d.cpus)),
            if job.exit_codes.is_empty() {
                "-".into()
            } else {
                job.exit_codes
                    .iter()
                    .map(i32::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            },
        ]);
    }
    println!("{table}");
    Ok(())
}

fn ago(at: i64) -> String {
    let secs = (unix_now() - at).max(0);
    match secs {
        0..60 => format!("{secs}s ago"),
        60..3600 => format!("{}m ago", secs / 60),
        3600..86400 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86400),
    }
}

/// `aloft queue`.
pub fn queue(args: QueueArgs) -> CliResult {
    let jobs = crate::client::open()?.queue(&args.cluster, args.skip_finished)?;
    print_jobs(&jobs, args.output)
}

/// `aloft logs`.
pub fn logs(args: LogsArgs) -> CliResult {
    let client = crate::client::open()?;
    let job = client.job(&args.cluster, args.job)?;
    if args.status {
        println!("Job {}: {}", job.id, job.status);
        return match job.status {
            JobStatus::Succeeded => Ok(()),
            other => Err(CliError::new(
                crate::exit::JOB_FAILED,
                format!("job {} is {other}", job.id),
            )),
        };
    }
    let mut out = std::io::stdout().lock();
    client.logs(
        &args.cluster,
        job.id,
        args.tail,
        args.follow && !args.no_follow,
        &mut out,
    )?;
    Ok(())
}

/// `aloft cancel`.
pub fn cancel(args: CancelArgs) -> CliResult {
    let _ = args.yes;
    if args.jobs.is_empty() && !args.all {
        return Err(CliError::failure(
            "name the jobs to cancel, or pass --all for every unfinished job",
        ));
    }
    let jobs = crate::client::open()?.cancel(&args.cluster, &args.jobs, args.all)?;
    if args.output == Output::Json {
        return render::print_json(&jobs);
    }
    for job in &jobs {
        println!(
            "Job {}: cancellation requested (now {}).",
            job.id, job.status
        );
    }
    Ok(())
}
