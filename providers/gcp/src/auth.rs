//! Google credentials, lent by the host as one JSON document
//! (`GCP_CREDENTIALS_JSON`: a service-account key, or the `authorized_user`
//! application-default credentials), traded for an access token at Google's token
//! endpoint. The token is kept in memory only, never in kv or logs.

pub use aloft_provider_sdk::google::{GoogleCredentials, SCOPE, TOKEN_URL};
use aloft_provider_sdk::oauth2;
use aloft_provider_sdk::types::ProviderError;
use aloft_provider_sdk::{credentials, errors};

/// The credential name the host answers with Google's credentials JSON.
pub const CREDENTIALS: &str = "GCP_CREDENTIALS_JSON";

/// The lent credentials, parsed.
pub fn lent() -> Result<GoogleCredentials, ProviderError> {
    let json = credentials::get(CREDENTIALS).ok_or_else(|| {
        errors::auth(
            "NoCredentials",
            "no Google credentials: set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file, or run `gcloud auth application-default login`",
        )
    })?;
    GoogleCredentials::parse(&json)
}

/// The access token, dropped a minute before it ends.
static TOKEN: oauth2::TokenCache = oauth2::TokenCache::new(60);

/// Forgets the cached token (after the API refused it).
pub fn forget() {
    TOKEN.forget();
}

/// A bearer token, minted when there is none or it is about to expire.
pub fn token() -> Result<String, ProviderError> {
    TOKEN.get(
        |now| lent()?.token_request(now),
        token_error,
        "the token endpoint's answer is unreadable",
    )
}

/// The typed error for a refused token request: OAuth2's `invalid_grant`,
/// `invalid_client`, `unauthorized_client` (bad signature, revoked refresh token,
/// unknown client) are `auth`; 429 and 5xx are `transient`.
pub fn token_error(status: u16, body: &[u8]) -> ProviderError {
    let detail = oauth2::parse_token_response(body)
        .err()
        .unwrap_or_else(|| "no error code".into());
    let message =
        format!("Google's token endpoint refused the credentials (HTTP {status}): {detail}");
    match status {
        429 | 500..=599 => errors::transient("TokenEndpointBusy", &message),
        _ => errors::auth("TokenRefused", &message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_refusals_are_auth_and_outages_transient() {
        use aloft_provider_sdk::types::ErrorKind;
        let bad = token_error(
            400,
            br#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#,
        );
        assert_eq!(bad.kind, ErrorKind::Auth);
        assert!(bad.message.contains("Invalid JWT Signature"));
        assert_eq!(
            token_error(401, br#"{"error":"invalid_client"}"#).kind,
            ErrorKind::Auth
        );
        assert_eq!(token_error(503, b"busy").kind, ErrorKind::Transient);
    }
}
