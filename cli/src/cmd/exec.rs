//! `aloft exec CLUSTER TASK.yaml|COMMAND`: run a job on an existing cluster (no
//! provisioning, no setup), streaming its output.

use aloft::client::TaskUse;

use crate::cmd::task_args::{self, TaskFlags};
use crate::exit::CliResult;

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
    let source = task_args::source_of(&args.entrypoint)?;
    let loaded = task_args::load_one(&source, &overrides, TaskUse::Exec)?;
    let id = client.exec(&args.cluster, &loaded.task, loaded.exec_dir())?;
    crate::cmd::launch::follow(&client, &args.cluster, id, args.detach)
}
