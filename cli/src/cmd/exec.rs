//! `aloft exec CLUSTER TASK.yaml|COMMAND`: run a job on an existing cluster (no
//! provisioning, no setup), streaming its output.

use std::path::Path;

use aloft::launch::{job_demand, job_spec};
use aloft::runtime::agent::unix_now;
use aloft::task::Task;

use crate::cmd::cluster_access;
use crate::cmd::lifecycle::follow_job;
use crate::cmd::task_args::{self, TaskFlags};
use crate::exit::{CliError, CliResult};

/// Flags of `aloft exec`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The cluster.
    cluster: String,
    /// A task file, or a shell command to run.
    entrypoint: String,
    /// Do not stream the output; print the job id.
    #[arg(short = 'd', long = "detach-run")]
    detach: bool,
    #[command(flatten)]
    flags: TaskFlags,
}

/// Runs the command.
pub fn run(args: Args) -> CliResult {
    let db = cluster_access::state()?;
    let record = cluster_access::cluster(&db, &args.cluster)?;
    let handle = cluster_access::handle(&record)?;
    let overrides = args.flags.overrides()?;
    let task: Task = if Path::new(&args.entrypoint).is_file() {
        let path = Path::new(&args.entrypoint);
        let chain = task_args::load(path, &overrides)?;
        let task = match chain.tasks() {
            [task] => task.clone(),
            _ => {
                return Err(CliError::failure(
                    "exec takes a single task, not a pipeline",
                ));
            }
        };
        // The workdir is synced again, so that edits made since the launch run.
        if task.workdir.is_some() && !handle.nodes.is_empty() {
            aloft::launch::sync_workdir(
                &task,
                task_args::task_dir(path),
                &handle.nodes,
                &crate::config::aloft_home().join("ssh"),
            )
            .map_err(|e| CliError::failure(e.to_string()))?;
        }
        task
    } else {
        let mut task = Task::builder()
            .run(args.entrypoint.clone())
            .build()
            .map_err(|e| CliError::failure(e.to_string()))?;
        for (k, v) in &overrides.env {
            task.envs.insert(k.clone(), v.clone());
        }
        for (k, v) in &overrides.secret {
            task.secrets.insert(
                k.clone(),
                aloft::task::SecretValue::Inline(aloft::task::Secret::new(v.clone())),
            );
        }
        task
    };
    let demand = job_demand(&task.resources, task.num_nodes.min(record.num_nodes).max(1));
    let (spec, secrets) = job_spec(&task, true, &demand);
    let head = aloft::runtime::head::Head::new(
        handle.head.clone(),
        crate::config::aloft_home().join("ssh"),
    );
    let id = head
        .submit(&spec, &secrets, unix_now())
        .map_err(|e| CliError::failure(e.to_string()))?;
    if args.detach {
        println!("{id}");
        return Ok(());
    }
    crate::interrupt::install();
    crate::interrupt::following(format!(
        "`aloft logs {} {id}` follows it again.",
        args.cluster
    ));
    follow_job(&handle.head, id)
}
