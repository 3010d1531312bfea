//! Buckets and volumes: `storage ls`, `volumes ls`, and what their deletions report.
