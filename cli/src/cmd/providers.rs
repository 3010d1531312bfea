//! `aloft providers list|info|install` and `aloft check`.

use std::path::PathBuf;

use aloft::plugin::{HostConfig, Manifest, PluginHost};
use serde::Serialize;

use crate::config::{Config, aloft_home};
use crate::exit::{CliError, CliResult};
use crate::providers::{self, Providers};
use crate::render::{self, Output};

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
        /// Output format.
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
    /// One provider's manifest.
    Info {
        /// Provider name.
        name: String,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
    /// Validate a provider component and install it into `$ALOFT_HOME/providers`.
    Install {
        /// The component (`target/wasm32-wasip2/release/<name>.wasm`).
        path: PathBuf,
    },
}

/// Flags of `aloft check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    output: Output,
}

#[derive(Serialize)]
struct Listed<'a> {
    #[serde(flatten)]
    manifest: &'a Manifest,
    source: String,
}

fn capabilities(m: &Manifest) -> String {
    let c = &m.capabilities;
    let mut out = Vec::new();
    for (on, name) in [
        (c.spot, "spot"),
        (c.stop_start, "stop/start"),
        (c.multi_node, "multi-node"),
        (c.open_ports, "ports"),
        (c.custom_images, "images"),
        (c.volumes, "volumes"),
    ] {
        if on {
            out.push(name);
        }
    }
    out.join(", ")
}

fn source(p: &Providers, name: &str) -> String {
    if p.bundled.iter().any(|b| b == name) {
        "bundled".into()
    } else {
        p.host.origin(name).unwrap_or("installed").to_string()
    }
}

/// Runs `aloft providers`.
pub fn run(args: Args) -> CliResult {
    let config = Config::load(&aloft_home())?;
    let rt = providers::runtime()?;
    match args.command {
        Command::List { output } => rt.block_on(async {
            let p = providers::load(&config).await?;
            let listed: Vec<Listed> = p
                .host
                .manifests()
                .into_iter()
                .map(|m| Listed {
                    manifest: m,
                    source: source(&p, &m.name),
                })
                .collect();
            if output == Output::Json {
                return render::print_json(&serde_json::json!({
                    "providers": listed,
                    "broken": p.broken.iter().map(|(o, e)| serde_json::json!({"origin": o, "error": e})).collect::<Vec<_>>(),
                }));
            }
            let mut table = render::table(["NAME", "VERSION", "API", "CAPABILITIES", "CREDENTIALS", "SOURCE"]);
            for l in &listed {
                let m = l.manifest;
                let creds = if m.credentials.is_empty() {
                    "none needed".to_string()
                } else {
                    let set = m
                        .credentials
                        .iter()
                        .filter(|c| std::env::var(c).is_ok_and(|v| !v.is_empty()))
                        .count();
                    format!("{set}/{} set", m.credentials.len())
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
            for (origin, err) in &p.broken {
                eprintln!("warning: {origin}: {err}");
            }
            Ok(())
        }),
        Command::Info { name, output } => rt.block_on(async {
            let p = providers::load(&config).await?;
            let m = p
                .host
                .manifests()
                .into_iter()
                .find(|m| m.name == name)
                .ok_or_else(|| CliError::failure(format!("no provider named `{name}`")))?;
            if output == Output::Json {
                return render::print_json(&Listed {
                    manifest: m,
                    source: source(&p, &name),
                });
            }
            println!("{} {} (provider API {})", m.name, m.version, m.api_version);
            println!("  {}", m.description);
            println!("  capabilities: {}", capabilities(m));
            println!("  credentials:  {}", if m.credentials.is_empty() { "none".into() } else { m.credentials.join(", ") });
            println!("  hosts:        {}", if m.hosts.is_empty() { "none".into() } else { m.hosts.join(", ") });
            println!("  source:       {}", source(&p, &name));
            Ok(())
        }),
        Command::Install { path } => rt.block_on(async {
            let bytes = std::fs::read(&path)
                .map_err(|e| CliError::failure(format!("{}: {e}", path.display())))?;
            // Validate in a throwaway host: it must compile, speak our API and
            // answer `info` before it is copied anywhere.
            let scratch = tempfile_dir()?;
            let mut host = PluginHost::new(HostConfig::new(&scratch))
                .map_err(|e| CliError::failure(e.to_string()))?;
            let manifest = host
                .load_bytes(&path.display().to_string(), &bytes)
                .await
                .map_err(|e| CliError::failure(e.to_string()))?;
            let _ = std::fs::remove_dir_all(&scratch);
            let dir = aloft_home().join("providers");
            std::fs::create_dir_all(&dir)
                .map_err(|e| CliError::failure(format!("{}: {e}", dir.display())))?;
            let target = dir.join(format!("{}.wasm", manifest.name));
            std::fs::write(&target, &bytes)
                .map_err(|e| CliError::failure(format!("{}: {e}", target.display())))?;
            println!(
                "Installed provider {} {} to {}",
                manifest.name,
                manifest.version,
                target.display()
            );
            Ok(())
        }),
    }
}

fn tempfile_dir() -> Result<PathBuf, CliError> {
    let dir = std::env::temp_dir().join(format!("aloft-install-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| CliError::failure(e.to_string()))?;
    Ok(dir)
}

/// Runs `aloft check`: every provider's `check-credentials`.
pub fn check(args: CheckArgs) -> CliResult {
    let config = Config::load(&aloft_home())?;
    let rt = providers::runtime()?;
    rt.block_on(async {
        let p = providers::load(&config).await?;
        let mut rows = Vec::new();
        for m in p.host.manifests() {
            let result = match p.instance(&m.name).await {
                Ok(mut instance) => instance.check_credentials().await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            rows.push(match result {
                Ok(identity) => serde_json::json!({"provider": m.name, "enabled": true, "identity": identity.account}),
                Err(reason) => serde_json::json!({"provider": m.name, "enabled": false, "reason": reason}),
            });
        }
        if args.output == Output::Json {
            return render::print_json(&rows);
        }
        for row in &rows {
            match row["enabled"].as_bool() {
                Some(true) => println!("  {}: enabled ({})", row["provider"].as_str().unwrap_or(""), row["identity"].as_str().unwrap_or("")),
                _ => println!("  {}: disabled — {}", row["provider"].as_str().unwrap_or(""), row["reason"].as_str().unwrap_or("")),
            }
        }
        Ok(())
    })
}
