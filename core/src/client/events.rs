//! Progress as typed events, and cancellation as a token.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::provision::Attempt;

/// Something a long call wants the caller to know. Render it or ignore it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// A new step began (`Provisioning...`).
    Step(String),
    /// A detail of the current step (a file downloaded, a bucket created).
    Detail(String),
    /// A provisioning attempt ended (failed or succeeded).
    Attempt(Attempt),
    /// A warning: something went wrong that does not fail the call.
    Warning(String),
    /// A retry round of `retry_until_up` begins after `wait_secs`.
    RetryRound {
        /// Round number, from 2.
        round: u32,
        /// Seconds waited before it.
        wait_secs: u64,
    },
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Event::Step(text) => f.write_str(text),
            Event::Detail(text) => write!(f, "  {text}"),
            Event::Attempt(attempt) => write!(f, "  {}", attempt.summary()),
            Event::Warning(text) => write!(f, "  warning: {text}"),
            Event::RetryRound { round, wait_secs } => write!(
                f,
                "Every candidate failed; retrying (round {round}) after {wait_secs} s..."
            ),
        }
    }
}

/// A receiver of events.
type Listener = Arc<dyn Fn(&Event) + Send + Sync>;

/// Where events go.
#[derive(Clone, Default)]
pub(crate) struct Sink(Option<Listener>);

impl Sink {
    pub(crate) fn new(f: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        Sink(Some(Arc::new(f)))
    }

    pub(crate) fn emit(&self, event: &Event) {
        if let Some(f) = &self.0 {
            f(event);
        }
    }
}

/// Cancels a client's long calls (a launch stops at the next step boundary). Clones
/// share one flag; a signal handler may hold one.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token not cancelled yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks every call watching this token to stop; returns whether it was already
    /// cancelled.
    pub fn cancel(&self) -> bool {
        self.0.swap(true, Ordering::SeqCst)
    }

    /// Whether [`CancelToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// The shared flag.
    pub(crate) fn flag(&self) -> &AtomicBool {
        &self.0
    }
}
