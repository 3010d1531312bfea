//! Services: `serve status`, and what `serve up`, `update` and `down` report.
