//! Fluidstack's error answers to the typed errors that steer failover.
//!
//! What the official package (`fluidstack` 0.0.8, Fern-generated from
//! Fluidstack's API definition) tells apart: 401 with `{"message": ...}` (the
//! `Message` type: the API key is refused), 422 with `{"detail": [...]}`
//! (`HttpValidationError`: a request the API does not accept); anything else is
//! an `ApiError` with whatever body came (SkyPilot's Fluidstack client reads its
//! `error` field). Fluidstack documents no code for "no capacity": aloft reads
//! `list_available_configurations` before it creates an instance (a
//! configuration not offered in a region is capacity there), and a create
//! refused with a message about stock or capacity is capacity too (a race with
//! another renter).

use aloft_provider_sdk::types::ErrorKind;

/// Whether a message speaks of capacity.
fn says_capacity(m: &str) -> bool {
    [
        "out of stock",
        "no capacity",
        "insufficient capacity",
        "not enough capacity",
        "not available",
        "unavailable",
        "no available",
        "sold out",
    ]
    .iter()
    .any(|w| m.contains(w))
}

/// The kind and a short code for an error answer from its HTTP status and its
/// message.
pub fn kind(status: u16, message: &str) -> (ErrorKind, &'static str) {
    let m = message.to_ascii_lowercase();
    if status == 401 || status == 403 {
        return (ErrorKind::Auth, "Unauthorized");
    }
    if status == 402 || m.contains("insufficient balance") || m.contains("insufficient funds") {
        return (ErrorKind::Auth, "PaymentRequired");
    }
    if status == 429 {
        return (ErrorKind::Transient, "TooManyRequests");
    }
    if status >= 500 && !says_capacity(&m) {
        return (ErrorKind::Transient, "ServerError");
    }
    if says_capacity(&m) {
        return (ErrorKind::Capacity, "OutOfStock");
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
    (ErrorKind::Other, "FluidstackError")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_messages_have_their_kind() {
        use ErrorKind::*;
        let table: &[(u16, &str, ErrorKind)] = &[
            (401, "Invalid API key", Auth),
            (402, "", Auth),
            (400, "Insufficient balance", Auth),
            (429, "", Transient),
            (502, "", Transient),
            (400, "H100_SXM5_80GB x8 is out of stock in NORWAY", Capacity),
            (503, "no capacity for this configuration", Capacity),
            (400, "instance limit reached", Quota),
            (404, "Instance not found", Invalid),
            (422, "gpu_type: field required", Invalid),
            (418, "teapot", Other),
        ];
        for (status, message, expected) in table {
            assert_eq!(kind(*status, message).0, *expected, "{status} {message}");
        }
        assert_eq!(kind(404, "").1, "NotFound");
    }
}
