//! Prime Intellect's error answers to the typed errors that steer failover.
//!
//! The API is FastAPI's: a failure is an HTTP status with `{"detail": ...}` (a
//! string, or a list of validation errors for 422). What `prime_cli`'s client
//! tells apart: 401 (the key is refused), 402 (payment required: no balance),
//! 404, 422 (validation) and 5xx. Prime Intellect documents no code for "no
//! capacity"; aloft reads stock from the availability API before it creates a
//! pod, and a create refused with a message about availability or stock is taken
//! as capacity too (a race with another renter).

use aloft_provider_sdk::types::ErrorKind;

/// The kind and a short code for an error answer from its HTTP status and its
/// `detail` message.
pub fn kind(status: u16, message: &str) -> (ErrorKind, &'static str) {
    let m = message.to_ascii_lowercase();
    if status == 401 || status == 403 {
        return (ErrorKind::Auth, "Unauthorized");
    }
    if status == 402 || m.contains("insufficient balance") || m.contains("insufficient funds") {
        // Nothing can be created until the wallet is topped up.
        return (ErrorKind::Auth, "PaymentRequired");
    }
    if status == 429 {
        return (ErrorKind::Transient, "TooManyRequests");
    }
    if status >= 500 {
        return (ErrorKind::Transient, "ServerError");
    }
    if m.contains("not available")
        || m.contains("no available")
        || m.contains("unavailable")
        || m.contains("out of stock")
        || m.contains("no capacity")
        || m.contains("insufficient capacity")
    {
        return (ErrorKind::Capacity, "NoCapacity");
    }
    if m.contains("quota") || m.contains("limit reached") || m.contains("maximum number") {
        return (ErrorKind::Quota, "LimitReached");
    }
    if status == 404 {
        return (ErrorKind::Invalid, "NotFound");
    }
    if status == 400 || status == 409 || status == 422 {
        return (ErrorKind::Invalid, "InvalidRequest");
    }
    (ErrorKind::Other, "PrimeIntellectError")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_have_their_kind() {
        use ErrorKind::*;
        let table: &[(u16, &str, ErrorKind)] = &[
            (401, "Invalid API key", Auth),
            (403, "Insufficient permissions", Auth),
            (402, "Payment required", Auth),
            (
                400,
                "The requested GPU configuration is not available",
                Capacity,
            ),
            (409, "Out of stock", Capacity),
            (400, "Pod limit reached for this account", Quota),
            (429, "Too many requests", Transient),
            (503, "", Transient),
            (422, "field required", Invalid),
            (404, "Pod not found", Invalid),
            (418, "Something new", Other),
        ];
        for (status, message, expected) in table {
            assert_eq!(kind(*status, message).0, *expected, "{status} {message}");
        }
        assert_eq!(kind(404, "").1, "NotFound");
    }
}
