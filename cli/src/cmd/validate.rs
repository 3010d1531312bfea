//! `aloft validate TASK.yaml`: parse and check a task file, launch nothing.

use aloft::client::TaskUse;

use crate::cmd::task_args::{self, TaskFile, TaskFlags};
use crate::exit::CliResult;
use crate::render::{self, Output};

/// Flags of `aloft validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    file: TaskFile,
    #[command(flatten)]
    flags: TaskFlags,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    output: Output,
}

/// Runs the command.
pub fn run(args: Args) -> CliResult {
    let source = aloft::task::TaskSource::File(args.file.path.clone());
    let chain = task_args::load(&source, &args.flags.overrides()?, TaskUse::Plan)?.chain;
    match args.output {
        Output::Json => render::print_json(&serde_json::json!({
            "valid": true,
            "file": args.file.path.display().to_string(),
            "tasks": chain.tasks().len(),
        })),
        Output::Table => {
            let count = chain.tasks().len();
            let noun = if count == 1 { "task" } else { "tasks" };
            println!("{}: valid ({count} {noun})", args.file.path.display());
            Ok(())
        }
    }
}
