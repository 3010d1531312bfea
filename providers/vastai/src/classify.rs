//! Vast.ai's error answers to the typed errors that steer failover.
//!
//! Vast.ai answers a failure with an HTTP status and
//! `{"success": false, "error": "<code>", "msg": "..."}` (some answers carry only
//! `msg`, or `detail`). The codes that matter here: `no_such_ask` (the offer was
//! rented by someone else or withdrawn: the capacity answer of a marketplace),
//! `insufficient_credit` (the account has no balance left), `invalid_args`,
//! `search_quota_exceeded` (429, the daily search quota: not retried), 401/403
//! for a key Vast.ai refuses, 429 for its rate limit and 5xx.

use aloft_provider_sdk::types::ErrorKind;

/// The kind and a short code for a Vast.ai error from its HTTP status, `error`
/// code and message.
pub fn kind(status: u16, error: &str, message: &str) -> (ErrorKind, &'static str) {
    let m = message.to_ascii_lowercase();
    if status == 401 || status == 403 || error == "auth_error" || error == "invalid_user_key" {
        return (ErrorKind::Auth, "Unauthorized");
    }
    if error == "search_quota_exceeded" {
        // A daily quota: retrying within the launch cannot help.
        return (ErrorKind::Quota, "SearchQuotaExceeded");
    }
    if error == "insufficient_credit" || m.contains("insufficient credit") || m.contains("balance")
    {
        // No credit: nothing on Vast.ai can be rented until the account is topped up.
        return (ErrorKind::Auth, "InsufficientCredit");
    }
    if status == 429 {
        return (ErrorKind::Transient, "TooManyRequests");
    }
    if status >= 500 {
        return (ErrorKind::Transient, "ServerError");
    }
    if error == "no_such_ask"
        || m.contains("not available")
        || m.contains("no longer available")
        || m.contains("already rented")
    {
        return (ErrorKind::Capacity, "OfferUnavailable");
    }
    if error == "no_such_instance" || status == 404 {
        return (ErrorKind::Invalid, "NotFound");
    }
    if error == "invalid_args" || status == 400 || status == 422 {
        return (ErrorKind::Invalid, "InvalidArgs");
    }
    (ErrorKind::Other, "VastError")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_answers_have_their_kind() {
        use ErrorKind::*;
        let table: &[(u16, &str, &str, ErrorKind)] = &[
            (
                400,
                "no_such_ask",
                "Instance type by id 1234 is not available.",
                Capacity,
            ),
            (
                400,
                "insufficient_credit",
                "Your account lacks credit",
                Auth,
            ),
            (401, "", "Invalid user key", Auth),
            (403, "", "forbidden", Auth),
            (429, "search_quota_exceeded", "Daily search quota", Quota),
            (429, "", "API requests too frequent", Transient),
            (502, "", "", Transient),
            (400, "invalid_args", "image is required", Invalid),
            (404, "no_such_instance", "Instance 3 not found", Invalid),
            (418, "teapot", "Something new", Other),
        ];
        for (status, error, message, expected) in table {
            assert_eq!(
                kind(*status, error, message).0,
                *expected,
                "{status} {message}"
            );
        }
        assert_eq!(kind(404, "", "").1, "NotFound");
    }
}
