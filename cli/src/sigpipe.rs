//! SIGPIPE: `aloft status | head` ends quietly once its reader is gone, as command-
//! line tools do, while a pipe to a child (an `ssh` session a node closed early)
//! only fails the write that hit it, so the launch reports the node and cleans up
//! instead of dying without a word.

use nix::libc;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, raise, sigaction};

/// Installs the handler; call once, first thing in `main`.
pub fn install() {
    let action = SigAction::new(
        SigHandler::Handler(on_sigpipe),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: the handler only makes async-signal-safe calls (poll, sigaction, raise).
    let _ = unsafe { sigaction(Signal::SIGPIPE, &action) };
}

/// Ends the process with SIGPIPE when standard output's reader is gone (a pipe
/// with no reader polls as an error); any other pipe's write just fails (EPIPE).
extern "C" fn on_sigpipe(_: libc::c_int) {
    let mut stdout = [libc::pollfd {
        fd: libc::STDOUT_FILENO,
        events: libc::POLLOUT,
        revents: 0,
    }];
    // SAFETY: one valid pollfd, no wait; poll is async-signal-safe.
    let ready = unsafe { libc::poll(stdout.as_mut_ptr(), 1, 0) };
    if ready == 1 && stdout[0].revents & libc::POLLERR != 0 {
        let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
        // SAFETY: restoring the default disposition is async-signal-safe.
        let _ = unsafe { sigaction(Signal::SIGPIPE, &default) };
        let _ = raise(Signal::SIGPIPE);
    }
}
