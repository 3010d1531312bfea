//! Ctrl-C. During a launch the first press cancels the client's token: the launch
//! stops at the next step boundary (no provider call is cut in half, and local state
//! records what exists); a second press quits at once. While a job's output is
//! followed, Ctrl-C detaches: the job keeps running on the cluster.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, Ordering};

use aloft::client::CancelToken;

static TOKEN: OnceLock<CancelToken> = OnceLock::new();
static PHASE: AtomicU8 = AtomicU8::new(0);
static DETACH_HINT: OnceLock<String> = OnceLock::new();

const LAUNCHING: u8 = 1;
const FOLLOWING: u8 = 2;

/// Exit code after an interrupt (128 + SIGINT).
const EXIT_CODE: i32 = aloft::client::ErrorClass::Interrupted.exit_code() as i32;

/// Installs the handler (once per process); it cancels `token`.
pub fn install(token: &CancelToken) {
    if TOKEN.set(token.clone()).is_err() {
        return;
    }
    let _ = ctrlc::set_handler(|| match PHASE.load(Ordering::SeqCst) {
        LAUNCHING if !TOKEN.get().is_some_and(CancelToken::cancel) => {
            eprintln!(
                "\nInterrupted: stopping after the current step so that the record stays consistent (Ctrl-C again quits now)."
            );
        }
        FOLLOWING => {
            let hint = DETACH_HINT.get().map(String::as_str).unwrap_or_default();
            eprintln!("\nDetached; the job keeps running. {hint}");
            std::process::exit(EXIT_CODE);
        }
        _ => std::process::exit(EXIT_CODE),
    });
}

/// From now on Ctrl-C interrupts the launch gracefully.
pub fn launching() {
    PHASE.store(LAUNCHING, Ordering::SeqCst);
}

/// From now on Ctrl-C detaches from the job's output; `hint` says how to get back.
pub fn following(hint: String) {
    let _ = DETACH_HINT.set(hint);
    PHASE.store(FOLLOWING, Ordering::SeqCst);
}
