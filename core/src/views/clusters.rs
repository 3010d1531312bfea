//! Clusters: `status`, `cost-report`, and the outcomes of `autostop`, `stop`, `start` and `down`.
