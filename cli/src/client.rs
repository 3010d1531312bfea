//! The core's [`Client`] as the CLI opens it: this binary's bundled providers, the
//! node agents embedded at build time (this binary for local clusters), progress events on stderr, Ctrl-C as the
//! cancellation token.

use std::sync::Arc;

use aloft::client::{CancelToken, Client};

use crate::bundled;
use crate::exit::CliError;
use crate::progress::Progress;

/// A client whose progress events go to `progress`.
pub fn open_with(progress: Arc<Progress>) -> Result<Client, CliError> {
    let token = CancelToken::new();
    crate::interrupt::install(&token);
    let client = Client::builder()
        .bundled_providers(bundled::providers())
        .node_agents(bundled::node_agents())
        .on_event(move |event| progress.line(&event.to_string()))
        .cancel_token(token)
        .open()?;
    Ok(client)
}

/// A client whose progress events are printed as plain lines on stderr.
pub fn open() -> Result<Client, CliError> {
    open_waiting(true)
}

/// Like [`open`]; with `wait` false, a cluster another aloft process holds is an
/// error at once (`--no-wait`) instead of a wait.
pub fn open_waiting(wait: bool) -> Result<Client, CliError> {
    let client = Client::builder()
        .bundled_providers(bundled::providers())
        .node_agents(bundled::node_agents())
        .on_event(|event| eprintln!("{event}"))
        .wait_for_locks(wait)
        .open()?;
    Ok(client)
}
