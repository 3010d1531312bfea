//! Plans and launches: the dry run's considered resources and choice, and what a launch reports.
