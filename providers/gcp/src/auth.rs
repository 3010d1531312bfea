//! Google credentials, lent by the host as one JSON document
//! (`GCP_CREDENTIALS_JSON`: a service-account key, or the `authorized_user`
//! application-default credentials), traded for an access token at Google's token
//! endpoint. The token is kept in memory only, never in kv or logs.

use aloft_provider_sdk::oauth2::{self, ServiceAccount, TokenRequest};
use aloft_provider_sdk::types::ProviderError;
use aloft_provider_sdk::{credentials, errors};
use serde::Deserialize;

/// The credential name the host answers with Google's credentials JSON.
pub const CREDENTIALS: &str = "GCP_CREDENTIALS_JSON";
/// Where `authorized_user` refresh tokens are traded.
pub const TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
/// The scope asked for.
pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// Google's credentials, by their `type`. `Debug` shows no secret.
#[derive(Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum GoogleCredentials {
    /// A service-account key file.
    ServiceAccount {
        /// `client_email`, `private_key`, `token_uri`.
        #[serde(flatten)]
        account: ServiceAccount,
        /// The key's project.
        #[serde(default)]
        project_id: Option<String>,
    },
    /// What `gcloud auth application-default login` writes.
    AuthorizedUser {
        /// OAuth client id.
        client_id: String,
        /// OAuth client secret.
        client_secret: String,
        /// The long-lived refresh token.
        refresh_token: String,
        /// The project billed for quota, when set.
        #[serde(default)]
        quota_project_id: Option<String>,
    },
}

impl std::fmt::Debug for GoogleCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GoogleCredentials::ServiceAccount {
                account,
                project_id,
            } => f
                .debug_struct("ServiceAccount")
                .field("account", account)
                .field("project_id", project_id)
                .finish(),
            GoogleCredentials::AuthorizedUser {
                client_id,
                quota_project_id,
                ..
            } => f
                .debug_struct("AuthorizedUser")
                .field("client_id", client_id)
                .field("quota_project_id", quota_project_id)
                .finish_non_exhaustive(),
        }
    }
}

impl GoogleCredentials {
    /// Parses the lent JSON; the error never quotes it.
    pub fn parse(json: &str) -> Result<GoogleCredentials, ProviderError> {
        let kind = serde_json::from_str::<serde_json::Value>(json)
            .ok()
            .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_string));
        serde_json::from_str(json).map_err(|_| match kind {
            Some(kind) if kind != "service_account" && kind != "authorized_user" => {
                errors::auth(
                    "UnsupportedCredentials",
                    &format!(
                        "Google credentials of type {kind:?} are not supported: use a service-account key or `gcloud auth application-default login`"
                    ),
                )
            }
            _ => errors::auth(
                "BadCredentials",
                "the Google credentials file is missing fields (client_email/private_key/token_uri, or client_id/client_secret/refresh_token)",
            ),
        })
    }

    /// The project the credentials name, if any.
    pub fn project(&self) -> Option<&str> {
        match self {
            GoogleCredentials::ServiceAccount { project_id, .. } => project_id.as_deref(),
            GoogleCredentials::AuthorizedUser {
                quota_project_id, ..
            } => quota_project_id.as_deref(),
        }
        .filter(|p| !p.is_empty())
    }

    /// Who they are (a service account's email; the OAuth client of a user).
    pub fn principal(&self) -> String {
        match self {
            GoogleCredentials::ServiceAccount { account, .. } => account.client_email.clone(),
            GoogleCredentials::AuthorizedUser { .. } => "application-default user".into(),
        }
    }

    /// The token request these credentials make at `now` (unix seconds).
    pub fn token_request(&self, now: u64) -> Result<TokenRequest, ProviderError> {
        match self {
            GoogleCredentials::ServiceAccount { account, .. } => {
                let jwt = oauth2::service_account_jwt(account, SCOPE, now)
                    .map_err(|e| errors::auth("BadPrivateKey", &e))?;
                Ok(oauth2::jwt_bearer_request(&account.token_uri, &jwt))
            }
            GoogleCredentials::AuthorizedUser {
                client_id,
                client_secret,
                refresh_token,
                ..
            } => Ok(TokenRequest {
                url: TOKEN_URL.into(),
                headers: vec![(
                    "content-type".into(),
                    "application/x-www-form-urlencoded".into(),
                )],
                body: oauth2::form_encode(&[
                    ("grant_type", "refresh_token".into()),
                    ("client_id", client_id.clone()),
                    ("client_secret", client_secret.clone()),
                    ("refresh_token", refresh_token.clone()),
                ]),
            }),
        }
    }
}

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
    fn both_kinds_parse_and_name_their_project_without_showing_secrets() {
        let sa = GoogleCredentials::parse(
            r#"{"type":"service_account","project_id":"p1","private_key_id":"k",
                "private_key":"-----BEGIN PRIVATE KEY-----\nSECRET\n-----END PRIVATE KEY-----\n",
                "client_email":"bot@p1.iam.gserviceaccount.com","client_id":"1",
                "token_uri":"https://oauth2.googleapis.com/token"}"#,
        )
        .unwrap();
        assert_eq!(sa.project(), Some("p1"));
        assert_eq!(sa.principal(), "bot@p1.iam.gserviceaccount.com");
        assert!(!format!("{sa:?}").contains("SECRET"));
        let user = GoogleCredentials::parse(
            r#"{"type":"authorized_user","client_id":"c.apps.googleusercontent.com",
                "client_secret":"cs-SECRET","refresh_token":"1//rt-SECRET","quota_project_id":"p2"}"#,
        )
        .unwrap();
        assert_eq!(user.project(), Some("p2"));
        assert!(!format!("{user:?}").contains("SECRET"));
        let req = user.token_request(0).unwrap();
        assert_eq!(req.url, TOKEN_URL);
        assert!(req.body.starts_with("grant_type=refresh_token&"));
        let err = GoogleCredentials::parse(r#"{"type":"external_account"}"#).unwrap_err();
        assert_eq!(err.code, "UnsupportedCredentials");
        let err =
            GoogleCredentials::parse(r#"{"type":"authorized_user","refresh_token":"x-SECRET"}"#)
                .unwrap_err();
        assert!(!err.message.contains("SECRET"));
    }

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
