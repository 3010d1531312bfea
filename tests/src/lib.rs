//! Shared helpers for aloft end-to-end tests.
