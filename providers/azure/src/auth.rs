//! A service principal's credentials, lent by the host under the names Azure's
//! SDKs read (`AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`, `AZURE_TENANT_ID`,
//! `AZURE_SUBSCRIPTION_ID`), traded for an Azure Resource Manager token at
//! Microsoft Entra ID's v2.0 token endpoint (OAuth2 client credentials). The token
//! is kept in memory only, never in kv or logs.

use aloft_provider_sdk::oauth2;
use aloft_provider_sdk::types::ProviderError;
use aloft_provider_sdk::{credentials, errors};

/// The service principal's application (client) id.
pub const CLIENT_ID: &str = "AZURE_CLIENT_ID";
/// Its client secret.
pub const CLIENT_SECRET: &str = "AZURE_CLIENT_SECRET";
/// The Entra ID tenant it belongs to.
pub const TENANT_ID: &str = "AZURE_TENANT_ID";
/// The subscription resources are made in.
pub const SUBSCRIPTION_ID: &str = "AZURE_SUBSCRIPTION_ID";
/// Entra ID's token host (public cloud).
pub const LOGIN_HOST: &str = "login.microsoftonline.com";
/// The scope of an Azure Resource Manager token.
pub const SCOPE: &str = "https://management.azure.com/.default";

/// One lent secret, or an `auth` error naming what to set.
fn lent(name: &str) -> Result<String, ProviderError> {
    credentials::get(name)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            errors::auth(
                "NoCredentials",
                &format!(
                    "no Azure service principal: {name} is not set (set AZURE_CLIENT_ID, \
                     AZURE_CLIENT_SECRET, AZURE_TENANT_ID and AZURE_SUBSCRIPTION_ID, or log in \
                     with `az login --service-principal`)"
                ),
            )
        })
}

/// Whether `s` can go in a URL path as it is (tenant and subscription ids are
/// GUIDs or domain names).
pub fn is_plain_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

/// The subscription (from `providers.azure.subscription_id`, else the lent one).
pub fn subscription(setting: Option<&String>) -> Result<String, ProviderError> {
    let id = match setting.filter(|s| !s.is_empty()) {
        Some(s) => s.clone(),
        None => lent(SUBSCRIPTION_ID)?,
    };
    if !is_plain_id(&id) {
        return Err(errors::auth(
            "BadSubscription",
            "the Azure subscription id is not a GUID",
        ));
    }
    Ok(id)
}

/// The service principal's client id (not a secret: shown by `aloft check`).
pub fn client_id() -> Result<String, ProviderError> {
    lent(CLIENT_ID)
}

/// The tenant id.
pub fn tenant() -> Result<String, ProviderError> {
    let tenant = lent(TENANT_ID)?;
    if !is_plain_id(&tenant) {
        return Err(errors::auth(
            "BadTenant",
            "AZURE_TENANT_ID is not a tenant id or domain",
        ));
    }
    Ok(tenant)
}

/// The token request for the lent service principal.
pub fn token_request() -> Result<oauth2::TokenRequest, ProviderError> {
    let url = format!("https://{LOGIN_HOST}/{}/oauth2/v2.0/token", tenant()?);
    Ok(oauth2::client_credentials_request(
        &url,
        &client_id()?,
        &lent(CLIENT_SECRET)?,
        &[SCOPE],
    ))
}

/// The token for Azure Resource Manager, dropped two minutes before it ends.
static TOKEN: oauth2::TokenCache = oauth2::TokenCache::new(120);

/// Forgets the cached token (after Azure refused it).
pub fn forget() {
    TOKEN.forget();
}

/// A bearer token for Azure Resource Manager, minted when there is none or it is
/// about to expire.
pub fn token() -> Result<String, ProviderError> {
    TOKEN.get(
        |_| token_request(),
        token_error,
        "Microsoft Entra ID's token answer is unreadable",
    )
}

/// The typed error of a refused token request: Entra ID answers
/// `invalid_client` (a wrong secret, `AADSTS7000215`), `unauthorized_client`
/// (an unknown application, `AADSTS700016`) or `invalid_request` (an unknown
/// tenant, `AADSTS90002`), all `auth`; 429 and 5xx are `transient`.
pub fn token_error(status: u16, body: &[u8]) -> ProviderError {
    let detail = oauth2::parse_token_response(body)
        .err()
        .unwrap_or_else(|| "no error code".into());
    // Entra ID's descriptions run long (trace and correlation ids): the first line.
    let detail: String = detail
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(300)
        .collect();
    let message = format!(
        "Microsoft Entra ID refused the service principal's credentials (HTTP {status}): {detail}"
    );
    match status {
        429 | 500..=599 => errors::transient("TokenEndpointBusy", &message),
        _ => errors::auth("TokenRefused", &message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aloft_provider_sdk::types::ErrorKind;

    #[test]
    fn entra_refusals_are_auth_and_outages_transient() {
        let bad = token_error(
            401,
            br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 1"}"#,
        );
        assert_eq!(bad.kind, ErrorKind::Auth);
        assert!(bad.message.contains("AADSTS7000215"), "{}", bad.message);
        assert!(!bad.message.contains("Trace ID"));
        assert_eq!(token_error(503, b"busy").kind, ErrorKind::Transient);
        assert!(is_plain_id("72f988bf-86f1-41af-91ab-2d7cd011db47"));
        assert!(is_plain_id("contoso.onmicrosoft.com"));
        assert!(!is_plain_id("a/b"));
        assert!(!is_plain_id(""));
    }
}
