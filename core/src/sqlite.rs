//! What aloft's SQLite databases (state, managed jobs, services) share when they
//! open a file that another process may be opening at the same moment.

use std::time::{Duration, Instant};

/// Whether `err` is SQLite's "busy" or "locked": another process holds the file.
pub(crate) fn is_busy(err: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode::{DatabaseBusy, DatabaseLocked};
    matches!(err.sqlite_error_code(), Some(DatabaseBusy | DatabaseLocked))
}

/// Runs a database's set-up (`f`: its WAL switch, pragmas and migrations) until it
/// succeeds, fails for another reason than `busy` says, or `timeout` has passed.
/// Switching a fresh file to WAL, or reading it while another process does, can
/// answer "database is locked" without waiting on the busy handler (seen when a
/// command and the controller it starts open a new home at once).
pub(crate) fn set_up_retrying<T, E>(
    timeout: Duration,
    busy: impl Fn(&E) -> bool,
    mut f: impl FnMut() -> Result<T, E>,
) -> Result<T, E> {
    let deadline = Instant::now() + timeout;
    loop {
        match f() {
            Err(err) if busy(&err) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(25));
            }
            result => return result,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_set_up_is_tried_again_and_other_errors_are_not() {
        let busy = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        );
        assert!(is_busy(&busy));
        let mut tries = 0;
        let result: Result<u32, &str> = set_up_retrying(
            Duration::from_secs(5),
            |e| *e == "busy",
            || {
                tries += 1;
                if tries < 3 { Err("busy") } else { Ok(tries) }
            },
        );
        assert_eq!(result, Ok(3));
        let mut tries = 0;
        let result: Result<u32, &str> = set_up_retrying(
            Duration::from_secs(5),
            |e| *e == "busy",
            || {
                tries += 1;
                Err("broken")
            },
        );
        assert_eq!((result, tries), (Err("broken"), 1));
    }
}
