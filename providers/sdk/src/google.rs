//! Google's credentials as Google's tools write them — a service-account key file
//! (`GOOGLE_APPLICATION_CREDENTIALS`) or the `authorized_user` file of `gcloud auth
//! application-default login` — and the token request each makes (a JWT-bearer
//! assertion signed RS256, or a refresh-token grant). Used by the `gcp` provider
//! inside its sandbox and by aloft's host for Google Cloud Storage; `Debug` never
//! shows a secret, and errors never quote the file.

use serde::Deserialize;

use crate::errors;
use crate::oauth2::{self, ServiceAccount, TokenRequest};
use crate::types::ProviderError;

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
}
