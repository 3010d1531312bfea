//! Shared output helpers: `-o table|json`, tables, prices.

use comfy_table::{ContentArrangement, Table, presets};
use serde::Serialize;

use crate::exit::{CliError, CliResult};

/// How a command prints its result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Human-readable tables.
    #[default]
    Table,
    /// One JSON document on stdout, for scripts.
    Json,
}

/// `-o/--output`: the one flag group of every command that prints a result.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct OutputArg {
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    output: Output,
}

impl Output {
    /// Whether it is `json`.
    pub fn is_json(self) -> bool {
        self == Output::Json
    }
}

impl OutputArg {
    /// Whether `-o json` was asked for.
    pub fn is_json(self) -> bool {
        self.output.is_json()
    }

    /// Prints `value` as JSON with `-o json`; otherwise the view `view` makes of
    /// it ([`print`]).
    pub fn print<T: Serialize>(
        self,
        value: &T,
        view: impl FnOnce(&T) -> aloft::views::View,
    ) -> CliResult {
        if self.is_json() {
            print_json(value)
        } else {
            print(&view(value))
        }
    }

    /// Prints `value` as JSON with `-o json`; otherwise `table` renders it.
    pub fn show<T: Serialize>(self, value: &T, table: impl FnOnce(&T) -> CliResult) -> CliResult {
        if self.is_json() {
            print_json(value)
        } else {
            table(value)
        }
    }
}

/// Writes `view` ([`aloft::views::View::write`]): the answer on stdout, notes on
/// stderr. A reader that went away (`aloft status | head`) ends it quietly.
pub fn print(view: &aloft::views::View) -> CliResult {
    match view.write(&mut std::io::stdout().lock(), &mut std::io::stderr()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(CliError::failure(format!("cannot write the output: {e}")))
        }
        _ => Ok(()),
    }
}

/// A table in aloft's house style, with the given header.
pub fn table<I, S>(header: I) -> Table
where
    I: IntoIterator<Item = S>,
    S: Into<comfy_table::Cell>,
{
    let mut table = Table::new();
    table
        .load_preset(presets::UTF8_BORDERS_ONLY)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header);
    table
}

/// Plain columns without borders, each as wide as its widest cell, two spaces
/// apart: for listings that run to thousands of rows (`jobs queue`), where laying
/// out a table costs more than reading the rows.
pub fn columns(header: &[&str], rows: &[Vec<String>]) -> String {
    use unicode_width::UnicodeWidthStr;
    let mut widths: Vec<usize> = header.iter().map(|h| h.width()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.width());
        }
    }
    let mut out = String::with_capacity((rows.len() + 1) * (widths.iter().sum::<usize>() + 20));
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let start = out.len();
        for (i, (cell, w)) in cells.zip(&widths).enumerate() {
            if i > 0 {
                out.push_str("  ");
            }
            out.push_str(cell);
            out.extend(std::iter::repeat_n(' ', w.saturating_sub(cell.width())));
        }
        out.truncate(start + out[start..].trim_end().len());
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json<T: Serialize>(value: &T) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|err| CliError::failure(format!("cannot render JSON: {err}")))?;
    println!("{text}");
    Ok(())
}

/// Where something runs, as the tables show it: `aws (us-east-1, us-east-1a)`,
/// `local (local)`.
pub fn infra(cloud: &str, region: &str, zone: Option<&str>) -> String {
    match zone {
        Some(zone) => format!("{cloud} ({region}, {zone})"),
        None => format!("{cloud} ({region})"),
    }
}

/// `value` as a JSON value, for a document put together from several parts.
pub fn json_value<T: Serialize>(value: &T) -> Result<serde_json::Value, CliError> {
    serde_json::to_value(value).map_err(|e| CliError::failure(e.to_string()))
}

/// Prints each cluster's outcome on stderr (`ok(name)` for a success,
/// `failed(name): ERROR` for a failure); the first failure, after every cluster
/// was tried, ends the command.
pub fn outcomes(
    outcomes: impl IntoIterator<Item = (String, aloft::client::ClientResult<()>)>,
    ok: impl Fn(&str) -> String,
    failed: impl Fn(&str) -> String,
) -> Result<(), CliError> {
    let mut first_error = None;
    for (name, outcome) in outcomes {
        match outcome {
            Ok(()) => eprintln!("{}", ok(&name)),
            Err(err) => {
                eprintln!("{}: {err}", failed(&name));
                first_error.get_or_insert(err);
            }
        }
    }
    match first_error {
        None => Ok(()),
        Some(err) => Err(err.into()),
    }
}

/// `$1.23`, with more digits for small prices.
pub fn price(value: f64) -> String {
    if value < 0.1 {
        format!("${value:.4}")
    } else {
        format!("${value:.2}")
    }
}

/// `8` for whole numbers, `0.5` otherwise.
pub fn number(value: f64) -> String {
    if (value - value.round()).abs() < 1e-9 {
        format!("{}", value.round() as i64)
    } else {
        let text = format!("{value:.3}");
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// A span of seconds as the tables show it: `42s`, `3m 5s`, `2h 10m`.
pub fn duration(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        _ => format!("{}h {}m", s / 3600, (s % 3600) / 60),
    }
}

/// How long ago Unix time `at` was, seen at `now`: `3m 5s ago`.
pub fn ago(now: i64, at: i64) -> String {
    format!("{} ago", duration(now - at))
}

#[cfg(test)]
mod tests {
    use super::columns;

    #[test]
    fn columns_line_up_by_display_width() {
        let rows = vec![
            vec!["1".to_string(), "训练".to_string(), "RUNNING".to_string()],
            vec!["10".to_string(), "eval".to_string(), "-".to_string()],
        ];
        assert_eq!(
            columns(&["ID", "NAME", "STATUS"], &rows),
            "ID  NAME  STATUS\n1   训练  RUNNING\n10  eval  -\n"
        );
    }
}
