//! `aloft validate TASK.yaml`: parse and check a task file, launch nothing.

use aloft::client::TaskUse;
use aloft::views::plan as views;

use crate::cmd::task_args::{self, TaskFile, TaskFlags};
use crate::exit::CliResult;
use crate::render::OutputArg;

/// Flags of `aloft validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    file: TaskFile,
    #[command(flatten)]
    flags: TaskFlags,
    #[command(flatten)]
    output: OutputArg,
}

/// Runs the command.
pub fn run(args: Args) -> CliResult {
    let path = &args.file.path;
    let source = aloft::task::TaskSource::File(path.clone());
    let chain = task_args::load(&source, &args.flags.overrides()?, TaskUse::Plan)?.chain;
    let count = chain.tasks().len();
    let summary = serde_json::json!({
        "valid": true,
        "file": path.display().to_string(),
        "tasks": count,
    });
    args.output.print(&summary, |_| views::valid(path, count))
}
