//! Errors as the CLI reports them: a message for humans and an exit code for scripts.

use std::process::ExitCode;

/// Exit code: the task file is invalid.
pub const INVALID_TASK: u8 = 2;
/// Exit code: no resources satisfy the request.
pub const NO_RESOURCES: u8 = 3;
/// Exit code: the job ran and did not succeed.
pub const JOB_FAILED: u8 = 100;
/// Exit code: a managed job that was followed ended CANCELLED (SkyPilot's code).
pub const JOB_CANCELLED: u8 = 103;
/// Exit code: anything else went wrong.
pub const FAILURE: u8 = 1;

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

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<anyhow::Error> for CliError {
    fn from(err: anyhow::Error) -> Self {
        CliError::failure(format!("{err:#}"))
    }
}

impl From<aloft::client::ClientError> for CliError {
    fn from(err: aloft::client::ClientError) -> Self {
        use aloft::client::ErrorClass;
        let code = match err.class() {
            ErrorClass::Invalid => INVALID_TASK,
            ErrorClass::NoResources => NO_RESOURCES,
            ErrorClass::JobFailed => JOB_FAILED,
            ErrorClass::JobCancelled => JOB_CANCELLED,
            ErrorClass::Interrupted => crate::interrupt::EXIT_CODE as u8,
            ErrorClass::Failure => FAILURE,
        };
        CliError::new(code, err.to_string())
    }
}

impl From<aloft::config::ConfigError> for CliError {
    /// The same class as through the client: a malformed `config.yaml` is bad
    /// input (2) whichever command reads it.
    fn from(err: aloft::config::ConfigError) -> Self {
        CliError::from(aloft::client::ClientError::from(err))
    }
}

/// Result of a CLI command.
pub type CliResult = Result<(), CliError>;
