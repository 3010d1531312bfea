//! The core's [`Client`] as the CLI opens it: this binary's bundled providers, the
//! node agents embedded at build time, progress events on stderr, Ctrl-C as the
//! cancellation token.

use std::sync::Arc;
use std::time::Duration;

use aloft::client::{CancelToken, Client, ClientBuilder};
use aloft::roles::ControllerTuning;

use crate::bundled;
use crate::exit::CliError;
use crate::progress::Progress;

/// A client whose progress events go to `progress`.
pub fn open_with(progress: Arc<Progress>) -> Result<Client, CliError> {
    let token = CancelToken::new();
    crate::interrupt::install(&token);
    Ok(builder()
        .on_event(move |event| progress.line(&event.to_string()))
        .cancel_token(token)
        .open()?)
}

/// A client whose progress events are printed as plain lines on stderr.
pub fn open() -> Result<Client, CliError> {
    open_waiting(true)
}

/// Like [`open`]; with `wait` false, a cluster another aloft process holds is an
/// error at once (`--no-wait`) instead of a wait.
pub fn open_waiting(wait: bool) -> Result<Client, CliError> {
    Ok(builder()
        .on_event(|event| eprintln!("{event}"))
        .wait_for_locks(wait)
        .open()?)
}

/// The client every command and every role of this program opens: this binary's
/// providers and node agents, and the hidden test settings: the jobs controller's
/// timings (`ALOFT_JOBS_POLL_MS`, `ALOFT_JOBS_IDLE_MS`, `ALOFT_JOBS_RETRY_MS`), the
/// service controller's (`ALOFT_SERVE_POLL_MS`, `ALOFT_SERVE_IDLE_MS`,
/// `ALOFT_SERVE_RETRY_MS`, `ALOFT_SERVE_WINDOW_MS`), the address service endpoints
/// listen on (`ALOFT_SERVE_BIND`, set on a controller cluster's host), how
/// long nodes may take to answer SSH (`ALOFT_NODE_READY_TIMEOUT_SECS`) and the
/// length of autostop's minute (`ALOFT_AUTOSTOP_SECONDS_PER_MINUTE`).
pub fn builder() -> ClientBuilder {
    let number = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    let ms = |name: &str| number(name).map(Duration::from_millis);
    let mut builder = Client::builder();
    if let Some(secs) = number("ALOFT_NODE_READY_TIMEOUT_SECS") {
        builder = builder.node_ready_timeout(Duration::from_secs(secs));
    }
    // Set by a controller cluster's caller: endpoints there serve other machines.
    if let Some(ip) = std::env::var("ALOFT_SERVE_BIND")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        builder = builder.serve_endpoint_bind(ip);
    }
    if let Some(secs) = number("ALOFT_AUTOSTOP_SECONDS_PER_MINUTE") {
        builder = builder.autostop_seconds_per_minute(secs);
    }
    // SAFETY: both lists come from one build of `aloft-bundled-providers`.
    let builder = unsafe { builder.compiled_providers(bundled::compiled()) };
    builder
        .bundled_providers(bundled::providers())
        .node_agents(bundled::node_agents())
        .jobs_controller_tuning(ControllerTuning {
            poll: ms("ALOFT_JOBS_POLL_MS"),
            idle_exit: ms("ALOFT_JOBS_IDLE_MS"),
            launch_retry: ms("ALOFT_JOBS_RETRY_MS"),
            window: None,
        })
        .serve_controller_tuning(ControllerTuning {
            poll: ms("ALOFT_SERVE_POLL_MS"),
            idle_exit: ms("ALOFT_SERVE_IDLE_MS"),
            launch_retry: ms("ALOFT_SERVE_RETRY_MS"),
            window: ms("ALOFT_SERVE_WINDOW_MS"),
        })
}
