//! Cluster names on the command line: plain names, or glob patterns (`'exp-*'`)
//! matched against the clusters in local state, as SkyPilot's commands accept.

use aloft::client::Client;

use crate::exit::CliError;

/// `patterns` with every glob pattern replaced by the clusters it matches, in
/// order, without duplicates (see [`Client::expand_cluster_names`]). A pattern that
/// matches nothing is an error.
pub fn expand(client: &Client, patterns: &[String]) -> Result<Vec<String>, CliError> {
    Ok(client.expand_cluster_names(patterns)?)
}

/// The clusters a command works on: `--all`, or the names and patterns given.
pub fn targets(client: &Client, patterns: &[String], all: bool) -> Result<Vec<String>, CliError> {
    if all {
        return Ok(client
            .status(&[])?
            .into_iter()
            .map(|v| v.record.name)
            .collect());
    }
    if patterns.is_empty() {
        return Err(CliError::failure(
            "name the clusters (glob patterns work), or pass --all",
        ));
    }
    expand(client, patterns)
}
