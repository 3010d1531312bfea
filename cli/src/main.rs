//! The `aloft` command-line interface: a thin layer over the `aloft` crate that
//! parses flags, renders results for humans (tables) or scripts (`-o json`) and maps
//! errors to exit codes.

mod bundled;
mod client;
mod cmd;
mod confirm;
mod exit;
mod flags;
mod interrupt;
mod progress;
mod render;
mod sigpipe;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Run AI and batch workloads on any infrastructure, from one task file.
#[derive(Debug, Parser)]
#[command(name = "aloft", version, about, propagate_version = true)]
struct Cli {
    /// Log output on stderr: `info`, `debug`, `trace`, or a tracing filter
    /// (`aloft=debug`); `ALOFT_LOG` says the same (this flag wins). Default `warn`.
    /// (`-v` is SkyPilot's: all fields, on `status`, `gpus list`, `jobs queue`,
    /// `storage ls` and `check`.)
    #[arg(long, global = true, value_name = "FILTER")]
    log: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check a task file without launching anything.
    Validate(cmd::launch::ValidateArgs),
    /// Launch a task: provision, set up, run and stream its output (`--dryrun`: plan only).
    Launch(cmd::launch::Args),
    /// Accelerators: `aloft gpus list [A100[:8]]`.
    #[command(subcommand)]
    Gpus(GpusCommand),
    /// List accelerators, their counts and cheapest prices per cloud (`gpus list`).
    #[command(name = "show-gpus")]
    ShowGpus(cmd::show_gpus::Args),
    /// Clusters in local state (no provider call).
    Status(cmd::status::Args),
    /// Managed jobs: launched on clusters of their own, recovered from preemption.
    Jobs(cmd::managed::Args),
    /// Services: replicas behind one endpoint that scales, heals and updates (`up`, `status`, `update`, `logs`, `down`).
    Serve(cmd::serve::Args),
    /// A cluster's job queue.
    Queue(cmd::jobs::QueueArgs),
    /// A job's output.
    Logs(cmd::jobs::LogsArgs),
    /// Cancel jobs on a cluster.
    Cancel(cmd::jobs::CancelArgs),
    /// What each cluster cost, from the prices recorded at launch.
    #[command(name = "cost-report")]
    CostReport(cmd::status::CostReportArgs),
    /// Run a task file or a command on an existing cluster.
    Exec(cmd::launch::ExecArgs),
    /// Set or cancel a cluster's autostop.
    Autostop(cmd::lifecycle::AutostopArgs),
    /// Start stopped clusters.
    Start(cmd::lifecycle::StartArgs),
    /// Stop clusters (keep their disks).
    Stop(cmd::lifecycle::Args),
    /// Tear clusters down.
    Down(cmd::lifecycle::Args),
    /// Buckets aloft created (`ls`, `delete`).
    Storage(cmd::storage::Args),
    /// Volumes that outlive clusters (`apply`, `ls`, `delete`).
    Volumes(cmd::storage::VolumesArgs),
    /// Bundled and installed providers.
    Providers(cmd::providers::Args),
    /// Check each provider's credentials.
    Check(cmd::providers::CheckArgs),
    /// Let `ssh CLUSTER` work: include aloft's host entries from ~/.ssh/config (once).
    #[command(name = "ssh-setup")]
    SshSetup(cmd::ssh_setup::Args),
    /// Print a shell completion script (bash, zsh, fish, ...).
    ///
    /// `aloft completion bash > ~/.local/share/bash-completion/completions/aloft`,
    /// `aloft completion zsh > ~/.zfunc/_aloft` (with `fpath+=~/.zfunc` before
    /// `compinit`), `aloft completion fish > ~/.config/fish/completions/aloft.fish`.
    Completion {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// `aloft gpus ...` (SkyPilot's `sky gpus`).
#[derive(Debug, Subcommand)]
enum GpusCommand {
    /// Accelerators, their counts and cheapest prices per cloud.
    List(cmd::show_gpus::Args),
}

fn main() -> ExitCode {
    // `aloft status | head` ends quietly when the reader goes away, as CLI tools
    // do; a closed pipe to a child fails only its write.
    sigpipe::install();
    // The roles aloft runs this program in (a head's agent, the jobs controller,
    // the SSH proxy to pods, a local autostop) come before the user's commands.
    aloft::roles::run_if_role(client::builder);
    let cli = Cli::parse();
    init_tracing(cli.log.as_deref());
    let result = match cli.command {
        Command::Validate(args) => cmd::launch::validate(args),
        Command::Launch(args) => cmd::launch::run(args),
        Command::ShowGpus(args) | Command::Gpus(GpusCommand::List(args)) => {
            cmd::show_gpus::run(args)
        }
        Command::SshSetup(args) => cmd::ssh_setup::run(args),
        Command::Completion { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "aloft", &mut std::io::stdout());
            Ok(())
        }
        Command::Status(args) => cmd::status::run(args),
        Command::Providers(args) => cmd::providers::run(args),
        Command::Stop(args) => cmd::lifecycle::stop(args),
        Command::Start(args) => cmd::lifecycle::start(args),
        Command::Exec(args) => cmd::launch::exec(args),
        Command::Autostop(args) => cmd::lifecycle::autostop(args),
        Command::Down(args) => cmd::lifecycle::down(args),
        Command::Storage(args) => cmd::storage::run(args),
        Command::Volumes(args) => cmd::storage::volumes(args),
        Command::Check(args) => cmd::providers::check(args),
        Command::Jobs(args) => cmd::managed::run(args),
        Command::Serve(args) => cmd::serve::run(args),
        Command::Queue(args) => cmd::jobs::queue(args),
        Command::Logs(args) => cmd::jobs::logs(args),
        Command::Cancel(args) => cmd::jobs::cancel(args),
        Command::CostReport(args) => cmd::status::cost_report(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => err.report(),
    }
}

/// Logs go to stderr so that `-o json` on stdout stays machine-readable.
fn init_tracing(log: Option<&str>) {
    use tracing_subscriber::EnvFilter;
    let text = log
        .map(str::to_string)
        .or_else(|| std::env::var("ALOFT_LOG").ok());
    // The WebAssembly compiler's crates stay at warn unless the filter names them.
    let directives = aloft::client::log_directives(text.as_deref().unwrap_or("warn"));
    let filter = EnvFilter::try_new(&directives).unwrap_or_else(|_| EnvFilter::new("warn"));
    let writer = tracing_subscriber::fmt().with_writer(std::io::stderr);
    let _ = writer.with_env_filter(filter).try_init();
}
