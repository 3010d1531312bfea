//! `aloft providers list|info|install` and `aloft check`: flags and rendering over
//! the client's provider calls.

use std::io::Write;
use std::path::PathBuf;

use aloft::client::{ComponentReview, capability_names};
use aloft::plugin::Manifest;

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

fn capabilities(m: &Manifest) -> String {
    capability_names(m).join(", ")
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

/// What a reviewed component asks for, as `install` and `test` show it before
/// asking for consent.
pub fn show_requests(review: &ComponentReview, out: &mut dyn Write) {
    let m = &review.manifest;
    let mut lines = vec![
        format!("{} {} asks for:", m.name, m.version),
        format!("  description:  {}", m.description),
        format!("  hosts:        {}", list_or_none(&m.hosts)),
    ];
    if m.credentials.is_empty() {
        lines.push("  credentials:  none".into());
    } else {
        lines.push("  credentials:".into());
        for c in &m.credentials {
            match review.shared_credentials.iter().find(|(name, _)| name == c) {
                Some((_, users)) => lines.push(format!(
                    "    {c}  (also used by the bundled provider {}: this one could act with that account)",
                    users.join(", ")
                )),
                None => lines.push(format!("    {c}")),
            }
        }
    }
    lines.push(format!("  capabilities: {}", capabilities(m)));
    let _ = writeln!(out, "{}", lines.join("\n"));
}

/// Runs `aloft providers`.
pub fn run(args: Args) -> CliResult {
    match args.command {
        Command::Test(test) => crate::cmd::provider_test::run(test),
        Command::List { output } => list(output),
        Command::Info { name, output } => info(&name, output),
        Command::Install { path, yes, replace } => install(&path, yes, replace),
    }
}

fn list(output: OutputArg) -> CliResult {
    let client = crate::client::open()?;
    let list = client.provider_list()?;
    if output.is_json() {
        return render::print_json(&list);
    }
    let mut table = render::table([
        "NAME",
        "VERSION",
        "API",
        "CAPABILITIES",
        "CREDENTIALS",
        "SOURCE",
    ]);
    for l in &list.providers {
        let m = &l.manifest;
        let creds = if m.credentials.is_empty() {
            "none needed".to_string()
        } else {
            format!("{}/{} set", l.credentials_set, m.credentials.len())
        };
        table.add_row(vec![
            m.name.clone(),
            m.version.clone(),
            m.api_version.clone(),
            capabilities(m),
            creds,
            l.source.clone(),
        ]);
    }
    println!("{table}");
    for (origin, err) in &list.broken {
        eprintln!("warning: {origin}: {err}");
    }
    Ok(())
}

fn info(name: &str, output: OutputArg) -> CliResult {
    let listing = crate::client::open()?.provider_info(name)?;
    if output.is_json() {
        return render::print_json(&listing);
    }
    let m = &listing.manifest;
    println!("{} {} (provider API {})", m.name, m.version, m.api_version);
    println!("  {}", m.description);
    println!("  capabilities: {}", capabilities(m));
    println!("  credentials:  {}", list_or_none(&m.credentials));
    println!("  hosts:        {}", list_or_none(&m.hosts));
    println!("  source:       {}", listing.source);
    Ok(())
}

/// `aloft providers install`: review, show the requests, ask for consent, install
/// with the grant.
fn install(path: &std::path::Path, yes: bool, replace: bool) -> CliResult {
    let client = crate::client::open()?;
    let review = client.review_component(path)?;
    show_requests(&review, &mut std::io::stdout());
    let m = &review.manifest;
    review
        .check_replace(replace)
        .map_err(|err| CliError::failure(format!("{err}; pass --replace to replace it")))?;
    if review.replaces_bundled {
        println!("  replaces:     the bundled provider `{}`", m.name);
    }
    crate::confirm::confirm(
        &format!("Installing {} with the grants above", m.name),
        false,
        yes,
    )?;
    let target = client.install_provider(&review, &review.full_grant(replace))?;
    println!(
        "Installed provider {} {} to {}",
        m.name,
        m.version,
        target.display()
    );
    Ok(())
}

/// Runs `aloft check`: every provider's `check-credentials`.
pub fn check(args: CheckArgs) -> CliResult {
    let client = crate::client::open()?;
    let checks = client.check_named_providers(&args.clouds)?;
    if args.output.is_json() {
        return render::print_json(&checks);
    }
    for c in &checks {
        match &c.result {
            Ok(identity) if args.verbose => {
                println!("  {}: enabled ({})", c.provider, identity.account);
                for (key, value) in &identity.details {
                    println!("      {key}: {value}");
                }
            }
            Ok(_) => println!("  {}: enabled", c.provider),
            Err(reason) => println!("  {}: disabled — {reason}", c.provider),
        }
    }
    Ok(())
}
