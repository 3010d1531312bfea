//! Flag groups several commands share, defined once and flattened into each
//! (`-o/--output` is [`crate::render::OutputArg`]).

use aloft::client::{AutostopSetting, Client};

use crate::exit::CliError;

/// `-i/--idle-minutes-to-autostop` and `--down`, of `launch` and `start`.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct AutostopFlags {
    /// Stop the cluster after this many idle minutes.
    #[arg(short = 'i', long = "idle-minutes-to-autostop")]
    idle_minutes: Option<u64>,
    /// Tear down instead of stopping when idle (with -i; alone: 0 idle minutes).
    #[arg(long)]
    down: bool,
}

impl AutostopFlags {
    /// The autostop these flags ask for ([`AutostopSetting::from_flags`]).
    pub fn setting(self) -> Option<AutostopSetting> {
        AutostopSetting::from_flags(self.idle_minutes, self.down)
    }
}

/// The clusters a verb acts on: names and glob patterns, or `-a/--all`.
#[derive(Debug, Clone, clap::Args)]
pub struct Clusters {
    /// Clusters (glob patterns such as `'exp-*'` work).
    clusters: Vec<String>,
    /// Every cluster.
    #[arg(short, long)]
    all: bool,
}

impl Clusters {
    /// The clusters' names ([`Client::cluster_targets`]).
    pub fn targets(&self, client: &Client) -> Result<Vec<String>, CliError> {
        Ok(client.cluster_targets(&self.clusters, self.all)?)
    }
}

/// What `storage delete` and `volumes delete` delete: names, or `-a/--all`.
#[derive(Debug, Clone, clap::Args)]
pub struct Deletion {
    /// Names of those to delete.
    #[arg(required_unless_present = "all")]
    names: Vec<String>,
    /// Every one aloft knows.
    #[arg(short, long)]
    all: bool,
    /// Do not ask (only `--all` asks).
    #[arg(short, long)]
    yes: bool,
}

impl Deletion {
    /// The names to delete: those given, or with `--all` every one `every` lists
    /// (after asking `Deleting N {noun}(s) {what}: ...`, unless `-y`); clap
    /// refuses naming none without `--all`.
    pub fn names(
        self,
        noun: &str,
        what: &str,
        every: impl FnOnce() -> Result<Vec<String>, CliError>,
    ) -> Result<Vec<String>, CliError> {
        if !self.all {
            return Ok(self.names);
        }
        let names = every()?;
        if !names.is_empty() {
            let question = aloft::views::storage::deletion_question(noun, what, &names);
            crate::confirm::confirm(&question, true, self.yes)?;
        }
        Ok(names)
    }
}
