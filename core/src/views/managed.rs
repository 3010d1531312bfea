//! Managed jobs: `jobs queue`, and what `jobs launch` and `jobs cancel` report.
