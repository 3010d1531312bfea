//! `aloft ssh-setup`: adds one `Include` line for aloft's host entries to the top of
//! `~/.ssh/config` (once), so that `ssh CLUSTER`, `scp`, `rsync` and VS Code
//! Remote-SSH reach clusters by name. Says what it changes (nothing else in the
//! file is touched) and which clusters have an entry: a `local` cluster's nodes
//! are folders on this machine, so it has none (the folder is shown instead).

use aloft::client::{HeadAccess, IncludeOutcome};

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
    match client.install_ssh_include(&target)? {
        IncludeOutcome::Added(path) => eprintln!(
            "Added `Include \"{}\"` at the top of {}.",
            client.ssh_config_path().display(),
            path.display()
        ),
        IncludeOutcome::AlreadyThere(path) => eprintln!(
            "{} already includes aloft's host entries ({}); nothing changed.",
            path.display(),
            client.ssh_config_path().display()
        ),
    }
    eprintln!(
        "`ssh CLUSTER` works for clusters whose nodes are machines (clouds, Kubernetes, \
         ssh node pools); a `local` cluster's nodes are folders on this machine, with no \
         SSH entry."
    );
    for (name, access) in client.head_access()? {
        match access {
            HeadAccess::Ssh => eprintln!("  {name}: `ssh {name}`"),
            HeadAccess::Folder(dir) => {
                eprintln!("  {name}: local, no SSH entry: `cd {}`", dir.display())
            }
            HeadAccess::Unknown => eprintln!("  {name}: no head recorded yet, no SSH entry"),
        }
    }
    Ok(())
}
