//! Calling Lambda Cloud's REST API v1: JSON over HTTPS, the API key as the HTTP
//! basic-auth user, and `{"error": {"code", "message", "suggestion"}}` answers
//! turned into typed errors.

use base64::Engine;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use aloft_provider_sdk::http::{Request, Response};
use aloft_provider_sdk::types::ProviderError;
use aloft_provider_sdk::{credentials, errors};

use crate::classify;

/// The API's base URL (the host's `endpoint` override redirects it).
pub const BASE: &str = "https://cloud.lambdalabs.com/api/v1";

/// The secret's name.
pub const KEY_NAME: &str = "LAMBDA_API_KEY";

/// The API key lent by the host.
fn api_key() -> Result<String, ProviderError> {
    credentials::get(KEY_NAME).ok_or_else(|| {
        errors::auth(
            "NoCredentials",
            "no Lambda Cloud API key: set LAMBDA_API_KEY (or `api_key = ...` in ~/.lambda_cloud/lambda_keys)",
        )
    })
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    suggestion: Option<String>,
}

/// The typed error of a failed answer.
pub fn error_of(response: &Response) -> ProviderError {
    let status = response.status;
    let (code, message) = match serde_json::from_slice::<ErrorBody>(&response.body) {
        Ok(body) => {
            let mut message = body.error.message;
            if let Some(s) = body.error.suggestion.filter(|s| !s.is_empty()) {
                message = format!("{message} ({s})");
            }
            (body.error.code, message)
        }
        Err(_) if status == 429 => (
            "rate-limited".to_string(),
            "Lambda Cloud is rate-limiting requests (launches: about one per 10 s); aloft retries with backoff"
                .to_string(),
        ),
        Err(_) => (format!("http-{status}"), format!("HTTP {status}")),
    };
    let code = if code.is_empty() {
        format!("http-{status}")
    } else {
        code
    };
    let kind = classify::kind(&code, status);
    aloft_provider_sdk::types::ProviderError {
        kind,
        code,
        message,
        region: None,
        zone: None,
    }
}

/// Sends `request` with the API key and decodes the JSON `data` of a 200 answer.
fn send<T: DeserializeOwned>(request: Request) -> Result<T, ProviderError> {
    let key = api_key()?;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{key}:"));
    let response = request
        .header("authorization", &format!("Basic {basic}"))
        .header("accept", "application/json")
        .send()?;
    if response.status != 200 {
        return Err(error_of(&response));
    }
    #[derive(Deserialize)]
    struct Data<T> {
        data: T,
    }
    let data: Data<T> = response.json()?;
    Ok(data.data)
}

/// `GET {BASE}/{path}`.
pub fn get<T: DeserializeOwned>(path: &str) -> Result<T, ProviderError> {
    send(Request::get(&format!("{BASE}/{path}")))
}

/// `DELETE {BASE}/{path}`.
pub fn delete<T: DeserializeOwned>(path: &str) -> Result<T, ProviderError> {
    send(Request::new("DELETE", &format!("{BASE}/{path}")))
}

/// `POST {BASE}/{path}` with a JSON body.
pub fn post<T: DeserializeOwned>(path: &str, body: &serde_json::Value) -> Result<T, ProviderError> {
    send(Request::post(&format!("{BASE}/{path}")).json(body)?)
}
