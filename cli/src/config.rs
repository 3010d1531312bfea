//! The user's settings, from the core: `$ALOFT_HOME/config.yaml` (default
//! `~/.aloft/config.yaml`).

pub use aloft::config::aloft_home;
