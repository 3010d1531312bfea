//! `aloft providers list|info|install` and `aloft check`: flags and rendering over
//! the client's provider calls.

use std::path::PathBuf;

use aloft::views::{Detail, providers as views};

use crate::client::open;
use crate::exit::{CliError, CliResult};
use crate::render::{self, OutputArg};

/// Flags of `aloft providers`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Bundled and installed providers.
    List {
        #[command(flatten)]
        output: OutputArg,
    },
    /// One provider's manifest.
    Info {
        /// Provider name.
        name: String,
        #[command(flatten)]
        output: OutputArg,
    },
    /// Validate a provider component, show what it asks for, and install it into
    /// `$ALOFT_HOME/providers` with the user's grant.
    Install {
        /// The component (`target/wasm32-wasip2/release/<name>.wasm`).
        path: PathBuf,
        /// Grant what it asks for without asking.
        #[arg(short = 'y', long)]
        yes: bool,
        /// Allow it to replace the bundled provider of the same name.
        #[arg(long)]
        replace: bool,
    },
    /// Run the conformance kit against a component and its cloud's API.
    Test(crate::cmd::provider_test::Args),
}

/// Flags of `aloft check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Only these providers (`aloft check aws gcp`, as SkyPilot's `sky check`);
    /// every one when none is named.
    clouds: Vec<String>,
    /// Show the account each enabled provider's credentials belong to, and what
    /// else it says about them (SkyPilot's `-v`).
    #[arg(short, long)]
    verbose: bool,
    #[command(flatten)]
    output: OutputArg,
}

/// Runs `aloft providers`.
pub fn run(args: Args) -> CliResult {
    match args.command {
        Command::Test(test) => crate::cmd::provider_test::run(test),
        Command::List { output } => output.print(&open()?.provider_list()?, views::list),
        Command::Info { name, output } => output.print(&open()?.provider_info(&name)?, views::info),
        Command::Install { path, yes, replace } => install(&path, yes, replace),
    }
}

/// `aloft providers install`: review, show the requests, ask for consent, install
/// with the grant.
fn install(path: &std::path::Path, yes: bool, replace: bool) -> CliResult {
    let client = open()?;
    let review = client.review_component(path)?;
    let m = &review.manifest;
    let allowed = review.check_replace(replace);
    let replaces = review.replaces_bundled && allowed.is_ok();
    let requests = views::install_requests(m, &review.shared_credentials, replaces);
    render::print(&requests)?;
    allowed.map_err(|err| CliError::failure(format!("{err}; pass --replace to replace it")))?;
    crate::confirm::confirm(&views::install_question(&m.name), false, yes)?;
    let target = client.install_provider(&review, &review.full_grant(replace))?;
    render::print(&views::installed(m, &target))
}

/// Runs `aloft check`: every provider's `check-credentials`.
pub fn check(args: CheckArgs) -> CliResult {
    let checks = open()?.check_named_providers(&args.clouds)?;
    let detail = Detail::from_verbose(args.verbose);
    args.output.print(&checks, |c| views::checks(c, detail))
}
