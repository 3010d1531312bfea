//! Local state: a SQLite file (WAL, busy timeout, versioned migrations) holding the
//! clusters this user launched, their events, usage intervals for cost reports and
//! the providers' key-value stores.
//!
//! The provisioning code writes here before and after every provider call, so a
//! crash at any point leaves a record that `status --refresh` can reconcile. Many CLI
//! processes may use the file at once: SQLite serializes writers (with a busy
//! timeout) and [`ClusterLock`] serializes whole operations on one cluster.

mod db;
mod lock;
mod names;
mod schema;

pub use db::{
    ClusterEvent, ClusterRecord, ClusterStatus, CostRow, StateDb, StorageRecord, VolumeRecord,
    VolumeUse,
};
pub use lock::{ClusterLock, LockHolder};
pub use names::validate_cluster_name;

use thiserror::Error;

/// An error reading or writing local state.
#[derive(Debug, Error)]
pub enum StateError {
    /// The database could not be opened, read or written.
    #[error("state database {path}: {source}")]
    Sqlite {
        /// The database file.
        path: String,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// The database was written by a newer aloft.
    #[error(
        "state database {path} has schema version {found}, newer than this aloft knows ({known}); upgrade aloft"
    )]
    TooNew {
        /// The database file.
        path: String,
        /// Version in the file.
        found: i64,
        /// Newest version this build knows.
        known: i64,
    },
    /// The database file is damaged (truncated, overwritten, not SQLite).
    #[error(
        "state database {path} is damaged (not a readable SQLite database). aloft did not touch it. \
         To recover: move it aside (`mv {path} {path}.damaged`), then `aloft status` starts a new one; \
         clusters recorded only in the old file must be found and removed through their providers \
         (a SQLite `.recover` of the old file may save the records)"
    )]
    Damaged {
        /// The database file.
        path: String,
    },
    /// A stored value could not be decoded.
    #[error("state database {path}: bad stored value for {what}: {detail}")]
    Corrupt {
        /// The database file.
        path: String,
        /// Which value.
        what: String,
        /// Why it is bad.
        detail: String,
    },
    /// A file-system error (creating the folder, taking a lock).
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A cluster name aloft does not accept.
    #[error(
        "cluster name `{0}` is invalid: it must start with a letter, contain only letters, digits, `-`, `_` and `.`, end with a letter or digit, and be at most 63 characters"
    )]
    BadName(String),
    /// Another process holds the cluster's lock.
    #[error("cluster `{0}` is busy: another aloft command is working on it")]
    Busy(String),
    /// Another process holds the cluster's lock, and said who it is.
    #[error("cluster `{cluster}` is busy: {holder}; wait for it, or stop it first")]
    Held {
        /// The cluster.
        cluster: String,
        /// Who holds it.
        holder: LockHolder,
    },
}
