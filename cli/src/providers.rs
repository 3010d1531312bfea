//! The provider host as the CLI builds it: the core's loader with the providers
//! bundled in this binary.

use aloft::config::Config;

pub use aloft::client::Providers;

use crate::bundled;
use crate::config::aloft_home;
use crate::exit::CliError;

/// A single-threaded runtime for provider calls.
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::failure(format!("cannot start the async runtime: {e}")))
}

/// Loads every provider.
pub async fn load(config: &Config) -> Result<Providers, CliError> {
    let bundled: Vec<(String, &'static [u8])> = bundled::providers()
        .iter()
        .map(|(name, bytes)| (name.to_string(), *bytes))
        .collect();
    aloft::client::load_providers(&aloft_home(), config, &bundled)
        .await
        .map_err(CliError::from)
}
