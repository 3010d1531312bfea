//! Errors as the CLI reports them: a message for humans and an exit code for
//! scripts, the code of the error's class ([`ErrorClass::exit_code`]).

use std::process::ExitCode;

use aloft::client::{ClientError, ErrorClass};

/// An error that ends a command.
#[derive(Debug)]
pub struct CliError {
    class: ErrorClass,
    message: String,
}

impl CliError {
    /// A general failure (exit code 1).
    pub fn failure(message: impl Into<String>) -> Self {
        let (class, message) = (ErrorClass::Failure, message.into());
        CliError { class, message }
    }

    /// The class of the error.
    pub fn class(&self) -> ErrorClass {
        self.class
    }

    /// The same error with `hint` on a line of its own after the message.
    pub fn with_hint(mut self, hint: &str) -> Self {
        self.message = format!("{}\n{hint}", self.message);
        self
    }

    /// Prints the message on stderr and returns the exit code.
    pub fn report(self) -> ExitCode {
        eprintln!("error: {}", self.message);
        ExitCode::from(self.class.exit_code())
    }
}

impl From<ClientError> for CliError {
    fn from(err: ClientError) -> Self {
        let (class, message) = (err.class(), err.to_string());
        CliError { class, message }
    }
}

/// Result of a CLI command.
pub type CliResult = Result<(), CliError>;
