//! `aloft-catalog`: check and compare catalogs in SkyPilot's CSV format.
//!
//! - `aloft-catalog validate [DIR]`: parses every cloud's `vms.csv` (the embedded
//!   snapshot, with DIR's files in place of it) and reports offers per cloud; a
//!   malformed file fails with its path and line.
//! - `aloft-catalog diff OLD NEW`: price changes, new and removed offers between two
//!   catalog folders (e.g. before and after a refresh).
//! - `aloft-catalog fetch --provider P.wasm --region R --out DIR`: a fresh catalog
//!   from the cloud itself, through its provider component.

mod fetch;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use aloft::catalog::{Catalog, Offer};
use clap::{Parser, Subcommand};

/// Check and compare aloft catalogs.
#[derive(Debug, Parser)]
#[command(name = "aloft-catalog", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Parse every cloud's catalog and report what it offers.
    Validate {
        /// Folder laid out as `<cloud>/vms.csv`, replacing the embedded files.
        dir: Option<PathBuf>,
    },
    /// Fetch a cloud's catalog through its provider component into `<out>/<cloud>/vms.csv`.
    Fetch {
        /// The provider component (`.wasm`).
        #[arg(long)]
        provider: PathBuf,
        /// Region to fetch (repeatable).
        #[arg(long = "region", required = true)]
        regions: Vec<String>,
        /// Send the provider's requests here instead (an emulator, a gateway).
        #[arg(long)]
        endpoint: Option<String>,
        /// Catalog folder whose prices fill what the provider cannot know.
        #[arg(long)]
        base: Option<PathBuf>,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
    },
    /// Compare two catalog folders.
    Diff {
        /// The old catalog folder.
        old: PathBuf,
        /// The new catalog folder.
        new: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate { dir } => validate(dir),
        Command::Diff { old, new } => diff(old, new),
        Command::Fetch {
            provider,
            regions,
            endpoint,
            base,
            out,
        } => fetch::fetch(&fetch::FetchArgs {
            provider,
            regions,
            endpoint,
            base,
            out,
        })
        .map(|(path, rows)| eprintln!("Wrote {rows} offer(s) to {}.", path.display())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn validate(dir: Option<PathBuf>) -> Result<(), String> {
    let catalog = Catalog::load(dir.as_deref()).map_err(|e| e.to_string())?;
    let mut failed = false;
    for cloud in catalog.clouds() {
        match catalog.offers(&cloud) {
            Ok(offers) => {
                let gpu = offers.iter().filter(|o| o.accelerator.is_some()).count();
                let unpriced = offers
                    .iter()
                    .filter(|o| o.price.is_none() && o.spot_price.is_none())
                    .count();
                println!(
                    "{cloud:<10} {:>6} offers ({gpu} with accelerators, {unpriced} without any price)",
                    offers.len()
                );
            }
            Err(err) => {
                failed = true;
                eprintln!("{cloud:<10} {err}");
            }
        }
    }
    if failed {
        Err("some catalogs are malformed".into())
    } else {
        Ok(())
    }
}

type Key = (String, String, String, Option<String>, String);

fn keyed(catalog: &Catalog) -> Result<BTreeMap<Key, Offer>, String> {
    let mut out = BTreeMap::new();
    for cloud in catalog.clouds() {
        for offer in catalog.offers(&cloud).map_err(|e| e.to_string())? {
            let accel = offer
                .accelerator
                .as_ref()
                .map(|(n, c)| format!("{n}:{c}"))
                .unwrap_or_default();
            out.insert(
                (
                    cloud.clone(),
                    offer.instance_type.clone(),
                    offer.region.clone(),
                    offer.zone.clone(),
                    accel,
                ),
                offer.clone(),
            );
        }
    }
    Ok(out)
}

fn diff(old: PathBuf, new: PathBuf) -> Result<(), String> {
    for dir in [&old, &new] {
        if !dir.is_dir() {
            return Err(format!("{} is not a folder", dir.display()));
        }
    }
    let old = keyed(&Catalog::load(Some(&old)).map_err(|e| e.to_string())?)?;
    let new = keyed(&Catalog::load(Some(&new)).map_err(|e| e.to_string())?)?;
    let show = |k: &Key| {
        format!(
            "{} {} {}{}",
            k.0,
            k.1,
            k.2,
            k.3.as_ref().map(|z| format!("/{z}")).unwrap_or_default()
        )
    };
    let money = |p: Option<f64>| p.map_or("-".to_string(), |p| format!("${p:.4}"));
    let (mut added, mut removed, mut changed) = (0, 0, 0);
    for (key, offer) in &new {
        match old.get(key) {
            None => {
                added += 1;
                println!("+ {} {}", show(key), money(offer.price));
            }
            Some(before)
                if before.price != offer.price || before.spot_price != offer.spot_price =>
            {
                changed += 1;
                println!(
                    "~ {} {} -> {} (spot {} -> {})",
                    show(key),
                    money(before.price),
                    money(offer.price),
                    money(before.spot_price),
                    money(offer.spot_price)
                );
            }
            Some(_) => {}
        }
    }
    for key in old.keys().filter(|k| !new.contains_key(*k)) {
        removed += 1;
        println!("- {}", show(key));
    }
    println!("{added} added, {removed} removed, {changed} changed");
    Ok(())
}
