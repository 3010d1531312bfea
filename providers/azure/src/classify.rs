//! Azure Resource Manager's error codes to the typed errors that steer failover.
//!
//! ARM answers a failure with an HTTP status and
//! `{"error": {"code": "...", "message": "...", "details": [...]}}`; a failed
//! long-running operation carries the same `error` object in its status document.
//! The codes that matter to a launcher: `SkuNotAvailable` (the size is not offered
//! to this subscription in this region or zone), `ZonalAllocationFailed` /
//! `AllocationFailed` / `OverconstrainedAllocationRequest` (no capacity right now),
//! `OperationNotAllowed` with a quota message (cores quota), `QuotaExceeded`,
//! `AuthorizationFailed` (the principal has no role on the subscription),
//! `InvalidAuthenticationToken*` / `ExpiredAuthenticationToken`, and throttling
//! (`429 TooManyRequests`, with `Retry-After`).

use aloft_provider_sdk::types::ErrorKind;

/// The kind of an ARM error from its HTTP status (0 inside an operation's status
/// document), code and message.
pub fn kind(status: u16, code: &str, message: &str) -> ErrorKind {
    let m = message.to_ascii_lowercase();
    match code {
        "SkuNotAvailable"
        | "ZonalAllocationFailed"
        | "AllocationFailed"
        | "OverconstrainedAllocationRequest"
        | "OverconstrainedZonalAllocationRequest"
        | "SpotAllocationFailed" => return ErrorKind::Capacity,
        "QuotaExceeded" | "LowPriorityQuotaExceeded" | "SpotQuotaExceeded" => {
            return ErrorKind::Quota;
        }
        "OperationNotAllowed" if m.contains("quota") => return ErrorKind::Quota,
        "AuthorizationFailed"
        | "AuthenticationFailed"
        | "InvalidAuthenticationToken"
        | "InvalidAuthenticationTokenTenant"
        | "InvalidAuthenticationTokenAudience"
        | "ExpiredAuthenticationToken"
        | "SubscriptionNotFound"
        | "LinkedAuthorizationFailed" => return ErrorKind::Auth,
        // A group still being deleted (a relaunch right after `down`), or a VM busy
        // with another operation: the same call works a little later.
        "TooManyRequests"
        | "RetryableError"
        | "InternalServerError"
        | "ServerTimeout"
        | "ResourceGroupBeingDeleted"
        | "AnotherOperationInProgress"
        | "OperationPreempted" => {
            return ErrorKind::Transient;
        }
        "MissingSubscriptionRegistration"
        | "NoRegisteredProviderFound"
        | "LocationNotAvailableForResourceType"
        | "InvalidResourceLocation" => return ErrorKind::Unsupported,
        _ => {}
    }
    match status {
        401 | 403 => ErrorKind::Auth,
        429 => ErrorKind::Transient,
        s if s >= 500 => ErrorKind::Transient,
        400 | 404 | 409 | 412 => ErrorKind::Invalid,
        _ => ErrorKind::Other,
    }
}

/// Whether `code` says the thing asked for is not there.
pub fn is_not_found(code: &str) -> bool {
    matches!(
        code,
        "NotFound" | "ResourceNotFound" | "ResourceGroupNotFound" | "ParentResourceNotFound"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_codes_have_their_kind() {
        use ErrorKind::*;
        let table: &[(u16, &str, &str, ErrorKind)] = &[
            (
                409,
                "SkuNotAvailable",
                "The requested VM size for resource 'Following SKUs have failed for Capacity Restrictions: Standard_NC24ads_A100_v4' is currently not available in location 'eastus'.",
                Capacity,
            ),
            (
                0,
                "ZonalAllocationFailed",
                "Allocation failed. We do not have sufficient capacity for the requested VM size in this zone.",
                Capacity,
            ),
            (0, "AllocationFailed", "Allocation failed.", Capacity),
            (
                409,
                "OperationNotAllowed",
                "Operation could not be completed as it results in exceeding approved standardNCADSA100v4Family Cores quota.",
                Quota,
            ),
            (
                409,
                "OperationNotAllowed",
                "The VM is being deleted.",
                Invalid,
            ),
            (
                403,
                "AuthorizationFailed",
                "The client 'x' does not have authorization to perform action",
                Auth,
            ),
            (401, "ExpiredAuthenticationToken", "expired", Auth),
            (429, "TooManyRequests", "throttled", Transient),
            (
                409,
                "ResourceGroupBeingDeleted",
                "The resource group 'aloft-t-eastus' is in deprovisioning state and cannot perform this operation.",
                Transient,
            ),
            (503, "", "", Transient),
            (
                404,
                "ResourceGroupNotFound",
                "Resource group 'x' could not be found.",
                Invalid,
            ),
            (
                409,
                "MissingSubscriptionRegistration",
                "not registered",
                Unsupported,
            ),
            (418, "Teapot", "new", Other),
        ];
        for (status, code, message, expected) in table {
            assert_eq!(kind(*status, code, message), *expected, "{code} {message}");
        }
        assert!(is_not_found("ResourceGroupNotFound"));
        assert!(!is_not_found("SkuNotAvailable"));
    }
}
