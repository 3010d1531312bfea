//! Errors as the CLI reports them: a message for humans and an exit code for scripts.

use std::process::ExitCode;

use aloft::client::ErrorClass;

/// Exit code: the task file is invalid.
pub const INVALID_TASK: u8 = ErrorClass::Invalid.exit_code();
/// Exit code: no resources satisfy the request.
pub const NO_RESOURCES: u8 = ErrorClass::NoResources.exit_code();
/// Exit code: anything else went wrong.
pub const FAILURE: u8 = ErrorClass::Failure.exit_code();

/// An error that ends a command.
#[derive(Debug)]
pub struct CliError {
    code: u8,
    message: String,
}

impl CliError {
    /// An error with an explicit exit code.
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        CliError {
            code,
            message: message.into(),
        }
    }

    /// A general failure (exit code 1).
    pub fn failure(message: impl Into<String>) -> Self {
        Self::new(FAILURE, message)
    }

    /// The exit code.
    pub fn code(&self) -> u8 {
        self.code
    }

    /// The same error with `hint` on a line of its own after the message.
    pub fn with_hint(mut self, hint: &str) -> Self {
        self.message = format!("{}\n{hint}", self.message);
        self
    }

    /// Prints the message on stderr and returns the exit code.
    pub fn report(self) -> ExitCode {
        eprintln!("error: {}", self.message);
        ExitCode::from(self.code)
    }
}

impl From<aloft::client::ClientError> for CliError {
    fn from(err: aloft::client::ClientError) -> Self {
        CliError::new(err.class().exit_code(), err.to_string())
    }
}

/// Result of a CLI command.
pub type CliResult = Result<(), CliError>;
