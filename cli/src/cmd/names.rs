//! Cluster names on the command line: plain names, or glob patterns (`'exp-*'`)
//! matched against the clusters in local state, as SkyPilot's commands accept.

use aloft::client::Client;

use crate::exit::CliError;

/// `patterns` with every glob pattern replaced by the clusters it matches, in
/// order, without duplicates. A pattern that matches nothing is an error.
pub fn expand(client: &Client, patterns: &[String]) -> Result<Vec<String>, CliError> {
    let mut out: Vec<String> = Vec::new();
    let mut known: Option<Vec<String>> = None;
    for pattern in patterns {
        let names = match &known {
            Some(names) => names,
            None => known.insert(
                client
                    .status(&[])?
                    .into_iter()
                    .map(|v| v.record.name)
                    .collect(),
            ),
        };
        if !pattern.contains(['*', '?', '[']) {
            // Every name is checked before anything is done to any cluster.
            if !names.contains(pattern) {
                client.cluster(pattern)?;
            }
            if !out.contains(pattern) {
                out.push(pattern.clone());
            }
            continue;
        }
        let matcher = globset::Glob::new(pattern)
            .map_err(|e| CliError::failure(format!("bad pattern `{pattern}`: {e}")))?
            .compile_matcher();
        let matched: Vec<&String> = names.iter().filter(|n| matcher.is_match(n)).collect();
        if matched.is_empty() {
            return Err(CliError::failure(format!(
                "no cluster matches `{pattern}` (clusters: {})",
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            )));
        }
        for name in matched {
            if !out.contains(name) {
                out.push(name.clone());
            }
        }
    }
    Ok(out)
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
