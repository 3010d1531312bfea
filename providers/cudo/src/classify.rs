//! Cudo's error answers to the typed errors that steer failover.
//!
//! Cudo's REST API is a gRPC gateway: a failure is an HTTP status and the body
//! `{"code": <gRPC code>, "message": "...", "details": [...]}` (the package's
//! `Status` model). The gRPC code decides the kind: `UNAUTHENTICATED` (16) and
//! `PERMISSION_DENIED` (7) an API key or project Cudo refuses, `RESOURCE_EXHAUSTED`
//! (8) no room in the data center (or, when the message says so, a quota),
//! `FAILED_PRECONDITION` (9) an invalid state unless the message says capacity,
//! `NOT_FOUND` (5), `ALREADY_EXISTS` (6), `INVALID_ARGUMENT` (3), `UNIMPLEMENTED`
//! (12); `UNAVAILABLE` (14), `INTERNAL` (13), `DEADLINE_EXCEEDED` (4) and `ABORTED`
//! (10) are retried. Without a code, the HTTP status the gateway maps it to.

use aloft_provider_sdk::types::ErrorKind;

/// Whether a message speaks of capacity (no free hosts or GPUs).
fn says_capacity(m: &str) -> bool {
    [
        "capacity",
        "insufficient",
        "not enough",
        "no host",
        "no available",
        "unavailable in",
        "sold out",
        "out of stock",
    ]
    .iter()
    .any(|w| m.contains(w))
}

/// The kind and a short code for a Cudo error from its HTTP status, gRPC code
/// (when the body carried one) and message.
pub fn kind(status: u16, code: Option<i64>, message: &str) -> (ErrorKind, &'static str) {
    let m = message.to_ascii_lowercase();
    let code = code.unwrap_or(match status {
        400 => 3,
        401 => 16,
        403 => 7,
        404 => 5,
        409 => 6,
        429 => 8,
        501 => 12,
        503 => 14,
        504 => 4,
        s if s >= 500 => 13,
        _ => 2,
    });
    match code {
        16 | 7 => (ErrorKind::Auth, "Unauthorized"),
        8 if m.contains("quota") || m.contains("limit") => (ErrorKind::Quota, "QuotaExceeded"),
        8 if m.contains("rate") || m.contains("too many requests") => {
            (ErrorKind::Transient, "TooManyRequests")
        }
        8 => (ErrorKind::Capacity, "ResourceExhausted"),
        9 if says_capacity(&m) => (ErrorKind::Capacity, "ResourceExhausted"),
        9 => (ErrorKind::Invalid, "FailedPrecondition"),
        5 => (ErrorKind::Invalid, "NotFound"),
        6 => (ErrorKind::Invalid, "AlreadyExists"),
        3 | 11 => (ErrorKind::Invalid, "InvalidArgument"),
        12 => (ErrorKind::Unsupported, "Unimplemented"),
        14 | 13 | 4 | 10 => (ErrorKind::Transient, "ServerError"),
        _ => (ErrorKind::Other, "CudoError"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_codes_and_statuses_have_their_kind() {
        use ErrorKind::*;
        let table: &[(u16, Option<i64>, &str, ErrorKind)] = &[
            (401, Some(16), "invalid api key", Auth),
            (403, Some(7), "permission denied on project p", Auth),
            (401, None, "", Auth),
            (429, Some(8), "no host has 8 free H100", Capacity),
            (429, Some(8), "vCPU quota exceeded", Quota),
            (429, None, "too many requests", Transient),
            (
                400,
                Some(9),
                "insufficient capacity in gb-bournemouth-1",
                Capacity,
            ),
            (400, Some(9), "vm is not stopped", Invalid),
            (404, Some(5), "vm not found", Invalid),
            (409, Some(6), "vm already exists", Invalid),
            (400, Some(3), "vcpus must be > 0", Invalid),
            (503, Some(14), "", Transient),
            (502, None, "", Transient),
            (501, None, "", Unsupported),
            (418, None, "teapot", Other),
        ];
        for (status, code, message, expected) in table {
            assert_eq!(
                kind(*status, *code, message).0,
                *expected,
                "{status} {code:?} {message}"
            );
        }
        assert_eq!(kind(404, Some(5), "").1, "NotFound");
    }
}
