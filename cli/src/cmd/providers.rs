//! `aloft providers list|info|install|test` and `aloft check`: flags and rendering
//! over the client's provider calls. `providers test PATH.wasm|NAME` is the
//! conformance kit from the outside: once the user agrees (`-y`) it lends the
//! component the credentials its manifest declares, points it at `--endpoint` when
//! given, and takes it through the lifecycle, printing each check; it exits non-zero
//! on a failure, so an author's CI can run it with nothing but `aloft`.

use std::path::PathBuf;

use aloft::client::{ProviderTest, conformance_result};
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
    Test(TestArgs),
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
        Command::Test(args) => test(args),
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

/// Flags of `aloft providers test`.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// The component file, or the name of a bundled or installed provider.
    #[arg(value_name = "PATH.wasm|NAME")]
    provider: String,
    /// Send the provider's requests here instead of its cloud (an emulator, a test server).
    #[arg(long)]
    endpoint: Option<String>,
    /// Region to create the test cluster in (default: that of the cheapest offer).
    #[arg(long)]
    region: Option<String>,
    /// Zone (when the cloud has zones; default: the chosen offer's).
    #[arg(long)]
    zone: Option<String>,
    /// Instance type for the two test nodes (default: the cheapest the provider
    /// offers, in the region when given).
    #[arg(long)]
    instance_type: Option<String>,
    /// A zone where the cloud refuses capacity, to check the error is typed.
    #[arg(long)]
    capacity_zone: Option<String>,
    /// A setting for `configure` (repeatable): `KEY=VALUE`.
    #[arg(long = "setting", value_name = "KEY=VALUE")]
    settings: Vec<String>,
    /// Lend it what it asks for without asking.
    #[arg(short = 'y', long)]
    yes: bool,
    #[command(flatten)]
    output: OutputArg,
}

/// `aloft providers test`.
pub fn test(args: TestArgs) -> CliResult {
    let settings = ProviderTest::parse_settings(&args.settings)?;
    let client = crate::client::open()?;
    let review = client.review_provider(&args.provider)?;
    // stdout is the report's (`-o json`): the requests go to stderr.
    let m = &review.manifest;
    render::print(&views::test_requests(m, &review.shared_credentials))?;
    crate::confirm::confirm(&views::test_question(&m.name), false, args.yes)?;
    let test = ProviderTest {
        region: args.region,
        zone: args.zone,
        instance_type: args.instance_type,
        capacity_zone: args.capacity_zone,
        endpoint: args.endpoint,
        settings,
    };
    let chosen = test.chooses_offer();
    let report = client.test_provider(&review, &review.full_grant(false), &test)?;
    args.output
        .print(&report, |r| views::conformance(r, chosen))?;
    conformance_result(&args.provider, &report)?;
    render::print(&views::conformance_passed(&args.provider))
}
