//! Compute Engine errors to the typed errors that steer failover. An error has a
//! code (an operation error's `code`, or an API error's `errors[].reason`), a
//! message and an HTTP status; the code decides first, then the message, then the
//! status.

use aloft_provider_sdk::types::ErrorKind;

/// Codes meaning "no capacity here": block the zone.
const CAPACITY: &[&str] = &[
    "ZONE_RESOURCE_POOL_EXHAUSTED",
    "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS",
    "RESOURCE_POOL_EXHAUSTED",
    "STOCKOUT",
    "resourcePoolExhausted",
    "UNSUPPORTED_OPERATION_RESOURCE_POOL_EXHAUSTED",
];

/// Codes meaning a quota or limit was hit: block the region for the type.
const QUOTA: &[&str] = &["QUOTA_EXCEEDED", "quotaExceeded", "limitExceeded"];

/// Codes meaning the credentials are missing, wrong, expired or not allowed.
const AUTH: &[&str] = &[
    "authError",
    "required",
    "forbidden",
    "insufficientPermissions",
    "accessNotConfigured",
    "SERVICE_DISABLED",
    "PERMISSION_DENIED",
    "UNAUTHENTICATED",
];

/// Codes worth retrying with backoff.
const TRANSIENT: &[&str] = &[
    "rateLimitExceeded",
    "userRateLimitExceeded",
    "RATE_LIMIT_EXCEEDED",
    "backendError",
    "internalError",
    "INTERNAL_ERROR",
    "UNAVAILABLE",
    "resourceNotReady",
];

/// Codes meaning this machine type or accelerator is not offered where asked.
const UNSUPPORTED: &[&str] = &["UNSUPPORTED_OPERATION"];

/// The kind of a Compute Engine error.
pub fn kind(code: &str, message: &str, status: u16) -> ErrorKind {
    let is = |list: &[&str]| list.contains(&code);
    if is(CAPACITY) || message.contains("does not have enough resources") {
        ErrorKind::Capacity
    } else if is(QUOTA) || code.ends_with("QUOTA_EXCEEDED") {
        ErrorKind::Quota
    } else if is(AUTH) || status == 401 || (status == 403 && !is(TRANSIENT)) {
        ErrorKind::Auth
    } else if is(TRANSIENT) || status == 429 || status >= 500 {
        ErrorKind::Transient
    } else if is(UNSUPPORTED) {
        ErrorKind::Unsupported
    } else if (400..500).contains(&status) {
        ErrorKind::Invalid
    } else {
        ErrorKind::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_code_has_its_kind() {
        use ErrorKind::*;
        let zone_full = "The zone 'projects/p/zones/us-central1-a' does not have enough resources available to fulfill the request.  Try a different zone, or try again later.";
        let table: &[(&str, &str, u16, ErrorKind)] = &[
            // Operation errors (insert accepted, the operation ends in error).
            ("ZONE_RESOURCE_POOL_EXHAUSTED", zone_full, 503, Capacity),
            (
                "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS",
                zone_full,
                503,
                Capacity,
            ),
            ("SOMETHING_NEW", zone_full, 503, Capacity),
            (
                "QUOTA_EXCEEDED",
                "Quota 'NVIDIA_T4_GPUS' exceeded.  Limit: 0.0 in region us-central1.",
                403,
                Quota,
            ),
            ("REGIONAL_QUOTA_EXCEEDED", "", 403, Quota),
            // API errors (`errors[].reason`).
            ("quotaExceeded", "Quota exceeded", 403, Quota),
            ("rateLimitExceeded", "Rate Limit Exceeded", 403, Transient),
            ("userRateLimitExceeded", "", 429, Transient),
            ("required", "Login Required.", 401, Auth),
            ("authError", "Invalid Credentials", 401, Auth),
            (
                "forbidden",
                "Required 'compute.instances.create' permission",
                403,
                Auth,
            ),
            (
                "accessNotConfigured",
                "Compute Engine API has not been used",
                403,
                Auth,
            ),
            ("backendError", "", 503, Transient),
            ("", "", 429, Transient),
            ("", "", 500, Transient),
            ("", "", 502, Transient),
            (
                "invalid",
                "Invalid value for field 'resource.machineType'",
                400,
                Invalid,
            ),
            (
                "notFound",
                "The resource 'projects/p/zones/z/instances/i' was not found",
                404,
                Invalid,
            ),
            ("alreadyExists", "already exists", 409, Invalid),
            ("badRequest", "", 400, Invalid),
            ("UNSUPPORTED_OPERATION", "", 400, Unsupported),
            ("", "", 200, Other),
        ];
        for (code, message, status, expected) in table {
            assert_eq!(kind(code, message, *status), *expected, "{code} ({status})");
        }
    }
}
