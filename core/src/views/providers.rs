//! Providers: `providers list`, `info`, a component's requests, `check`, and the conformance report.
