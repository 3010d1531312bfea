//! `aloft exec CLUSTER TASK.yaml|COMMAND`: run a job on an existing cluster (no
//! provisioning, no setup), streaming its output.

use std::path::Path;

use aloft::task::Task;

use crate::cmd::task_args::{self, TaskFlags};
use crate::exit::{CliError, CliResult};

/// Flags of `aloft exec`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The cluster.
    cluster: String,
    /// A task file, or a command to run: the rest of the line
    /// (`aloft exec dev python train.py --lr 1`).
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    entrypoint: Vec<String>,
    /// Do not stream the output; print the job id.
    #[arg(short = 'd', long = "detach-run")]
    detach: bool,
    #[command(flatten)]
    flags: TaskFlags,
}

/// Runs the command.
pub fn run(args: Args) -> CliResult {
    let client = crate::client::open()?;
    let overrides = args.flags.overrides()?;
    let entrypoint = args.entrypoint.join(" ");
    let path = Path::new(&entrypoint);
    let (task, task_dir): (Task, Option<&Path>) = if args.entrypoint.len() == 1 && path.is_file() {
        let chain = task_args::load(path, &overrides)?;
        match chain.tasks() {
            // The workdir is synced again, so that edits made since the launch run.
            [task] => (task.clone(), Some(task_args::task_dir(path))),
            _ => {
                return Err(CliError::failure(
                    "exec takes a single task, not a pipeline",
                ));
            }
        }
    } else {
        let mut task = Task::builder()
            .run(entrypoint.clone())
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
        (task, None)
    };
    let id = client.exec(&args.cluster, &task, task_dir)?;
    if args.detach {
        println!("{id}");
        return Ok(());
    }
    crate::interrupt::install(&client.cancel_token());
    crate::cmd::launch::follow(&client, &args.cluster, id)
}
