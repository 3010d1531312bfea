//! `aloft validate TASK.yaml`: parse and check a task file, launch nothing.

use aloft::client::TaskUse;

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
    let source = aloft::task::TaskSource::File(args.file.path.clone());
    let chain = task_args::load(&source, &args.flags.overrides()?, TaskUse::Plan)?.chain;
    let count = chain.tasks().len();
    let summary = serde_json::json!({
        "valid": true,
        "file": args.file.path.display().to_string(),
        "tasks": count,
    });
    args.output.show(&summary, |_| {
        let noun = if count == 1 { "task" } else { "tasks" };
        println!("{}: valid ({count} {noun})", args.file.path.display());
        Ok(())
    })
}
