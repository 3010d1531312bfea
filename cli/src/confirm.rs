//! Asking before a destructive or costly command acts.
//!
//! With `-y` nothing is asked. Without it, a terminal must be attached to answer;
//! without one the command refuses (a script that forgot `-y` must not tear
//! everything down, nor start billing, on a guess).

use std::io::{BufRead, IsTerminal, Write};

use crate::exit::CliError;

/// Asks `{action}. Proceed?` on the terminal unless `yes`; `default_yes` is the
/// answer an empty line gives (`[Y/n]` or `[y/N]`). Refusing, or no terminal, is an
/// error that says nothing was done and how to skip the question.
pub fn confirm(action: &str, default_yes: bool, yes: bool) -> Result<(), CliError> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::failure(format!(
            "{action}: this needs a yes and there is no terminal to ask, so nothing was done; \
             pass -y to proceed without asking"
        )));
    }
    eprint!(
        "{action}. Proceed? {} ",
        if default_yes { "[Y/n]" } else { "[y/N]" }
    );
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| CliError::failure(format!("cannot read the answer: {e}")))?;
    let accepted = match answer.trim().to_ascii_lowercase().as_str() {
        "" => default_yes,
        "y" | "yes" => true,
        _ => false,
    };
    if accepted {
        Ok(())
    } else {
        Err(CliError::failure("not confirmed; nothing was done"))
    }
}
