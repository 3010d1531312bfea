//! A cluster's jobs: `queue` and the outcomes of `cancel`.
