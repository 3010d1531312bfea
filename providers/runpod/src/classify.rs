//! RunPod's error answers to the typed errors that steer failover.
//!
//! RunPod's GraphQL API answers most failures with HTTP 200 and
//! `{"errors": [{"message": ...}]}`, the message being the only detail (it has no
//! stable error codes); a bad API key is HTTP 401, rate limiting HTTP 429, and a
//! query the schema refuses HTTP 400 with `extensions.code`
//! `GRAPHQL_VALIDATION_FAILED`.

use aloft_provider_sdk::types::ErrorKind;

/// The kind and a short code for a RunPod error from its HTTP status and message.
pub fn kind(status: u16, message: &str) -> (ErrorKind, &'static str) {
    let m = message.to_ascii_lowercase();
    if status == 401 || status == 403 || m.contains("api key") || m.contains("unauthorized") {
        return (ErrorKind::Auth, "Unauthorized");
    }
    if status == 429 || status >= 500 {
        return (ErrorKind::Transient, "Unavailable");
    }
    if m.contains("no longer any instances available")
        || m.contains("not enough free gpus")
        || m.contains("does not have the resources")
        || m.contains("no instances currently available")
    {
        return (ErrorKind::Capacity, "NoInstancesAvailable");
    }
    if m.contains("bid") && (m.contains("below") || m.contains("too low") || m.contains("minimum"))
    {
        // Outbid for an interruptible pod: the spot market has no room at this price.
        return (ErrorKind::Capacity, "BidTooLow");
    }
    if m.contains("balance") || m.contains("spend limit") || m.contains("funds") {
        return (ErrorKind::Quota, "InsufficientBalance");
    }
    if status == 400 || m.contains("cannot query field") || m.contains("unknown argument") {
        return (ErrorKind::Invalid, "GraphqlValidationFailed");
    }
    if m.contains("not found") || m.contains("does not exist") {
        return (ErrorKind::Invalid, "NotFound");
    }
    (ErrorKind::Other, "RunpodError")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_answers_have_their_kind() {
        use ErrorKind::*;
        let table: &[(u16, &str, ErrorKind)] = &[
            (
                200,
                "There are no longer any instances available with the requested specifications. Please refresh and try again.",
                Capacity,
            ),
            (
                200,
                "There are no longer any instances available with enough disk space.",
                Capacity,
            ),
            (
                200,
                "Not enough free GPUs on the host machine to start this pod.",
                Capacity,
            ),
            (
                200,
                "This machine does not have the resources to deploy your pod.",
                Capacity,
            ),
            (
                200,
                "Your bid price is below the minimum bid price for this GPU.",
                Capacity,
            ),
            (401, "", Auth),
            (403, "Forbidden", Auth),
            (200, "Invalid API key", Auth),
            (429, "", Transient),
            (502, "Bad Gateway", Transient),
            (200, "Your spend limit has been reached.", Quota),
            (200, "Insufficient balance to deploy this pod.", Quota),
            (400, "Cannot query field \"foo\" on type \"Pod\".", Invalid),
            (200, "Pod not found", Invalid),
            (200, "Something new happened", Other),
        ];
        for (status, message, expected) in table {
            assert_eq!(kind(*status, message).0, *expected, "{status} {message}");
        }
    }
}
