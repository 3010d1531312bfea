//! Output: `-o table|json`, and writing the views core makes of each answer
//! ([`aloft::views`]).

use aloft::views::View;
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

impl OutputArg {
    /// Whether `-o json` was asked for.
    pub fn is_json(self) -> bool {
        self.output == Output::Json
    }

    /// Prints `value` as JSON with `-o json`; otherwise the view `view` makes of
    /// it ([`print`]).
    pub fn print<T: Serialize>(self, value: &T, view: impl FnOnce(&T) -> View) -> CliResult {
        if self.is_json() {
            print_json(value)
        } else {
            print(&view(value))
        }
    }
}

/// Writes `view` ([`View::write`]): the answer on stdout, notes on stderr. A
/// reader that went away (`aloft status | head`) ends it quietly.
pub fn print(view: &View) -> CliResult {
    match view.write(&mut std::io::stdout().lock(), &mut std::io::stderr()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(CliError::failure(format!("cannot write the output: {e}")))
        }
        _ => Ok(()),
    }
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json<T: Serialize>(value: &T) -> CliResult {
    let text = serde_json::to_string_pretty(value)
        .map_err(|err| CliError::failure(format!("cannot render JSON: {err}")))?;
    println!("{text}");
    Ok(())
}
