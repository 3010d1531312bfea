//! `aloft ssh-setup`: adds one `Include` line for aloft's host entries to the top of
//! `~/.ssh/config` (once), so that `ssh CLUSTER`, `scp`, `rsync` and VS Code
//! Remote-SSH reach clusters by name. Says what it changes (nothing else in the
//! file is touched) and which clusters have an entry: a `local` cluster's nodes
//! are folders on this machine, so it has none (the folder is shown instead).

use aloft::views::clusters::ssh_setup;

use crate::exit::CliResult;

/// Flags of `aloft ssh-setup`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The SSH config to add the line to (default `~/.ssh/config`).
    #[arg(long)]
    config: Option<std::path::PathBuf>,
}

/// Runs the command.
pub fn run(args: Args) -> CliResult {
    let setup = crate::client::open()?.ssh_setup(args.config.as_deref())?;
    crate::render::print(&ssh_setup(&setup))
}
