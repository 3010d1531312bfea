//! `aloft agent ...`: the head node's side, handed to the core
//! ([`aloft::runtime::agent_cli`]). The launcher drives it; users do not call it.

use crate::exit::{CliError, CliResult};

/// Everything after `aloft agent`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// `[--root DIR] VERB ...` (see `aloft::runtime::agent_cli`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    words: Vec<String>,
}

/// Runs the command.
pub fn run(args: Args) -> CliResult {
    aloft::runtime::agent_cli::run(&args.words).map_err(CliError::failure)
}
