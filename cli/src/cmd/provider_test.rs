//! `aloft providers test PATH.wasm|NAME`: the conformance kit from the outside, on a
//! component file or a bundled or installed provider by name. It shows
//! what the component asks for and, once the user agrees (`-y`), lends it the
//! credentials its manifest declares, points it at `--endpoint` when given, and
//! takes it through the lifecycle, printing each check. Non-zero exit on failure,
//! so an author's CI can run it with nothing but `aloft`.

use aloft::client::{ProviderTest, conformance_result};
use aloft::views::providers as views;

use crate::exit::CliResult;
use crate::render::{self, OutputArg};

/// Flags of `aloft providers test`.
#[derive(Debug, clap::Args)]
pub struct Args {
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

/// Runs the command.
pub fn run(args: Args) -> CliResult {
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
