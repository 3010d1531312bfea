//! `aloft providers list|info|install` and `aloft check`.

use std::path::{Path, PathBuf};

use aloft::plugin::trust::{ScratchDir, private_dir, read_grants, write_grants};
use aloft::plugin::{HostConfig, InstallGrant, Manifest, PluginHost};
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
    match p.host.origin(name) {
        Some(origin) if origin.starts_with("bundled:") => "bundled".into(),
        Some(origin) => origin.to_string(),
        None if p.bundled.iter().any(|b| b == name) => "bundled".into(),
        None => "installed".into(),
    }
}

/// Runs `aloft providers`.
pub fn run(args: Args) -> CliResult {
    let config = Config::load(&aloft_home())?;
    let rt = providers::runtime()?;
    match args.command {
        Command::Test(test) => crate::cmd::provider_test::run(test),
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
        Command::Install {
            path,
            yes,
            replace,
        } => rt.block_on(install(&config, &path, yes, replace)),
    }
}

/// `aloft providers install`: validate in a throwaway host, show the requests,
/// ask for consent, then copy the component and record the grant.
async fn install(config: &Config, path: &Path, yes: bool, replace: bool) -> CliResult {
    let bytes =
        std::fs::read(path).map_err(|e| CliError::failure(format!("{}: {e}", path.display())))?;
    // The bundled providers: their names may not be shadowed by accident, and the
    // credentials they use are pointed out.
    let current = providers::load(config).await?;
    let bundled: Vec<&Manifest> = current
        .host
        .manifests()
        .into_iter()
        .filter(|m| current.bundled.contains(&m.name))
        .collect();
    // Validate in a throwaway host in a fresh owner-only folder with an
    // unpredictable name, without a compiled-code cache: it must compile, speak
    // our API, answer `info` and ask only for acceptable hosts and credentials
    // before it is copied anywhere.
    let scratch = ScratchDir::new("aloft-install")
        .map_err(|e| CliError::failure(format!("cannot create a scratch folder: {e}")))?;
    let mut scratch_config = HostConfig::new(scratch.path());
    scratch_config.cache_dir = None;
    let mut host = PluginHost::new(scratch_config).map_err(|e| CliError::failure(e.to_string()))?;
    let manifest = host
        .load_bytes(&path.display().to_string(), &bytes)
        .await
        .map_err(|e| CliError::failure(e.to_string()))?;
    drop(host);
    drop(scratch);

    let m = &manifest;
    println!("{} {} asks for:", m.name, m.version);
    println!("  description:  {}", m.description);
    println!(
        "  hosts:        {}",
        if m.hosts.is_empty() {
            "none".into()
        } else {
            m.hosts.join(", ")
        }
    );
    if m.credentials.is_empty() {
        println!("  credentials:  none");
    } else {
        println!("  credentials:");
        for c in &m.credentials {
            let users: Vec<&str> = bundled
                .iter()
                .filter(|b| b.name != m.name && b.credentials.contains(c))
                .map(|b| b.name.as_str())
                .collect();
            if users.is_empty() {
                println!("    {c}");
            } else {
                println!(
                    "    {c}  (also used by the bundled provider {}: this one could act with that account)",
                    users.join(", ")
                );
            }
        }
    }
    println!("  capabilities: {}", capabilities(m));
    let shadows = current.bundled.contains(&m.name);
    if shadows && !replace {
        return Err(CliError::failure(format!(
            "`{}` is a bundled provider; installing this component would replace it. \
             Nothing was installed; pass --replace to replace it",
            m.name
        )));
    }
    if shadows {
        println!("  replaces:     the bundled provider `{}`", m.name);
    }
    crate::confirm::confirm(
        &format!("Installing {} with the grants above", m.name),
        false,
        yes,
    )?;

    let dir = aloft_home().join("providers");
    private_dir(&dir).map_err(|e| CliError::failure(format!("{}: {e}", dir.display())))?;
    let mut grants =
        read_grants(&dir).map_err(|e| CliError::failure(format!("{}: {e}", dir.display())))?;
    let target = dir.join(format!("{}.wasm", m.name));
    let tmp = dir.join(format!(".{}.wasm.{}", m.name, std::process::id()));
    std::fs::write(&tmp, &bytes)
        .and_then(|()| std::fs::rename(&tmp, &target))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            CliError::failure(format!("{}: {e}", target.display()))
        })?;
    grants.insert(m.name.clone(), InstallGrant::of(m, shadows));
    write_grants(&dir, &grants)
        .map_err(|e| CliError::failure(format!("{}: {e}", dir.display())))?;
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
    let config = Config::load(&aloft_home())?;
    let rt = providers::runtime()?;
    rt.block_on(async {
        let p = providers::load(&config).await?;
        let mut rows = Vec::new();
        let names: Vec<String> = p.host.manifests().iter().map(|m| m.name.clone()).collect();
        // One concurrent call per provider: the slowest answer bounds the wait.
        let results = futures::future::join_all(names.iter().map(|name| {
            let p = &p;
            async move {
                match p.instance(name).await {
                    Ok(mut instance) => {
                        instance.check_credentials().await.map_err(|e| e.to_string())
                    }
                    Err(e) => Err(e.to_string()),
                }
            }
        }))
        .await;
        for (name, result) in names.iter().zip(results) {
            rows.push(match result {
                Ok(identity) => serde_json::json!({"provider": name, "enabled": true, "identity": identity.account}),
                Err(reason) => serde_json::json!({"provider": name, "enabled": false, "reason": reason}),
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
