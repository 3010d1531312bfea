//! The provider components bundled with aloft (listed in `providers/bundled.txt`),
//! built for `wasm32-wasip2` by this crate's build script and embedded as bytes.
//! A program that embeds aloft hands them to `aloft::client::ClientBuilder::bundled_providers`,
//! and their forms compiled ahead of time for the building machine (`compiled()`,
//! empty in a cross build) to `aloft::client::ClientBuilder::compiled_providers`.
//!
//! It also carries the small node agents, when `scripts/build-agents.sh` built them,
//! for `aloft::client::ClientBuilder::node_agents`.

include!(concat!(env!("OUT_DIR"), "/bundled.rs"));
include!(concat!(env!("OUT_DIR"), "/node_agents.rs"));
