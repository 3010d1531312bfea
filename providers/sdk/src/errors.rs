//! Typed errors: the kind tells aloft's failover what to do (see the WIT).

use crate::types::{ErrorKind, ProviderError};

fn make(kind: ErrorKind, code: &str, message: &str) -> ProviderError {
    ProviderError {
        kind,
        code: code.to_string(),
        message: message.to_string(),
        region: None,
        zone: None,
    }
}

/// No capacity in a zone: aloft blocks the zone and moves on.
pub fn capacity(code: &str, message: &str) -> ProviderError {
    make(ErrorKind::Capacity, code, message)
}

/// A quota was hit: aloft blocks the region for this instance type.
pub fn quota(code: &str, message: &str) -> ProviderError {
    make(ErrorKind::Quota, code, message)
}

/// Bad or missing credentials: aloft blocks the provider.
pub fn auth(code: &str, message: &str) -> ProviderError {
    make(ErrorKind::Auth, code, message)
}

/// Not supported here: aloft skips this candidate.
pub fn unsupported(code: &str, message: &str) -> ProviderError {
    make(ErrorKind::Unsupported, code, message)
}

/// Try again later: aloft retries with backoff.
pub fn transient(code: &str, message: &str) -> ProviderError {
    make(ErrorKind::Transient, code, message)
}

/// The request is wrong: aloft stops and tells the user.
pub fn invalid(code: &str, message: &str) -> ProviderError {
    make(ErrorKind::Invalid, code, message)
}

/// Adds the zone (and region) an error is about.
pub fn in_zone(mut error: ProviderError, region: &str, zone: Option<&str>) -> ProviderError {
    error.region = Some(region.to_string());
    error.zone = zone.map(str::to_string);
    error
}
