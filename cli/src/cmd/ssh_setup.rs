//! `aloft ssh-setup`: adds one `Include` line for aloft's host entries to the top of
//! `~/.ssh/config` (once), so that `ssh CLUSTER`, `scp`, `rsync` and VS Code
//! Remote-SSH reach clusters by name. Says what it changes (nothing else in the
//! file is touched) and which clusters have an entry: a `local` cluster's nodes
//! are folders on this machine, so it has none (the folder is shown instead).

use aloft::views::clusters::ssh_setup;

use crate::exit::{CliError, CliResult};

/// Flags of `aloft ssh-setup`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The SSH config to add the line to (default `~/.ssh/config`).
    #[arg(long)]
    config: Option<std::path::PathBuf>,
}

/// Runs the command.
pub fn run(args: Args) -> CliResult {
    let client = crate::client::open()?;
    let target = match args.config {
        Some(path) => path,
        None => std::env::var_os("HOME")
            .map(|h| std::path::PathBuf::from(h).join(".ssh/config"))
            .ok_or_else(|| CliError::failure("HOME is not set; pass --config"))?,
    };
    client.write_ssh_config()?;
    let outcome = client.install_ssh_include(&target)?;
    let entries = client.ssh_config_path();
    crate::render::print(&ssh_setup(&outcome, &entries, &client.head_access()?))
}
