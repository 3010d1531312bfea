//! DigitalOcean's error answers to the typed errors that steer failover.
//!
//! DigitalOcean answers a failure with an HTTP status and
//! `{"id": "<code>", "message": "...", "request_id": "..."}`, `id` being one of
//! `unauthorized` (401), `forbidden` (403), `not_found` (404),
//! `unprocessable_entity` (422: the request is well-formed but cannot be done, the
//! message says why: a size not available in the region is the capacity answer of
//! a GPU cloud), `too_many_requests` (429) and `server_error` (5xx).

use aloft_provider_sdk::types::ErrorKind;

/// The kind and a short code for a DigitalOcean error from its HTTP status, `id`
/// and message.
pub fn kind(status: u16, id: &str, message: &str) -> (ErrorKind, &'static str) {
    let m = message.to_ascii_lowercase();
    if status == 401 || id == "unauthorized" {
        return (ErrorKind::Auth, "Unauthorized");
    }
    if status == 403 || id == "forbidden" {
        // A token without the scope (read-only tokens, custom scopes) or a locked
        // account: nothing here will work with it.
        return (ErrorKind::Auth, "Forbidden");
    }
    if status == 429 || id == "too_many_requests" {
        return (ErrorKind::Transient, "TooManyRequests");
    }
    if status >= 500 || id == "server_error" || id == "service_unavailable" {
        return (ErrorKind::Transient, "ServerError");
    }
    if status == 404 || id == "not_found" {
        return (ErrorKind::Invalid, "NotFound");
    }
    if m.contains("droplet limit") || m.contains("exceed your") || m.contains("limit exceeded") {
        return (ErrorKind::Quota, "DropletLimit");
    }
    if (m.contains("not available") || m.contains("unavailable"))
        && (m.contains("size") || m.contains("region") || m.contains("capacity"))
        || m.contains("insufficient capacity")
        || m.contains("out of capacity")
    {
        return (ErrorKind::Capacity, "SizeUnavailable");
    }
    if m.contains("invalid size") || m.contains("invalid region") || m.contains("invalid image") {
        return (ErrorKind::Unsupported, "InvalidSlug");
    }
    if m.contains("already") {
        return (ErrorKind::Invalid, "AlreadyDone");
    }
    if status == 422 || status == 400 || id == "unprocessable_entity" || id == "bad_request" {
        return (ErrorKind::Invalid, "Unprocessable");
    }
    (ErrorKind::Other, "DigitalOceanError")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_answers_have_their_kind() {
        use ErrorKind::*;
        let table: &[(u16, &str, &str, ErrorKind)] = &[
            (
                422,
                "unprocessable_entity",
                "Size is not available in this region.",
                Capacity,
            ),
            (
                422,
                "unprocessable_entity",
                "The requested size is currently unavailable in this region. Please try another region.",
                Capacity,
            ),
            (
                422,
                "unprocessable_entity",
                "creating this/these droplet(s) will exceed your droplet limit",
                Quota,
            ),
            (
                422,
                "unprocessable_entity",
                "You specified an invalid size for Droplet creation.",
                Unsupported,
            ),
            (
                422,
                "unprocessable_entity",
                "Droplet is already powered off.",
                Invalid,
            ),
            (422, "unprocessable_entity", "Name is invalid", Invalid),
            (401, "unauthorized", "Unable to authenticate you", Auth),
            (
                403,
                "forbidden",
                "You are not authorized to perform this operation",
                Auth,
            ),
            (
                429,
                "too_many_requests",
                "API Rate limit exceeded.",
                Transient,
            ),
            (503, "", "", Transient),
            (
                404,
                "not_found",
                "The resource you were accessing could not be found.",
                Invalid,
            ),
            (418, "teapot", "Something new", Other),
        ];
        for (status, id, message, expected) in table {
            assert_eq!(
                kind(*status, id, message).0,
                *expected,
                "{status} {message}"
            );
        }
        assert_eq!(kind(404, "not_found", "").1, "NotFound");
        assert_eq!(
            kind(
                422,
                "unprocessable_entity",
                "Droplet is already powered off."
            )
            .1,
            "AlreadyDone"
        );
    }
}
