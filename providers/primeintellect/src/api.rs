//! Calling Prime Intellect's REST API (`https://api.primeintellect.ai/api/v1`):
//! JSON over HTTPS, the API key as `Authorization: Bearer` (as `prime_cli`'s
//! `APIClient` sends it), and error answers (`{"detail": ...}`) turned into typed
//! errors.

use serde::de::DeserializeOwned;

use aloft_provider_sdk::http::Request;
use aloft_provider_sdk::types::ProviderError;
use aloft_provider_sdk::{credentials, errors};

use crate::classify;

/// The API's host (the host's `endpoint` override redirects it).
pub const BASE: &str = "https://api.primeintellect.ai";

/// The secret's name (the variable `prime_cli` reads before its config file).
pub const KEY_NAME: &str = "PRIME_API_KEY";

fn key() -> Result<String, ProviderError> {
    credentials::get(KEY_NAME).ok_or_else(|| {
        errors::auth(
            "NoCredentials",
            "no Prime Intellect API key: set PRIME_API_KEY (or run `prime login`, which \
             writes ~/.prime/config.json)",
        )
    })
}

/// The message of an error answer: `detail` as a string, or the messages of a
/// validation error list, or a word for the status (never the raw body).
fn message_of(status: u16, body: &[u8]) -> String {
    let detail = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("detail").cloned());
    let text = match detail {
        Some(serde_json::Value::String(s)) => s,
        Some(serde_json::Value::Array(list)) => list
            .iter()
            .filter_map(|e| {
                let msg = e.get("msg")?.as_str()?;
                let loc: Vec<String> = e
                    .get("loc")
                    .and_then(|l| l.as_array())
                    .map(|l| {
                        l.iter()
                            .filter(|p| p.as_str() != Some("body"))
                            .map(|p| p.to_string().trim_matches('"').to_string())
                            .collect()
                    })
                    .unwrap_or_default();
                Some(format!("{}: {msg}", loc.join(".")))
            })
            .collect::<Vec<_>>()
            .join("; "),
        _ => String::new(),
    };
    if !text.trim().is_empty() {
        // Prime Intellect's words, shown to the user: keep them short.
        return text.chars().take(500).collect();
    }
    match status {
        401 => "Prime Intellect refused the API key (HTTP 401)".into(),
        402 => "Prime Intellect answered payment required (HTTP 402): check the billing \
                balance"
            .into(),
        429 => "Prime Intellect is rate-limiting requests (HTTP 429); aloft retries with backoff"
            .into(),
        _ => format!("HTTP {status}"),
    }
}

/// The typed error of a failed answer (`status`, body `body`).
pub fn error_of(status: u16, body: &[u8]) -> ProviderError {
    let message = message_of(status, body);
    let (kind, code) = classify::kind(status, &message);
    ProviderError {
        kind,
        code: code.to_string(),
        message,
        region: None,
        zone: None,
    }
}

/// Sends `request` with the key; the JSON answer of a 2xx (null when empty).
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
    response.json()
}

/// `value` decoded as `T`.
pub fn decode<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ProviderError> {
    serde_json::from_value(value).map_err(|e| {
        errors::invalid(
            "ResponseDecoding",
            &format!("Prime Intellect's answer did not decode: {e}"),
        )
    })
}

/// `GET {BASE}/api/v1{path}` (path with its query).
pub fn get(path: &str) -> Result<serde_json::Value, ProviderError> {
    send(Request::get(&format!("{BASE}/api/v1{path}")))
}

/// `POST {BASE}/api/v1{path}` with a JSON body.
pub fn post(path: &str, body: &serde_json::Value) -> Result<serde_json::Value, ProviderError> {
    send(Request::post(&format!("{BASE}/api/v1{path}")).json(body)?)
}

/// `DELETE {BASE}/api/v1{path}`; something already gone is success.
pub fn delete(path: &str) -> Result<(), ProviderError> {
    match send(Request::new("DELETE", &format!("{BASE}/api/v1{path}"))) {
        Ok(_) => Ok(()),
        Err(e) if e.code == "NotFound" => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aloft_provider_sdk::types::ErrorKind;

    #[test]
    fn errors_keep_the_detail_and_never_the_body_otherwise() {
        let e = error_of(
            400,
            br#"{"detail": "GPU not available in this data center"}"#,
        );
        assert_eq!(e.kind, ErrorKind::Capacity);
        assert_eq!(e.message, "GPU not available in this data center");
        let e = error_of(
            422,
            br#"{"detail": [{"loc": ["body", "pod", "gpuCount"], "msg": "field required"}]}"#,
        );
        assert_eq!(e.message, "pod.gpuCount: field required");
        assert_eq!(e.kind, ErrorKind::Invalid);
        let e = error_of(401, b"<html>secret-ish</html>");
        assert_eq!(e.message, "Prime Intellect refused the API key (HTTP 401)");
    }
}
