//! `aloft completion SHELL`: the shell completion script (clap's generator).
//!
//! Install: `aloft completion bash > ~/.local/share/bash-completion/completions/aloft`,
//! `aloft completion zsh > ~/.zfunc/_aloft` (with `fpath+=~/.zfunc` before
//! `compinit`), `aloft completion fish > ~/.config/fish/completions/aloft.fish`.

use crate::exit::CliResult;

/// Flags of `aloft completion`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

/// Prints the completion script for `args.shell` on stdout.
pub fn run(args: Args, command: &mut clap::Command) -> CliResult {
    clap_complete::generate(args.shell, command, "aloft", &mut std::io::stdout());
    Ok(())
}
