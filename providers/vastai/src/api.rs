//! Calling Vast.ai's REST API (`https://console.vast.ai/api/v0`, and `/api/v1`
//! for the instance listing): JSON over HTTPS, the API key as
//! `Authorization: Bearer`, and error answers (`{"success": false, "error",
//! "msg"}`, with any HTTP status) turned into typed errors.

use serde::Deserialize;
use serde::de::DeserializeOwned;

use aloft_provider_sdk::http::Request;
use aloft_provider_sdk::types::ProviderError;
use aloft_provider_sdk::{credentials, errors};

use crate::classify;

/// The API's host (the host's `endpoint` override redirects it); paths carry
/// their `/api/v0` or `/api/v1`.
pub const BASE: &str = "https://console.vast.ai";

/// The secret's name (the variable Vast.ai's CLI and SDK read).
pub const KEY_NAME: &str = "VAST_API_KEY";

fn key() -> Result<String, ProviderError> {
    credentials::get(KEY_NAME).ok_or_else(|| {
        errors::auth(
            "NoCredentials",
            "no Vast.ai API key: set VAST_API_KEY (or run `vastai set api-key`, which \
             writes ~/.config/vastai/vast_api_key)",
        )
    })
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    msg: Option<String>,
    #[serde(default)]
    detail: Option<String>,
}

/// The typed error of a failed answer (`status`, body `body`).
pub fn error_of(status: u16, body: &[u8]) -> ProviderError {
    let parsed = serde_json::from_slice::<ErrorBody>(body).ok();
    let code = parsed
        .as_ref()
        .and_then(|b| b.error.clone())
        .unwrap_or_default();
    let message = parsed
        .and_then(|b| b.msg.or(b.detail))
        .filter(|m| !m.trim().is_empty());
    let message = match message {
        // The message is Vast.ai's, shown to the user: keep it short.
        Some(m) => m.chars().take(500).collect(),
        None if !code.is_empty() => code.chars().take(100).collect(),
        None => match status {
            401 => "Vast.ai refused the API key (HTTP 401)".to_string(),
            429 => "Vast.ai is rate-limiting requests (HTTP 429); aloft retries with backoff"
                .to_string(),
            _ => format!("HTTP {status}"),
        },
    };
    let (kind, code) = classify::kind(status, &code, &message);
    ProviderError {
        kind,
        code: code.to_string(),
        message,
        region: None,
        zone: None,
    }
}

/// Sends `request` with the key; the JSON answer of a 2xx that is not
/// `"success": false` (null when empty).
fn send(request: Request) -> Result<serde_json::Value, ProviderError> {
    let key = key()?;
    let response = request
        .header("authorization", &format!("Bearer {key}"))
        .header("accept", "application/json")
        .send()?;
    if !(200..300).contains(&response.status) {
        return Err(error_of(response.status, &response.body));
    }
    if response.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Value::Null);
    }
    let value: serde_json::Value = response.json()?;
    if value.get("success") == Some(&serde_json::Value::Bool(false)) {
        return Err(error_of(response.status, &response.body));
    }
    Ok(value)
}

/// `value` decoded as `T`.
pub fn decode<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ProviderError> {
    serde_json::from_value(value).map_err(|e| {
        errors::invalid(
            "ResponseDecoding",
            &format!("Vast.ai's answer did not decode: {e}"),
        )
    })
}

/// `GET {BASE}{path}` (path with its query).
pub fn get(path: &str) -> Result<serde_json::Value, ProviderError> {
    send(Request::get(&format!("{BASE}{path}")))
}

/// `method {BASE}{path}` with a JSON body.
pub fn call(
    method: &str,
    path: &str,
    body: &serde_json::Value,
) -> Result<serde_json::Value, ProviderError> {
    send(Request::new(method, &format!("{BASE}{path}")).json(body)?)
}

/// `DELETE {BASE}{path}` (with the empty object Vast.ai's SDK sends); an
/// instance already gone is success.
pub fn delete(path: &str) -> Result<(), ProviderError> {
    match call("DELETE", path, &serde_json::json!({})) {
        Ok(_) => Ok(()),
        Err(e) if e.code == "NotFound" => Ok(()),
        Err(e) => Err(e),
    }
}

/// `value` for a URL query (`quote_plus` as Vast.ai's SDK writes it, spaces as
/// `%20`).
pub fn query_value(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_keep_vast_messages_and_never_the_body_otherwise() {
        let e = error_of(
            400,
            br#"{"success": false, "error": "no_such_ask", "msg": "Instance type by id 7 is not available."}"#,
        );
        assert_eq!(e.code, "OfferUnavailable");
        assert_eq!(e.message, "Instance type by id 7 is not available.");
        let e = error_of(401, b"<html>secret-ish</html>");
        assert_eq!(e.message, "Vast.ai refused the API key (HTTP 401)");
        assert_eq!(query_value("{\"a\": 1}"), "%7B%22a%22%3A%201%7D");
    }
}
