//! AWS error codes to the typed errors that steer failover.

use aloft_provider_sdk::types::ErrorKind;

/// Codes meaning "no capacity here": block the zone.
const CAPACITY: &[&str] = &[
    "InsufficientInstanceCapacity",
    "InsufficientHostCapacity",
    "InsufficientReservedInstanceCapacity",
    "InsufficientCapacity",
    "SpotMaxPriceTooLow",
    "Unsupported",
    "InsufficientFreeAddressesInSubnet",
];

/// Codes meaning a limit was hit: block the region for the family.
const QUOTA: &[&str] = &[
    "InstanceLimitExceeded",
    "VcpuLimitExceeded",
    "MaxSpotInstanceCountExceeded",
    "SecurityGroupLimitExceeded",
    "AddressLimitExceeded",
];

/// Codes meaning the credentials are missing, wrong or expired: block the provider.
const AUTH: &[&str] = &[
    "AuthFailure",
    "UnauthorizedOperation",
    "InvalidClientTokenId",
    "ExpiredToken",
    "SignatureDoesNotMatch",
    "MissingAuthenticationToken",
    "OptInRequired",
];

/// Codes worth retrying with backoff.
const TRANSIENT: &[&str] = &[
    "RequestLimitExceeded",
    "Throttling",
    "ThrottlingException",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "Unavailable",
    "RequestTimeout",
];

/// The kind of an AWS error from its code and HTTP status.
pub fn kind(code: &str, status: u16) -> ErrorKind {
    let is = |list: &[&str]| list.contains(&code);
    if is(CAPACITY) {
        ErrorKind::Capacity
    } else if is(QUOTA) {
        ErrorKind::Quota
    } else if is(AUTH) {
        ErrorKind::Auth
    } else if is(TRANSIENT) || status >= 500 {
        ErrorKind::Transient
    } else if code.starts_with("Invalid")
        || code.starts_with("Missing")
        || code.ends_with(".Malformed")
        || code.ends_with(".NotFound")
        || code == "DryRunOperation"
    {
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
        let table: &[(&str, u16, ErrorKind)] = &[
            ("InsufficientInstanceCapacity", 500, Capacity),
            ("InsufficientHostCapacity", 500, Capacity),
            ("SpotMaxPriceTooLow", 400, Capacity),
            ("Unsupported", 400, Capacity),
            ("InstanceLimitExceeded", 400, Quota),
            ("VcpuLimitExceeded", 400, Quota),
            ("MaxSpotInstanceCountExceeded", 400, Quota),
            ("AuthFailure", 401, Auth),
            ("UnauthorizedOperation", 403, Auth),
            ("InvalidClientTokenId", 403, Auth),
            ("ExpiredToken", 400, Auth),
            ("RequestLimitExceeded", 503, Transient),
            ("InternalError", 500, Transient),
            ("ServiceUnavailable", 503, Transient),
            ("SomethingNew", 502, Transient),
            ("InvalidParameterValue", 400, Invalid),
            ("InvalidAMIID.NotFound", 400, Invalid),
            ("InvalidInstanceID.Malformed", 400, Invalid),
            ("MissingParameter", 400, Invalid),
            ("SomethingNew", 400, Other),
        ];
        for (code, status, expected) in table {
            assert_eq!(kind(code, *status), *expected, "{code} ({status})");
        }
    }
}
