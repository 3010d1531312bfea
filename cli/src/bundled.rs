//! The providers compiled into this binary by `build.rs`.

include!(concat!(env!("OUT_DIR"), "/bundled.rs"));
