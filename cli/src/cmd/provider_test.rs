//! `aloft providers test PATH.wasm`: the conformance kit from the outside. It loads
//! the component (as a first-party component: the author is testing their own),
//! lends it the usual credentials for the names it declares, points it at
//! `--endpoint` when given, and takes it through the lifecycle, printing each check.
//! Non-zero exit on failure, so an author's CI can run it with nothing but `aloft`.

use std::path::PathBuf;

use aloft::plugin::conformance::{self, ConformanceOptions};
use aloft::plugin::{HostConfig, PluginHost};

use crate::exit::{CliError, CliResult};
use crate::render::{self, Output};

/// Flags of `aloft providers test`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The component.
    path: PathBuf,
    /// Send the provider's requests here instead of its cloud (an emulator, a test server).
    #[arg(long)]
    endpoint: Option<String>,
    /// Region to create the test cluster in.
    #[arg(long)]
    region: String,
    /// Zone (when the cloud has zones).
    #[arg(long)]
    zone: Option<String>,
    /// Instance type for the two test nodes.
    #[arg(long)]
    instance_type: String,
    /// A zone where the cloud refuses capacity, to check the error is typed.
    #[arg(long)]
    capacity_zone: Option<String>,
    /// A setting for `configure` (repeatable): `KEY=VALUE`.
    #[arg(long = "setting", value_name = "KEY=VALUE")]
    settings: Vec<String>,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    output: Output,
}

/// Runs the command.
pub fn run(args: Args) -> CliResult {
    let bytes = std::fs::read(&args.path)
        .map_err(|e| CliError::failure(format!("{}: {e}", args.path.display())))?;
    let scratch = aloft::plugin::trust::ScratchDir::new("aloft-provider-test")
        .map_err(|e| CliError::failure(format!("cannot make a scratch folder: {e}")))?;
    let mut settings = Vec::new();
    for item in &args.settings {
        let (k, v) = item
            .split_once('=')
            .ok_or_else(|| CliError::failure(format!("--setting {item}: expected KEY=VALUE")))?;
        settings.push((k.to_string(), v.to_string()));
    }
    let rt = crate::providers::runtime()?;
    let report = rt.block_on(async {
        let mut host = PluginHost::new(HostConfig::new(scratch.path()))
            .map_err(|e| CliError::failure(e.to_string()))?;
        let manifest = host
            .load_bytes(&args.path.display().to_string(), &bytes)
            .await
            .map_err(|e| CliError::failure(e.to_string()))?;
        // A second host, now that the name is known, with its endpoint and settings.
        let mut config = HostConfig::new(scratch.path());
        if let Some(endpoint) = &args.endpoint {
            config
                .endpoints
                .insert(manifest.name.clone(), endpoint.clone());
        }
        config
            .settings
            .insert(manifest.name.clone(), settings.clone());
        let mut host = PluginHost::new(config).map_err(|e| CliError::failure(e.to_string()))?;
        host.load_bytes(&args.path.display().to_string(), &bytes)
            .await
            .map_err(|e| CliError::failure(e.to_string()))?;
        let mut instance = host
            .instance(&manifest.name)
            .await
            .map_err(|e| CliError::failure(e.to_string()))?;
        let options = ConformanceOptions {
            cluster: format!("aloft-conformance-{}", std::process::id()),
            region: args.region.clone(),
            zone: args.zone.clone(),
            instance_type: args.instance_type.clone(),
        };
        let mut report = conformance::run(&mut instance, &options).await;
        if let Some(zone) = &args.capacity_zone {
            let refused = ConformanceOptions {
                cluster: format!("{}-capacity", options.cluster),
                zone: Some(zone.clone()),
                ..options
            };
            report
                .checks
                .push(conformance::expect_capacity_error(&mut instance, &refused).await);
        }
        Ok::<_, CliError>(report)
    })?;
    if args.output == Output::Json {
        render::print_json(&report)?;
    } else {
        for check in &report.checks {
            if check.passed {
                println!("  ok    {}", check.name);
            } else {
                println!("  FAIL  {}: {}", check.name, check.detail);
            }
        }
    }
    match report.failure() {
        None if report.passed() => {
            eprintln!("{}: every check passed.", args.path.display());
            Ok(())
        }
        None => Err(CliError::failure("no check ran")),
        Some(check) => Err(CliError::failure(format!(
            "{}: failed `{}`",
            args.path.display(),
            check.name
        ))),
    }
}
