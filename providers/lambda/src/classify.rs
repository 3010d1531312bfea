//! Lambda Cloud error codes (`{"error": {"code": ...}}`) to the typed errors that
//! steer failover.

use aloft_provider_sdk::types::ErrorKind;

/// The kind of a Lambda Cloud error from its code and HTTP status.
///
/// Lambda rate-limits requests (launches to about one per 10 s) with a bare HTTP
/// 429: that is `transient`, and the host's backoff paces the retry (a guest
/// cannot wait without burning its call's deadline).
pub fn kind(code: &str, status: u16) -> ErrorKind {
    match code {
        "instance-operations/launch/insufficient-capacity" => ErrorKind::Capacity,
        "global/quota-exceeded" => ErrorKind::Quota,
        "global/invalid-api-key" | "global/account-inactive" => ErrorKind::Auth,
        _ if status == 429 || status >= 500 => ErrorKind::Transient,
        _ if status == 401 || status == 403 => ErrorKind::Auth,
        "global/invalid-parameters"
        | "global/object-does-not-exist"
        | "global/invalid-address"
        | "instance-operations/launch/file-system-in-wrong-region"
        | "instance-operations/launch/file-systems-not-supported"
        | "ssh-keys/key-in-use" => ErrorKind::Invalid,
        _ => ErrorKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_code_has_its_kind() {
        use ErrorKind::*;
        let table: &[(&str, u16, ErrorKind)] = &[
            (
                "instance-operations/launch/insufficient-capacity",
                400,
                Capacity,
            ),
            (
                "instance-operations/launch/insufficient-capacity",
                500,
                Capacity,
            ),
            ("global/quota-exceeded", 400, Quota),
            ("global/invalid-api-key", 401, Auth),
            ("global/invalid-api-key", 403, Auth),
            ("global/account-inactive", 403, Auth),
            ("", 401, Auth),
            ("", 429, Transient),
            ("global/unknown", 500, Transient),
            ("", 502, Transient),
            ("", 503, Transient),
            ("global/invalid-parameters", 400, Invalid),
            ("global/object-does-not-exist", 404, Invalid),
            ("global/invalid-address", 400, Invalid),
            (
                "instance-operations/launch/file-system-in-wrong-region",
                400,
                Invalid,
            ),
            (
                "instance-operations/launch/file-systems-not-supported",
                400,
                Invalid,
            ),
            ("ssh-keys/key-in-use", 400, Invalid),
            ("global/unknown", 400, Other),
            ("something-new", 400, Other),
        ];
        for (code, status, expected) in table {
            assert_eq!(kind(code, *status), *expected, "{code} ({status})");
        }
    }
}
