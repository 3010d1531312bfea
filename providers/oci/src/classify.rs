//! OCI's error answers to the typed errors that steer failover.
//!
//! OCI answers a failure with an HTTP status and `{"code", "message"}` (API
//! reference, "API Errors"): `NotAuthenticated` (401), `NotAuthorizedOrNotFound`
//! (404), `LimitExceeded` / `QuotaExceeded` (400), `TooManyRequests` (429),
//! `Conflict` / `IncorrectState` (409), `InternalError` (500) and
//! `ServiceUnavailable` (503). No host capacity for a shape in an availability
//! domain is a 500 `InternalError` with the message "Out of host capacity." (some
//! SDKs and consoles show it as `OutOfHostCapacity`).

use aloft_provider_sdk::types::ErrorKind;

/// The kind and code of an OCI error from its HTTP status, code and message.
pub fn kind(status: u16, code: &str, message: &str) -> (ErrorKind, String) {
    let m = message.to_ascii_lowercase();
    let own = |c: &str| {
        if code.is_empty() {
            c.to_string()
        } else {
            code.to_string()
        }
    };
    if code == "OutOfHostCapacity"
        || m.contains("out of host capacity")
        || m.contains("out of capacity")
    {
        return (ErrorKind::Capacity, "OutOfHostCapacity".into());
    }
    if status == 401 || code == "NotAuthenticated" {
        return (ErrorKind::Auth, own("NotAuthenticated"));
    }
    if status == 429 || code == "TooManyRequests" {
        return (ErrorKind::Transient, own("TooManyRequests"));
    }
    if matches!(code, "LimitExceeded" | "QuotaExceeded") || m.contains("service limit") {
        return (ErrorKind::Quota, own("LimitExceeded"));
    }
    if status == 404 {
        return (ErrorKind::Invalid, own("NotAuthorizedOrNotFound"));
    }
    if status == 409 || matches!(code, "Conflict" | "IncorrectState") {
        // Busy (a subnet whose instances are still shutting down): try again.
        return (ErrorKind::Transient, own("Conflict"));
    }
    if status >= 500 {
        return (ErrorKind::Transient, own("InternalError"));
    }
    if code == "NotAllowed" || (status == 403 && code != "NotAuthorizedOrResourceAlreadyExists") {
        return (ErrorKind::Auth, own("NotAllowed"));
    }
    if status == 400 && m.contains("shape") && (m.contains("not") || m.contains("invalid")) {
        return (ErrorKind::Unsupported, own("InvalidParameter"));
    }
    if (400..500).contains(&status) {
        return (ErrorKind::Invalid, own("InvalidParameter"));
    }
    (ErrorKind::Other, own("OciError"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_answers_have_their_kind() {
        use ErrorKind::*;
        let table: &[(u16, &str, &str, ErrorKind, &str)] = &[
            (
                500,
                "InternalError",
                "Out of host capacity.",
                Capacity,
                "OutOfHostCapacity",
            ),
            (500, "OutOfHostCapacity", "", Capacity, "OutOfHostCapacity"),
            (
                400,
                "LimitExceeded",
                "The following service limits were exceeded: gpu-a10-count",
                Quota,
                "LimitExceeded",
            ),
            (
                400,
                "QuotaExceeded",
                "Quota exceeded",
                Quota,
                "QuotaExceeded",
            ),
            (
                401,
                "NotAuthenticated",
                "The required information to complete authentication was not provided.",
                Auth,
                "NotAuthenticated",
            ),
            (
                429,
                "TooManyRequests",
                "Too many requests for the user",
                Transient,
                "TooManyRequests",
            ),
            (
                404,
                "NotAuthorizedOrNotFound",
                "Authorization failed or requested resource not found.",
                Invalid,
                "NotAuthorizedOrNotFound",
            ),
            (
                409,
                "Conflict",
                "The Subnet has references to VNICs",
                Transient,
                "Conflict",
            ),
            (
                503,
                "ServiceUnavailable",
                "",
                Transient,
                "ServiceUnavailable",
            ),
            (
                500,
                "InternalError",
                "Internal error",
                Transient,
                "InternalError",
            ),
            (
                400,
                "InvalidParameter",
                "Shape VM.GPU.X is not valid",
                Unsupported,
                "InvalidParameter",
            ),
            (
                400,
                "MissingParameter",
                "compartmentId is required",
                Invalid,
                "MissingParameter",
            ),
        ];
        for (status, code, message, expected, want_code) in table {
            let (k, c) = kind(*status, code, message);
            assert_eq!(
                (k, c.as_str()),
                (*expected, *want_code),
                "{status} {code} {message}"
            );
        }
    }
}
